// Provisioning a cluster from outside the machine that runs it (deployed mode): the restore function
// sends a request on the region's provision queue (core/resources.ts: `<cluster>-provision`, SQS),
// the process that runs clusters (`borealis up --aws`) consumes it, starts or stops the cluster and
// reports in the target cluster's status parameter `/borealis/<target>/provision`. The new cluster's
// own control plane publishes its topology (`/borealis/<target>/topology`) as any cluster does.
// A restore job too large for one SQS message (its chunk keys: about 3,000 fit, under an hour of
// log at one chunk a second) travels as a claim check: the job is stored in the backup bucket and
// the message names the object; the consumer reads it and deletes it.
// Pure: the message and status documents, encoded and checked; the I/O is in its two users.
import { timelineFromJson } from '../backtrack/json.ts';
import type { RestoreJob } from '../backup/restore-plan.ts';
import { BorealisError, ErrorCode } from '../errors.ts';

/** SQS's limit on one message body; a restore job (its chunk keys) must fit in it. */
export const provisionMessageBytesMax = 256 * 1024;
/** Format version of the message and status documents: a consumer refuses one it does not know. */
export const provisionFormatVersion = 1;

/** A cluster name as a restore names its target (functions/restore: the new cluster's name rule). */
export const provisionClusterNamePattern = /^[a-z][a-z0-9-]{0,40}$/;
const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

export type ProvisionRequest =
  /** Start the target cluster of `job` with the job (its control plane hydrates the volume first). */
  | { kind: 'create'; requestId: string; job: RestoreJob }
  /** The same, with the job stored in S3 (encodeProvisionJob) because it does not fit a message. */
  | { kind: 'create-stored'; requestId: string; cluster: string; jobObject: StoredJobObject }
  /** Stop the cluster and remove its data and parameters. */
  | { kind: 'destroy'; requestId: string; cluster: string };

/** Where a claim-checked restore job is: the source's backup bucket, under provisionJobKey. */
export interface StoredJobObject {
  bucket: string;
  key: string;
}

/** The object key of a stored restore job. */
export function provisionJobKey(targetCluster: string, requestId: string): string {
  return `provision-jobs/${targetCluster}/${requestId}.json`;
}

export type ProvisionState =
  /** The consumer took the request and is starting the cluster (a restore can take minutes). */
  | 'starting'
  /** The cluster serves: its topology has a writer. */
  | 'ready'
  /** It could not be started; `reason` says why. Nothing of it is left running. */
  | 'failed'
  /** Destroyed on request. */
  | 'destroyed';

export interface ProvisionStatus {
  version: number;
  requestId: string;
  cluster: string;
  state: ProvisionState;
  reason?: string;
  updatedAt: string;
}

/** Where the consumer reports on a cluster it provisions. */
export function provisionStatusParameterName(cluster: string): string {
  return `/borealis/${cluster}/provision`;
}

function bad(what: string, why: string): BorealisError {
  return new BorealisError(ErrorCode.INVALID_ARGUMENT, `${what}: ${why}`, { retryable: false });
}

function checkCluster(what: string, name: unknown): string {
  if (typeof name !== 'string' || !provisionClusterNamePattern.test(name))
    throw bad(
      what,
      `cluster name must match ${provisionClusterNamePattern.source}, got ${JSON.stringify(name)}`,
    );
  return name;
}

function checkRequestId(what: string, id: unknown): string {
  if (typeof id !== 'string' || !requestIdPattern.test(id))
    throw bad(what, `requestId must match ${requestIdPattern.source}`);
  return id;
}

function checkJob(job: unknown): RestoreJob {
  const what = 'provision request';
  if (typeof job !== 'object' || job === null) throw bad(what, 'job must be an object');
  const j = job as Partial<RestoreJob>;
  checkCluster(what, j.targetCluster);
  checkRequestId(what, j.requestId);
  for (const field of ['sourceCluster', 'region', 'bucket', 'cutCommitLsn'] as const) {
    if (typeof j[field] !== 'string' || j[field] === '') throw bad(what, `job.${field} is required`);
  }
  if (!/^\d{1,20}$/.test(j.cutCommitLsn!)) throw bad(what, 'job.cutCommitLsn must be a decimal LSN');
  if (!Array.isArray(j.chunkKeys) || j.chunkKeys.some((k) => typeof k !== 'string'))
    throw bad(what, 'job.chunkKeys must be a list of keys');
  for (const field of ['restoreTimeMs', 'cutCommitTimeMs'] as const) {
    if (!Number.isSafeInteger(j[field])) throw bad(what, `job.${field} must be an integer`);
  }
  if (j.timeline !== undefined) {
    try {
      timelineFromJson(j.timeline);
    } catch {
      throw bad(what, 'job.timeline must be [[aboveLsn, uptoLsn], …] of decimal LSNs');
    }
  }
  return j as RestoreJob;
}

/** Whether the request, inline, fits one SQS message (else: store the job, send create-stored). */
export function fitsOneMessage(request: ProvisionRequest): boolean {
  return (
    Buffer.byteLength(JSON.stringify({ version: provisionFormatVersion, ...request })) <=
    provisionMessageBytesMax
  );
}

/** A restore job as stored for a create-stored request. */
export function encodeProvisionJob(job: RestoreJob): string {
  return JSON.stringify({ version: provisionFormatVersion, job });
}

/** A stored job, checked as an inline one is; it must be the job the request names. */
export function decodeProvisionJob(
  text: string,
  request: { requestId: string; cluster: string },
): RestoreJob {
  const what = 'stored restore job';
  let doc: { version?: unknown; job?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw bad(what, 'not JSON');
  }
  if (typeof doc !== 'object' || doc === null || doc.version !== provisionFormatVersion)
    throw bad(what, `version ${JSON.stringify(doc?.version)} is not ${provisionFormatVersion}`);
  const job = checkJob(doc.job);
  if (job.requestId !== request.requestId || job.targetCluster !== request.cluster)
    throw bad(
      what,
      `it is for ${job.targetCluster}/${job.requestId}, not ${request.cluster}/${request.requestId}`,
    );
  return job;
}

/** The SQS message body; a job too large for one message is an error naming its size. */
export function encodeProvisionRequest(request: ProvisionRequest): string {
  const body = JSON.stringify({ version: provisionFormatVersion, ...request });
  const bytes = Buffer.byteLength(body);
  if (bytes > provisionMessageBytesMax) {
    throw bad(
      'provision request',
      `${bytes} bytes (${request.kind === 'create' ? request.job.chunkKeys.length : 0} log chunks) exceed SQS's ${provisionMessageBytesMax}-byte message limit: restore from a newer snapshot`,
    );
  }
  return body;
}

/** A message body as a request, or a non-retryable INVALID_ARGUMENT saying what is wrong. */
export function decodeProvisionRequest(body: string): ProvisionRequest {
  const what = 'provision request';
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(body) as Record<string, unknown>;
  } catch {
    throw bad(what, 'not JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw bad(what, 'not an object');
  if (doc.version !== provisionFormatVersion)
    throw bad(what, `version ${JSON.stringify(doc.version)} is not ${provisionFormatVersion}`);
  const requestId = checkRequestId(what, doc.requestId);
  if (doc.kind === 'create') {
    const job = checkJob(doc.job);
    if (job.requestId !== requestId) throw bad(what, 'job.requestId differs from requestId');
    return { kind: 'create', requestId, job };
  }
  if (doc.kind === 'create-stored') {
    const cluster = checkCluster(what, doc.cluster);
    const ref = doc.jobObject as Partial<StoredJobObject> | undefined;
    if (typeof ref !== 'object' || ref === null || typeof ref.bucket !== 'string' || ref.bucket === '')
      throw bad(what, 'jobObject.bucket is required');
    if (ref.key !== provisionJobKey(cluster, requestId))
      throw bad(what, `jobObject.key must be ${provisionJobKey(cluster, requestId)}`);
    return { kind: 'create-stored', requestId, cluster, jobObject: { bucket: ref.bucket, key: ref.key } };
  }
  if (doc.kind === 'destroy') return { kind: 'destroy', requestId, cluster: checkCluster(what, doc.cluster) };
  throw bad(what, `kind must be 'create', 'create-stored' or 'destroy', got ${JSON.stringify(doc.kind)}`);
}

/** A failure reason is cut to this length: the status must fit SSM's 4 KB standard parameter. */
export const provisionReasonCharsMax = 1_000;

export function encodeProvisionStatus(
  status: Omit<ProvisionStatus, 'version' | 'updatedAt'>,
  now = new Date(),
): string {
  const reason =
    status.reason !== undefined && status.reason.length > provisionReasonCharsMax
      ? `${status.reason.slice(0, provisionReasonCharsMax - 1)}…`
      : status.reason;
  return JSON.stringify({
    version: provisionFormatVersion,
    ...status,
    ...(reason === undefined ? {} : { reason }),
    updatedAt: now.toISOString(),
  });
}

export function decodeProvisionStatus(text: string): ProvisionStatus {
  const what = 'provision status';
  let doc: Partial<ProvisionStatus>;
  try {
    doc = JSON.parse(text) as Partial<ProvisionStatus>;
  } catch {
    throw bad(what, 'not JSON');
  }
  if (typeof doc !== 'object' || doc === null) throw bad(what, 'not an object');
  if (doc.version !== provisionFormatVersion)
    throw bad(what, `version ${JSON.stringify(doc.version)} is unknown`);
  checkRequestId(what, doc.requestId);
  checkCluster(what, doc.cluster);
  if (!['starting', 'ready', 'failed', 'destroyed'].includes(doc.state as string))
    throw bad(what, `unknown state ${JSON.stringify(doc.state)}`);
  if (doc.reason !== undefined && typeof doc.reason !== 'string') throw bad(what, 'reason must be text');
  return doc as ProvisionStatus;
}
