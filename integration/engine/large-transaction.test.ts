// A transaction far larger than SQLite's page cache (pages spill out of the atomic batch and are
// staged until it commits) is atomic: all of it or none of it, even with the writer killed while
// it ships.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const rowsPerTransaction = 100;
const rowBytes = 1_000_000; // 100 MB per transaction

describe('large transactions', () => {
  const dir = makeTempDir('large-txn');
  let cluster: StorageCluster;
  let writer: InstanceInfo;

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 4, pagesPerPg: 32_768 });
    writer = await startWriter(cluster);
  });
  afterAll(async () => {
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('commits a 100 MB insert atomically, and a killed one leaves nothing behind', async () => {
    let sql = new Sql(writer);
    await sql.exec('create table big(id integer primary key, batch integer, data blob)');
    const insertBatch = (batch: number) =>
      sql.exec(
        `with recursive n(i) as (select 1 union all select i + 1 from n where i < ${rowsPerTransaction})
         insert into big(batch, data) select :batch, randomblob(${rowBytes}) from n`,
        { batch },
      );
    const first = await insertBatch(1);
    expect(first.numberOfRecordsUpdated).toBe(rowsPerTransaction);
    expect(await sql.rows('select count(*), sum(length(data)) from big where batch = 1')).toEqual([
      [rowsPerTransaction, rowsPerTransaction * rowBytes],
    ]);

    // The second one dies with the writer before it is acknowledged.
    const second = insertBatch(2).then(
      () => 'acknowledged',
      () => 'failed',
    );
    await new Promise((r) => setTimeout(r, 1_500));
    await writer.process.kill();
    const outcome = await second;
    writer = await startWriter(cluster);
    sql.close();
    sql = new Sql(writer);
    const [[count]] = (await sql.rows('select count(*) from big where batch = 2')) as [[number]];
    // All or nothing — and all if it was acknowledged.
    expect([0, rowsPerTransaction]).toContain(count);
    if (outcome === 'acknowledged') expect(count).toBe(rowsPerTransaction);
    expect(await sql.rows('select count(*) from big where batch = 1')).toEqual([[rowsPerTransaction]]);
    sql.close();
  }, 300_000);
});
