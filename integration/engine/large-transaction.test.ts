// A transaction far larger than SQLite's page cache (pages spill out of the atomic batch and are
// staged until it commits) is atomic: all of it once acknowledged, and none of it when the writer is
// killed while it ships.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const rowsPerTransaction = 100;
const rowBytes = 1_000_000; // 100 MB per transaction

/** The writer's /health figures this test follows (LSNs as decimal strings). */
async function writerHealth(writer: InstanceInfo): Promise<{ vdl: string; latestCommit: string }> {
  return (await (await fetch(`http://127.0.0.1:${writer.httpPort}/health`)).json()) as {
    vdl: string;
    latestCommit: string;
  };
}

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

    // The second one dies with the writer while it ships: the kill comes once its commit record has
    // been handed to the log shipper (the writer's latest commit moved) and before VDL reached it —
    // with ~100 MB of records still going to six nodes, seconds before it could be durable.
    const before = await writerHealth(writer);
    let outcome: 'acknowledged' | 'failed' | undefined;
    const second = insertBatch(2).then(
      () => (outcome = 'acknowledged'),
      () => (outcome = 'failed'),
    );
    let shipping = before;
    while (shipping.latestCommit === before.latestCommit && outcome === undefined) {
      await new Promise((r) => setTimeout(r, 10));
      shipping = await writerHealth(writer);
    }
    await writer.process.kill();
    expect(BigInt(shipping.latestCommit)).toBeGreaterThan(BigInt(before.latestCommit));
    expect(BigInt(shipping.vdl)).toBeLessThan(BigInt(shipping.latestCommit));
    expect(await second).toBe('failed');
    writer = await startWriter(cluster);
    sql.close();
    sql = new Sql(writer);
    // Nothing of it: no row, and recovery ended the volume at the last commit before it.
    expect(await sql.rows('select count(*) from big where batch = 2')).toEqual([[0]]);
    expect(BigInt(writer.process.ready.vdl as string)).toBe(BigInt(before.vdl));
    expect(await sql.rows('select count(*) from big where batch = 1')).toEqual([[rowsPerTransaction]]);
    sql.close();
  }, 300_000);
});
