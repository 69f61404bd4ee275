// Snapshot export against real processes: six storage nodes, a writer, an S3 emulator. Tables of
// every column type (NULLs, unicode, blobs, integers near and beyond 2^53, WITHOUT ROWID and rowid
// tables, an empty table) are written through the Data API, read back from the cluster, snapshotted
// (the snapshot function's handler), then exported while a write load runs on the cluster: DuckDB's
// read_parquet over the export returns exactly the rows the cluster returned at the snapshot, the
// metadata's row counts match, and none of the load's writes is in the export.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeSnapshot } from '../../functions/snapshot/handler.ts';
import { storagePageReader, writerConsistentPoint } from '../../functions/snapshot/source.ts';
import { runExportTask, startExportTask } from '../../functions/snapshot-export/handler.ts';
import { exportInfoKey } from '../../functions/snapshot-export/metadata.ts';
import { downloadPrefix, duckdbRows } from '../../functions/snapshot-export/testing.ts';
import type { InstanceInfo } from '../harness/instances.ts';
import { type SnapshotRig, startSnapshotRig } from '../harness/snapshot-rig.ts';
import { Sql } from '../harness/sql.ts';
import type { StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const bucket = 'borealis-backup-us-east-1';
const cluster = 'borealis';

const schema = [
  `create table kinds(id integer primary key, i integer, r real, t text, b blob, n numeric,
     flag boolean, day date, anything)`,
  'create table wr(k text primary key, v integer, note text) without rowid',
  'create table empty(a integer, b text)',
];

const bigInts = ['9007199254740991', '9007199254740993', '9223372036854775807', '-9223372036854775808'];

describe('snapshot export of a real cluster', () => {
  const dir = makeTempDir('snapshot-export');
  let storage: StorageCluster;
  let writer: InstanceInfo;
  let rig: SnapshotRig | undefined;
  let s3: S3Client;
  let sql: Sql;
  let reader: ReturnType<typeof storagePageReader>;

  beforeAll(async () => {
    rig = await startSnapshotRig({ dir: dir.path, pgCount: 4, pagesPerPg: 512, bucket });
    ({ storage, writer, s3 } = rig);
    reader = storagePageReader(storage.volume);
    sql = new Sql(writer);
  }, 120_000);
  afterAll(async () => {
    sql?.close();
    reader?.close();
    await rig?.stop();
    dir.remove();
  });

  it('exports exactly the rows the cluster held at the snapshot, whatever is written during the export', async () => {
    for (const statement of schema) await sql.exec(statement);
    await sql.exec(`insert into kinds values
      (1, 42, 1.5, 'plain', x'000102ff', 3.25, 1, '2024-02-29', 'a'),
      (2, null, null, null, null, null, null, null, null),
      (3, -7, -0.1, 'ünïcødé ✓ 漢字 🚀', x'', 7, 0, '1999-12-31', 'b'),
      (4, ${bigInts[0]}, 1e300, 'x', x'ff', 0.5, 1, null, null),
      (5, ${bigInts[1]}, -2.5e-300, '', x'00', -1, 0, null, 'c'),
      (6, ${bigInts[2]}, 0.0, 'tab	and "quotes"', x'7f', 2, 1, null, 'd'),
      (7, ${bigInts[3]}, 123456.789, 'last', x'80', 3, 0, null, 'e')`);
    await sql.exec(`with recursive n(x) as (select 1 union all select x + 1 from n where x < 300)
      insert into wr select printf('key-%04d', x), x * ${bigInts[1]} % 1000003, printf('note %d ✓', x) from n`);

    // What the cluster returns (integers as text: the Data API's longValue is a double).
    const kindsAtSnapshot = await sql.rows(
      'select cast(id as text), cast(i as text), r, t, b, n, flag, day, anything from kinds order by id',
    );
    const wrAtSnapshot = await sql.rows('select k, cast(v as text), note from wr order by k');
    expect(kindsAtSnapshot).toHaveLength(7);
    expect(wrAtSnapshot).toHaveLength(300);

    const { manifest } = await takeSnapshot(
      {
        s3,
        bucket,
        cluster,
        volume: storage.volume,
        readPoint: () => writerConsistentPoint(`http://127.0.0.1:${writer.httpPort}`),
        fetchPage: reader.fetchPage,
      },
      { snapshotId: 'before-export' },
    );

    // A write load on the cluster for as long as the export runs.
    let loadRunning = true;
    let loadCommits = 0;
    const load = (async () => {
      for (let k = 0; loadRunning; k++) {
        await sql.exec(`insert into kinds(id, i, t) values (${1000 + k}, ${k}, 'after the snapshot')`);
        await sql.exec(`update wr set note = 'changed ${k}' where k = 'key-0001'`);
        await sql.exec(`insert into empty values (${k}, 'not empty now')`);
        loadCommits += 3;
      }
    })();
    const deps = { s3, bucket, region: 'us-east-1', tempDir: dir.path, checkpointIntervalMs: 0 };
    let task: Awaited<ReturnType<typeof runExportTask>>;
    let commitsDuringExport = 0;
    try {
      task = await runExportTask(
        deps,
        await startExportTask(deps, {
          exportTaskIdentifier: 'during-load',
          cluster,
          snapshotIdentifier: manifest.snapshotId,
        }),
      );
      commitsDuringExport = loadCommits;
    } finally {
      loadRunning = false;
      await load;
    }
    // Commits acknowledged while the export ran (counted when it ended).
    expect(commitsDuringExport).toBeGreaterThan(0);
    expect(task.FailureCause).toBeUndefined();
    expect(task.Status).toBe('COMPLETE');
    expect(task.SnapshotLsn).toBe(manifest.lsn);
    // The load did change the cluster…
    expect(((await sql.rows('select count(*) from empty'))[0]![0] as number) > 0).toBe(true);

    // …and not the export.
    const local = join(dir.path, 'read');
    mkdirSync(local, { recursive: true });
    await downloadPrefix(s3, bucket, 'exports/during-load/', local);
    const folder = (table: string) =>
      join(local, 'exports', 'during-load', cluster, `${cluster}.${table}`, '1', '*.parquet');
    const kinds = await duckdbRows(folder('kinds'), 'id');
    expect(kinds.types).toEqual([
      'BIGINT',
      'BIGINT',
      'DOUBLE',
      'VARCHAR',
      'BLOB',
      'DOUBLE',
      'BOOLEAN',
      'VARCHAR',
      'VARCHAR',
    ]);
    expect(kinds.rows.map((r) => r.map(normalize))).toEqual(
      kindsAtSnapshot.map((r) => r.map((v, c) => (c === 6 && v !== null ? v === 1 : normalize(v)))),
    );
    expect(kinds.rows.map((r) => String(r[1]))).toEqual(expect.arrayContaining(bigInts));
    const wr = await duckdbRows(folder('wr'), 'k');
    expect(wr.rows.map((r) => r.map(normalize))).toEqual(wrAtSnapshot.map((r) => r.map(normalize)));
    const empty = await duckdbRows(folder('empty'), 'a');
    expect(empty.rows).toEqual([]);

    const info = JSON.parse(
      await (
        await s3.send(new GetObjectCommand({ Bucket: bucket, Key: exportInfoKey('exports', 'during-load') }))
      ).Body!.transformToString(),
    ) as { perTableStatus: Array<{ target: string; rowCount: number; status: string }> };
    expect(Object.fromEntries(info.perTableStatus.map((t) => [t.target, t.rowCount]))).toEqual({
      'borealis.empty': 0,
      'borealis.kinds': 7,
      'borealis.wr': 300,
    });
    expect(info.perTableStatus.every((t) => t.status === 'COMPLETE')).toBe(true);
  }, 180_000);
});

/** One comparable form: integers as decimal text, blobs as Buffers. */
function normalize(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v);
  return v;
}
