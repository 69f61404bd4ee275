// The backup archiver (Lambda, Kinesis trigger on the region's redo stream): stores the redo batches
// of each invocation as gzip'd, LSN-named log chunks in the backup bucket, then advances the archive
// watermark (latest restorable LSN and time) over the contiguous log only. Pure logic on the event
// and injected dependencies; index.ts wraps it in middy. Keys and formats: core/backup/.
//
// Decisions:
// - A record that does not decode as a redo batch (bad magic, CRC, order) is a poison record: it is
//   logged at error level with its sequence number and reported in batchItemFailures, and the valid
//   records around it are archived as usual. The mapping (Lambda, or the local runner) retries from
//   it; bisection isolates it (Lambda, the local runner; LocalStack cuts at it but does not bisect)
//   and, after the trigger's finite retryAttempts (core/functions.ts), the mapping sends it to the
//   on-failure destination (an SQS queue; the runner's on-failure folder), where an operator sees it. Skipping it silently would hide a broken producer. If it was a real
//   batch damaged on the way, the watermark stops at the gap it leaves; the writer's archive watchdog
//   (services/writer/redo-publisher.ts) sees the watermark stall below what it published and
//   republishes the range from storage, so the gap heals without an operator.
// - A failed S3 write is transient: every record whose content went into an unwritten chunk is
//   reported in batchItemFailures, so Lambda (or the local runner) retries from the lowest one. If
//   the chunks are stored but the watermark could not be advanced, the records of this event above
//   the watermark are reported too, so the retry advances it (rewriting the chunks is a no-op).
//   The retries are bounded: a valid batch that exhausts them in a long S3 outage goes to the
//   on-failure destination too, and the writer's watchdog republishes it once S3 answers again.
// - Idempotence: chunk keys are a function of the content (core/backup/archive.ts), and the merge
//   below is a deterministic function of the event's batches, so the same event writes the same
//   objects. Chunks wholly at or below the watermark are not written again at all.
// - s3rver quirk: it overwrites objects in place and can answer a PUT before the bytes are on disk,
//   so a read racing a write may see a torn watermark; readWatermark reads again before giving up.
// - Watermark concurrency: the value written is always planLogChain() from the value read, over
//   immutable chunks, so it can only be a true gap-free end. Each write is conditional (IfMatch on
//   the ETag read, IfNoneMatch '*' when absent): a real compare-and-swap on S3 and LocalStack, where
//   a lost race re-reads and re-plans. s3rver ignores those headers, so after every write the object
//   is read back and, if a racing invocation left an older value, re-planned and written again.
//   Should a regression still slip through (a racer writing after our read-back), it heals: the next
//   invocation plans forward from the older value over the same chunks.
// - Listing is bounded: chunks are listed from firstLsn > min(watermark, lowest prevLsn of the
//   event's batches above the watermark), which holds every chunk that can continue the watermark
//   except one that overlaps it from below and was written by an earlier invocation that also
//   failed to advance the watermark (then the next republish from the watermark unblocks it).
// - Listing is also skipped when it cannot help: it only finds chunks that earlier invocations left
//   above the watermark behind a gap. An instance that keeps an ArchiveTail (index.ts: one per warm
//   container) knows whether any can exist; while none can and this event's own chunks continue the
//   watermark to the event's end, the chain is planned over them alone. The LIST is the costliest
//   request of an invocation (s3rver walks and stats every chunk of the cluster for each one), and in
//   the steady state — one shard, in order — it never finds anything.
// - The archive fence (core/backup/archive-fence.ts) is read with the watermark, at every attempt:
//   records in a voided LSN range (a Global Database failover's lost commits, still on the stream)
//   are dropped before chunks are made, and a chunk ending in one (stored before the fence) is never a
//   link of the chain, so the lost commits cannot re-enter a cut archive.
// - A volume's first batch has prevLsn 0, so an absent watermark means "the log starts at LSN 0". A
//   cluster whose log starts elsewhere (a restored one) must have its watermark seeded by whoever
//   creates it.
import { promisify } from 'node:util';
import { gzip as gzipCallback } from 'node:zlib';
import { PutObjectCommand, type PutObjectCommandInput, type S3Client } from '@aws-sdk/client-s3';
import type {
  KinesisStreamBatchItemFailure,
  KinesisStreamBatchResponse,
  KinesisStreamEvent,
} from 'aws-lambda';
import { assert } from '../../core/assert.ts';
import {
  type ChunkInfo,
  logChunkKey,
  logChunkStartAfter,
  logPrefix,
  parseLogChunkKey,
  planLogChain,
  type Watermark,
  watermarkKey,
} from '../../core/backup/archive.ts';
import { fenceBatch, inVoid, type LsnVoid, readArchiveFence } from '../../core/backup/archive-fence.ts';
import {
  decodeRedoBatch,
  encodeRedoBatch,
  headerOf,
  type RedoBatch,
  type RedoBatchHeader,
  redoBatchHeaderBytes,
} from '../../core/backup/redo-batch.ts';
import {
  listObjects,
  readWatermark as readSharedWatermark,
  type StoredWatermark,
} from '../../core/backup/s3-archive.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { type Lsn, lsnMax, lsnMin } from '../../core/lsn.ts';
import { encodedRecordLength, type RedoRecord } from '../../core/record.ts';

const gzip = promisify(gzipCallback);

/** A log chunk holds at most this many bytes before compression (a Lambda event holds <= 6 MB). */
export const logChunkBytesMax = 4 * 1024 * 1024;
/** Conditional-write or read-back rounds before the watermark update is given up (and retried). */
const watermarkWriteAttemptsMax = 5;
/** ListObjectsV2 pages per listing (1,000 keys each); a longer backlog is planned in later calls. */
const listPagesMax = 100;

/**
 * What one archiver instance (a warm Lambda container, the local runner's process) has learnt of its
 * cluster's archive across invocations: whether chunks may lie above the watermark that the chain
 * does not reach yet (left behind a gap). A cold start knows nothing, so it lists.
 */
export class ArchiveTail {
  #possible = true;
  /** Bumped whenever something may have been stranded: a listing older than that cannot clear it. */
  #marks = 0;

  /** Chunks may exist above the watermark that no chain reaches (true until a listing shows none). */
  get strandedChunksPossible(): boolean {
    return this.#possible;
  }

  /** Where we are: a listing that starts now may clear the flag only if nothing marks it meanwhile. */
  mark(): number {
    return this.#marks;
  }

  /** A gap was seen, or an update failed: something may be stranded. */
  setPossible(): void {
    this.#possible = true;
    this.#marks++;
  }

  /** A listing begun at `mark` found nothing above the watermark. */
  clearUnlessMarkedSince(mark: number): void {
    if (this.#marks === mark) this.#possible = false;
  }
}

export interface ArchiverDeps {
  s3: S3Client;
  bucket: string;
  cluster: string;
  /** Knowledge kept across invocations, to skip needless listings; without it every invocation lists. */
  tail?: ArchiveTail;
  now?: () => number;
  logger?: Logger;
  /** Keys per ListObjectsV2 page (S3's maximum, 1,000, unless a test wants many pages). */
  listPageKeys?: number;
}

/** One decoded Kinesis record. */
export interface SourceBatch {
  /** Position in event.Records. */
  index: number;
  batch: RedoBatch;
  header: RedoBatchHeader;
}

/** A chunk to store: records contiguous from prevLsn, and the event records that supplied them. */
export interface PlannedChunk {
  batch: RedoBatch;
  /** Encoded size (uncompressed). */
  bytes: number;
  sources: number[];
}

export async function archiveRedoBatches(
  event: KinesisStreamEvent,
  deps: ArchiverDeps,
): Promise<KinesisStreamBatchResponse> {
  const logger = deps.logger ?? defaultLogger(deps.cluster);
  const records = event.Records ?? [];
  const sources: SourceBatch[] = [];
  /** Records that are not redo batches: always reported, whatever happens to the others. */
  const undecodable: number[] = [];
  for (const [index, record] of records.entries()) {
    try {
      const decoded = decodeRedoBatch(Buffer.from(record.kinesis.data, 'base64'));
      sources.push({ index, batch: decoded, header: decoded.header });
    } catch (error) {
      logger.error(
        {
          sequenceNumber: record.kinesis.sequenceNumber,
          partitionKey: record.kinesis.partitionKey,
          eventSourceARN: record.eventSourceARN,
          err: error,
        },
        'corrupt redo batch reported as a batch item failure: after its retries it goes to the on-failure destination',
      );
      undecodable.push(index);
    }
  }
  const failed = new Set<number>(undecodable);
  const response = (): KinesisStreamBatchResponse => ({
    batchItemFailures: [...failed]
      .sort((a, b) => a - b)
      .map((i): KinesisStreamBatchItemFailure => ({ itemIdentifier: records[i]!.kinesis.sequenceNumber })),
  });
  if (sources.length === 0) return response();

  let current: StoredWatermark | undefined;
  let voids: LsnVoid[];
  try {
    // The fence after the watermark: it is written before any cut, so a watermark that shows a cut
    // comes with its fence.
    current = await readWatermark(deps);
    voids = await readArchiveFence(deps.s3, deps.bucket, deps.cluster);
  } catch (error) {
    logger.warn({ err: error }, 'watermark or fence read failed: the whole event will be retried');
    for (const s of sources) failed.add(s.index);
    return response();
  }
  if (voids.length > 0) {
    let dropped = 0;
    const kept: SourceBatch[] = [];
    for (const s of sources) {
      const batch = fenceBatch(s.batch, voids);
      dropped += s.batch.records.length - (batch?.records.length ?? 0);
      if (batch === s.batch) kept.push(s);
      else if (batch !== undefined) kept.push({ index: s.index, batch, header: headerOf(batch) });
    }
    if (dropped > 0) logger.info({ dropped }, 'records in a voided LSN range (the archive fence) dropped');
    sources.splice(0, sources.length, ...kept);
    if (sources.length === 0) return response();
  }
  const fromLsn = current ? BigInt(current.value.lsn) : 0n;
  // Taken before any chunk is written: a concurrent invocation stranding one after this point keeps
  // the flag set whatever this one's listing finds.
  const tailMark = deps.tail?.mark() ?? 0;

  const chunks = mergeIntoChunks(sources).filter((c) => c.batch.records.at(-1)!.lsn > fromLsn);
  const written: ChunkInfo[] = [];
  await Promise.all(
    chunks.map(async (chunk) => {
      const header = headerOf(chunk.batch);
      const key = logChunkKey(deps.cluster, header);
      try {
        const body = await gzip(encodeRedoBatch(chunk.batch));
        await deps.s3.send(
          new PutObjectCommand({
            Bucket: deps.bucket,
            Key: key,
            Body: body,
            ContentType: 'application/gzip',
          }),
        );
        written.push(parseLogChunkKey(key)!);
      } catch (error) {
        logger.warn({ key, err: error }, 'log chunk write failed: its records will be retried');
        for (const i of chunk.sources) failed.add(i);
      }
    }),
  );

  let advancedTo: Lsn = fromLsn;
  // Batches wholly at or below the watermark (replays) must not widen the listing.
  const above = sources.filter((s) => s.header.lastLsn > fromLsn);
  const eventPrevLsn = above.reduce((m, s) => lsnMin(m, s.header.prevLsn), fromLsn);
  const eventEndLsn = above.reduce((m, s) => lsnMax(m, s.header.lastLsn), fromLsn);
  const list = listingNeeded(deps.tail, fromLsn, written, eventEndLsn);
  try {
    const advanced = await advanceWatermark(deps, current, written, list ? eventPrevLsn : undefined, voids);
    advancedTo = advanced.watermarkLsn;
    // Only a listing can tell that nothing is left above the watermark; without one, this event's
    // chunks all joined the chain, so it left nothing behind either.
    if (deps.tail && list) {
      if (advanced.knownChunksEndLsn > advancedTo) deps.tail.setPossible();
      else deps.tail.clearUnlessMarkedSince(tailMark);
    }
  } catch (error) {
    deps.tail?.setPossible();
    logger.warn({ err: error }, 'watermark update failed: the records above it will be retried');
    for (const chunk of chunks) for (const i of chunk.sources) failed.add(i);
  }
  logger.debug(
    {
      records: records.length,
      batches: sources.length,
      chunksWritten: written.length,
      chunksFailed: chunks.length - written.length,
      listed: list,
      watermarkFrom: fromLsn.toString(),
      watermarkTo: advancedTo.toString(),
    },
    'archived',
  );
  return response();
}

/**
 * Merges the event's batches into as few contiguous chunks as fit logChunkBytesMax: sorted by
 * prevLsn, a batch inside the current chunk adds nothing, one that overlaps or continues it adds its
 * records above the chunk's end (two batches agree on their overlap), one after a gap starts a new
 * chunk. A new epoch or a full chunk also starts a new one, chained at the previous chunk's end.
 * Batches of different backtrack timelines never merge (ADR 015): a chunk holds every record of ONE
 * timeline in its range, and one timeline's batch says nothing about another's records.
 */
export function mergeIntoChunks(
  sources: readonly SourceBatch[],
  bytesMax = logChunkBytesMax,
): PlannedChunk[] {
  const sorted = [...sources].sort(
    (a, b) =>
      a.header.timeline - b.header.timeline ||
      compare(a.header.prevLsn, b.header.prevLsn) ||
      compare(b.header.lastLsn, a.header.lastLsn) ||
      a.index - b.index,
  );
  const chunks: PlannedChunk[] = [];
  let current: PlannedChunk | undefined;
  for (const source of sorted) {
    const { header, batch } = source;
    const timeline = header.timeline;
    if (current && (current.batch.timeline ?? 0) !== timeline) {
      chunks.push(current);
      current = undefined;
    }
    const end = current?.batch.records.at(-1)?.lsn;
    if (current && end !== undefined && header.lastLsn <= end) {
      current.sources.push(source.index);
      continue;
    }
    if (current && end !== undefined && header.prevLsn <= end) {
      const suffix = batch.records.filter((r) => r.lsn > end);
      const suffixBytes = bytesOf(suffix);
      if (batch.epoch === current.batch.epoch && current.bytes + suffixBytes <= bytesMax) {
        current.batch.records.push(...suffix);
        current.bytes += suffixBytes;
        current.sources.push(source.index);
      } else {
        chunks.push(current);
        current = {
          batch: { epoch: batch.epoch, prevLsn: end, records: suffix, timeline },
          bytes: redoBatchHeaderBytes + suffixBytes,
          sources: [source.index],
        };
      }
      continue;
    }
    if (current) chunks.push(current);
    current = {
      batch: { epoch: batch.epoch, prevLsn: header.prevLsn, records: [...batch.records], timeline },
      bytes: redoBatchHeaderBytes + bytesOf(batch.records),
      sources: [source.index],
    };
  }
  if (current) chunks.push(current);
  for (const chunk of chunks) assert(chunk.batch.records.length > 0, 'a planned chunk holds records');
  return chunks;
}

function bytesOf(records: readonly RedoRecord[]): number {
  let n = 0;
  for (const r of records) n += encodedRecordLength(r);
  return n;
}

function compare(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// --- Watermark ---------------------------------------------------------------------------------------

/** The watermark as the archiver reads it (shared reader: torn reads retried, contents checked). */
export function readWatermark(deps: ArchiverDeps): Promise<StoredWatermark | undefined> {
  return readSharedWatermark(deps.s3, deps.bucket, deps.cluster);
}

function isConditionFailure(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    e.name === 'PreconditionFailed' ||
    e.name === 'ConditionalRequestConflict' ||
    e.$metadata?.httpStatusCode === 412 ||
    e.$metadata?.httpStatusCode === 409
  );
}

/**
 * Whether this invocation must list the archive to plan the chain: unless the tail is known to hold
 * no stranded chunk and the chunks just written continue the watermark to the end of the event.
 */
export function listingNeeded(
  tail: ArchiveTail | undefined,
  watermarkLsn: Lsn,
  written: readonly ChunkInfo[],
  eventEndLsn: Lsn,
): boolean {
  if (tail === undefined || tail.strandedChunksPossible) return true;
  return planLogChain(written, watermarkLsn).endLsn < eventEndLsn;
}

/**
 * Moves the watermark to the end of the gap-free chain continuing it, never backwards. `written` are
 * the chunks this call stored (planned even if a listing lags); `listFromLsn` bounds the listing
 * (undefined: plan over `written` alone). Returns the watermark LSN it leaves and the highest LSN of
 * any chunk it knows of (above the watermark: chunks stranded behind a gap).
 */
export async function advanceWatermark(
  deps: ArchiverDeps,
  read: StoredWatermark | undefined,
  written: readonly ChunkInfo[],
  listFromLsn: Lsn | undefined,
  fence: readonly LsnVoid[] = [],
): Promise<{ watermarkLsn: Lsn; knownChunksEndLsn: Lsn }> {
  const now = deps.now ?? Date.now;
  const byKey = new Map<string, ChunkInfo>();
  if (listFromLsn !== undefined) for (const c of await listChunks(deps, listFromLsn)) byKey.set(c.key, c);
  for (const c of written) byKey.set(c.key, c);
  const chunks = [...byKey.values()];
  const knownChunksEndLsn = chunks.reduce((m, c) => lsnMax(m, c.lastLsn), 0n);
  const result = (watermarkLsn: Lsn) => ({ watermarkLsn, knownChunksEndLsn });
  let current = read;
  let voids = fence;
  for (let attempt = 1; attempt <= watermarkWriteAttemptsMax; attempt++) {
    const fromLsn = current ? BigInt(current.value.lsn) : 0n;
    const chain = planLogChain(
      chunks.filter((c) => c.lastLsn > fromLsn && !inVoid(c.lastLsn, voids)),
      fromLsn,
      current
        ? { lastCommitLsn: BigInt(current.value.commitLsn), lastCommitTimeMs: current.value.commitTimeMs }
        : {},
    );
    if (chain.endLsn <= fromLsn) return result(fromLsn);
    const next: Watermark = {
      lsn: chain.endLsn.toString(),
      commitLsn: chain.lastCommitLsn.toString(),
      commitTimeMs: chain.lastCommitTimeMs,
      updatedAt: new Date(now()).toISOString(),
    };
    const put: PutObjectCommandInput = {
      Bucket: deps.bucket,
      Key: watermarkKey(deps.cluster),
      Body: `${JSON.stringify(next)}\n`,
      ContentType: 'application/json',
    };
    if (current?.etag !== undefined) put.IfMatch = current.etag;
    else if (current === undefined) put.IfNoneMatch = '*';
    try {
      await deps.s3.send(new PutObjectCommand(put));
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      // Someone else moved it — perhaps a cut behind a new fence: both read again.
      current = await readWatermark(deps);
      voids = await readArchiveFence(deps.s3, deps.bucket, deps.cluster);
      continue;
    }
    const after = await readWatermark(deps);
    if (after !== undefined && BigInt(after.value.lsn) >= chain.endLsn)
      return result(BigInt(after.value.lsn));
    // A racing invocation (where conditional writes are not enforced) left an older value: go again.
    current = after;
  }
  throw new BorealisError(ErrorCode.UNAVAILABLE, 'archive watermark: too many conflicting writes', {
    context: { cluster: deps.cluster, attempts: watermarkWriteAttemptsMax },
  });
}

/** The chunks whose firstLsn is above `afterLsn`, from the key listing alone. */
export async function listChunks(deps: ArchiverDeps, afterLsn: Lsn): Promise<ChunkInfo[]> {
  const listed = await listObjects(deps.s3, deps.bucket, logPrefix(deps.cluster), {
    startAfter: logChunkStartAfter(deps.cluster, afterLsn),
    pageKeys: deps.listPageKeys,
    pagesMax: listPagesMax,
  });
  return listed.map((o) => parseLogChunkKey(o.key)).filter((c): c is ChunkInfo => c !== undefined);
}

const loggers = new Map<string, Logger>();
function defaultLogger(cluster: string): Logger {
  let logger = loggers.get(cluster);
  if (!logger) {
    logger = createLogger('backup-archiver', { cluster });
    loggers.set(cluster, logger);
  }
  return logger;
}
