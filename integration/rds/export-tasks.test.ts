// Snapshot export as a user scripts it against the RDS API, with @aws-sdk/client-rds pointed at
// `endpoints.rds` of `borealis status --json`: rows written, CreateDBClusterSnapshot and
// waitUntilDBClusterSnapshotAvailable, StartExportTask of the snapshot's ARN to a bucket of their own,
// DescribeExportTasks polled until COMPLETE, then the Parquet files under S3Prefix/ExportTaskIdentifier/
// hold exactly the rows (read with DuckDB), and `borealis export status` sees the same task. Then a
// running export cancelled (CANCELING, then CANCELED), and each error as RDS names it, changing nothing.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import {
  CancelExportTaskCommand,
  CreateDBClusterSnapshotCommand,
  DBClusterSnapshotNotFoundFault,
  DescribeDBClusterSnapshotsCommand,
  DescribeExportTasksCommand,
  type ExportTask,
  ExportTaskAlreadyExistsFault,
  ExportTaskNotFoundFault,
  InvalidExportSourceStateFault,
  InvalidExportTaskStateFault,
  InvalidS3BucketFault,
  type RDSClient,
  StartExportTaskCommand,
  type StartExportTaskCommandInput,
  waitUntilDBClusterSnapshotAvailable,
} from '@aws-sdk/client-rds';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listObjects } from '../../core/backup/s3-archive.ts';
import { downloadPrefix, duckdbRows } from '../../functions/snapshot-export/testing.ts';
import { startRdsSystem } from '../harness/rds.ts';
import type { Sql } from '../harness/sql.ts';
import type { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const bucket = 'analytics-exports';
const prefix = 'nightly/aurora';
const rowCount = 5_000;
/** Rows of random bytes written before the snapshot that must still be `creating` when exported. */
const blobRows = 500;
const blobBytes = 4_000;
/** An export of this cluster takes seconds; the function runner may be busy with another first. */
const exportWaitMs = 120_000;
const role = 'arn:aws:iam::000000000000:role/rds-s3-export';
const key = 'arn:aws:kms:us-east-1:000000000000:key/00000000-0000-0000-0000-000000000000';

describe('StartExportTask, DescribeExportTasks, CancelExportTask as a user calls them', () => {
  const dir = makeTempDir('rds-export-tasks');
  let system: TestSystem;
  let rds: RDSClient;
  let s3: S3Client;
  let writer: Sql;
  let snapshotArn: string;

  const request = (fields: Partial<StartExportTaskCommandInput> = {}): StartExportTaskCommandInput => ({
    ExportTaskIdentifier: 'orders-export',
    SourceArn: snapshotArn,
    S3BucketName: bucket,
    S3Prefix: prefix,
    IamRoleArn: role,
    KmsKeyId: key,
    ...fields,
  });

  async function describeTask(id: string): Promise<ExportTask> {
    const { ExportTasks } = await rds.send(new DescribeExportTasksCommand({ ExportTaskIdentifier: id }));
    expect(ExportTasks).toHaveLength(1);
    return ExportTasks![0]!;
  }

  /** Polls DescribeExportTasks until the task ends; every status seen on the way, in order. */
  async function waitForEnd(id: string): Promise<{ task: ExportTask; seen: string[] }> {
    const seen: string[] = [];
    const deadline = Date.now() + exportWaitMs;
    for (;;) {
      const task = await describeTask(id);
      if (seen.at(-1) !== task.Status) seen.push(task.Status!);
      if (['COMPLETE', 'FAILED', 'CANCELED'].includes(task.Status!)) return { task, seen };
      if (Date.now() > deadline)
        throw new Error(`export ${id} still ${task.Status} after ${exportWaitMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  beforeAll(async () => {
    ({ system, rds, writer } = await startRdsSystem(dir.path, 0));
    s3 = system.s3();
  }, 240_000);

  afterAll(async () => {
    rds?.destroy();
    s3?.destroy();
    writer?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('exports a cluster snapshot to Parquet under S3Prefix/ExportTaskIdentifier/, every row, as the CLI sees it', async () => {
    await writer.exec('create table orders(id integer primary key, customer text, total real)');
    await writer.exec(`with recursive n(x) as (select 1 union all select x + 1 from n where x < ${rowCount})
      insert into orders select x, printf('customer-%d', x % 97), x * 1.25 from n`);
    await rds.send(
      new CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: 'borealis',
        DBClusterSnapshotIdentifier: 'before-export',
      }),
    );
    const waited = await waitUntilDBClusterSnapshotAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
      { DBClusterSnapshotIdentifier: 'before-export' },
    );
    expect(waited.state).toBe('SUCCESS');
    const { DBClusterSnapshots } = await rds.send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'before-export' }),
    );
    snapshotArn = DBClusterSnapshots![0]!.DBClusterSnapshotArn!;
    expect(snapshotArn).toBe('arn:aws:rds:us-east-1:000000000000:cluster-snapshot:before-export');
    // Rows written after the snapshot are not in its export.
    await writer.exec(`insert into orders values (${rowCount + 1}, 'after the snapshot', 0)`);
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));

    const started = await rds.send(new StartExportTaskCommand(request()));
    expect(started).toMatchObject({
      ExportTaskIdentifier: 'orders-export',
      SourceArn: snapshotArn,
      SourceType: 'SNAPSHOT',
      S3Bucket: bucket,
      S3Prefix: prefix,
      IamRoleArn: role,
      KmsKeyId: key,
      Status: 'STARTING',
      PercentProgress: 0,
    });
    const { task, seen } = await waitForEnd('orders-export');
    expect(task.FailureCause).toBeUndefined();
    expect(task).toMatchObject({ Status: 'COMPLETE', PercentProgress: 100, SourceArn: snapshotArn });
    expect(task.SnapshotTime).toBeInstanceOf(Date);
    expect(task.TaskEndTime!.getTime()).toBeGreaterThanOrEqual(task.TaskStartTime!.getTime());
    // Only forward: STARTING, IN_PROGRESS (unless it ran between two polls), COMPLETE.
    expect(['STARTING', 'IN_PROGRESS', 'COMPLETE']).toEqual(expect.arrayContaining(seen));
    expect(seen.at(-1)).toBe('COMPLETE');

    const root = `${prefix}/orders-export/`;
    const keys = (await listObjects(s3, bucket, root)).map((o) => o.key);
    const table = `${root}borealis/borealis.orders/1/`;
    expect(keys.filter((k) => k.startsWith(table) && k.endsWith('.gz.parquet')).length).toBeGreaterThan(0);
    expect(keys).toContain(`${table}_SUCCESS`);
    expect(keys).toContain(`${root}export_info_orders-export.json`);
    const local = join(dir.path, 'download');
    mkdirSync(local, { recursive: true });
    await downloadPrefix(s3, bucket, table, local);
    const { rows, columns } = await duckdbRows(join(local, table, '*.parquet'), 'id');
    expect(columns).toEqual(['id', 'customer', 'total']);
    expect(rows).toHaveLength(rowCount);
    expect(rows[0]).toEqual([1n, 'customer-1', 1.25]);
    expect(rows.at(-1)).toEqual([BigInt(rowCount), `customer-${rowCount % 97}`, rowCount * 1.25]);

    // Found by SourceArn and by each documented filter.
    const byArn = await rds.send(new DescribeExportTasksCommand({ SourceArn: snapshotArn }));
    expect(byArn.ExportTasks?.map((t) => t.ExportTaskIdentifier)).toEqual(['orders-export']);
    const filtered = await rds.send(
      new DescribeExportTasksCommand({
        Filters: [
          { Name: 'status', Values: ['complete'] },
          { Name: 's3-bucket', Values: [bucket] },
          { Name: 'source-arn', Values: [snapshotArn] },
        ],
      }),
    );
    expect(filtered.ExportTasks?.map((t) => t.ExportTaskIdentifier)).toEqual(['orders-export']);
    // The CLI reads the same record from the cluster's backup bucket.
    const cli = JSON.parse((await system.cli('export', 'status', 'orders-export', '--json')).stdout) as {
      Status: string;
      ExportedRowCount: number;
      S3Bucket: string;
    };
    expect(cli).toMatchObject({ Status: 'COMPLETE', ExportedRowCount: rowCount, S3Bucket: bucket });
  }, 300_000);

  it('CancelExportTask of a running export: CANCELING at once, then CANCELED', async () => {
    await rds.send(new StartExportTaskCommand(request({ ExportTaskIdentifier: 'cancel-me' })));
    const canceling = await rds.send(new CancelExportTaskCommand({ ExportTaskIdentifier: 'cancel-me' }));
    expect(canceling).toMatchObject({ ExportTaskIdentifier: 'cancel-me', Status: 'CANCELING' });
    const { task } = await waitForEnd('cancel-me');
    expect(task.Status).toBe('CANCELED');
    // Cancelled before any table was written: no table's _SUCCESS.
    const keys = (await listObjects(s3, bucket, `${prefix}/cancel-me/`)).map((o) => o.key);
    expect(keys.filter((k) => k.endsWith('_SUCCESS'))).toEqual([]);
  }, 180_000);

  it('refuses what RDS refuses, with its faults, each changing nothing', async () => {
    const before = await rds.send(new DescribeExportTasksCommand({}));
    const objectsBefore = (await listObjects(s3, bucket, '')).map((o) => o.key).sort();
    const start = (fields: Partial<StartExportTaskCommandInput>) =>
      rds.send(new StartExportTaskCommand(request(fields)));

    await expect(start({})).rejects.toBeInstanceOf(ExportTaskAlreadyExistsFault);
    await expect(
      start({
        ExportTaskIdentifier: 'no-snapshot',
        SourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster-snapshot:never-taken',
      }),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    await expect(start({ ExportTaskIdentifier: 'bad--id' })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(
      start({ ExportTaskIdentifier: 'no-bucket', S3BucketName: 'no-such-bucket' }),
    ).rejects.toBeInstanceOf(InvalidS3BucketFault);
    // A snapshot still being created cannot be exported yet: one with pages to copy (seconds).
    await writer.exec('create table blobs(id integer primary key, b blob)');
    await writer.exec(`with recursive n(x) as (select 1 union all select x + 1 from n where x < ${blobRows})
      insert into blobs select x, randomblob(${blobBytes}) from n`);
    await rds.send(
      new CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: 'borealis',
        DBClusterSnapshotIdentifier: 'not-yet',
      }),
    );
    await expect(
      start({
        ExportTaskIdentifier: 'too-early',
        SourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster-snapshot:not-yet',
      }),
    ).rejects.toBeInstanceOf(InvalidExportSourceStateFault);
    await expect(
      rds.send(new DescribeExportTasksCommand({ ExportTaskIdentifier: 'never-started' })),
    ).rejects.toBeInstanceOf(ExportTaskNotFoundFault);
    await expect(
      rds.send(new CancelExportTaskCommand({ ExportTaskIdentifier: 'never-started' })),
    ).rejects.toBeInstanceOf(ExportTaskNotFoundFault);
    // A finished export cannot be cancelled; it stays COMPLETE.
    await expect(
      rds.send(new CancelExportTaskCommand({ ExportTaskIdentifier: 'orders-export' })),
    ).rejects.toBeInstanceOf(InvalidExportTaskStateFault);
    expect((await describeTask('orders-export')).Status).toBe('COMPLETE');

    const after = await rds.send(new DescribeExportTasksCommand({}));
    expect(after.ExportTasks).toEqual(before.ExportTasks);
    expect((await listObjects(s3, bucket, '')).map((o) => o.key).sort()).toEqual(objectsBefore);
    await waitUntilDBClusterSnapshotAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
      { DBClusterSnapshotIdentifier: 'not-yet' },
    );
  }, 180_000);
});
