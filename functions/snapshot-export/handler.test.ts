// The snapshot-export handler against an S3 emulator (a real process) and a snapshot uploaded from a
// local SQLite file in the manifest format (testing.ts): every export is read back with DuckDB and
// compared with the database the snapshot holds (read with better-sqlite3, integers exact). Also the
// metadata documents, part splitting, cancellation, a redelivered event and each bad input.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/program.ts';
import { memoryIo } from '../../cli/testing.ts';
import { s3Client } from '../../core/aws/clients.ts';
import { listObjects } from '../../core/backup/s3-archive.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { type ExportDeps, handleExportRequest, runExportTask, startExportTask } from './handler.ts';
import { exportInfoKey, tablesInfoKey } from './metadata.ts';
import { cancelKey, describeTask, type ExportRequest, requestCancel } from './task.ts';
import { downloadPrefix, duckdbRows, putSnapshotFromFile } from './testing.ts';

const s3Entry = fileURLToPath(new URL('../../embedded/s3-emulator.ts', import.meta.url));
const bucket = 'borealis-backup-us-east-1';
const cluster = 'borealis';
const snapshotId = 'snap-export-test';

const schema = `
  create table kinds(id integer primary key, i int, big bigint, r real, t text, b blob, n numeric,
    d decimal(10, 2), flag boolean, day date, v varchar(20), anything);
  create table wr(k text primary key, v integer, payload blob) without rowid;
  create table empty(a int, b text);
  create table loose(n integer, x text);
  create virtual table docs using fts5(body);
  create table "odd/name"(a);
  create table "spaced ü"(a int);
  create table big(id integer primary key, v integer, s text);
`;

/** Values near and beyond 2^53 and the int64 bounds: exact only if nothing passes through a double. */
const bigInts = [2n ** 53n - 1n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n), -(2n ** 53n) - 3n];

function buildDatabase(path: string): void {
  const db = new Database(path);
  db.exec(schema);
  const kinds = db.prepare('insert into kinds values (?,?,?,?,?,?,?,?,?,?,?,?)');
  kinds.run(
    1,
    42,
    bigInts[0],
    1.5,
    'plain',
    Buffer.from([0, 1, 2, 255]),
    3.25,
    19.99,
    1,
    '2024-02-29',
    'v',
    'a',
  );
  kinds.run(2, null, null, null, null, null, null, null, null, null, null, null);
  kinds.run(3, -7, bigInts[2], -0.1, 'ünïcødé ✓ 漢字 🚀', Buffer.alloc(0), 7, 0, 0, '1999-12-31', '', 'b');
  bigInts.forEach((v, k) => {
    kinds.run(
      10 + k,
      v,
      v,
      1e300,
      `nul\u0000inside ${k}`,
      Buffer.from([k]),
      k,
      k / 4,
      k % 2,
      null,
      null,
      null,
    );
  });
  const wr = db.prepare('insert into wr values (?,?,?)');
  for (let k = 0; k < 50; k++) wr.run(`key-${String(k).padStart(3, '0')}`, k * 1000, Buffer.alloc(k, k));
  db.prepare('insert into loose values (?,?)').run(1, 'text');
  db.prepare('insert into loose values (?,?)').run('not a number', Buffer.from([9, 9]));
  db.prepare('insert into loose values (?,?)').run(2.5, 3);
  db.prepare("insert into docs values ('full text')").run();
  db.prepare('insert into "odd/name" values (1)').run();
  db.prepare('insert into "spaced ü" values (5)').run();
  const big = db.prepare('insert into big values (?,?,?)');
  db.transaction(() => {
    for (let k = 1; k <= 20_000; k++) big.run(k, k * 3, `row ${k} ${'x'.repeat(k % 50)}`);
  })();
  db.close();
}

describe('snapshot-export handler', () => {
  const dir = makeTempDir('export');
  let s3server: ManagedProcess;
  let s3: S3Client;
  let source: Database.Database;
  const deps = (extra: Partial<ExportDeps> = {}): ExportDeps => ({
    s3,
    bucket,
    region: 'us-east-1',
    tempDir: dir.path,
    checkpointIntervalMs: 0,
    ...extra,
  });
  const request = (exportTaskIdentifier: string, extra: Partial<ExportRequest> = {}) => ({
    exportTaskIdentifier,
    cluster,
    snapshotIdentifier: snapshotId,
    s3Prefix: 'exports',
    ...extra,
  });
  /** Every key under a prefix. */
  const keysUnder = async (prefix: string) => (await listObjects(s3, bucket, prefix)).map((o) => o.key);

  beforeAll(async () => {
    s3server = await spawnProcess({
      name: 's3',
      entry: s3Entry,
      args: ['--data-dir', join(dir.path, 's3')],
      nodeFlags: ['--openssl-legacy-provider'],
      logFile: join(dir.path, 'logs', 's3.log'),
    });
    s3 = s3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${s3server.ready.port}`,
      env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    const path = join(dir.path, 'source.db');
    buildDatabase(path);
    await putSnapshotFromFile({
      s3,
      bucket,
      cluster,
      snapshotId,
      path,
      lsn: 1234n,
      commitTimeMs: Date.UTC(2026, 0, 2),
    });
    source = new Database(path, { readonly: true });
    source.defaultSafeIntegers(true);
  }, 60_000);
  afterAll(async () => {
    source?.close();
    s3?.destroy();
    await s3server?.stop();
    dir.remove();
  });

  /** The export's files for one table, read by DuckDB. */
  async function exported(exportId: string, table: string, order: string) {
    const local = join(dir.path, 'read', exportId);
    rmSync(local, { recursive: true, force: true });
    mkdirSync(local, { recursive: true });
    await downloadPrefix(s3, bucket, `exports/${exportId}/`, local);
    return duckdbRows(
      join(local, 'exports', exportId, cluster, `${cluster}.${table}`, '1', '*.parquet'),
      order,
    );
  }

  it('exports every table with exact values and Aurora-typed columns, and metadata whose row counts match', async () => {
    const task = await startExportTask(deps(), request('all-tables'));
    expect(task.Status).toBe('STARTING');
    const done = await runExportTask(deps(), task);
    expect(done.FailureCause).toBeUndefined();
    expect(done.Status).toBe('COMPLETE');
    expect(done.PercentProgress).toBe(100);
    expect(done.SnapshotTime).toBe('2026-01-02T00:00:00.000Z');
    expect(done.SnapshotLsn).toBe('1234');
    expect(done.SourceArn).toBe(`arn:aws:rds:us-east-1:000000000000:cluster-snapshot:${snapshotId}`);

    const kinds = await exported('all-tables', 'kinds', 'id');
    expect(kinds.types).toEqual([
      'BIGINT', // integer primary key
      'BIGINT', // int
      'BIGINT', // bigint
      'DOUBLE', // real
      'VARCHAR', // text
      'BLOB', // blob
      'DOUBLE', // numeric
      'DOUBLE', // decimal(10, 2)
      'BOOLEAN', // boolean
      'VARCHAR', // date (as text)
      'VARCHAR', // varchar(20)
      'VARCHAR', // untyped, text values only
    ]);
    const expected = (source.prepare('select * from kinds order by id').raw().all() as unknown[][]).map(
      (row) =>
        row.map((v, c) => {
          if (v === null) return null;
          if (c === 6 || c === 7) return Number(v); // NUMERIC/DECIMAL → DOUBLE
          if (c === 8) return v !== 0n; // BOOLEAN
          return v;
        }),
    );
    expect(kinds.rows).toEqual(expected);
    expect(kinds.rows.map((r) => r[2]).filter((v) => v !== null)).toEqual(expect.arrayContaining(bigInts));

    const wr = await exported('all-tables', 'wr', 'k');
    expect(wr.rows).toEqual(source.prepare('select * from wr order by k').raw().all());
    const empty = await exported('all-tables', 'empty', 'a');
    expect(empty.rows).toEqual([]);
    expect(empty.types).toEqual(['BIGINT', 'VARCHAR']);
    const spaced = await exported('all-tables', 'spaced ü', 'a');
    expect(spaced.rows).toEqual([[5n]]);
    const big = await exported('all-tables', 'big', 'id');
    expect(big.rows).toEqual(source.prepare('select * from big order by id').raw().all());

    const info = JSON.parse(
      (await downloadText(s3, exportInfoKey('exports', 'all-tables'))) ?? 'null',
    ) as Record<string, unknown> & {
      perTableStatus: Array<{ target: string; status: string; rowCount: number }>;
    };
    expect(info.status).toBe('COMPLETE');
    expect(info.exportTaskIdentifier).toBe('all-tables');
    const counts = Object.fromEntries(info.perTableStatus.map((t) => [t.target, [t.status, t.rowCount]]));
    expect(counts).toEqual({
      'borealis.kinds': ['COMPLETE', 3 + bigInts.length],
      'borealis.wr': ['COMPLETE', 50],
      'borealis.empty': ['COMPLETE', 0],
      'borealis.loose': ['COMPLETE', 3],
      'borealis.spaced ü': ['COMPLETE', 1],
      'borealis.big': ['COMPLETE', 20_000],
      'borealis.docs': ['SKIPPED', 0],
      'borealis.odd/name': ['SKIPPED', 0],
    });
    const tables = JSON.parse(
      (await downloadText(s3, tablesInfoKey('exports', 'all-tables', 8))) ?? 'null',
    ) as {
      perTableStatus: Array<{
        target: string;
        tableStatistics: { rowCount: number };
        schemaMetadata: {
          originalTypeMappings: Array<{
            columnName: string;
            originalType: string;
            expectedExportedType: string;
          }>;
        };
      }>;
    };
    const kindsInfo = tables.perTableStatus.find((t) => t.target === 'borealis.kinds')!;
    expect(kindsInfo.tableStatistics.rowCount).toBe(kinds.rows.length);
    expect(kindsInfo.schemaMetadata.originalTypeMappings.slice(6, 8)).toEqual([
      expect.objectContaining({ columnName: 'n', originalType: 'numeric', expectedExportedType: 'double' }),
      expect.objectContaining({
        columnName: 'd',
        originalType: 'decimal(10, 2)',
        expectedExportedType: 'double',
        originalNumPrecision: 10,
        originalNumScale: 2,
      }),
    ]);
    expect(await keysUnder('exports/all-tables/borealis/borealis.kinds/1/')).toEqual([
      expect.stringMatching(/\/1\/_SUCCESS$/),
      expect.stringMatching(/\/1\/part-00000-[0-9a-f-]{36}\.gz\.parquet$/),
    ]);
    // The status any process reads back.
    expect((await describeTask(s3, bucket, 'all-tables')).Status).toBe('COMPLETE');
  }, 120_000);

  it('keeps values that do not fit their declared type, as text (or bytes beside a blob), with a warning', async () => {
    const done = await handleExportRequest(deps(), request('loose-only', { exportOnly: ['borealis.loose'] }));
    expect(done.Status).toBe('COMPLETE');
    const loose = await exported('loose-only', 'loose', 'n');
    expect(loose.types).toEqual(['VARCHAR', 'BLOB']);
    expect(loose.rows).toEqual([
      ['1', Buffer.from('text')],
      ['2.5', Buffer.from('3.0')], // a number bound as a double: TEXT affinity stored it as '3.0'
      ['not a number', Buffer.from([9, 9])],
    ]);
    expect(done.WarningMessage).toContain('borealis.loose.n: 1 real, 1 text value(s) do not fit INT64');
    expect(done.WarningMessage).toContain('borealis.loose.x:');
    expect(await keysUnder('exports/loose-only/borealis/')).toHaveLength(2); // one part + _SUCCESS
  }, 60_000);

  it('skips tables that cannot be exported and lists them in WarningMessage', async () => {
    const done = await handleExportRequest(
      deps(),
      request('skips', { exportOnly: ['docs', 'odd/name', 'empty'] }),
    );
    expect(done.Status).toBe('COMPLETE');
    expect(done.WarningMessage).toContain('borealis.docs skipped: a virtual table');
    expect(done.WarningMessage).toContain("borealis.odd/name skipped: its name contains '/'");
    expect(done.ExportedTableCount).toBe(1);
  }, 60_000);

  it('splits a table into several parts that together hold every row', async () => {
    const done = await handleExportRequest(
      deps({ partBytesTarget: 64 * 1024, rowGroupRows: 2_000 }),
      request('parts', { exportOnly: ['big'] }),
    );
    expect(done.Status).toBe('COMPLETE');
    const parts = (await keysUnder('exports/parts/borealis/borealis.big/1/')).filter((k) =>
      k.endsWith('.parquet'),
    );
    expect(parts.length).toBeGreaterThan(1);
    expect(parts[1]).toMatch(/part-00001-/);
    const big = await exported('parts', 'big', 'id');
    expect(big.rows).toEqual(source.prepare('select * from big order by id').raw().all());
  }, 60_000);

  it('refuses bad requests with Aurora-named errors and writes nothing', async () => {
    const before = await keysUnder('');
    await expect(
      startExportTask(deps(), request('no-snap', { snapshotIdentifier: 'snap-missing' })),
    ).rejects.toThrow(
      /^DBClusterSnapshotNotFoundFault: snapshot 'snap-missing' of cluster 'borealis' is not in s3:\/\/borealis-backup-us-east-1$/,
    );
    await expect(startExportTask(deps(), request('all-tables'))).rejects.toThrow(
      /^ExportTaskAlreadyExists: /,
    );
    await expect(startExportTask(deps(), request('colon', { s3Prefix: 'a:b' }))).rejects.toThrow(
      "InvalidParameterValue: S3 prefix 'a:b' contains ':'",
    );
    await expect(
      startExportTask(deps(), request('inside', { s3Prefix: 'clusters/borealis' })),
    ).rejects.toThrow(
      /^InvalidParameterValue: S3 prefix 'clusters\/borealis' would put the export inside the backup bucket's own 'clusters\/' keys$/,
    );
    await expect(startExportTask(deps(), request('9starts-with-digit'))).rejects.toThrow(
      /^InvalidParameterValue: export task identifier/,
    );
    await expect(requestCancel(s3, bucket, 'all-tables')).rejects.toThrow(
      "InvalidExportTaskStateFault: export task 'all-tables' is COMPLETE: only a STARTING or IN_PROGRESS task can be cancelled",
    );
    await expect(describeTask(s3, bucket, 'never-made')).rejects.toThrow(/^ExportTaskNotFound: /);
    expect(await keysUnder('')).toEqual(before);
  }, 60_000);

  it('fails a task whose ExportOnly names a table the snapshot lacks, before writing any Parquet', async () => {
    const done = await handleExportRequest(
      deps(),
      request('missing-table', { exportOnly: ['kinds', 'nope'] }),
    );
    expect(done.Status).toBe('FAILED');
    expect(done.FailureCause).toMatch(
      /^InvalidParameterValue: ExportOnly names 'nope', not a table of the snapshot/,
    );
    expect((await keysUnder('exports/missing-table/')).filter((k) => k.endsWith('.parquet'))).toEqual([]);
  }, 60_000);

  it('ends a cancelled task CANCELED with nothing reported complete; a redelivered event changes nothing', async () => {
    const task = await startExportTask(deps(), request('to-cancel'));
    expect((await requestCancel(s3, bucket, 'to-cancel')).Status).toBe('CANCELING');
    expect((await describeTask(s3, bucket, 'to-cancel')).Status).toBe('CANCELING');
    const done = await runExportTask(deps(), task);
    expect(done.Status).toBe('CANCELED');
    expect(await keysUnder('exports/to-cancel/')).toEqual([]);
    expect((await describeTask(s3, bucket, 'to-cancel')).Status).toBe('CANCELED');
    await expect(requestCancel(s3, bucket, 'to-cancel')).rejects.toThrow(/^InvalidExportTaskStateFault: /);

    const keys = await keysUnder('exports/all-tables/');
    const again = await handleExportRequest(deps(), request('all-tables'));
    expect(again.Status).toBe('COMPLETE');
    expect(await keysUnder('exports/all-tables/')).toEqual(keys);
    await expect(handleExportRequest(deps(), request('all-tables', { exportOnly: ['big'] }))).rejects.toThrow(
      /^ExportTaskAlreadyExists: /,
    );
    expect(await keysUnder(cancelKey('to-cancel'))).toHaveLength(1);
  }, 60_000);

  it('stops a task cancelled between row groups: CANCELED, the table without _SUCCESS, nothing COMPLETE', async () => {
    let cancelled = false;
    const task = await startExportTask(deps(), request('cancel-mid', { exportOnly: ['big'] }));
    const done = await runExportTask(
      deps({
        rowGroupRows: 1_000,
        onProgress: async (t) => {
          // Once rows are flowing (past the download's share of the progress), cancel from "elsewhere".
          if (!cancelled && t.Status === 'IN_PROGRESS' && t.PercentProgress > 10) {
            cancelled = true;
            expect((await requestCancel(s3, bucket, 'cancel-mid')).Status).toBe('CANCELING');
          }
        },
      }),
      task,
    );
    expect(cancelled).toBe(true);
    expect(done.Status).toBe('CANCELED');
    expect(done.PercentProgress).toBeLessThan(100);
    const keys = await keysUnder('exports/cancel-mid/');
    expect(keys.filter((k) => k.endsWith('_SUCCESS'))).toEqual([]);
    const info = JSON.parse((await downloadText(s3, exportInfoKey('exports', 'cancel-mid')))!) as {
      status: string;
      perTableStatus: Array<{ target: string; status: string }>;
    };
    expect(info.status).toBe('CANCELED');
    expect(info.perTableStatus).toEqual([
      expect.objectContaining({ target: 'borealis.big', status: 'CANCELED' }),
    ]);
  }, 60_000);

  it('runs from the CLI: export start --json, status, list, and cancel of a finished task (exit 1)', async () => {
    // No system runs from this state dir: the CLI uses the environment's endpoint, as against LocalStack.
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL: `http://127.0.0.1:${s3server.ready.port}`,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    });
    const cli = async (...args: string[]) => {
      const io = memoryIo();
      const code = await runCli([...args, '--state-dir', join(dir.path, 'no-system')], io);
      return { code, out: io.stdout(), err: io.stderr() };
    };
    try {
      const started = await cli(
        'export',
        'start',
        '--snapshot',
        snapshotId,
        '--export-id',
        'from-cli',
        '--only',
        'wr',
        '--json',
      );
      expect(started.err).toBe('');
      expect(started.code).toBe(0);
      expect(JSON.parse(started.out)).toMatchObject({
        ExportTaskIdentifier: 'from-cli',
        Status: 'COMPLETE',
        ExportedRowCount: 50,
      });
      const status = await cli('export', 'status', 'from-cli', '--json');
      expect(JSON.parse(status.out)).toMatchObject({
        Status: 'COMPLETE',
        PercentProgress: 100,
        ExportOnly: ['wr'],
      });
      const list = await cli('export', 'list');
      expect(list.out).toMatch(/^from-cli\s+COMPLETE\s+100\s+snap-export-test\s+50 /m);
      const cancel = await cli('export', 'cancel', 'from-cli');
      expect(cancel.code).toBe(1);
      expect(cancel.err).toBe(
        "borealis: InvalidExportTaskStateFault: export task 'from-cli' is COMPLETE: only a STARTING or IN_PROGRESS task can be cancelled\n",
      );
      const again = await cli('export', 'start', '--snapshot', snapshotId, '--export-id', 'from-cli');
      expect(again.code).toBe(1);
      expect(again.err).toMatch(/^borealis: ExportTaskAlreadyExists: /);
      const colon = await cli(
        'export',
        'start',
        '--snapshot',
        snapshotId,
        '--export-id',
        'x1',
        '--s3-prefix',
        'a:b',
      );
      expect(colon.err).toBe("borealis: InvalidParameterValue: S3 prefix 'a:b' contains ':'\n");
    } finally {
      process.env = saved;
    }
  }, 60_000);
});

async function downloadText(s3: S3Client, key: string): Promise<string | undefined> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return await got.Body!.transformToString();
  } catch {
    return undefined;
  }
}
