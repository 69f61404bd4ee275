// PGMRPL end to end: the writer sends its read-point floor to every storage node, so page versions
// superseded below it are collected while the cluster runs — and pages stay exact for the writer
// (cold cache after a restart) and for a reader.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

function collected(metrics: string): number {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith('borealis_storage_page_versions_collected_total'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('read-point floor (PGMRPL)', () => {
  const dir = makeTempDir('read-point-floor');
  let cluster: StorageCluster;
  let writer: InstanceInfo;
  let reader: InstanceInfo | undefined;
  const writerArgs = ['--read-point-floor-window-ms', '300'];

  beforeAll(async () => {
    cluster = await StorageCluster.start({
      dir: dir.path,
      pgCount: 4,
      pagesPerPg: 64,
      nodeArgs: ['--retention-ms', '0', '--gc-interval-ms', '200', '--coalesce-interval-ms', '100'],
    });
    writer = await startWriter(cluster, { args: writerArgs });
  });
  afterAll(async () => {
    await reader?.process.stop();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('lets storage collect superseded page versions while the data stays exact', async () => {
    let sql = new Sql(writer);
    await sql.exec('create table t(id integer primary key, n integer)');
    await sql.exec('insert into t values (1, 0), (2, 0)');
    for (let i = 1; i <= 60; i++) {
      await sql.exec('update t set n = :n where id = 1', { n: i });
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 400)); // let the floor move on
    }
    await eventually(
      async () => {
        let total = 0;
        for (const id of cluster.nodeIds) total += collected(await cluster.metrics(id));
        return total > 0;
      },
      20_000,
      'page versions collected on some storage node',
    );
    const health = (await fetch(`http://127.0.0.1:${writer.httpPort}/health`).then((r) => r.json())) as {
      readPointFloor: string;
    };
    expect(health.readPointFloor).not.toBe('0');

    // A restarted writer reads every page from storage: they are the newest versions.
    await writer.process.kill();
    writer = await startWriter(cluster, { args: writerArgs });
    sql.close();
    sql = new Sql(writer);
    expect(await sql.rows('select id, n from t order by id')).toEqual([
      [1, 60],
      [2, 0],
    ]);
    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
    const r = new Sql(reader);
    await eventually(
      async () => (await r.rows('select n from t where id = 1'))[0]?.[0] === 60,
      15_000,
      'reader',
    );
    r.close();
    sql.close();
  });
});
