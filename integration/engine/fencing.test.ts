// Invariant 3: a fenced (old-epoch) writer can never make a write durable. A second writer opens
// the same volume (bumping the epoch); the first one's next commit is refused by storage, it stops
// (a deliberate fail-stop), and its write is nowhere to be seen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('epoch fencing', () => {
  const dir = makeTempDir('fencing');
  let cluster: StorageCluster;
  let old: InstanceInfo;
  let fresh: InstanceInfo;

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 2, pagesPerPg: 256 });
    old = await startWriter(cluster, { id: 'writer-old' });
  });
  afterAll(async () => {
    await old?.process.stop();
    await fresh?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('refuses the old writer, which stops; only the new writer’s commits exist', async () => {
    const a = new Sql(old);
    await a.exec('create table t(id integer primary key, who text)');
    await a.exec("insert into t values (1, 'old, before the new writer')");

    fresh = await startWriter(cluster, { id: 'writer-new' });
    const b = new Sql(fresh);
    expect(Number(fresh.process.ready.epoch)).toBeGreaterThan(Number(old.process.ready.epoch));

    // Refused because storage fenced it (a 503 the client may retry on the cluster endpoint), not
    // for any other reason.
    await expect(a.exec("insert into t values (2, 'old, fenced')")).rejects.toMatchObject({
      name: 'ServiceUnavailableError',
      message: expect.stringMatching(/fenced/),
    });
    const exit = await old.process.exited;
    expect(exit.code).toBe(75);

    await b.exec("insert into t values (3, 'new')");
    expect(await b.rows('select id, who from t order by id')).toEqual([
      [1, 'old, before the new writer'],
      [3, 'new'],
    ]);
    a.close();
    b.close();
  });
});
