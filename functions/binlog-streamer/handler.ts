// The binlog streamer (Lambda, Kinesis trigger on the region's redo stream): turns the RowImages
// records of each redo batch into Debezium-shaped row and schema-change events
// (core/binlog/events.ts) and puts one Kinesis record per event on the region's binlog stream, in
// event order, keyed by table and primary key. Pure logic on the event and injected clients;
// index.ts wraps it in middy.
//
// Decisions:
// - One input record at a time, in order. A record that is not a redo batch, or holds a RowImages
//   payload that does not decode (or a fragmented change whose earlier fragments are gone), is a
//   poison record: logged at error level with its sequence number, reported as the batch item
//   failure, and nothing of it is put (its events are derived in full before any goes out). The
//   invocation stops there: Lambda retries from it, bisects, and after the trigger's retryAttempts
//   (core/functions.ts) sets it aside to the on-failure destination, as for the archiver. Never a
//   wrong or partial event.
// - Kinesis limits: PutRecords requests of at most 500 entries and 5 MiB (data + partition keys),
//   each entry at most 1 MiB. An envelope that does not fit one record goes whole to the backup
//   bucket under clusters/<cluster>/binlog/large/<file>/<pos>-<row>.json (a redelivery overwrites the same
//   object) and the stream carries a reference envelope in its place: the same source, op, key and
//   transaction, before/after null (a DDL: ddl '' and no tableChanges) and `external` naming the
//   object. Never dropped.
// - Order. Requests go one at a time, each a run of consecutive events, so when nothing fails the
//   stream holds the events in event order. PutRecords may store some entries of a request and fail
//   others; then the entries from the first failed one to the end of the request are sent again, in
//   order, before anything later (with capped backoff, a few times). An event of a key that went out
//   after a failed earlier event of the same key is thus sent again after it: on the stream, each
//   key's events are in order from their last copies, and a consumer that keeps per key the highest
//   position it applied and skips anything at or below it (which is how it drops redeliveries too)
//   applies every key's events in order. Not sending a key twice in one request would avoid the
//   extra copies, but costs a request per event for a key written twice in a row (sysbench's
//   write_only deletes and re-inserts one row in every transaction: ~4 events per request).
//   A schema-change event goes alone, after everything before it and before anything after it, so
//   even a partial failure never puts a table's rows ahead of its CREATE TABLE.
//   When the retries run out the invocation stops and reports the input record of the earliest
//   event not known to be on the stream, so Lambda resends from there (the events put since are
//   duplicates at the same positions, which consumers drop).
// - Idempotence: an event's position (file, pos, row) derives from its record's LSN, so a
//   redelivered batch yields the same events at the same positions (and the same partition keys).
// - Fragments of an oversized change wait in S3 (s3-fragments.ts) across invocations; they are
//   deleted only once the joined change's events are out, so a retry still finds them.

import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { assert } from '../../core/assert.ts';
import type { BacktrackMarker } from '../../core/backtrack/timeline.ts';
import { decodeRedoBatch } from '../../core/backup/redo-batch.ts';
import { readArchivedMarkers } from '../../core/backup/s3-archive.ts';
import {
  type BinlogEnvelope,
  type BinlogEvent,
  backtrackEvent,
  type ControlEvent,
  type ExternalEnvelope,
  envelopeJson,
  eventsOfRecord,
  isBacktrackEnvelope,
  kinesisPartitionKey,
} from '../../core/binlog/events.ts';
import { largeEnvelopesPrefix } from '../../core/binlog/retention.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { S3FragmentStore } from './s3-fragments.ts';

/** Kinesis: one record holds at most 1 MiB of data and partition key together. */
export const kinesisRecordBytesMax = 1024 * 1024;
/** Kinesis: one PutRecords request holds at most 500 entries ... */
export const putRecordsEntriesMax = 500;
/** ... and at most 5 MiB of data and partition keys. */
export const putRecordsBytesMax = 5 * 1024 * 1024;
/** Sends of a request's failed entries before the invocation gives up (the SDK retries each send too). */
export const putAttemptsMax = 5;
const putBackoffMsBase = 50;
const putBackoffMsMax = 1_000;

export interface StreamerDeps {
  kinesis: KinesisClient;
  s3: S3Client;
  /** The backup bucket: fragments and large envelopes. */
  bucket: string;
  cluster: string;
  /** The region's binlog stream. */
  binlogStream: string;
  /** source.db of the events (default 'main'). */
  db?: string;
  now?: () => number;
  logger?: Logger;
  /** Overrides of the Kinesis limits and retries, for tests. */
  limits?: Partial<{
    recordBytesMax: number;
    entriesMax: number;
    requestBytesMax: number;
    attemptsMax: number;
  }>;
  sleep?: (ms: number) => Promise<void>;
}

export function largeEnvelopeKey(cluster: string, position: BinlogEvent['position']): string {
  return `${largeEnvelopesPrefix(cluster)}${position.file}/${position.pos}-${position.row}.json`;
}

/** One Kinesis record to put. */
interface OutEntry {
  data: Buffer;
  partitionKey: string;
  /** data + partition key bytes, as Kinesis counts them. */
  bytes: number;
  /** Index in event.Records of the input record it came from. */
  source: number;
  /** A schema-change event: sent alone (see the header). */
  barrier: boolean;
}

export interface StreamSummary {
  inputRecords: number;
  events: number;
  requests: number;
  resentEntries: number;
  largeEnvelopes: number;
}

/** The handler: the event's redo batches → binlog events on the binlog stream. */
export async function streamBinlog(
  event: KinesisStreamEvent,
  deps: StreamerDeps,
): Promise<KinesisStreamBatchResponse & { summary: StreamSummary }> {
  const logger = deps.logger ?? defaultLogger(deps.cluster);
  const now = deps.now ?? Date.now;
  const limits = {
    recordBytesMax: deps.limits?.recordBytesMax ?? kinesisRecordBytesMax,
    entriesMax: deps.limits?.entriesMax ?? putRecordsEntriesMax,
    requestBytesMax: deps.limits?.requestBytesMax ?? putRecordsBytesMax,
    attemptsMax: deps.limits?.attemptsMax ?? putAttemptsMax,
  };
  assert(limits.recordBytesMax <= limits.requestBytesMax, 'a record fits a request');
  const records = event.Records;
  const fragments = new S3FragmentStore(deps.s3, deps.bucket, deps.cluster);
  const sender = new Sender(deps, limits, logger);
  const summary: StreamSummary = {
    inputRecords: records.length,
    events: 0,
    requests: 0,
    resentEntries: 0,
    largeEnvelopes: 0,
  };
  let poison: number | undefined;
  for (let i = 0; i < records.length && sender.failedSource === undefined; i++) {
    const sequenceNumber = records[i]!.kinesis.sequenceNumber;
    let entries: OutEntry[];
    try {
      const batch = decodeRedoBatch(Buffer.from(records[i]!.kinesis.data, 'base64'));
      const ctx = { cluster: deps.cluster, db: deps.db, serverId: Number(batch.epoch), nowMs: now };
      fragments.owner = i;
      const events: (BinlogEvent | ControlEvent)[] = [];
      const crossed = await backtrackCrossed(batch, deps);
      if (crossed) events.push(backtrackEvent(crossed, ctx));
      for (const record of batch.records) events.push(...(await eventsOfRecord(record, ctx, fragments)));
      entries = [];
      for (const e of events) {
        const entry = await toEntry(e, i, deps, limits.recordBytesMax);
        if (entry.external) summary.largeEnvelopes++;
        entries.push(entry.entry);
      }
    } catch (error) {
      // A record that does not decode never will (error); S3 failing on a fragment or a large
      // envelope may pass (warn). Either way Lambda retries from this record.
      const permanent = error instanceof BorealisError && !error.retryable;
      logger[permanent ? 'error' : 'warn'](
        { sequenceNumber, err: error },
        permanent
          ? 'redo record does not yield binlog events: reported as a batch item failure'
          : 'binlog events of a redo record could not be prepared: reported as a batch item failure',
      );
      poison = i;
      break;
    }
    summary.events += entries.length;
    for (const entry of entries) {
      await sender.add(entry);
      if (sender.failedSource !== undefined) break;
    }
  }
  await sender.drain();
  const failed = minDefined(poison, sender.failedSource);
  const flushed = await fragments.flushDeletes(failed ?? records.length);
  if (flushed.failed > 0) logger.warn({ failed: flushed.failed }, 'fragment deletions failed: orphans left');
  summary.requests = sender.requests;
  summary.resentEntries = sender.resent;
  logger.debug({ ...summary, failedAt: failed }, 'streamed');
  return {
    batchItemFailures:
      failed === undefined ? [] : [{ itemIdentifier: records[failed]!.kinesis.sequenceNumber }],
    summary,
  };
}

/**
 * The marker whose timeline this batch starts (its records are the first of that timeline: prevLsn is
 * at or below where the timeline resumed), or undefined. Every such batch — a first delivery, a
 * redelivery, a republished one — yields the control event at the same position, so a consumer that
 * drops what it has seen sees it once. The markers come from the archive (the writer puts them there
 * before it publishes a record of their timeline) and are kept: the list only grows.
 */
async function backtrackCrossed(
  batch: { timeline?: number; prevLsn: bigint },
  deps: StreamerDeps,
): Promise<BacktrackMarker | undefined> {
  const timeline = batch.timeline ?? 0;
  if (timeline === 0) return undefined;
  const cacheKey = `${deps.bucket}/${deps.cluster}`;
  let markers = archivedMarkers.get(cacheKey) ?? [];
  if (markers.length < timeline) {
    markers = await readArchivedMarkers(deps.s3, deps.bucket, deps.cluster);
    archivedMarkers.set(cacheKey, markers);
    if (markers.length < timeline) {
      throw new BorealisError(
        ErrorCode.NOT_COMPLETE,
        `binlog: backtrack marker ${timeline} is not in the archive yet`,
        { retryable: true, context: { timeline, archived: markers.length } },
      );
    }
  }
  const marker = markers[timeline - 1]!;
  return batch.prevLsn <= marker.fromLsn ? marker : undefined;
}

/** Each cluster's archived backtrack markers (by bucket/cluster), as far as this process read them. */
const archivedMarkers = new Map<string, BacktrackMarker[]>();

/** The Kinesis record of one event: the envelope itself, or a reference to it in S3 when too large. */
async function toEntry(
  event: BinlogEvent | ControlEvent,
  source: number,
  deps: StreamerDeps,
  recordBytesMax: number,
): Promise<{ entry: OutEntry; external: boolean }> {
  const partitionKey = kinesisPartitionKey(event.partitionKey);
  const keyBytes = Buffer.byteLength(partitionKey);
  const barrier = !('op' in event.envelope);
  const json = Buffer.from(envelopeJson(event.envelope));
  if (json.length + keyBytes <= recordBytesMax) {
    return {
      entry: { data: json, partitionKey, bytes: json.length + keyBytes, source, barrier },
      external: false,
    };
  }
  const key = largeEnvelopeKey(deps.cluster, event.position);
  await deps.s3.send(
    new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: json, ContentType: 'application/json' }),
  );
  const external: ExternalEnvelope = { bucket: deps.bucket, key, bytes: json.length };
  // A control event is a few hundred bytes: only change events are ever too large.
  assert(!isBacktrackEnvelope(event.envelope), 'a backtrack control event fits a Kinesis record');
  const reference = Buffer.from(envelopeJson(referenceEnvelope(event.envelope, external)));
  assert(
    reference.length + keyBytes <= recordBytesMax,
    () => `a ${reference.length}-byte reference envelope`,
  );
  return {
    entry: { data: reference, partitionKey, bytes: reference.length + keyBytes, source, barrier },
    external: true,
  };
}

/** What the stream carries for an envelope stored in S3: everything but the images (or the DDL text). */
export function referenceEnvelope(envelope: BinlogEnvelope, external: ExternalEnvelope): BinlogEnvelope {
  if ('op' in envelope) return { ...envelope, before: null, after: null, external };
  return { ...envelope, ddl: '', tableChanges: [], external };
}

/**
 * Puts entries on the binlog stream, in order, in requests within the Kinesis limits, a schema
 * change alone (see the header). After a failure it sends nothing more; failedSource is then the
 * input record of the earliest entry not known to be out.
 */
class Sender {
  /** Entries not yet put: #pending[#head..]. */
  #pending: OutEntry[] = [];
  #head = 0;
  #pendingBytes = 0;
  failedSource: number | undefined;
  requests = 0;
  resent = 0;

  constructor(
    private readonly deps: StreamerDeps,
    private readonly limits: { entriesMax: number; requestBytesMax: number; attemptsMax: number },
    private readonly logger: Logger,
  ) {}

  get #pendingCount(): number {
    return this.#pending.length - this.#head;
  }

  async add(entry: OutEntry): Promise<void> {
    if (this.failedSource !== undefined) return;
    this.#pending.push(entry);
    this.#pendingBytes += entry.bytes;
    while (
      this.failedSource === undefined &&
      (this.#pendingCount >= this.limits.entriesMax || this.#pendingBytes >= this.limits.requestBytesMax)
    ) {
      await this.#sendOne();
    }
  }

  async drain(): Promise<void> {
    while (this.failedSource === undefined && this.#pendingCount > 0) await this.#sendOne();
  }

  /**
   * Puts the next request: the longest run of pending entries (in order) within the limits with no
   * schema change, or a schema change alone.
   */
  async #sendOne(): Promise<void> {
    let end = this.#head;
    let bytes = 0;
    while (end < this.#pending.length && end - this.#head < this.limits.entriesMax) {
      const e = this.#pending[end]!;
      if (e.barrier) {
        if (end === this.#head) end++;
        break;
      }
      if (bytes + e.bytes > this.limits.requestBytesMax) break;
      bytes += e.bytes;
      end++;
    }
    assert(end > this.#head, 'a request takes at least the first pending entry');
    const request = this.#pending.slice(this.#head, end);
    this.#head = end;
    this.#pendingBytes -= request.reduce((n, e) => n + e.bytes, 0);
    if (this.#head > 1_000 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    const unsent = await this.#put(request);
    if (unsent.length > 0) {
      // Everything not known to be out goes again with its input record: the unsent entries and every
      // entry still pending (none of them was sent).
      const sources = unsent.map((e) => e.source);
      if (this.#pendingCount > 0) sources.push(this.#pending[this.#head]!.source);
      this.failedSource = Math.min(...sources);
    }
  }

  /**
   * Puts a request; after a partial failure, sends again from the first failed entry to the end of
   * the request. Returns the entries from the first one still failing after the attempts, else [].
   */
  async #put(request: OutEntry[]): Promise<OutEntry[]> {
    let todo = request;
    for (let attempt = 1; ; attempt++) {
      this.requests++;
      let firstFailed: number;
      let reason: string;
      try {
        const out = await this.deps.kinesis.send(
          new PutRecordsCommand({
            StreamName: this.deps.binlogStream,
            Records: todo.map((e) => ({ Data: e.data, PartitionKey: e.partitionKey })),
          }),
        );
        const results = out.Records ?? [];
        firstFailed = todo.findIndex(
          (_, i) => results[i] === undefined || results[i]!.ErrorCode !== undefined,
        );
        reason = results.find((r) => r.ErrorCode !== undefined)?.ErrorMessage ?? 'no result';
      } catch (error) {
        firstFailed = 0;
        reason = (error as Error).message;
      }
      if (firstFailed < 0) return [];
      todo = todo.slice(firstFailed);
      if (attempt >= this.limits.attemptsMax) {
        this.logger.warn(
          { entries: todo.length, attempts: attempt, reason },
          'binlog PutRecords failed: the input from the first failed event on will be retried',
        );
        return todo;
      }
      this.resent += todo.length;
      await (this.deps.sleep ?? sleep)(Math.min(putBackoffMsMax, putBackoffMsBase * 2 ** (attempt - 1)));
    }
  }
}

function minDefined(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Math.min(a, b);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const loggers = new Map<string, Logger>();
function defaultLogger(cluster: string): Logger {
  let logger = loggers.get(cluster);
  if (!logger) {
    logger = createLogger('binlog-streamer', { cluster });
    loggers.set(cluster, logger);
  }
  return logger;
}
