// A PG that has not been written for a while has an SCL far below the volume's read point — and is
// still complete to it. Pages there must stay readable from storage: by a restarted writer with an
// empty cache, and by a reader that joined late.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('quiet protection groups', () => {
  const dir = makeTempDir('quiet-pg');
  let cluster: StorageCluster;
  let writer: InstanceInfo;
  let reader: InstanceInfo | undefined;

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 8, pagesPerPg: 16 });
    writer = await startWriter(cluster);
  });
  afterAll(async () => {
    await reader?.process.stop();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('serves pages of PGs untouched since long before the read point', async () => {
    let sql = new Sql(writer);
    await sql.exec('create table hot(id integer primary key, n integer)');
    await sql.exec('insert into hot values (1, 0)');
    await sql.exec('create table cold(id integer primary key, data text)');
    // ~60 pages: the cold data spreads over several PGs, then is never written again.
    await sql.exec(`with recursive n(i) as (select 1 union all select i + 1 from n where i < 200)
      insert into cold(data) select printf('%0900d', i) from n`);
    for (let i = 0; i < 50; i++) await sql.exec('update hot set n = n + 1 where id = 1');

    await writer.process.kill();
    writer = await startWriter(cluster);
    sql.close();
    sql = new Sql(writer);
    for (let i = 0; i < 20; i++) await sql.exec('update hot set n = n + 1 where id = 1');
    expect(await sql.rows('select count(*), sum(length(data)) from cold')).toEqual([[200, 200 * 900]]);

    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
    const r = new Sql(reader);
    await eventually(
      async () => (await r.rows('select n from hot'))[0]?.[0] === 70,
      15_000,
      'reader caught up',
    );
    expect(await r.rows('select count(*), sum(length(data)) from cold')).toEqual([[200, 200 * 900]]);
    r.close();
    sql.close();
  }, 120_000);
});
