// Every Lambda function's triggers and settings, defined once: the embedded function runner
// (embedded/function-runner.ts) and the CDK stacks both read this, so batch sizes, retries and
// schedules can never differ between `npm start`, LocalStack and AWS.
import { assert } from './assert.ts';
import { BorealisError, ErrorCode } from './errors.ts';
import type { RegionalResources } from './resources.ts';

export type FunctionName =
  | 'backup-archiver'
  | 'snapshot'
  | 'restore'
  | 'backup-retention'
  | 'snapshot-export'
  | 'binlog-streamer'
  | 'global-replicator';

/** Environment variables the functions read (CDK sets them; the runner passes them). */
export const functionEnv = {
  backupBucket: 'BACKUP_BUCKET',
  clusterName: 'CLUSTER_NAME',
  /** Days of point-in-time restore the backup keeps (backupRetentionDaysMin..Max; unset: default). */
  backupRetentionDays: 'BACKUP_RETENTION_DAYS',
  /** restore (deployed mode): URL of the region's provision queue (core/cluster/provision.ts). */
  provisionQueueUrl: 'PROVISION_QUEUE_URL',
  /** binlog-streamer: the region's binlog stream, where the row events go. */
  binlogStream: 'BINLOG_STREAM',
  /** global-replicator: the Global Database's secondary region (unset: no secondary, nothing to do). */
  globalSecondaryRegion: 'GLOBAL_SECONDARY_REGION',
  /** global-replicator: the secondary cluster's name (default CLUSTER_NAME). */
  globalSecondaryCluster: 'GLOBAL_SECONDARY_CLUSTER',
  /** global-replicator, embedded mode only: the secondary region's topology dir (else SSM there). */
  globalSecondaryTopologyDir: 'GLOBAL_SECONDARY_TOPOLOGY_DIR',
} as const;

/** Aurora's backup retention range, in days; the default is Aurora's too. */
export const backupRetentionDaysMin = 1;
export const backupRetentionDaysMax = 35;
export const backupRetentionDaysDefault = 1;

/**
 * A backup retention period in days: an integer in [1, 35] (a string from the environment or a flag,
 * or a number); undefined or '' is the default. Anything else is a non-retryable INVALID_ARGUMENT.
 */
export function parseBackupRetentionDays(value: string | number | undefined): number {
  if (value === undefined || value === '') return backupRetentionDaysDefault;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < backupRetentionDaysMin || n > backupRetentionDaysMax) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `backup retention must be a whole number of days from ${backupRetentionDaysMin} to ${backupRetentionDaysMax}, got '${value}' (${functionEnv.backupRetentionDays})`,
      { retryable: false, context: { value: String(value) } },
    );
  }
  return n;
}

/** A Kinesis event source mapping (Lambda's settings of the same names). */
export interface KinesisTrigger {
  kind: 'kinesis';
  /** Which regional stream feeds the function. */
  stream: 'redoStream' | 'binlogStream';
  /** Records per invocation at most (Lambda: BatchSize). */
  batchSize: number;
  /** Lambda waits this long to fill a batch (MaximumBatchingWindowInSeconds, so whole seconds). */
  maxBatchingWindowMs: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST';
  /** Split a failing batch in two and retry each half (BisectBatchOnFunctionError). */
  bisectOnError: boolean;
  /**
   * Retries of a failing batch before it is skipped to the on-failure destination. Absent: retry
   * until the records expire from the stream (Lambda's default, -1).
   */
  retryAttempts?: number;
  /** The handler returns { batchItemFailures } (FunctionResponseTypes: ReportBatchItemFailures). */
  reportBatchItemFailures: boolean;
}

/** An EventBridge schedule (rate or cron expression, as EventBridge writes it). */
export interface ScheduleTrigger {
  kind: 'schedule';
  expression: string;
}

/** An EventBridge rule on the default bus. */
export interface EventTrigger {
  kind: 'event';
  source: string;
  detailType: string;
}

export type FunctionTrigger = KinesisTrigger | ScheduleTrigger | EventTrigger;

export interface FunctionDefinition {
  name: FunctionName;
  /** Folder under functions/ holding handler.ts and index.ts (export `handler`). */
  directory: string;
  timeoutSeconds: number;
  memoryMb: number;
  triggers: FunctionTrigger[];
  /**
   * Files from node_modules the bundle needs at run time beside its index.mjs (a wasm binary the
   * code reads from disk): the CDK bundling copies them.
   */
  bundledFiles?: readonly string[];
}

/** The source of every event Borealis puts on EventBridge. */
export const borealisEventSource = 'borealis';

export const eventDetailTypes = {
  snapshotRequested: 'Borealis Snapshot Requested',
  restoreRequested: 'Borealis Restore Requested',
  restoreCompleted: 'Borealis Restore Completed',
  restoreFailed: 'Borealis Restore Failed',
  exportRequested: 'Borealis Export Requested',
} as const;

/** Retries of a failing archiver batch before it goes to the on-failure destination (see below). */
export const archiverRetryAttempts = 3;
/** The same for the binlog streamer, for the same reasons (a poison record blocks the shard). */
export const binlogStreamerRetryAttempts = archiverRetryAttempts;

export const functionDefinitions: Readonly<Record<FunctionName, FunctionDefinition>> = {
  'backup-archiver': {
    name: 'backup-archiver',
    directory: 'backup-archiver',
    timeoutSeconds: 60,
    memoryMb: 512,
    triggers: [
      {
        kind: 'kinesis',
        stream: 'redoStream',
        batchSize: 100,
        // Latest restorable time must stay within seconds of now, and each invocation costs S3
        // requests (a chunk, the watermark) whatever its size: gather a second of redo per
        // invocation, the shortest window Lambda offers above none.
        maxBatchingWindowMs: 1_000,
        startingPosition: 'TRIM_HORIZON',
        bisectOnError: true,
        // Three retries, then the on-failure destination. A corrupt record (reported as a batch item
        // failure) never gets better: every retry blocks the shard, so the archive and the latest
        // restorable time fall behind until it is set aside; three retries hold it a few seconds
        // (LocalStack: ~2.5 s of backoff; the local runner: 0.7 s). A valid batch that fails for
        // S3 gets three chances on top of the SDK's own retries inside each invocation — enough for
        // a throttle or a blip; in a longer outage it is set aside too, which no longer risks a
        // permanent gap: the writer's archive watchdog (services/writer/redo-publisher.ts) sees the
        // watermark stay below what it published for a minute and republishes that range from
        // storage once S3 answers. Unlimited retries (Lambda's default) would instead hold the shard on a poison
        // record until it expires from the stream (24 h), with nothing archived meanwhile.
        retryAttempts: archiverRetryAttempts,
        reportBatchItemFailures: true,
      },
    ],
  },
  snapshot: {
    name: 'snapshot',
    directory: 'snapshot',
    timeoutSeconds: 900,
    memoryMb: 1024,
    triggers: [
      { kind: 'schedule', expression: 'rate(1 hour)' },
      { kind: 'event', source: borealisEventSource, detailType: eventDetailTypes.snapshotRequested },
    ],
  },
  restore: {
    name: 'restore',
    directory: 'restore',
    timeoutSeconds: 900,
    memoryMb: 1024,
    triggers: [{ kind: 'event', source: borealisEventSource, detailType: eventDetailTypes.restoreRequested }],
  },
  'backup-retention': {
    name: 'backup-retention',
    directory: 'backup-retention',
    timeoutSeconds: 900,
    memoryMb: 512,
    // Expiry only has to keep up with the retention window; hourly is Aurora's granularity too.
    triggers: [{ kind: 'schedule', expression: 'rate(1 hour)' }],
  },
  'snapshot-export': {
    name: 'snapshot-export',
    directory: 'snapshot-export',
    // Lambda's longest: a large snapshot is read and written once; memory stays one row group.
    timeoutSeconds: 900,
    memoryMb: 1024,
    triggers: [{ kind: 'event', source: borealisEventSource, detailType: eventDetailTypes.exportRequested }],
    // The snapshot is read with wa-sqlite's synchronous build, which loads its wasm from disk.
    bundledFiles: ['@journeyapps/wa-sqlite/dist/wa-sqlite.wasm'],
  },
  'binlog-streamer': {
    name: 'binlog-streamer',
    directory: 'binlog-streamer',
    timeoutSeconds: 60,
    memoryMb: 512,
    triggers: [
      {
        kind: 'kinesis',
        stream: 'redoStream',
        batchSize: 100,
        // CDC lag (commit acknowledged → event readable on the binlog stream) has a p99 goal of
        // 500 ms: no batching window, an invocation as soon as the mapping sees records.
        maxBatchingWindowMs: 0,
        startingPosition: 'TRIM_HORIZON',
        bisectOnError: true,
        // As the archiver: a poison record is retried three times, then set aside to the on-failure
        // destination rather than holding the shard (and every later event) until it expires.
        retryAttempts: binlogStreamerRetryAttempts,
        reportBatchItemFailures: true,
      },
    ],
  },
  'global-replicator': {
    name: 'global-replicator',
    directory: 'global-replicator',
    timeoutSeconds: 60,
    memoryMb: 256,
    triggers: [
      {
        kind: 'kinesis',
        stream: 'redoStream',
        batchSize: 100,
        // Replication lag is the Global Database's figure of merit (< 1 s, goal < 250 ms): no window.
        maxBatchingWindowMs: 0,
        startingPosition: 'TRIM_HORIZON',
        // Order is everything here: a split retries the same prefix, and nothing may be set aside —
        // a skipped batch is a hole the secondary can never fill. Retries are unlimited (until the
        // records expire from the stream); a blocked shard shows as AuroraGlobalDBReplicationLag.
        bisectOnError: false,
        reportBatchItemFailures: true,
      },
    ],
  },
};

for (const def of Object.values(functionDefinitions)) {
  for (const t of def.triggers) {
    if (t.kind !== 'kinesis') continue;
    // Lambda's limits for Kinesis mappings; the window is whole seconds in the API.
    assert(t.batchSize >= 1 && t.batchSize <= 10_000, `${def.name}: batchSize in [1, 10000]`);
    assert(t.maxBatchingWindowMs % 1000 === 0 && t.maxBatchingWindowMs <= 300_000, `${def.name}: window`);
    const retries = t.retryAttempts;
    assert(retries === undefined || (retries >= 0 && retries <= 10_000), `${def.name}: retryAttempts`);
  }
}

/** The functions fed by a Kinesis stream, with the stream's name in these resources. */
export function kinesisTriggers(
  resources: RegionalResources,
): Array<{ definition: FunctionDefinition; trigger: KinesisTrigger; streamName: string }> {
  const out: Array<{ definition: FunctionDefinition; trigger: KinesisTrigger; streamName: string }> = [];
  for (const definition of Object.values(functionDefinitions)) {
    for (const trigger of definition.triggers) {
      if (trigger.kind === 'kinesis') {
        out.push({ definition, trigger, streamName: resources[trigger.stream].name });
      }
    }
  }
  return out;
}

/**
 * The environment a function runs with in a region, for one cluster. The backup retention is set
 * only when given (validated here, so a bad value fails at deploy or start, not an hour later).
 */
export function functionEnvironment(
  resources: RegionalResources,
  cluster: string,
  options: { backupRetentionDays?: number | string } = {},
): Record<string, string> {
  const env: Record<string, string> = {
    [functionEnv.backupBucket]: resources.backupBucket,
    [functionEnv.clusterName]: cluster,
    [functionEnv.binlogStream]: resources.binlogStream.name,
  };
  if (options.backupRetentionDays !== undefined && options.backupRetentionDays !== '') {
    env[functionEnv.backupRetentionDays] = String(parseBackupRetentionDays(options.backupRetentionDays));
  }
  return env;
}

/** Milliseconds of an EventBridge `rate(N unit)` expression (what the local runner schedules by). */
export function rateMs(expression: string): number {
  const m = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(expression);
  if (!m) throw new Error(`not a rate expression: ${expression}`);
  const unit = m[2]!.startsWith('minute') ? 60_000 : m[2]!.startsWith('hour') ? 3_600_000 : 86_400_000;
  return Number(m[1]) * unit;
}
