// The RDS API's snapshot exports (StartExportTask, DescribeExportTasks, CancelExportTask) over the
// snapshot-export function's task records in each cluster's backup bucket. A start records the task
// as `borealis export start --no-wait` does (functions/snapshot-export: startExportTask) and puts a
// `Borealis Export Requested` event on the region's bus: the region's function runner (or the Lambda
// function on AWS) runs it, never this process. Describe and cancel read and mark those same records,
// so the CLI and this API always see the same tasks. Aurora's names throughout; a refused request
// changes nothing.
import { HeadBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { assert } from '../../core/assert.ts';
import { type BusEvent, makeEvent } from '../../core/events/file-bus.ts';
import { borealisEventSource, eventDetailTypes } from '../../core/functions.ts';
import type { Logger } from '../../core/log.ts';
import { page, type QueryParams, RdsApiError, type XmlStruct } from '../../core/rds/query-protocol.ts';
import { regionalResources } from '../../core/resources.ts';
import { snapshotIdPattern } from '../../functions/snapshot/catalog.ts';
import { startExportTask } from '../../functions/snapshot-export/handler.ts';
import {
  checkExportId,
  checkExportRequest,
  describeTask,
  ExportFault,
  type ExportFaultName,
  type ExportRequest,
  type ExportTask,
  listTasks,
  normalizePrefix,
  readTask,
  requestCancel,
  writeTask,
} from '../../functions/snapshot-export/task.ts';
import type { RdsAction } from './api.ts';
import { borealisSnapshotId, snapshotTypeOf } from './snapshots.ts';

/** Where export requests go: the region's bus (a RestoreBus from restores.ts is one). */
export interface EventBus {
  put(event: BusEvent): Promise<void>;
}

/** A cluster snapshot as DescribeDBClusterSnapshots lists it (ClusterSnapshots.list's entries). */
export interface SnapshotEntry {
  /** Borealis's snapshot id (no `rds:`). */
  id: string;
  shape: XmlStruct;
}

export interface ClusterExportsOptions {
  region: string;
  s3: S3Client;
  bus: EventBus;
  logger: Logger;
  /** Every cluster of the region that has (or had) a backup bucket: where task records are. */
  listClusters: () => Promise<string[]>;
  /** The region's cluster snapshots, `creating` ones too: what a SourceArn may name. */
  listSnapshots: () => Promise<readonly SnapshotEntry[]>;
  now?: () => Date;
}

/** The filters DescribeExportTasks documents. */
export const exportTaskFilterNames = ['export-task-identifier', 's3-bucket', 'source-arn', 'status'] as const;

/** An ARN as RDS writes it: `arn:<partition>:rds:<region>:<account>:<type>:<resource>`. */
export interface RdsArn {
  partition: string;
  region: string;
  account: string;
  type: string;
  resource: string;
}

const rdsArnPattern = /^arn:(aws[a-z-]*):rds:([a-z0-9-]+):(\d{12}):([a-z-]+):(.+)$/;

export function parseRdsArn(arn: string): RdsArn | undefined {
  const m = rdsArnPattern.exec(arn);
  if (!m) return undefined;
  return { partition: m[1]!, region: m[2]!, account: m[3]!, type: m[4]!, resource: m[5]! };
}

/** A snapshot's identifier as RDS shows it: automated ones carry `rds:`. */
export function rdsSnapshotIdentifier(snapshotId: string): string {
  return snapshotTypeOf(snapshotId) === 'automated' ? `rds:${snapshotId}` : snapshotId;
}

/**
 * The Borealis snapshot id a StartExportTask SourceArn names: a DB cluster snapshot of this region.
 * Anything else is refused with the error RDS gives for it.
 */
export function snapshotIdOfSourceArn(sourceArn: string, region: string): string {
  const arn = parseRdsArn(sourceArn);
  if (arn === undefined) {
    throw new RdsApiError(
      'InvalidParameterValue',
      `SourceArn '${sourceArn}' is not an RDS ARN (arn:aws:rds:<region>:<account>:cluster-snapshot:<id>)`,
    );
  }
  if (arn.type === 'snapshot') {
    throw new RdsApiError(
      'DBSnapshotNotFoundFault',
      `DBSnapshot ${arn.resource} not found: an Aurora cluster has DB cluster snapshots (cluster-snapshot ARNs).`,
      404,
    );
  }
  if (arn.type === 'cluster') {
    throw new RdsApiError(
      'InvalidParameterValue',
      `SourceArn '${sourceArn}' names a DB cluster: this API exports DB cluster snapshots only (CreateDBClusterSnapshot, then export it).`,
    );
  }
  if (arn.type !== 'cluster-snapshot') {
    throw new RdsApiError(
      'InvalidParameterValue',
      `SourceArn '${sourceArn}' is not a DB cluster snapshot ARN (its resource type is '${arn.type}')`,
    );
  }
  const id = borealisSnapshotId(arn.resource);
  if (arn.region !== region || !snapshotIdPattern.test(id)) {
    throw new RdsApiError(
      'DBClusterSnapshotNotFoundFault',
      arn.region !== region
        ? `DBClusterSnapshot ${arn.resource} not found in ${region} (its ARN names ${arn.region}).`
        : `DBClusterSnapshot ${arn.resource} not found.`,
      404,
    );
  }
  return id;
}

/** StartExportTask's parameters, checked without any I/O (the cluster comes from the snapshot). */
export interface StartParams {
  exportTaskIdentifier: string;
  sourceArn: string;
  snapshotId: string;
  s3Bucket: string;
  /** Normalised; '' (the bucket's root, as on RDS) when the request names none. */
  s3Prefix: string;
  iamRoleArn: string;
  kmsKeyId: string;
  exportOnly: string[];
}

export function startParamsOf(params: QueryParams, region: string): StartParams {
  const exportTaskIdentifier = params.required('ExportTaskIdentifier');
  const sourceArn = params.required('SourceArn');
  const s3Bucket = params.required('S3BucketName');
  const iamRoleArn = params.required('IamRoleArn');
  const kmsKeyId = params.required('KmsKeyId');
  checkExportId(exportTaskIdentifier);
  const s3Prefix = normalizePrefix(params.string('S3Prefix') ?? '');
  const snapshotId = snapshotIdOfSourceArn(sourceArn, region);
  return {
    exportTaskIdentifier,
    sourceArn,
    snapshotId,
    s3Bucket,
    s3Prefix,
    iamRoleArn,
    kmsKeyId,
    exportOnly: params.list('ExportOnly', 'member'),
  };
}

/** The snapshot-export function's request for these parameters and the snapshot's cluster. */
export function exportRequestOf(start: StartParams, cluster: string): ExportRequest {
  return {
    exportTaskIdentifier: start.exportTaskIdentifier,
    cluster,
    snapshotIdentifier: start.snapshotId,
    s3Bucket: start.s3Bucket,
    s3Prefix: start.s3Prefix,
    ...(start.exportOnly.length === 0 ? {} : { exportOnly: start.exportOnly }),
  };
}

/**
 * The snapshot a SourceArn names among the region's: by identifier (`rds:` or not); when clusters
 * share an identifier, the one whose ARN is the SourceArn, else the first cluster's by name.
 */
export function findSnapshot(
  snapshots: readonly SnapshotEntry[],
  snapshotId: string,
  sourceArn: string,
): SnapshotEntry | undefined {
  const matching = snapshots
    .filter((s) => s.id === snapshotId)
    .sort((a, b) => String(a.shape.DBClusterIdentifier).localeCompare(String(b.shape.DBClusterIdentifier)));
  return matching.find((s) => s.shape.DBClusterSnapshotArn === sourceArn) ?? matching[0];
}

/** A task's SourceArn as RDS shows it: the snapshot's RDS identifier (CLI records have Borealis's). */
export function rdsSourceArn(task: Pick<ExportTask, 'SourceArn' | 'SnapshotIdentifier'>): string {
  const arn = parseRdsArn(task.SourceArn);
  if (arn === undefined) return task.SourceArn;
  return `arn:${arn.partition}:rds:${arn.region}:${arn.account}:cluster-snapshot:${rdsSnapshotIdentifier(task.SnapshotIdentifier)}`;
}

function dateOf(iso: string | null): Date | undefined {
  return iso === null ? undefined : new Date(iso);
}

/** RDS's ExportTask for a task record (Borealis's own fields stay out). */
export function exportTaskShape(task: ExportTask): XmlStruct {
  return {
    ExportTaskIdentifier: task.ExportTaskIdentifier,
    SourceArn: rdsSourceArn(task),
    ExportOnly: task.ExportOnly.length === 0 ? undefined : { member: task.ExportOnly },
    SnapshotTime: dateOf(task.SnapshotTime),
    TaskStartTime: dateOf(task.TaskStartTime),
    TaskEndTime: dateOf(task.TaskEndTime),
    S3Bucket: task.S3Bucket,
    S3Prefix: task.S3Prefix,
    IamRoleArn: task.IamRoleArn || undefined,
    KmsKeyId: task.KmsKeyId || undefined,
    Status: task.Status,
    PercentProgress: task.PercentProgress,
    // An Integer on RDS: whole gigabytes, rounded down (a small export shows 0).
    TotalExtractedDataInGB: Math.floor(task.TotalExtractedDataInGB),
    FailureCause: task.FailureCause,
    WarningMessage: task.WarningMessage,
    // A DB cluster snapshot's export (CLUSTER is RDS's name for exporting a live cluster).
    SourceType: 'SNAPSHOT',
  };
}

/** A task and the cluster whose backup bucket holds its record. */
export interface ClusterTask {
  cluster: string;
  task: ExportTask;
}

/**
 * DescribeExportTasks' selection, pure: SourceArn, SourceType and Filters (AND of filters, OR of a
 * filter's values, statuses lowercase), then one page by identifier.
 */
export function selectTasks(
  tasks: readonly ClusterTask[],
  params: QueryParams,
): { items: ClusterTask[]; marker: string | undefined } {
  const sourceArn = params.string('SourceArn');
  const sourceType = params.string('SourceType');
  if (sourceType !== undefined && sourceType !== 'SNAPSHOT' && sourceType !== 'CLUSTER') {
    throw new RdsApiError(
      'InvalidParameterValue',
      `SourceType must be SNAPSHOT or CLUSTER, got '${sourceType}'`,
    );
  }
  const filters = params.filters();
  for (const f of filters) {
    if (!(exportTaskFilterNames as readonly string[]).includes(f.name))
      throw new RdsApiError('InvalidParameterValue', `Unrecognized filter name: ${f.name}`);
  }
  const matching = tasks.filter(({ task }) => {
    const arn = rdsSourceArn(task);
    if (sourceArn !== undefined && sourceArn !== arn && sourceArn !== task.SourceArn) return false;
    if (sourceType === 'CLUSTER') return false;
    return filters.every((f) => {
      switch (f.name) {
        case 'export-task-identifier':
          return f.values.includes(task.ExportTaskIdentifier);
        case 's3-bucket':
          return f.values.includes(task.S3Bucket);
        case 'source-arn':
          return f.values.includes(arn) || f.values.includes(task.SourceArn);
        default:
          return f.values.includes(task.Status.toLowerCase());
      }
    });
  });
  return page(matching, ({ cluster, task }) => `${task.ExportTaskIdentifier}/${cluster}`, params);
}

/**
 * The RDS error for a fault the snapshot-export code names: the SDK's shape name (queryErrorXml puts
 * RDS's own wire code, `ExportTaskNotFound`, on the wire for it).
 */
const faultCodes: Readonly<Record<ExportFaultName, { code: string; status: number }>> = {
  ExportTaskAlreadyExists: { code: 'ExportTaskAlreadyExistsFault', status: 400 },
  ExportTaskNotFound: { code: 'ExportTaskNotFoundFault', status: 404 },
  InvalidExportTaskStateFault: { code: 'InvalidExportTaskStateFault', status: 400 },
  DBClusterSnapshotNotFoundFault: { code: 'DBClusterSnapshotNotFoundFault', status: 404 },
  InvalidParameterValue: { code: 'InvalidParameterValue', status: 400 },
};

/** An ExportFault as the RDS error the SDK throws as its typed fault; anything else as it is. */
export function rdsErrorOf(error: unknown): unknown {
  if (!(error instanceof ExportFault)) return error;
  const { code, status } = faultCodes[error.fault];
  const prefix = `${error.fault}: `;
  return new RdsApiError(
    code,
    error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message,
    status,
  );
}

function isNoSuchBucket(error: unknown): boolean {
  const name = (error as Error).name;
  return name === 'NoSuchBucket' || name === 'NotFound';
}

export class ClusterExports {
  /** Export ids a StartExportTask here is recording: a second start of one is refused meanwhile. */
  readonly #starting = new Set<string>();
  readonly #now: () => Date;

  constructor(private readonly options: ClusterExportsOptions) {
    this.#now = options.now ?? (() => new Date());
  }

  bucketOf(cluster: string): string {
    return regionalResources(this.options.region, cluster).backupBucket;
  }

  async start(params: QueryParams): Promise<XmlStruct> {
    const start = startParamsOf(params, this.options.region);
    const id = start.exportTaskIdentifier;
    const exists = () =>
      new RdsApiError(
        'ExportTaskAlreadyExistsFault',
        `The export task with the ID ${id} already exists: export task identifiers are never reused.`,
      );
    if (this.#starting.has(id)) throw exists();
    this.#starting.add(id);
    try {
      if ((await this.#find(id)).length > 0) throw exists();
      return exportTaskShape(await this.#record(start));
    } finally {
      this.#starting.delete(id);
    }
  }

  /** Checks the snapshot and the bucket, records the task, hands it to the bus. */
  async #record(start: StartParams): Promise<ExportTask> {
    const snapshot = findSnapshot(await this.options.listSnapshots(), start.snapshotId, start.sourceArn);
    if (snapshot === undefined) {
      throw new RdsApiError(
        'DBClusterSnapshotNotFoundFault',
        `DBClusterSnapshot ${rdsSnapshotIdentifier(start.snapshotId)} not found.`,
        404,
      );
    }
    if (snapshot.shape.Status !== 'available') {
      throw new RdsApiError(
        'InvalidExportSourceStateFault',
        `DBClusterSnapshot ${String(snapshot.shape.DBClusterSnapshotIdentifier)} is ${String(snapshot.shape.Status)}: export it once it is available.`,
      );
    }
    const cluster = String(snapshot.shape.DBClusterIdentifier);
    const request = checkExportRequest(exportRequestOf(start, cluster));
    await this.#checkBucket(start.s3Bucket);
    const bucket = this.bucketOf(cluster);
    const deps = { s3: this.options.s3, bucket, region: this.options.region, now: this.#now };
    const recorded = await startExportTask(deps, request);
    assert(recorded.Status === 'STARTING', 'a new export task starts STARTING');
    // The fields the CLI has no flags for, in the record before the function can read it.
    const task: ExportTask = {
      ...recorded,
      SourceArn: String(snapshot.shape.DBClusterSnapshotArn ?? recorded.SourceArn),
      IamRoleArn: start.iamRoleArn,
      KmsKeyId: start.kmsKeyId,
    };
    await writeTask(this.options.s3, bucket, task);
    try {
      await this.options.bus.put(
        makeEvent(borealisEventSource, eventDetailTypes.exportRequested, request, this.options.region),
      );
    } catch (error) {
      // Nobody will run it: the record says so rather than STARTING for ever.
      const failed: ExportTask = {
        ...task,
        Status: 'FAILED',
        FailureCause: `the export request could not be put on the region's event bus: ${(error as Error).message}`,
        TaskEndTime: this.#now().toISOString(),
        UpdatedTime: this.#now().toISOString(),
      };
      await writeTask(this.options.s3, bucket, failed).catch(() => undefined);
      throw error;
    }
    this.options.logger.info(
      {
        exportTaskIdentifier: task.ExportTaskIdentifier,
        cluster,
        snapshot: start.snapshotId,
        s3Bucket: task.S3Bucket,
      },
      'StartExportTask: requested',
    );
    return task;
  }

  /** RDS refuses a destination bucket it cannot find. */
  async #checkBucket(bucket: string): Promise<void> {
    try {
      await this.options.s3.send(new HeadBucketCommand({ Bucket: bucket }));
    } catch (error) {
      if (
        !isNoSuchBucket(error) &&
        (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode !== 403
      )
        throw error;
      throw new RdsApiError(
        'InvalidS3BucketFault',
        `The S3 bucket ${bucket} can't be found or RDS isn't authorized to access it.`,
      );
    }
  }

  async describe(params: QueryParams): Promise<XmlStruct> {
    const id = params.string('ExportTaskIdentifier');
    let tasks: ClusterTask[];
    if (id !== undefined) {
      tasks = await this.#find(id);
      if (tasks.length === 0)
        throw new RdsApiError(
          'ExportTaskNotFoundFault',
          `The export task with the ID ${id} can't be found.`,
          404,
        );
    } else {
      tasks = await this.#all();
    }
    const { items, marker } = selectTasks(tasks, params);
    return { ExportTasks: { ExportTask: items.map(({ task }) => exportTaskShape(task)) }, Marker: marker };
  }

  async cancel(params: QueryParams): Promise<XmlStruct> {
    const id = params.required('ExportTaskIdentifier');
    const [found] = await this.#find(id);
    if (found === undefined)
      throw new RdsApiError(
        'ExportTaskNotFoundFault',
        `The export task with the ID ${id} can't be found.`,
        404,
      );
    const task = await requestCancel(this.options.s3, this.bucketOf(found.cluster), id);
    this.options.logger.info(
      { exportTaskIdentifier: id, cluster: found.cluster },
      'CancelExportTask: requested',
    );
    return exportTaskShape(task);
  }

  /** The task with this id in each cluster's bucket (one, unless the CLI reused an id elsewhere). */
  async #find(id: string): Promise<ClusterTask[]> {
    checkExportId(id);
    const out: ClusterTask[] = [];
    for (const cluster of await this.#clusters()) {
      const bucket = this.bucketOf(cluster);
      const stored = await readTask(this.options.s3, bucket, id).catch((error: unknown) => {
        if (isNoSuchBucket(error)) return undefined;
        throw error;
      });
      if (stored !== undefined) out.push({ cluster, task: await describeTask(this.options.s3, bucket, id) });
    }
    return out;
  }

  /** Every task of every cluster of the region. */
  async #all(): Promise<ClusterTask[]> {
    const out: ClusterTask[] = [];
    for (const cluster of await this.#clusters()) {
      const tasks = await listTasks(this.options.s3, this.bucketOf(cluster)).catch((error: unknown) => {
        if (isNoSuchBucket(error)) return [];
        throw error;
      });
      for (const task of tasks) out.push({ cluster, task });
    }
    return out;
  }

  /** The region's clusters whose names make a bucket name (any other has no backup bucket). */
  async #clusters(): Promise<string[]> {
    return (await this.options.listClusters()).filter((c) => {
      try {
        this.bucketOf(c);
        return true;
      } catch {
        return false;
      }
    });
  }
}

/** The actions RdsApi serves for ClusterExports; snapshot-export faults become RDS errors. */
export function exportTaskActions(exports: ClusterExports): Record<string, RdsAction> {
  const mapped =
    (run: (params: QueryParams) => Promise<XmlStruct>): RdsAction =>
    async (params) => {
      try {
        return await run(params);
      } catch (error) {
        throw rdsErrorOf(error);
      }
    };
  return {
    StartExportTask: mapped((p) => exports.start(p)),
    DescribeExportTasks: mapped((p) => exports.describe(p)),
    CancelExportTask: mapped((p) => exports.cancel(p)),
  };
}
