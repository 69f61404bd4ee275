// A large table for the export benchmark and test: built locally with better-sqlite3 (the SQL path
// would take far too long for 1,000,000 rows here), uploaded as a snapshot in the manifest format,
// exported in a child process (child.ts), and checked: DuckDB's aggregates over the Parquet equal
// SQLite's over the source file.
import { execFile } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import type { ExportTask } from '../../functions/snapshot-export/task.ts';
import { downloadPrefix, putSnapshotFromFile } from '../../functions/snapshot-export/testing.ts';

const childEntry = fileURLToPath(new URL('./child.ts', import.meta.url));
const run = promisify(execFile);

/** id, an integer near 2^53, a real, ~40 bytes of text, a 16-byte blob, a nullable integer. */
export function buildLargeDatabase(path: string, rows: number): { bytes: number } {
  const db = new Database(path);
  db.exec(`pragma journal_mode = off; pragma synchronous = off;
    create table events(id integer primary key, big integer, amount real, note text, tag blob, maybe int)`);
  db.exec(`with recursive n(i) as (select 1 union all select i + 1 from n where i < ${rows})
    insert into events select i, 9007199254740992 + i * 7, i / 7.0, printf('event %08d — ünïcode %d', i, i % 1000),
      randomblob(16), case when i % 10 = 0 then null else i end from n`);
  db.close();
  return { bytes: statSync(path).size };
}

/** What both sides must agree on: row count and exact sums and a content checksum per column. */
export const checksumSql = (from: string) =>
  `select count(*) n, sum(id) ids, sum(big - 9007199254740992) bigs, count(maybe) maybes, sum(maybe) maybesum,
     sum(length(note)) notes, sum(octet_length(tag)) tags, round(sum(amount), 3) amounts from ${from}`;

export interface LargeExportResult {
  rows: number;
  databaseBytes: number;
  uploadSeconds: number;
  task: ExportTask;
  seconds: number;
  peakRssMb: number;
  parquetBytes: number;
  parts: number;
  sqlite: Record<string, unknown>;
  duckdb: Record<string, unknown>;
  /** The export's log lines (message, fields, atSeconds since its start). */
  phases: Record<string, unknown>[];
}

export async function runLargeExport(options: {
  s3: S3Client;
  endpoint: string;
  bucket: string;
  cluster: string;
  dir: string;
  rows: number;
  exportId: string;
  /** The child's V8 old-space cap (--max-old-space-size), to show what the export needs. */
  heapMbMax?: number;
}): Promise<LargeExportResult> {
  const { s3, bucket, cluster, dir } = options;
  const dbPath = join(dir, 'large.db');
  const { bytes } = buildLargeDatabase(dbPath, options.rows);
  const uploadStarted = performance.now();
  const snapshotId = `large-${options.rows}`;
  await putSnapshotFromFile({ s3, bucket, cluster, snapshotId, path: dbPath });
  const uploadSeconds = (performance.now() - uploadStarted) / 1000;
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const { stdout, stderr } = await run(
    process.execPath,
    [
      ...(options.heapMbMax === undefined ? [] : [`--max-old-space-size=${options.heapMbMax}`]),
      '--import',
      'tsx',
      childEntry,
      JSON.stringify({
        endpoint: options.endpoint,
        bucket,
        region: 'us-east-1',
        tempDir: join(dir, 'tmp'),
        request: { exportTaskIdentifier: options.exportId, cluster, snapshotIdentifier: snapshotId },
      }),
    ],
    { maxBuffer: 16 * 2 ** 20, timeout: 600_000 },
  );
  const phases = stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const child = JSON.parse(stdout.trim().split('\n').at(-1)!) as {
    task: ExportTask;
    seconds: number;
    peakRssMb: number;
  };
  const local = join(dir, 'read');
  const keys = await downloadPrefix(s3, bucket, `exports/${options.exportId}/`, local);
  const parts = keys.filter((k) => k.endsWith('.parquet'));
  const parquetBytes = parts.reduce((n, k) => n + statSync(join(local, k)).size, 0);
  const source = new Database(dbPath, { readonly: true });
  const sqlite = source.prepare(checksumSql('events')).get() as Record<string, unknown>;
  source.close();
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const glob = join(local, 'exports', options.exportId, cluster, `${cluster}.events`, '1', '*.parquet');
  const reader = await connection.runAndReadAll(checksumSql(`read_parquet('${glob}')`));
  const duckdb = reader.getRowObjectsJS()[0] as Record<string, unknown>;
  connection.closeSync();
  instance.closeSync();
  return {
    rows: options.rows,
    databaseBytes: bytes,
    uploadSeconds,
    task: child.task,
    seconds: child.seconds,
    peakRssMb: child.peakRssMb,
    parquetBytes,
    parts: parts.length,
    sqlite,
    duckdb,
    phases,
  };
}
