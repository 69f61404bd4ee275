// A full volume is an ordinary SQL error: the statement that would grow the database past the
// volume's last PG fails with "database or disk is full", nothing of it is visible, and the writer
// keeps serving (it never reaches storage with a page beyond the volume).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('a full volume', () => {
  const dir = makeTempDir('full');
  let cluster: StorageCluster;
  let writer: InstanceInfo;

  beforeAll(async () => {
    // 2 PGs × 16 pages of 4 KiB: a 128 KiB volume.
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 2, pagesPerPg: 16 });
    writer = await startWriter(cluster);
  });
  afterAll(async () => {
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('refuses the statement that does not fit, cleanly, and goes on serving', async () => {
    const sql = new Sql(writer);
    await sql.exec('create table t (id integer primary key, b blob)');
    await sql.exec('insert into t (b) values (randomblob(20000))');
    const error = await sql.exec('insert into t (b) values (randomblob(200000))').catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/full/i);
    expect(await sql.rows('select count(*) from t')).toEqual([[1]]);
    await sql.exec('insert into t (b) values (randomblob(1000))');
    expect(await sql.rows('select count(*) from t')).toEqual([[2]]);
    expect(writer.process.running).toBe(true);
    sql.close();
  });
});
