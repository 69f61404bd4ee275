// A 1,000,000-row table exported from a snapshot (built with better-sqlite3 and uploaded in the
// manifest format: the SQL path would take far too long here, and the export's only inputs are S3
// objects). The export runs in a child process with a capped heap: DuckDB's counts and exact sums over
// the Parquet equal SQLite's over the source, the task's row count matches, and its peak RSS is bounded.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLargeExport } from '../../bench/export/large.ts';
import { s3Client } from '../../core/aws/clients.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { makeTempDir } from '../harness/temp.ts';

const rows = 1_000_000;
/**
 * The export runs with V8's old space capped here: it must finish (one row group at a time, not the
 * table, is what it holds) and its RSS stay under peakRssMbMax. Uncapped it peaks at 540-620 MB of
 * mostly unreclaimed heap at the same speed (docs/benchmarks.md).
 */
const heapMbMax = 256;
const peakRssMbMax = 600;

describe('export of a 1,000,000-row table', () => {
  const dir = makeTempDir('export-large');
  let s3server: ManagedProcess;
  let s3: S3Client;
  let endpoint: string;

  beforeAll(async () => {
    s3server = await spawnProcess({
      name: 's3',
      entry: fileURLToPath(new URL('../../embedded/s3-emulator.ts', import.meta.url)),
      args: ['--data-dir', join(dir.path, 's3')],
      nodeFlags: ['--openssl-legacy-provider'],
      logFile: join(dir.path, 'logs', 's3.log'),
    });
    endpoint = `http://127.0.0.1:${s3server.ready.port}`;
    s3 = s3Client({
      region: 'us-east-1',
      endpoint,
      env: {
        AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
      },
    });
    await s3.send(new CreateBucketCommand({ Bucket: 'borealis-backup-us-east-1' }));
  });
  afterAll(async () => {
    s3?.destroy();
    await s3server?.stop();
    dir.remove();
  });

  it('has every row, exactly, and bounded memory', async () => {
    const r = await runLargeExport({
      s3,
      endpoint,
      bucket: 'borealis-backup-us-east-1',
      cluster: 'borealis',
      dir: dir.path,
      rows,
      exportId: 'large',
      heapMbMax,
    });
    expect(r.task.Status).toBe('COMPLETE');
    expect(r.task.ExportedRowCount).toBe(rows);
    const text = (o: Record<string, unknown>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)]));
    expect(text(r.duckdb)).toEqual(text(r.sqlite));
    expect(String(r.duckdb.n)).toBe(String(rows));
    expect(r.peakRssMb).toBeLessThan(peakRssMbMax);
    console.log(
      `export of ${rows} rows: ${r.seconds.toFixed(1)} s, ${Math.round(rows / r.seconds)} rows/s, ` +
        `${(r.parquetBytes / 2 ** 20 / r.seconds).toFixed(2)} MB/s of Parquet, peak RSS ${r.peakRssMb.toFixed(0)} MB`,
    );
  }, 110_000);
});
