// The local function runner (embedded mode): plays Lambda's Kinesis event source mapping for every
// Kinesis-triggered function in core/functions.ts. It reads each shard of the stream from the
// emulator with the real SDK, gathers records for the trigger's batching window (or until the batch
// is full), hands the unchanged handler the exact KinesisStreamEvent Lambda would, and checkpoints
// each shard in the state dir after success, so a restart resumes where it stopped.
//
// Failures, as the trigger's settings (core/functions.ts) make Lambda handle them:
// - batchItemFailures: the batch is cut at the lowest reported record (the records before it are
//   done and checkpointed) and the rest goes again;
// - a batch whose first record fails (a thrown error, or the lowest reported failure is its first
//   record) is split in two when bisectOnError is set (a split costs no retry), down to one record.
//   Lambda documents the split for a thrown error and the cut for batch item failures; splitting a
//   cut remainder too is what isolates a poison record, so that only it is set aside;
// - a batch that cannot be split is retried retryAttempts times with capped backoff, then written to
//   the on-failure destination and skipped. That destination is a folder per function and stream,
//   <stateDir>/functions/<region>/on-failure/<function>/<stream>/, one JSON file per set-aside batch
//   in the shape Lambda sends to an SQS destination (requestContext, responseContext,
//   KinesisBatchInfo, timestamp, version) plus the records themselves under payload (as Lambda's S3
//   destination does) and the runner's `reason`; at most onFailureEntriesMax files, oldest removed.
//   Each one is also logged at error level. LocalStack 4.13 differs: it does not bisect at all
//   (its message covers the lowest failed record to the end of the invocation's batch).
//
// Cost: every GetRecords and every invocation costs this process, the Kinesis emulator and (for the
// archiver) S3 requests about the same whatever their size. So an idle shard is polled less and less
// often (from pollIntervalMsMin up to pollIntervalMs), and a busy one is read about twice per batching
// window: the window is what bounds how far the archive trails the stream.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  type _Record as KinesisRecord,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type {
  Context,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
  KinesisStreamRecord,
} from 'aws-lambda';
import { assert } from '../core/assert.ts';
import {
  type FunctionName,
  functionEnv,
  functionEnvironment,
  type KinesisTrigger,
  kinesisTriggers,
} from '../core/functions.ts';
import type { Logger } from '../core/log.ts';
import type { RegionalResources } from '../core/resources.ts';
import { createHandler as createArchiverHandler } from '../functions/backup-archiver/index.ts';
import { createHandler as createBinlogStreamerHandler } from '../functions/binlog-streamer/index.ts';
import { createHandler as createGlobalReplicatorHandler } from '../functions/global-replicator/index.ts';

/**
 * The longest pause between two reads of an idle shard (Lambda polls about once a second); right
 * after records it polls every pollIntervalMsMin, doubling while reads come back empty.
 */
export const pollIntervalMsDefault = 1_000;
export const pollIntervalMsMin = 200;
/**
 * A trigger without a batching window (the binlog streamer: CDC lag is its figure) is polled at this
 * fixed interval, idle or not — what Lambda gets from an enhanced fan-out consumer (records pushed
 * within ~70 ms) rather than from its once-a-second shared-throughput polling.
 */
export const pollIntervalMsNoWindow = 50;
/** Backoff between retries of a failing batch: doubles from the base up to the max. */
const retryBackoffMsBase = 100;
const retryBackoffMsMax = 5_000;
/** How often the shard list is refreshed (new shards after a reshard). */
const shardRefreshMs = 5_000;
/** Lambda's invocation payload limit: an event source mapping never builds a bigger event. */
export const eventPayloadBytesMax = 6 * 1024 * 1024;
/** JSON around one record's base64 data in the event (ARNs, ids, field names), generously. */
const eventRecordOverheadBytes = 1024;
/** Account id in the ARNs of the events (LocalStack's default). */
const localAccountId = '000000000000';
/** Set-aside batches kept per function and stream in the on-failure folder; past it the oldest go. */
export const onFailureEntriesMax = 1_000;
/** An entry carries its records' data only up to this many bytes (the metadata names them anyway). */
export const onFailurePayloadBytesMax = 1024 * 1024;

export type KinesisHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | undefined>;

export interface KinesisFunction {
  name: string;
  trigger: KinesisTrigger;
  streamName: string;
  timeoutSeconds: number;
  memoryMb: number;
  handler: KinesisHandler;
}

export interface FunctionRunnerOptions {
  region: string;
  /** Checkpoints and the on-failure destination live under <stateDir>/functions/<region>/. */
  stateDir: string;
  kinesis: KinesisClient;
  functions: KinesisFunction[];
  logger: Logger;
  /** Longest idle poll interval per shard (default pollIntervalMsDefault). */
  pollIntervalMs?: number;
  /** Set-aside batches kept per function and stream (default onFailureEntriesMax). */
  onFailureEntriesMax?: number;
}

/** One record as Lambda's Kinesis event source puts it in the event. */
export function toKinesisEventRecord(
  record: { data: Uint8Array; sequenceNumber: string; partitionKey: string; arrivalMs: number },
  source: { region: string; streamName: string; shardId: string; functionName: string },
): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: record.arrivalMs / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${source.shardId}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: `arn:aws:iam::${localAccountId}:role/${source.functionName}`,
    awsRegion: source.region,
    eventSourceARN: `arn:aws:kinesis:${source.region}:${localAccountId}:stream/${source.streamName}`,
  };
}

interface Checkpoint {
  sequenceNumber: string;
  updatedAt: string;
}

/**
 * One batch set aside to the on-failure destination: the fields Lambda sends to an SQS or SNS
 * destination for a Kinesis mapping, the records (as its S3 destination adds them), and the reason.
 */
export interface OnFailureEntry {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: 'RetryAttemptsExhausted';
    approximateInvokeCount: number;
  };
  responseContext: {
    statusCode: number;
    executedVersion: string;
    functionError: 'Unhandled' | null;
  };
  version: '1.0';
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
  /** The event's records, unless their data passed onFailurePayloadBytesMax. */
  payload: { Records: KinesisStreamRecord[] } | null;
  /** The runner's own: the last failure (an error message, or the batch item failures reported). */
  reason: string;
}

export class FunctionRunner {
  #stopped = false;
  readonly #loops = new Map<string, Promise<void>>();
  readonly #wakeups = new Set<() => void>();
  #refreshTimer: NodeJS.Timeout | undefined;
  readonly #pollIntervalMsMax: number;
  readonly #pollIntervalMsMin: number;

  constructor(private readonly options: FunctionRunnerOptions) {
    this.#pollIntervalMsMax = options.pollIntervalMs ?? pollIntervalMsDefault;
    this.#pollIntervalMsMin = Math.min(pollIntervalMsMin, this.#pollIntervalMsMax);
    assert(this.#pollIntervalMsMin >= 1, 'a positive poll interval');
  }

  /**
   * Starts one loop per (function, shard); resolves once the shards are listed. A stream that does
   * not exist yet (provisioning still running) is waited for, up to startTimeoutMs.
   */
  async start(startTimeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + startTimeoutMs;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#refreshShards();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
        if (attempt === 1) this.options.logger.warn({ err: error }, 'listing shards failed: retrying');
        await this.#sleep(backoffMs(attempt));
      }
    }
    this.#refreshTimer = setInterval(() => {
      this.#refreshShards().catch((error) =>
        this.options.logger.warn({ err: error }, 'shard list refresh failed'),
      );
    }, shardRefreshMs);
    this.#refreshTimer.unref();
  }

  /** Stops polling; an invocation in flight finishes (its checkpoint is written) first. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#refreshTimer);
    for (const wake of this.#wakeups) wake();
    await Promise.all(this.#loops.values());
  }

  checkpointFile(fn: KinesisFunction, shardId: string): string {
    return join(this.#dir('checkpoints', fn), `${shardId}.json`);
  }

  /** Where the function's set-aside batches from this stream go (one JSON file each). */
  onFailureDir(fn: KinesisFunction): string {
    return this.#dir('on-failure', fn);
  }

  #dir(kind: 'checkpoints' | 'on-failure', fn: KinesisFunction): string {
    return join(this.options.stateDir, 'functions', this.options.region, kind, fn.name, fn.streamName);
  }

  async #refreshShards(): Promise<void> {
    for (const fn of this.options.functions) {
      let token: string | undefined;
      do {
        const listed = await this.options.kinesis.send(
          new ListShardsCommand(token ? { NextToken: token } : { StreamName: fn.streamName }),
        );
        for (const shard of listed.Shards ?? []) {
          const key = `${fn.name}/${fn.streamName}/${shard.ShardId}`;
          if (this.#stopped || this.#loops.has(key)) continue;
          this.#loops.set(
            key,
            this.#shardLoop(fn, shard.ShardId!).catch((error) =>
              this.options.logger.error(
                { err: error, function: fn.name, shard: shard.ShardId },
                'shard loop died',
              ),
            ),
          );
        }
        token = listed.NextToken;
      } while (token);
    }
  }

  async #shardLoop(fn: KinesisFunction, shardId: string): Promise<void> {
    const logger = this.options.logger.child({ function: fn.name, stream: fn.streamName, shard: shardId });
    let iterator: string | undefined;
    let failures = 0;
    // No batching window: latency is the point, so a fixed short interval, no idle backoff.
    const noWindow = fn.trigger.maxBatchingWindowMs === 0;
    const pollMin = noWindow
      ? Math.min(pollIntervalMsNoWindow, this.#pollIntervalMsMin)
      : this.#pollIntervalMsMin;
    const pollMax = noWindow ? pollMin : this.#pollIntervalMsMax;
    let idleMs = pollMin;
    /** Records read but not yet delivered (the batching window is open while there are any). */
    let batch = new PendingBatch(fn.trigger);
    while (!this.#stopped) {
      try {
        iterator ??= await this.#iterator(fn, shardId);
        const got = await this.options.kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: batch.room() }),
        );
        failures = 0;
        iterator = got.NextShardIterator;
        const records = got.Records ?? [];
        if (records.length > 0) idleMs = pollMin;
        batch.add(records, Date.now());
        const closed = iterator === undefined;
        if (batch.ready(Date.now()) || (closed && !batch.empty)) {
          const full = batch.full;
          for (const group of groupByPayload(batch.records)) {
            await this.#deliver(fn, shardId, group, logger);
            if (this.#stopped) return;
          }
          batch = new PendingBatch(fn.trigger);
          // A full batch means a backlog: read on at once. Otherwise the stream is caught up.
          if (!full && !closed) await this.#sleep(pollMin);
        } else if (closed) {
          logger.info('shard closed and drained');
          return;
        } else if (!batch.empty) {
          // The window is open: read again when it closes (what arrived by then joins the batch), or
          // at once while the stream says this shard's reader is behind.
          if (records.length === 0 || (got.MillisBehindLatest ?? 0) === 0) {
            await this.#sleep(batch.windowLeftMs(Date.now()));
          }
        } else {
          await this.#sleep(idleMs);
          idleMs = Math.min(pollMax, idleMs * 2);
        }
      } catch (error) {
        // Expired iterator, emulator restart, network: start again from the checkpoint (records read
        // but not delivered are read again from there).
        iterator = undefined;
        batch = new PendingBatch(fn.trigger);
        failures++;
        if (failures === 1 || failures % 50 === 0)
          logger.warn({ err: error, failures }, 'reading the shard failed');
        await this.#sleep(backoffMs(failures));
      }
    }
  }

  async #iterator(fn: KinesisFunction, shardId: string): Promise<string> {
    const checkpoint = this.#readCheckpoint(fn, shardId);
    const got = await this.options.kinesis.send(
      new GetShardIteratorCommand(
        checkpoint
          ? {
              StreamName: fn.streamName,
              ShardId: shardId,
              ShardIteratorType: 'AFTER_SEQUENCE_NUMBER',
              StartingSequenceNumber: checkpoint.sequenceNumber,
            }
          : { StreamName: fn.streamName, ShardId: shardId, ShardIteratorType: fn.trigger.startingPosition },
      ),
    );
    if (got.ShardIterator === undefined) throw new Error(`no shard iterator for ${fn.streamName}/${shardId}`);
    return got.ShardIterator;
  }

  /**
   * One batch through the handler, as Lambda does it: success checkpoints the batch; batch item
   * failures cut it at the lowest one (the records before it are checkpointed) and the rest goes
   * again; a batch whose first record fails is split in two when the trigger bisects (no retry
   * spent), else retried. After retryAttempts retries it goes to the on-failure destination.
   */
  async #deliver(
    fn: KinesisFunction,
    shardId: string,
    records: KinesisRecord[],
    logger: Logger,
  ): Promise<void> {
    let pending = records;
    let retries = 0;
    while (pending.length > 0) {
      if (this.#stopped) return; // not checkpointed: delivered again after a restart
      let failedFrom: number;
      let reason: string;
      let functionError: 'Unhandled' | null = null;
      const requestId = randomUUID();
      try {
        const response = await this.#invoke(fn, shardId, pending, requestId);
        const failures = fn.trigger.reportBatchItemFailures ? (response?.batchItemFailures ?? []) : [];
        if (failures.length === 0) {
          this.#writeCheckpoint(fn, shardId, pending.at(-1)!.SequenceNumber!);
          return;
        }
        failedFrom = lowestFailure(
          pending,
          failures.map((f) => f.itemIdentifier),
        );
        reason = `${failures.length} batch item failure(s) from ${pending[failedFrom]!.SequenceNumber}`;
      } catch (error) {
        failedFrom = 0;
        reason = (error as Error).message;
        functionError = 'Unhandled';
      }
      if (failedFrom > 0) {
        // Progress: the records before the lowest failure are done; the rest goes again at once.
        this.#writeCheckpoint(fn, shardId, pending[failedFrom - 1]!.SequenceNumber!);
        pending = pending.slice(failedFrom);
        continue;
      }
      if (fn.trigger.bisectOnError && pending.length > 1) {
        logger.warn({ reason, records: pending.length }, 'batch failed at its first record: bisecting it');
        const half = Math.ceil(pending.length / 2);
        await this.#deliver(fn, shardId, pending.slice(0, half), logger);
        if (this.#stopped) return;
        await this.#deliver(fn, shardId, pending.slice(half), logger);
        return;
      }
      retries++;
      if (retries > (fn.trigger.retryAttempts ?? Number.POSITIVE_INFINITY)) {
        const file = this.#writeOnFailure(fn, shardId, pending, {
          requestId,
          invokeCount: retries,
          functionError,
          reason,
        });
        logger.error(
          {
            records: pending.length,
            startSequenceNumber: pending[0]!.SequenceNumber,
            endSequenceNumber: pending.at(-1)!.SequenceNumber,
            invocations: retries,
            reason,
            file,
          },
          'retries exhausted: batch set aside to the on-failure destination',
        );
        this.#writeCheckpoint(fn, shardId, pending.at(-1)!.SequenceNumber!);
        return;
      }
      if (retries === 1 || retries % 20 === 0) {
        logger.warn({ retries, records: pending.length, reason }, 'batch failed: retrying');
      }
      await this.#sleep(backoffMs(retries));
    }
  }

  #event(fn: KinesisFunction, shardId: string, records: KinesisRecord[]): KinesisStreamEvent {
    const source = { region: this.options.region, streamName: fn.streamName, shardId, functionName: fn.name };
    return {
      Records: records.map((r) =>
        toKinesisEventRecord(
          {
            data: r.Data ?? new Uint8Array(),
            sequenceNumber: r.SequenceNumber!,
            partitionKey: r.PartitionKey ?? '',
            arrivalMs: r.ApproximateArrivalTimestamp?.getTime() ?? Date.now(),
          },
          source,
        ),
      ),
    };
  }

  async #invoke(
    fn: KinesisFunction,
    shardId: string,
    records: KinesisRecord[],
    requestId: string,
  ): Promise<KinesisStreamBatchResponse | undefined> {
    const event = this.#event(fn, shardId, records);
    const deadline = Date.now() + fn.timeoutSeconds * 1000;
    const context = { ...lambdaContext(fn, this.options.region, deadline), awsRequestId: requestId };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${fn.name} timed out after ${fn.timeoutSeconds} s`)),
        fn.timeoutSeconds * 1000,
      );
    });
    try {
      return await Promise.race([fn.handler(event, context), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  #readCheckpoint(fn: KinesisFunction, shardId: string): Checkpoint | undefined {
    const file = this.checkpointFile(fn, shardId);
    if (!existsSync(file)) return undefined;
    return JSON.parse(readFileSync(file, 'utf8')) as Checkpoint;
  }

  #writeCheckpoint(fn: KinesisFunction, shardId: string, sequenceNumber: string): void {
    const file = this.checkpointFile(fn, shardId);
    mkdirSync(this.#dir('checkpoints', fn), { recursive: true });
    const checkpoint: Checkpoint = { sequenceNumber, updatedAt: new Date().toISOString() };
    writeFileSync(`${file}.tmp`, `${JSON.stringify(checkpoint)}\n`);
    renameSync(`${file}.tmp`, file);
  }

  /** Writes a set-aside batch (atomically), keeps the folder bounded; returns the file. */
  #writeOnFailure(
    fn: KinesisFunction,
    shardId: string,
    records: KinesisRecord[],
    failure: { requestId: string; invokeCount: number; functionError: 'Unhandled' | null; reason: string },
  ): string {
    const dir = this.onFailureDir(fn);
    mkdirSync(dir, { recursive: true });
    const now = Date.now();
    const arrival = (r: KinesisRecord) => (r.ApproximateArrivalTimestamp ?? new Date(now)).toISOString();
    const dataBytes = records.reduce((n, r) => n + (r.Data?.length ?? 0), 0);
    const event = this.#event(fn, shardId, records);
    const entry: OnFailureEntry = {
      requestContext: {
        requestId: failure.requestId,
        functionArn: `arn:aws:lambda:${this.options.region}:${localAccountId}:function:${fn.name}`,
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: failure.invokeCount,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: failure.functionError },
      version: '1.0',
      timestamp: new Date(now).toISOString(),
      KinesisBatchInfo: {
        shardId,
        startSequenceNumber: records[0]!.SequenceNumber!,
        endSequenceNumber: records.at(-1)!.SequenceNumber!,
        approximateArrivalOfFirstRecord: arrival(records[0]!),
        approximateArrivalOfLastRecord: arrival(records.at(-1)!),
        batchSize: records.length,
        streamArn: event.Records[0]!.eventSourceARN,
      },
      payload: dataBytes <= onFailurePayloadBytesMax ? { Records: event.Records } : null,
      reason: failure.reason,
    };
    // Named by time, so the oldest sort first.
    const file = join(dir, `${String(now).padStart(15, '0')}-${shardId}-${records[0]!.SequenceNumber}.json`);
    writeFileSync(`${file}.tmp`, `${JSON.stringify(entry)}\n`);
    renameSync(`${file}.tmp`, file);
    const entries = readdirSync(dir)
      .filter((name) => name.endsWith('.json'))
      .sort();
    const keep = this.options.onFailureEntriesMax ?? onFailureEntriesMax;
    for (const name of entries.slice(0, Math.max(0, entries.length - keep))) {
      rmSync(join(dir, name), { force: true });
    }
    return file;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.#wakeups.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.#wakeups.add(wake);
    });
  }
}

/**
 * The records gathered for one invocation, as Lambda's batching window gathers them: the batch goes
 * when it holds batchSize records or a full event's payload, or once the window has run since the
 * first record arrived on the stream (its arrival time, so a slow idle poll does not add the window
 * on top of itself).
 */
export class PendingBatch {
  readonly records: KinesisRecord[] = [];
  #payloadBytes = 0;
  #windowEndsAt = Number.POSITIVE_INFINITY;

  constructor(
    private readonly trigger: Pick<KinesisTrigger, 'batchSize' | 'maxBatchingWindowMs'>,
    private readonly payloadBytesMax = eventPayloadBytesMax,
  ) {
    assert(trigger.batchSize >= 1, 'a batch holds at least one record');
  }

  get empty(): boolean {
    return this.records.length === 0;
  }

  get full(): boolean {
    return this.records.length >= this.trigger.batchSize || this.#payloadBytes >= this.payloadBytesMax;
  }

  /** How many more records one read may bring (at least one). */
  room(): number {
    return Math.max(1, this.trigger.batchSize - this.records.length);
  }

  add(records: readonly KinesisRecord[], nowMs: number): void {
    if (records.length === 0) return;
    if (this.empty) {
      const arrivedAt = records[0]!.ApproximateArrivalTimestamp?.getTime() ?? nowMs;
      this.#windowEndsAt = Math.min(arrivedAt, nowMs) + this.trigger.maxBatchingWindowMs;
    }
    for (const r of records) {
      this.records.push(r);
      this.#payloadBytes += eventRecordBytes(r);
    }
  }

  /** Time to invoke: full, or the window has run out. */
  ready(nowMs: number): boolean {
    return !this.empty && (this.full || nowMs >= this.#windowEndsAt);
  }

  windowLeftMs(nowMs: number): number {
    return Math.max(0, this.#windowEndsAt - nowMs);
  }
}

/** What one record adds to the event's JSON: its data in base64 plus the fields around it. */
function eventRecordBytes(record: KinesisRecord): number {
  return Math.ceil((record.Data?.length ?? 0) / 3) * 4 + eventRecordOverheadBytes;
}

/** Index in `records` of the lowest reported sequence number; 0 (the whole batch) if none is known. */
function lowestFailure(records: KinesisRecord[], identifiers: Array<string | undefined>): number {
  let lowest: bigint | undefined;
  for (const id of identifiers) {
    if (id === undefined || !/^\d+$/.test(id)) return 0; // Lambda treats a bad answer as a failed batch
    const n = BigInt(id);
    if (lowest === undefined || n < lowest) lowest = n;
  }
  const index = records.findIndex((r) => BigInt(r.SequenceNumber!) >= lowest!);
  return Math.max(index, 0);
}

/** Consecutive runs of records whose event stays within Lambda's payload limit. */
export function groupByPayload(records: KinesisRecord[], bytesMax = eventPayloadBytesMax): KinesisRecord[][] {
  const groups: KinesisRecord[][] = [];
  let group: KinesisRecord[] = [];
  let bytes = 0;
  for (const record of records) {
    const size = eventRecordBytes(record);
    if (group.length > 0 && bytes + size > bytesMax) {
      groups.push(group);
      group = [];
      bytes = 0;
    }
    group.push(record);
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

function backoffMs(attempt: number): number {
  return Math.min(retryBackoffMsMax, retryBackoffMsBase * 2 ** Math.min(attempt - 1, 16));
}

/** The Lambda context a handler gets: its name, memory and the time left before its timeout. */
export function lambdaContext(
  fn: { name: string; memoryMb: number },
  region: string,
  deadline: number,
): Context {
  const unsupported = () => {
    throw new Error('callback-style context methods are not supported: return a promise');
  };
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: fn.name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${region}:${localAccountId}:function:${fn.name}`,
    memoryLimitInMB: String(fn.memoryMb),
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${fn.name}`,
    logStreamName: `local/${process.pid}`,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported,
    fail: unsupported,
    succeed: unsupported,
  };
}

/** The Kinesis-triggered functions of core/functions.ts for one cluster in a region, with their handlers. */
export function kinesisFunctionsFor(
  resources: RegionalResources,
  cluster: string,
  env: NodeJS.ProcessEnv,
): KinesisFunction[] {
  const functionEnvVars: NodeJS.ProcessEnv = {
    ...env,
    AWS_REGION: resources.region,
    ...functionEnvironment(resources, cluster),
  };
  // Without a secondary region the replicator has nothing to do; Lambda would not run it without
  // records either, but this runner would poll the redo stream for it every 50 ms.
  const idle = (name: FunctionName) =>
    name === 'global-replicator' && !functionEnvVars[functionEnv.globalSecondaryRegion];
  const triggers = kinesisTriggers(resources).filter(({ definition }) => !idle(definition.name));
  return triggers.map(({ definition, trigger, streamName }) => {
    const factory = kinesisHandlerFactories[definition.name];
    if (!factory) throw new Error(`function ${definition.name} has a Kinesis trigger but no local handler`);
    return {
      name: definition.name,
      trigger,
      streamName,
      timeoutSeconds: definition.timeoutSeconds,
      memoryMb: definition.memoryMb,
      handler: factory(functionEnvVars),
    };
  });
}

/** The handler module of each Kinesis-triggered function: the same `createHandler` its index.ts exports. */
const kinesisHandlerFactories: Partial<Record<FunctionName, (env: NodeJS.ProcessEnv) => KinesisHandler>> = {
  'backup-archiver': (env) => createArchiverHandler(env),
  'binlog-streamer': (env) => createBinlogStreamerHandler(env),
  'global-replicator': (env) => createGlobalReplicatorHandler(env),
};
