// The RDS API's export tasks: the pure parts (SourceArn parsing, request → task request, the task's
// RDS shape, filters and pages, fault → RDS error) and then the three actions driven by
// @aws-sdk/client-rds through RdsApi over an in-memory S3 of buckets and a recording bus — the SDK's
// typed exceptions prove the wire codes, and each refused request is shown to change nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CancelExportTaskCommand,
  DBClusterSnapshotNotFoundFault,
  DescribeExportTasksCommand,
  ExportTaskAlreadyExistsFault,
  ExportTaskNotFoundFault,
  InvalidExportSourceStateFault,
  InvalidExportTaskStateFault,
  InvalidS3BucketFault,
  RDSClient,
  StartExportTaskCommand,
} from '@aws-sdk/client-rds';
import {
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { snapshotManifestKey } from '../../core/backup/archive.ts';
import type { BusEvent } from '../../core/events/file-bus.ts';
import { eventDetailTypes } from '../../core/functions.ts';
import {
  parseQueryRequest,
  QueryParams,
  RdsApiError,
  type XmlStruct,
} from '../../core/rds/query-protocol.ts';
import {
  checkExportRequest,
  ExportFault,
  type ExportFaultName,
  type ExportTask,
  newTask,
  taskKey,
} from '../../functions/snapshot-export/task.ts';
import { RdsApi } from './api.ts';
import type { ClusterDirectory } from './clusters.ts';
import {
  ClusterExports,
  type ClusterTask,
  exportRequestOf,
  exportTaskActions,
  exportTaskShape,
  findSnapshot,
  rdsErrorOf,
  rdsSourceArn,
  type SnapshotEntry,
  selectTasks,
  snapshotIdOfSourceArn,
  startParamsOf,
} from './exports.ts';
import type { ClusterRestores } from './restores.ts';
import type { ClusterSnapshots } from './snapshots.ts';
import { serveRdsApi } from './testing.ts';

const region = 'us-east-1';
const automatedId = 'snap-20260101T000000000Z-00000000000000001234';
const arnOf = (id: string, r = region) => `arn:aws:rds:${r}:000000000000:cluster-snapshot:${id}`;
const params = (fields: Record<string, string>) =>
  new QueryParams(parseQueryRequest(new URLSearchParams({ Action: 'X', ...fields }).toString()).params);
const startFields = {
  ExportTaskIdentifier: 'my-export',
  SourceArn: arnOf('nightly'),
  S3BucketName: 'my-exports',
  IamRoleArn: 'arn:aws:iam::000000000000:role/export',
  KmsKeyId: 'arn:aws:kms:us-east-1:000000000000:key/k',
};

/** What a thrown RdsApiError is: its code and HTTP status. */
function rdsError(run: () => unknown): { code: string; status: number } {
  try {
    run();
  } catch (error) {
    const e = rdsErrorOf(error);
    if (e instanceof RdsApiError) return { code: e.code, status: e.status };
    throw error;
  }
  throw new Error('did not throw');
}

function task(id: string, fields: Partial<ExportTask> = {}): ExportTask {
  return {
    ...newTask(
      { exportTaskIdentifier: id, cluster: 'borealis', snapshotIdentifier: 'nightly', s3Prefix: 'p' },
      { region, bucket: 'borealis-backup-us-east-1', now: new Date('2026-01-01T00:00:00Z') },
    ),
    ...fields,
  };
}

describe('export task requests, pure', () => {
  it('takes the snapshot id from a cluster-snapshot ARN of this region, `rds:` ones included', () => {
    expect(snapshotIdOfSourceArn(arnOf('nightly'), region)).toBe('nightly');
    expect(snapshotIdOfSourceArn(arnOf(`rds:${automatedId}`), region)).toBe(automatedId);
    expect(rdsError(() => snapshotIdOfSourceArn(arnOf('nightly', 'us-west-2'), region))).toEqual({
      code: 'DBClusterSnapshotNotFoundFault',
      status: 404,
    });
    expect(rdsError(() => snapshotIdOfSourceArn(arnOf('bad/id'), region)).code).toBe(
      'DBClusterSnapshotNotFoundFault',
    );
    expect(
      rdsError(() => snapshotIdOfSourceArn('arn:aws:rds:us-east-1:000000000000:snapshot:s', region)),
    ).toEqual({ code: 'DBSnapshotNotFoundFault', status: 404 });
    expect(
      rdsError(() => snapshotIdOfSourceArn('arn:aws:rds:us-east-1:000000000000:cluster:borealis', region))
        .code,
    ).toBe('InvalidParameterValue');
    expect(rdsError(() => snapshotIdOfSourceArn('nightly', region)).code).toBe('InvalidParameterValue');
  });

  it("maps StartExportTask's parameters onto the function's request, as the CLI's checks take it", () => {
    const start = startParamsOf(
      params({
        ...startFields,
        S3Prefix: '/a/b/',
        'ExportOnly.member.1': 'borealis.t',
        'ExportOnly.member.2': 'u',
      }),
      region,
    );
    expect(start).toEqual({
      exportTaskIdentifier: 'my-export',
      sourceArn: arnOf('nightly'),
      snapshotId: 'nightly',
      s3Bucket: 'my-exports',
      s3Prefix: 'a/b',
      iamRoleArn: startFields.IamRoleArn,
      kmsKeyId: startFields.KmsKeyId,
      exportOnly: ['borealis.t', 'u'],
    });
    const request = exportRequestOf(start, 'borealis');
    expect(checkExportRequest(request)).toEqual({
      exportTaskIdentifier: 'my-export',
      cluster: 'borealis',
      snapshotIdentifier: 'nightly',
      s3Bucket: 'my-exports',
      s3Prefix: 'a/b',
      exportOnly: ['borealis.t', 'u'],
    });
    // No S3Prefix: the bucket's root, as on RDS; no ExportOnly: every table.
    const bare = startParamsOf(params(startFields), region);
    expect(bare.s3Prefix).toBe('');
    expect(exportRequestOf(bare, 'c')).not.toHaveProperty('exportOnly');
  });

  it('refuses a bad identifier, prefix or missing parameter with the RDS codes', () => {
    expect(
      rdsError(() => startParamsOf(params({ ...startFields, ExportTaskIdentifier: 'bad--id' }), region)),
    ).toEqual({ code: 'InvalidParameterValue', status: 400 });
    expect(
      rdsError(() => startParamsOf(params({ ...startFields, ExportTaskIdentifier: '1x' }), region)).code,
    ).toBe('InvalidParameterValue');
    expect(rdsError(() => startParamsOf(params({ ...startFields, S3Prefix: 'a:b' }), region)).code).toBe(
      'InvalidParameterValue',
    );
    const { KmsKeyId: _, ...noKey } = startFields;
    expect(rdsError(() => startParamsOf(params(noKey), region)).code).toBe('MissingParameter');
  });

  it('finds the snapshot by identifier, preferring the cluster whose ARN is the SourceArn', () => {
    const entry = (cluster: string, id: string, arnAccount = '000000000000'): SnapshotEntry => ({
      id,
      shape: {
        DBClusterIdentifier: cluster,
        DBClusterSnapshotArn: `arn:aws:rds:${region}:${arnAccount}:cluster-snapshot:${id}`,
        Status: 'available',
      },
    });
    const list = [entry('b', 'nightly'), entry('a', 'nightly', '111111111111'), entry('a', 'other')];
    expect(findSnapshot(list, 'nightly', arnOf('nightly'))?.shape.DBClusterIdentifier).toBe('b');
    expect(findSnapshot(list, 'nightly', 'arn:aws:rds:x')?.shape.DBClusterIdentifier).toBe('a');
    expect(findSnapshot(list, 'missing', arnOf('missing'))).toBeUndefined();
  });

  it("shapes a record under RDS's names: automated snapshots' ARNs with rds:, whole GB, no Borealis fields", () => {
    const shape = exportTaskShape(
      task('t1', {
        SnapshotIdentifier: automatedId,
        SourceArn: arnOf(automatedId),
        ExportOnly: ['borealis.t'],
        SnapshotTime: '2026-01-01T00:00:00.000Z',
        TotalExtractedDataInGB: 1.9,
        Status: 'COMPLETE',
        PercentProgress: 100,
        IamRoleArn: 'role',
        KmsKeyId: 'key',
      }),
    );
    expect(shape).toEqual({
      ExportTaskIdentifier: 't1',
      SourceArn: arnOf(`rds:${automatedId}`),
      ExportOnly: { member: ['borealis.t'] },
      SnapshotTime: new Date('2026-01-01T00:00:00.000Z'),
      TaskStartTime: undefined,
      TaskEndTime: undefined,
      S3Bucket: 'borealis-backup-us-east-1',
      S3Prefix: 'p',
      IamRoleArn: 'role',
      KmsKeyId: 'key',
      Status: 'COMPLETE',
      PercentProgress: 100,
      TotalExtractedDataInGB: 1,
      FailureCause: undefined,
      WarningMessage: undefined,
      SourceType: 'SNAPSHOT',
    });
    expect(exportTaskShape(task('t2')).ExportOnly).toBeUndefined();
    expect(rdsSourceArn(task('t3'))).toBe(arnOf('nightly'));
  });

  it('filters as DescribeExportTasks documents and pages by identifier with a marker', () => {
    const tasks: ClusterTask[] = [
      { cluster: 'a', task: task('one', { Status: 'COMPLETE', S3Bucket: 'x' }) },
      { cluster: 'a', task: task('two', { Status: 'IN_PROGRESS' }) },
      {
        cluster: 'b',
        task: task('three', { SnapshotIdentifier: automatedId, SourceArn: arnOf(automatedId) }),
      },
    ];
    const ids = (fields: Record<string, string>) =>
      selectTasks(tasks, params(fields)).items.map((t) => t.task.ExportTaskIdentifier);
    expect(ids({})).toEqual(['one', 'three', 'two']);
    expect(
      ids({ 'Filters.Filter.1.Name': 'status', 'Filters.Filter.1.Values.Value.1': 'in_progress' }),
    ).toEqual(['two']);
    expect(
      ids({ 'Filters.Filter.1.Name': 'status', 'Filters.Filter.1.Values.Value.1': 'IN_PROGRESS' }),
    ).toEqual([]);
    expect(ids({ 'Filters.Filter.1.Name': 's3-bucket', 'Filters.Filter.1.Values.Value.1': 'x' })).toEqual([
      'one',
    ]);
    expect(
      ids({
        'Filters.Filter.1.Name': 'export-task-identifier',
        'Filters.Filter.1.Values.Value.1': 'one',
        'Filters.Filter.1.Values.Value.2': 'two',
        'Filters.Filter.2.Name': 'status',
        'Filters.Filter.2.Values.Value.1': 'complete',
      }),
    ).toEqual(['one']);
    expect(ids({ SourceArn: arnOf(`rds:${automatedId}`) })).toEqual(['three']);
    expect(
      ids({ 'Filters.Filter.1.Name': 'source-arn', 'Filters.Filter.1.Values.Value.1': arnOf('nightly') }),
    ).toEqual(['one', 'two']);
    expect(ids({ SourceType: 'CLUSTER' })).toEqual([]);
    expect(rdsError(() => ids({ SourceType: 'DB' })).code).toBe('InvalidParameterValue');
    expect(rdsError(() => ids({ 'Filters.Filter.1.Name': 'engine' })).code).toBe('InvalidParameterValue');

    const many = Array.from({ length: 45 }, (_, i) => ({
      cluster: 'a',
      task: task(`t${String(i).padStart(2, '0')}`),
    }));
    const first = selectTasks(many, params({ MaxRecords: '20' }));
    expect(first.items.map((t) => t.task.ExportTaskIdentifier)).toEqual(
      many.slice(0, 20).map((t) => t.task.ExportTaskIdentifier),
    );
    const second = selectTasks(many, params({ MaxRecords: '20', Marker: first.marker! }));
    expect(second.items[0]!.task.ExportTaskIdentifier).toBe('t20');
    const third = selectTasks(many, params({ MaxRecords: '20', Marker: second.marker! }));
    expect(third.items).toHaveLength(5);
    expect(third.marker).toBeUndefined();
  });

  it("maps each snapshot-export fault to the RDS code the SDK names, message without the fault's prefix", () => {
    const cases: [ExportFaultName, string, number][] = [
      ['ExportTaskAlreadyExists', 'ExportTaskAlreadyExistsFault', 400],
      ['ExportTaskNotFound', 'ExportTaskNotFoundFault', 404],
      ['InvalidExportTaskStateFault', 'InvalidExportTaskStateFault', 400],
      ['DBClusterSnapshotNotFoundFault', 'DBClusterSnapshotNotFoundFault', 404],
      ['InvalidParameterValue', 'InvalidParameterValue', 400],
    ];
    for (const [fault, code, status] of cases) {
      const e = rdsErrorOf(new ExportFault(fault, 'why it was refused'));
      expect(e).toBeInstanceOf(RdsApiError);
      expect(e).toMatchObject({ code, status, message: 'why it was refused' });
    }
    const other = new Error('S3 down');
    expect(rdsErrorOf(other)).toBe(other);
  });
});

/** S3 with buckets, in memory: the calls the task records and the bucket check make. */
function bucketS3(buckets: string[]): { client: S3Client; objects: Map<string, Map<string, string>> } {
  const objects = new Map(buckets.map((b) => [b, new Map<string, string>()]));
  const named = (name: string, status: number) =>
    Object.assign(new Error(name), { name, $metadata: { httpStatusCode: status } });
  const bucket = (name: string | undefined) => {
    const b = objects.get(name!);
    if (!b) throw named('NoSuchBucket', 404);
    return b;
  };
  const send = async (command: unknown): Promise<unknown> => {
    if (command instanceof HeadBucketCommand) {
      if (!objects.has(command.input.Bucket!)) throw named('NotFound', 404);
      return {};
    }
    if (command instanceof PutObjectCommand) {
      bucket(command.input.Bucket).set(command.input.Key!, String(command.input.Body));
      return {};
    }
    if (command instanceof GetObjectCommand) {
      const text = bucket(command.input.Bucket).get(command.input.Key!);
      if (text === undefined) throw named('NoSuchKey', 404);
      return { Body: { transformToString: async () => text } };
    }
    if (command instanceof HeadObjectCommand) {
      if (!bucket(command.input.Bucket).has(command.input.Key!)) throw named('NotFound', 404);
      return {};
    }
    if (command instanceof ListObjectsV2Command) {
      const keys = [...bucket(command.input.Bucket).keys()].filter((k) =>
        k.startsWith(command.input.Prefix ?? ''),
      );
      return { Contents: keys.sort().map((Key) => ({ Key, Size: 1 })), IsTruncated: false };
    }
    throw new Error(`bucketS3: ${(command as object).constructor.name} is not supported`);
  };
  return { client: { send } as unknown as S3Client, objects };
}

function manifestJson(cluster: string, snapshotId: string): string {
  return JSON.stringify({
    snapshotId,
    cluster,
    lsn: '7',
    commitTimeMs: Date.parse('2026-01-01T00:00:00Z'),
    createdAt: '2026-01-01T00:00:00.000Z',
    pageSizeBytes: 4096,
    pageCount: 0,
    pages: [],
  });
}

describe('StartExportTask, DescribeExportTasks, CancelExportTask through @aws-sdk/client-rds', () => {
  const backupA = 'alpha-backup-us-east-1';
  const backupB = 'beta-backup-us-east-1';
  let s3: ReturnType<typeof bucketS3>;
  let events: BusEvent[];
  let busFails: boolean;
  let snapshots: SnapshotEntry[];
  let server: Server;
  let rds: RDSClient;

  const entry = (cluster: string, id: string, status: 'available' | 'creating'): SnapshotEntry => ({
    id,
    shape: {
      DBClusterSnapshotIdentifier: id,
      DBClusterIdentifier: cluster,
      DBClusterSnapshotArn: arnOf(id),
      Status: status,
    } satisfies XmlStruct,
  });
  /** Every object of every bucket: what "changes nothing" compares. */
  const everything = () =>
    JSON.stringify([...s3.objects].map(([b, keys]) => [b, [...keys].sort((x, y) => (x[0] < y[0] ? -1 : 1))]));

  beforeEach(() => {
    s3 = bucketS3([backupA, backupB, 'my-exports']);
    s3.objects.get(backupA)!.set(snapshotManifestKey('alpha', 'nightly'), manifestJson('alpha', 'nightly'));
    events = [];
    busFails = false;
    snapshots = [entry('alpha', 'nightly', 'available'), entry('beta', 'busy', 'creating')];
    const exports = new ClusterExports({
      region,
      s3: s3.client,
      bus: {
        put: async (event) => {
          if (busFails) throw new Error('bus down');
          events.push(event);
        },
      },
      logger: pino({ level: 'silent' }),
      listClusters: async () => ['alpha', 'beta', 'Not_A_Bucket_Name'],
      listSnapshots: async () => snapshots,
      now: () => new Date('2026-02-02T00:00:00Z'),
    });
    const api = new RdsApi({
      region,
      directory: {} as ClusterDirectory,
      logger: pino({ level: 'silent' }),
      snapshots: {} as ClusterSnapshots,
      restores: {} as ClusterRestores,
      actions: exportTaskActions(exports),
    });
    serveRdsApi(server, api);
  });

  beforeAll(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    rds = new RDSClient({
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      region,
      credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    rds?.destroy();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('records the task in the snapshot cluster’s bucket as the CLI does and puts one export event', async () => {
    const started = await rds.send(
      new StartExportTaskCommand({ ...startFields, S3Prefix: 'out', ExportOnly: ['alpha.t'] }),
    );
    expect(started).toMatchObject({
      ExportTaskIdentifier: 'my-export',
      SourceArn: arnOf('nightly'),
      S3Bucket: 'my-exports',
      S3Prefix: 'out',
      ExportOnly: ['alpha.t'],
      IamRoleArn: startFields.IamRoleArn,
      KmsKeyId: startFields.KmsKeyId,
      Status: 'STARTING',
      PercentProgress: 0,
      TotalExtractedDataInGB: 0,
      SourceType: 'SNAPSHOT',
    });
    const record = JSON.parse(s3.objects.get(backupA)!.get(taskKey('my-export'))!) as ExportTask;
    expect(record).toMatchObject({
      Cluster: 'alpha',
      SnapshotIdentifier: 'nightly',
      Status: 'STARTING',
      IamRoleArn: startFields.IamRoleArn,
      UpdatedTime: '2026-02-02T00:00:00.000Z',
    });
    expect(events).toHaveLength(1);
    expect(events[0]!['detail-type']).toBe(eventDetailTypes.exportRequested);
    expect(events[0]!.detail).toEqual({
      exportTaskIdentifier: 'my-export',
      cluster: 'alpha',
      snapshotIdentifier: 'nightly',
      s3Bucket: 'my-exports',
      s3Prefix: 'out',
      exportOnly: ['alpha.t'],
    });

    const described = await rds.send(new DescribeExportTasksCommand({}));
    expect(described.ExportTasks?.map((t) => [t.ExportTaskIdentifier, t.Status])).toEqual([
      ['my-export', 'STARTING'],
    ]);
    const canceled = await rds.send(new CancelExportTaskCommand({ ExportTaskIdentifier: 'my-export' }));
    expect(canceled.Status).toBe('CANCELING');
    const after = await rds.send(new DescribeExportTasksCommand({ ExportTaskIdentifier: 'my-export' }));
    expect(after.ExportTasks?.[0]?.Status).toBe('CANCELING');
  });

  it('refuses each bad request with the typed fault, changing nothing', async () => {
    // A task the CLI recorded in the other cluster's bucket holds the id region-wide.
    const cliTask = { ...task('taken'), Cluster: 'beta', Status: 'COMPLETE' as const };
    s3.objects.get(backupB)!.set(taskKey('taken'), JSON.stringify(cliTask));
    const before = everything();
    /** The typed exception, and the wire code and status AWS sends (what boto3 and the CLI read). */
    const fails = async (
      request: Promise<unknown>,
      fault: new (...args: never[]) => Error,
      Code: string,
      httpStatusCode: number,
    ) => {
      const error = await request.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(fault);
      expect(error).toMatchObject({ Code, $metadata: { httpStatusCode } });
    };
    const start = (fields: Partial<typeof startFields>) =>
      rds.send(new StartExportTaskCommand({ ...startFields, ...fields }));
    await fails(
      start({ ExportTaskIdentifier: 'taken' }),
      ExportTaskAlreadyExistsFault,
      'ExportTaskAlreadyExists',
      400,
    );
    await fails(
      start({ SourceArn: arnOf('missing') }),
      DBClusterSnapshotNotFoundFault,
      'DBClusterSnapshotNotFoundFault',
      404,
    );
    await fails(
      start({ SourceArn: arnOf('busy') }),
      InvalidExportSourceStateFault,
      'InvalidExportSourceState',
      400,
    );
    await fails(start({ S3BucketName: 'no-such-bucket' }), InvalidS3BucketFault, 'InvalidS3BucketFault', 400);
    await expect(start({ ExportTaskIdentifier: 'bad--id' })).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      $metadata: { httpStatusCode: 400 },
    });
    // A snapshot listed but gone from its bucket meanwhile: the function's own check says so.
    snapshots.push(entry('beta', 'vanished', 'available'));
    await fails(
      start({ SourceArn: arnOf('vanished') }),
      DBClusterSnapshotNotFoundFault,
      'DBClusterSnapshotNotFoundFault',
      404,
    );
    await fails(
      rds.send(new DescribeExportTasksCommand({ ExportTaskIdentifier: 'nope' })),
      ExportTaskNotFoundFault,
      'ExportTaskNotFound',
      404,
    );
    await fails(
      rds.send(new CancelExportTaskCommand({ ExportTaskIdentifier: 'nope' })),
      ExportTaskNotFoundFault,
      'ExportTaskNotFound',
      404,
    );
    await fails(
      rds.send(new CancelExportTaskCommand({ ExportTaskIdentifier: 'taken' })),
      InvalidExportTaskStateFault,
      'InvalidExportTaskStateFault',
      400,
    );
    expect(everything()).toBe(before);
    expect(events).toEqual([]);
    // The CLI's task is described with the rest, from its own cluster's bucket.
    const { ExportTasks } = await rds.send(
      new DescribeExportTasksCommand({ Filters: [{ Name: 'status', Values: ['complete'] }] }),
    );
    expect(ExportTasks?.map((t) => t.ExportTaskIdentifier)).toEqual(['taken']);
  });

  it('a request the bus does not take leaves its task FAILED, not STARTING for ever', async () => {
    busFails = true;
    await expect(rds.send(new StartExportTaskCommand(startFields))).rejects.toMatchObject({
      $metadata: { httpStatusCode: 500 },
    });
    const record = JSON.parse(s3.objects.get(backupA)!.get(taskKey('my-export'))!) as ExportTask;
    expect(record.Status).toBe('FAILED');
    expect(record.FailureCause).toMatch(/bus down/);
  });
});
