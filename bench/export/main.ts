// bench/export: a snapshot's 1,000,000-row table exported to Parquet. The table is built locally with
// better-sqlite3 and uploaded as a snapshot in the manifest format (the export reads only S3, so it
// cannot tell), the export runs in a child process against the S3 emulator, and DuckDB's aggregates
// over the Parquet are checked against SQLite's. Reported: rows/s, MB/s of Parquet, peak RSS.
// Run: npm run bench:export [-- --rows 1000000]
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../../core/aws/clients.ts';
import { spawnProcess } from '../../core/process/spawn.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { machine, table, writeResult } from '../lib/stats.ts';
import { runLargeExport } from './large.ts';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, help: { type: 'boolean', default: false } },
});
if (values.help) {
  console.log('usage: npm run bench:export [-- --rows N]   (default 1,000,000 rows)');
  process.exit(0);
}
const rows = Number(values.rows);
if (!Number.isInteger(rows) || rows < 1) {
  console.error(`bench:export: --rows must be a positive integer, got '${values.rows}'`);
  process.exit(2);
}

const dir = makeTempDir('bench-export');
const s3server = await spawnProcess({
  name: 's3',
  entry: fileURLToPath(new URL('../../embedded/s3-emulator.ts', import.meta.url)),
  args: ['--data-dir', join(dir.path, 's3')],
  nodeFlags: ['--openssl-legacy-provider'],
  logFile: join(dir.path, 'logs', 's3.log'),
});
const endpoint = `http://127.0.0.1:${s3server.ready.port}`;
const s3 = s3Client({
  region: 'us-east-1',
  endpoint,
  env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
});
try {
  const bucket = 'borealis-backup-us-east-1';
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  const r = await runLargeExport({
    s3,
    endpoint,
    bucket,
    cluster: 'borealis',
    dir: dir.path,
    rows,
    exportId: 'bench',
  });
  const same =
    JSON.stringify(r.sqlite, (_k, v) => String(v)) === JSON.stringify(r.duckdb, (_k, v) => String(v));
  const mb = r.parquetBytes / 2 ** 20;
  console.log(
    table(
      [
        'rows',
        'db MB',
        'parquet MB',
        'parts',
        'export s',
        'rows/s',
        'parquet MB/s',
        'peak RSS MB',
        'DuckDB = SQLite',
      ],
      [
        [
          r.rows,
          (r.databaseBytes / 2 ** 20).toFixed(1),
          mb.toFixed(1),
          r.parts,
          r.seconds.toFixed(1),
          Math.round(r.rows / r.seconds),
          (mb / r.seconds).toFixed(2),
          r.peakRssMb.toFixed(0),
          same ? 'yes' : 'NO',
        ],
      ],
    ),
  );
  for (const p of r.phases) console.log(`  ${String(p.atSeconds).padStart(6)} s  ${p.message}`);
  console.log(`written: ${writeResult('export', { machine: machine(), ...r, same })}`);
  if (!same || r.task.Status !== 'COMPLETE') process.exitCode = 1;
} finally {
  s3.destroy();
  await s3server.stop();
  dir.remove();
}
