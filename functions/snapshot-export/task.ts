// An export task as Aurora's DescribeExportTasks reports it (the same field names and statuses), kept
// as one JSON object in the cluster's backup bucket so that any process — the function, the CLI on
// another machine — can read it; plus the request checks and the faults Aurora names. A cancel is a
// separate marker object (the CLI never overwrites the record the function is updating; S3 here has
// no conditional writes): the function sees it between row groups and ends the task CANCELED.
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { listObjects } from '../../core/backup/s3-archive.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { snapshotIdPattern } from '../snapshot/catalog.ts';

export type ExportStatus = 'STARTING' | 'IN_PROGRESS' | 'COMPLETE' | 'FAILED' | 'CANCELING' | 'CANCELED';

export const terminalStatuses: ReadonlySet<ExportStatus> = new Set(['COMPLETE', 'FAILED', 'CANCELED']);

export interface ExportTask {
  ExportTaskIdentifier: string;
  SourceArn: string;
  SourceType: 'SNAPSHOT';
  /** Tables asked for (`table` or `<database>.<table>`); empty: every table. */
  ExportOnly: string[];
  SnapshotTime: string | null;
  TaskStartTime: string | null;
  TaskEndTime: string | null;
  S3Bucket: string;
  S3Prefix: string;
  IamRoleArn: string;
  KmsKeyId: string;
  Status: ExportStatus;
  PercentProgress: number;
  TotalExtractedDataInGB: number;
  FailureCause?: string;
  WarningMessage?: string;
  /** Borealis: the cluster and snapshot the export reads, and what it wrote. */
  Cluster: string;
  SnapshotIdentifier: string;
  SnapshotLsn: string | null;
  ExportedRowCount: number;
  ExportedTableCount: number;
  UpdatedTime: string;
}

/** What starts an export (the event's detail; the CLI's flags). */
export interface ExportRequest {
  exportTaskIdentifier: string;
  cluster: string;
  snapshotIdentifier: string;
  /** Where the Parquet goes; default: the cluster's backup bucket. */
  s3Bucket?: string;
  /** Default `exportPrefixDefault`. */
  s3Prefix?: string;
  exportOnly?: string[];
}

/** Under the backup bucket's root when the request names no prefix: beside clusters/, not in it. */
export const exportPrefixDefault = 'exports';
/** Task records and cancel markers, in the cluster's backup bucket. */
export const taskRecordsPrefix = 'export-tasks/';
/** Aurora's S3Prefix limit. */
export const s3PrefixCharsMax = 512;
/** Aurora's ExportOnly accepts up to this many names here (a bound on the request). */
export const exportOnlyNamesMax = 1_000;

export function taskKey(exportId: string): string {
  return `${taskRecordsPrefix}${exportId}.json`;
}

export function cancelKey(exportId: string): string {
  return `${taskRecordsPrefix}${exportId}.cancel`;
}

/** Aurora's error names, so scripts can branch on them. */
export type ExportFaultName =
  | 'ExportTaskAlreadyExists'
  | 'ExportTaskNotFound'
  | 'InvalidExportTaskStateFault'
  | 'DBClusterSnapshotNotFoundFault'
  | 'InvalidParameterValue';

/** A request Aurora would refuse: the message starts with the fault's name. Nothing was changed. */
export class ExportFault extends BorealisError {
  constructor(
    readonly fault: ExportFaultName,
    message: string,
    context: Record<string, unknown> = {},
  ) {
    super(ErrorCode.INVALID_ARGUMENT, `${fault}: ${message}`, { context, retryable: false });
    this.name = fault;
  }
}

/** Aurora: 1–60 letters, digits and hyphens, starting with a letter, no '--', not ending in '-'. */
const exportIdPattern = /^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,59}$/;

export function checkExportId(id: unknown): string {
  if (typeof id !== 'string' || !exportIdPattern.test(id) || id.endsWith('-')) {
    throw new ExportFault(
      'InvalidParameterValue',
      `export task identifier '${String(id)}' must be 1 to 60 letters, digits or hyphens, start with a letter, and have no '--' or trailing '-'`,
    );
  }
  return id;
}

/**
 * An S3 prefix as the layout uses it: no leading or trailing '/', no ':' (Aurora refuses it: it
 * reads as an ARN), no empty or '.'/'..' segments, no control characters.
 */
export function normalizePrefix(prefix: string | undefined): string {
  if (prefix === undefined) return exportPrefixDefault;
  const bad = (why: string) =>
    new ExportFault('InvalidParameterValue', `S3 prefix '${prefix}' ${why}`, { prefix });
  if (prefix.length > s3PrefixCharsMax) throw bad(`is longer than ${s3PrefixCharsMax} characters`);
  if (prefix.includes(':')) throw bad("contains ':'");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
  if (/[\u0000-\u001f\u007f\\]/.test(prefix)) throw bad('contains a control character or a backslash');
  const trimmed = prefix.replace(/^\/+|\/+$/g, '');
  if (trimmed === '') return '';
  for (const segment of trimmed.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') throw bad("has an empty, '.' or '..' segment");
  }
  return trimmed;
}

/** Checks a request's fields (types, patterns, bounds); nothing is read or written. */
export function checkExportRequest(raw: unknown): ExportRequest {
  const d = (raw ?? {}) as Record<string, unknown>;
  const bad = (why: string) => new ExportFault('InvalidParameterValue', why);
  const exportTaskIdentifier = checkExportId(d.exportTaskIdentifier);
  if (typeof d.cluster !== 'string' || d.cluster === '') throw bad('cluster is required');
  if (typeof d.snapshotIdentifier !== 'string' || !snapshotIdPattern.test(d.snapshotIdentifier))
    throw bad(`snapshot identifier '${String(d.snapshotIdentifier)}' is not a snapshot id`);
  if (d.s3Prefix !== undefined && typeof d.s3Prefix !== 'string') throw bad('s3Prefix must be a string');
  if (
    d.s3Bucket !== undefined &&
    (typeof d.s3Bucket !== 'string' || !/^[a-z0-9][a-z0-9.-]{2,62}$/.test(d.s3Bucket))
  )
    throw bad(`S3 bucket '${String(d.s3Bucket)}' is not a bucket name`);
  let exportOnly: string[] | undefined;
  if (d.exportOnly !== undefined) {
    if (!Array.isArray(d.exportOnly) || d.exportOnly.some((n) => typeof n !== 'string' || n === ''))
      throw bad('exportOnly must be a list of table names');
    if (d.exportOnly.length > exportOnlyNamesMax)
      throw bad(`exportOnly names more than ${exportOnlyNamesMax} tables`);
    exportOnly = [...new Set(d.exportOnly as string[])];
  }
  const s3Prefix = normalizePrefix(d.s3Prefix as string | undefined);
  return {
    exportTaskIdentifier,
    cluster: d.cluster,
    snapshotIdentifier: d.snapshotIdentifier,
    ...(d.s3Bucket === undefined ? {} : { s3Bucket: d.s3Bucket as string }),
    s3Prefix,
    ...(exportOnly === undefined ? {} : { exportOnly }),
  };
}

export function snapshotArn(region: string, snapshotId: string): string {
  return `arn:aws:rds:${region}:000000000000:cluster-snapshot:${snapshotId}`;
}

/** The task record a new export starts with. */
export function newTask(
  request: ExportRequest,
  options: { region: string; bucket: string; now: Date },
): ExportTask {
  return {
    ExportTaskIdentifier: request.exportTaskIdentifier,
    SourceArn: snapshotArn(options.region, request.snapshotIdentifier),
    SourceType: 'SNAPSHOT',
    ExportOnly: request.exportOnly ?? [],
    SnapshotTime: null,
    TaskStartTime: null,
    TaskEndTime: null,
    S3Bucket: request.s3Bucket ?? options.bucket,
    S3Prefix: request.s3Prefix ?? exportPrefixDefault,
    IamRoleArn: '',
    KmsKeyId: '',
    Status: 'STARTING',
    PercentProgress: 0,
    TotalExtractedDataInGB: 0,
    Cluster: request.cluster,
    SnapshotIdentifier: request.snapshotIdentifier,
    SnapshotLsn: null,
    ExportedRowCount: 0,
    ExportedTableCount: 0,
    UpdatedTime: options.now.toISOString(),
  };
}

/** Whether a stored task was started by this same request (a redelivered event). */
export function sameRequest(task: ExportTask, request: ExportRequest, bucket: string): boolean {
  return (
    task.Cluster === request.cluster &&
    task.SnapshotIdentifier === request.snapshotIdentifier &&
    task.S3Bucket === (request.s3Bucket ?? bucket) &&
    task.S3Prefix === (request.s3Prefix ?? exportPrefixDefault) &&
    JSON.stringify(task.ExportOnly) === JSON.stringify(request.exportOnly ?? [])
  );
}

/** The status a reader should see: a task with a cancel marker that has not ended is CANCELING. */
export function effectiveStatus(task: ExportTask, cancelRequested: boolean): ExportStatus {
  if (cancelRequested && !terminalStatuses.has(task.Status)) return 'CANCELING';
  return task.Status;
}

/** Cancelling is allowed while the task runs; Aurora refuses it afterwards. */
export function checkCancellable(task: ExportTask): void {
  if (terminalStatuses.has(task.Status)) {
    throw new ExportFault(
      'InvalidExportTaskStateFault',
      `export task '${task.ExportTaskIdentifier}' is ${task.Status}: only a STARTING or IN_PROGRESS task can be cancelled`,
      { status: task.Status },
    );
  }
}

// --- S3 I/O ---

function isNotFound(error: unknown): boolean {
  const name = (error as Error).name;
  return name === 'NoSuchKey' || name === 'NotFound';
}

export async function readTask(
  s3: S3Client,
  bucket: string,
  exportId: string,
): Promise<ExportTask | undefined> {
  let text: string;
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: taskKey(exportId) }));
    text = await got.Body!.transformToString();
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  try {
    return JSON.parse(text) as ExportTask;
  } catch {
    throw new BorealisError(ErrorCode.INTERNAL, `export task record ${taskKey(exportId)} is not JSON`, {
      context: { bucket },
    });
  }
}

export async function writeTask(s3: S3Client, bucket: string, task: ExportTask): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: taskKey(task.ExportTaskIdentifier),
      Body: `${JSON.stringify(task, null, 2)}\n`,
      ContentType: 'application/json',
    }),
  );
}

export async function cancelRequested(s3: S3Client, bucket: string, exportId: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: cancelKey(exportId) }));
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** The task as a reader should see it (CANCELING while a cancel is pending), or ExportTaskNotFound. */
export async function describeTask(s3: S3Client, bucket: string, exportId: string): Promise<ExportTask> {
  const task = await readTask(s3, bucket, checkExportId(exportId));
  if (!task) throw new ExportFault('ExportTaskNotFound', `no export task '${exportId}'`);
  return { ...task, Status: effectiveStatus(task, await cancelRequested(s3, bucket, exportId)) };
}

/** Every task in the bucket, oldest start first. */
export async function listTasks(s3: S3Client, bucket: string): Promise<ExportTask[]> {
  const listed = (await listObjects(s3, bucket, taskRecordsPrefix)).map((o) => o.key);
  const keys = listed.filter((k) => k.endsWith('.json'));
  const cancels = new Set(listed.filter((k) => k.endsWith('.cancel')));
  const tasks: ExportTask[] = [];
  for (const key of keys) {
    const id = key.slice(taskRecordsPrefix.length, -'.json'.length);
    const task = await readTask(s3, bucket, id);
    if (task) tasks.push({ ...task, Status: effectiveStatus(task, cancels.has(cancelKey(id))) });
  }
  return tasks.sort((a, b) => (a.UpdatedTime < b.UpdatedTime ? -1 : a.UpdatedTime > b.UpdatedTime ? 1 : 0));
}

/**
 * Asks a running task to stop: InvalidExportTaskStateFault once it has ended. The function ends it
 * CANCELED at its next check; until then readers see CANCELING.
 */
export async function requestCancel(s3: S3Client, bucket: string, exportId: string): Promise<ExportTask> {
  const task = await readTask(s3, bucket, checkExportId(exportId));
  if (!task) throw new ExportFault('ExportTaskNotFound', `no export task '${exportId}'`);
  checkCancellable(task);
  await s3.send(
    new PutObjectCommand({ Bucket: bucket, Key: cancelKey(exportId), Body: new Date().toISOString() }),
  );
  return { ...task, Status: 'CANCELING' };
}
