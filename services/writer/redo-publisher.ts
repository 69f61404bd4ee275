// The writer's redo publisher: every durable record (LSN <= VDL), in LSN order, to the region's Kinesis
// redo stream as redo batches (core/backup/redo-batch.ts) chained by prevLsn — what the backup
// archiver, the binlog streamer and the global replicator consume. Off the commit path: the engine
// hands over shipped records and the shipper VDL advances (both O(1) here); one loop publishes.
//
// - Order: one PutRecords in flight, partition key = cluster name (one shard). A partial failure is
//   resent from the first failed entry onward, so the stream's last copy of each batch is in order.
// - Aggregation: durable records wait up to flushWindowMs (from the first one not yet sent), or until
//   flushBytes of them are there, and then go as few, large batches in one PutRecords. Every request
//   costs the writer, the stream and each consumer (an archiver invocation, an S3 chunk) about the
//   same whatever its size, so a window of a few hundred ms cuts them from one per commit to a few per
//   second, while the archive still trails VDL by well under the seconds PITR promises.
// - Limits: batches <= redoBatchBytesMax; a request <= one second of the shard's byte budget; token
//   buckets keep to 1 MiB/s and 1,000 records/s per shard (the emulators do not throttle; AWS does).
// - Bounded memory: shipped records wait in a buffer of at most bufferBytesMax; past it the oldest are
//   dropped and the gap is later read back from storage (redo-publisher-storage.ts).
// - No gap after a failover or restart: the loop starts from the archive watermark (S3) and
//   republishes (watermark, recovered VDL] from storage before any live record. Consumers dedupe by
//   prevLsn chaining (core/backup/archive.ts planLogChain), so duplicates are harmless.
// - Archive watchdog: what was published can still be lost on the way to the archive (a batch the
//   archiver's trigger set aside to its on-failure queue after its retries, an operator skipping
//   records). Every archiveCheckIntervalMs the publisher reads the watermark (one S3 GET, only while
//   it has published above it); if the watermark is still below an LSN published archiveStallMs ago
//   and has not moved for as long (the archiver normally trails by a second or two; a lost batch
//   stops it dead), it counts a stall, logs the range, and republishes (watermark, covered] from
//   storage — the overflow path, chained at the watermark (ArchiveWatch holds the verdicts).
import { assert } from '../../core/assert.ts';
import {
  encodeRedoBatch,
  headerOf,
  packRedoBatches,
  redoBatchBytesMax,
  redoBatchHeaderBytes,
} from '../../core/backup/redo-batch.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnMax, lsnMin, lsnToString } from '../../core/lsn.ts';
import { decodeCommitPayload, encodedRecordLength, RecordKind, type RedoRecord } from '../../core/record.ts';
import type { DurableLogReader } from './redo-publisher-storage.ts';

/** AWS per-shard write limits (the emulators do not enforce them: we do). */
export const shardBytesPerSecondMax = 1024 * 1024;
export const shardRecordsPerSecondMax = 1000;
/** AWS PutRecords: at most 500 entries and 5 MiB per request. */
export const putRecordsEntriesMax = 500;
export const putRecordsBytesMax = 5 * 1024 * 1024;
/** Shipped records waiting to be published, at most (then: drop and re-read from storage). */
export const publishBufferBytesMax = 64 * 1024 * 1024;
/** Commit times kept for the lag figure (commits above VDL); past it the oldest are forgotten. */
const commitTimesMax = 100_000;
/** Aggregation defaults: wait at most this long after the first unsent durable record… */
export const flushWindowMsDefault = 200;
/** …or until this many bytes of durable records are waiting, whichever comes first. */
export const flushBytesDefault = 256 * 1024;
const backoffMsMin = 100;
const backoffMsMax = 5_000;
/** Archive watchdog defaults: read the watermark this often… */
export const archiveCheckIntervalMsDefault = 10_000;
/** …and heal when it is still below what was published this long ago (the archiver trails by ~1–2 s). */
export const archiveStallMsDefault = 60_000;
/** After a heal that the archive did not follow, the next verdict waits up to this many times longer. */
const archiveHealBackoffFactorMax = 16;
/** Samples of the published LSN the watchdog keeps at most (one per check: 7 at the defaults). */
const archiveSamplesMax = 64;

assert(redoBatchBytesMax <= shardBytesPerSecondMax, 'a batch fits one second of a shard');
assert(shardBytesPerSecondMax <= putRecordsBytesMax, 'a request of one second fits PutRecords');

/** The stream: one PutRecords. Resolves with the index of the first failed entry (undefined: all in). */
export interface RedoSink {
  putRecords(entries: Buffer[]): Promise<PutOutcome>;
  /** Bytes Kinesis counts for an entry beyond its data (the partition key). */
  readonly entryOverheadBytes: number;
}

export interface PutOutcome {
  /** First entry that failed; it and every later one are resent (in order). */
  firstFailed: number | undefined;
  /** The failed entries' error codes, for logs and metrics. */
  errorCodes: string[];
}

/** Pure: from a PutRecords response's per-entry results, the first failed entry (the resend point). */
export function firstFailedEntry(
  results: readonly { ErrorCode?: string | undefined }[],
  count: number,
): number | undefined {
  if (results.length !== count) return 0; // a malformed answer: resend everything
  const i = results.findIndex((r) => r.ErrorCode !== undefined && r.ErrorCode !== '');
  return i < 0 ? undefined : i;
}

/** Token bucket over a per-second budget; a take may wait, never exceeds the capacity (one second). */
export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly perSecond: number,
    private readonly clock: () => number,
  ) {
    this.#tokens = perSecond;
    this.#at = clock();
  }

  #refill(): void {
    const now = this.clock();
    this.#tokens = Math.min(this.perSecond, this.#tokens + ((now - this.#at) * this.perSecond) / 1000);
    this.#at = now;
  }

  /** Milliseconds until `n` tokens are there (0: now). */
  waitMs(n: number): number {
    assert(n <= this.perSecond, () => `a take of ${n} exceeds the bucket (${this.perSecond}/s)`);
    this.#refill();
    return this.#tokens >= n ? 0 : Math.ceil(((n - this.#tokens) * 1000) / this.perSecond);
  }

  take(n: number): void {
    this.#refill();
    this.#tokens -= n;
  }
}

export interface RedoPublisherOptions {
  epoch: bigint;
  /** Backtrack markers in effect (the timeline's number, ADR 015): every batch carries it. */
  timeline?: number;
  sink: RedoSink;
  storage: DurableLogReader;
  /** The archive watermark (LSN 0, time 0 when there is none yet). Retried until it answers. */
  readWatermark: () => Promise<{ lsn: Lsn; commitTimeMs: number }>;
  logger: Logger;
  /** The recovered state: VDL, its commit time, and each PG's last LSN at or below it. */
  vdl: Lsn;
  vdlCommitTimeMs: number;
  pgTails: ReadonlyMap<number, Lsn>;
  bufferBytesMax?: number;
  batchBytesMax?: number;
  /** Longest wait, from the first durable record not yet sent, before a request goes (aggregation). */
  flushWindowMs?: number;
  /** A request goes at once when this many bytes of durable records are waiting. */
  flushBytes?: number;
  shardBytesPerSecond?: number;
  shardRecordsPerSecond?: number;
  /** How often the archive watchdog reads the watermark (real time; also while idle). */
  archiveCheckIntervalMs?: number;
  /** The watermark still below an LSN published this long ago (clock time): a stall, healed. */
  archiveStallMs?: number;
  clock?: () => number;
  random?: () => number;
}

export interface RedoPublisherStats {
  mode: 'watermark' | 'republish' | 'live';
  watermarkLsn: Lsn | undefined;
  publishedLsn: Lsn;
  vdl: Lsn;
  lagLsn: Lsn;
  lagMs: number;
  bufferBytes: number;
  bufferRecords: number;
  batchesPublished: number;
  bytesPublished: number;
  recordsPublished: number;
  recordsRepublished: number;
  requests: number;
  errors: number;
  overflows: number;
  /** Times the archive watermark stalled below what was published, and the range was republished. */
  archiveStalls: number;
  /** The last stall: the watermark then and the LSN it should have passed. */
  lastArchiveStall: { watermarkLsn: Lsn; publishedLsn: Lsn; atMs: number } | undefined;
  lastError: string | undefined;
}

/** A stall verdict: the archive lost (watermarkLsn, publishedLsn], published at publishedAtMs. */
export interface ArchiveStall {
  watermarkLsn: Lsn;
  publishedLsn: Lsn;
  publishedAtMs: number;
}

/**
 * Pure core of the archive watchdog: samples of the last LSN published over time, and the verdict
 * on a watermark read. A sample (t, L) claims only "L was published by t", so merging or dropping
 * samples can only delay a verdict, never make a false one. Bounded: of the samples older than
 * stallMs it keeps the newest (the one a verdict is made on), and at most archiveSamplesMax in all.
 */
export class ArchiveWatch {
  readonly #samples: { atMs: number; lsn: Lsn }[] = [];
  /** No verdict before this (a heal is given time to reach the archive). */
  #quietUntilMs = 0;
  #healsUnfollowed = 0;
  #healWatermark: Lsn | undefined;
  #healedAtMs = 0;
  /** The watermark last read, and since when it has had that value. */
  #watermark: Lsn | undefined;
  #watermarkSinceMs = 0;

  constructor(readonly stallMs: number) {
    assert(stallMs > 0, 'a positive archive stall time');
  }

  get samples(): number {
    return this.#samples.length;
  }

  /** The last LSN published, as of now (recorded only when it moved). */
  sample(nowMs: number, publishedLsn: Lsn): void {
    const last = this.#samples.at(-1);
    if (last === undefined || publishedLsn > last.lsn) {
      // Full: the newest sample moves forward instead (still true, only later).
      if (this.#samples.length >= archiveSamplesMax) this.#samples.pop();
      this.#samples.push({ atMs: nowMs, lsn: publishedLsn });
    }
    // Keep one sample at or older than stallMs (the newest such), drop the older ones.
    while (this.#samples.length > 1 && this.#samples[1]!.atMs <= nowMs - this.stallMs) this.#samples.shift();
    assert(this.#samples.length <= archiveSamplesMax, 'archive watch samples stay bounded');
  }

  /**
   * The watermark as read now: a stall when an LSN published stallMs ago is still above it and the
   * watermark has not moved for stallMs either. A lost batch stops the watermark dead (it cannot
   * pass the gap); an archiver that is merely slow still moves it, and is left to catch up — a
   * republish would only add to its backlog.
   */
  verdict(nowMs: number, watermarkLsn: Lsn): ArchiveStall | undefined {
    if (watermarkLsn !== this.#watermark) {
      this.#watermark = watermarkLsn;
      this.#watermarkSinceMs = nowMs;
    }
    // Archived samples are settled; a heal the archive followed resets the backoff.
    while (this.#samples.length > 0 && this.#samples[0]!.lsn <= watermarkLsn) this.#samples.shift();
    if (this.#healWatermark !== undefined && watermarkLsn > this.#healWatermark) {
      // The archive followed the last heal: it was a lost batch, not a dead archiver.
      this.#healsUnfollowed = 0;
      this.#healWatermark = undefined;
      this.#quietUntilMs = Math.min(this.#quietUntilMs, this.#healedAtMs + this.stallMs);
    }
    if (nowMs < this.#quietUntilMs) return undefined;
    const old = this.#samples[0];
    if (old === undefined || old.atMs > nowMs - this.stallMs) return undefined;
    if (this.#watermarkSinceMs > nowMs - this.stallMs) return undefined;
    return { watermarkLsn, publishedLsn: old.lsn, publishedAtMs: old.atMs };
  }

  /** A heal from `watermarkLsn` starts now: forget the samples, wait before the next verdict. */
  healed(nowMs: number, watermarkLsn: Lsn): void {
    this.#samples.length = 0;
    this.#healsUnfollowed++;
    this.#healWatermark = watermarkLsn;
    this.#healedAtMs = nowMs;
    // Heals the archive does not follow (an archiver down, not a lost batch) back off: 1, 2, 4… ×.
    const factor = Math.min(archiveHealBackoffFactorMax, 2 ** (this.#healsUnfollowed - 1));
    this.#quietUntilMs = nowMs + this.stallMs * factor;
  }
}

/** Deque of records with a cheap shift. */
class RecordQueue {
  #items: RedoRecord[] = [];
  #head = 0;
  bytes = 0;

  get length(): number {
    return this.#items.length - this.#head;
  }

  at(i: number): RedoRecord {
    return this.#items[this.#head + i]!;
  }

  push(r: RedoRecord): void {
    this.#items.push(r);
    this.bytes += encodedRecordLength(r);
  }

  shift(): RedoRecord {
    const r = this.#items[this.#head++]!;
    this.bytes -= encodedRecordLength(r);
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return r;
  }
}

export class RedoPublisher {
  readonly #o: Required<Omit<RedoPublisherOptions, 'pgTails'>>;
  readonly #buffer = new RecordQueue();
  /** The buffer holds every durable record in (bufferFloor, last shipped]. */
  #bufferFloor: Lsn;
  /** Each PG's last shipped LSN (the recovered tails to begin with): proof points for storage reads. */
  readonly #pgTails: Map<number, Lsn>;
  /** The recovered VDL and each PG's last LSN at or below it: exact proof points up to there. */
  readonly #recoveredVdl: Lsn;
  readonly #recoveredTails: ReadonlyMap<number, Lsn>;
  /** The last record published: the next batch's prevLsn. */
  #published: Lsn | undefined;
  /** Every durable record at or below this is published (>= #published: a range may hold none). */
  #covered: Lsn = 0n;
  #publishedCommitTimeMs = 0;
  #vdl: Lsn;
  #vdlCommitTimeMs: number;
  readonly #commitTimes: { lsn: Lsn; timeMs: number }[] = [];
  #commitTimesHead = 0;
  readonly #bytes: TokenBucket;
  readonly #records: TokenBucket;
  /** When the oldest durable record not yet sent was first seen; undefined: none waiting. */
  #windowStartedAt: number | undefined;
  /** The loop waits out a window (its timer wakes it; VDL advances need not). */
  #inWindow = false;
  /** drain() asked: no aggregation window from now on. */
  #draining = false;
  readonly #startedAt: number;
  #wake: (() => void) | undefined;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  readonly #archiveWatch: ArchiveWatch;
  #archiveTimer: NodeJS.Timeout | undefined;
  #archiveChecking = false;
  /** A heal the loop applies at its next turn: republish from this watermark. */
  #healFrom: { lsn: Lsn; commitTimeMs: number } | undefined;
  readonly stats: RedoPublisherStats;

  constructor(options: RedoPublisherOptions) {
    this.#o = {
      bufferBytesMax: publishBufferBytesMax,
      batchBytesMax: redoBatchBytesMax,
      flushWindowMs: flushWindowMsDefault,
      flushBytes: flushBytesDefault,
      shardBytesPerSecond: shardBytesPerSecondMax,
      shardRecordsPerSecond: shardRecordsPerSecondMax,
      archiveCheckIntervalMs: archiveCheckIntervalMsDefault,
      archiveStallMs: archiveStallMsDefault,
      clock: Date.now,
      random: Math.random,
      timeline: 0,
      ...options,
    };
    // A batch plus its partition key (at most 256 bytes in Kinesis) fits one second of the shard.
    assert(this.#o.batchBytesMax + 256 <= this.#o.shardBytesPerSecond, 'a batch fits the shard budget');
    assert(this.#o.flushWindowMs >= 0 && this.#o.flushBytes > 0, 'aggregation bounds are sane');
    this.#vdl = options.vdl;
    this.#vdlCommitTimeMs = options.vdlCommitTimeMs;
    this.#bufferFloor = options.vdl;
    this.#pgTails = new Map(options.pgTails);
    this.#recoveredVdl = options.vdl;
    this.#recoveredTails = new Map(options.pgTails);
    this.#startedAt = this.#o.clock();
    this.#bytes = new TokenBucket(this.#o.shardBytesPerSecond, this.#o.clock);
    this.#records = new TokenBucket(this.#o.shardRecordsPerSecond, this.#o.clock);
    assert(this.#o.archiveCheckIntervalMs > 0, 'a positive archive check interval');
    this.#archiveWatch = new ArchiveWatch(this.#o.archiveStallMs);
    this.stats = {
      mode: 'watermark',
      watermarkLsn: undefined,
      publishedLsn: 0n,
      vdl: options.vdl,
      lagLsn: 0n,
      lagMs: 0,
      bufferBytes: 0,
      bufferRecords: 0,
      batchesPublished: 0,
      bytesPublished: 0,
      recordsPublished: 0,
      recordsRepublished: 0,
      requests: 0,
      errors: 0,
      overflows: 0,
      archiveStalls: 0,
      lastArchiveStall: undefined,
      lastError: undefined,
    };
  }

  /** Records the engine just shipped (LSN order, not yet durable). O(records); never blocks. */
  shipped(records: readonly RedoRecord[]): void {
    for (const r of records) {
      this.#pgTails.set(r.pg, r.lsn);
      if (r.kind === RecordKind.Commit) {
        if (this.#commitTimes.length - this.#commitTimesHead >= commitTimesMax) this.#commitTimesHead++;
        this.#commitTimes.push({ lsn: r.lsn, timeMs: decodeCommitPayload(r.payload).commitTimeMs });
      }
      this.#buffer.push(r);
    }
    // Bounded: drop the oldest; whatever durable part of them is not published comes from storage.
    if (this.#buffer.bytes > this.#o.bufferBytesMax) {
      this.stats.overflows++;
      while (this.#buffer.bytes > this.#o.bufferBytesMax / 2 && this.#buffer.length > 0) {
        this.#bufferFloor = this.#buffer.shift().lsn;
      }
      this.#o.logger.warn(
        { bufferFloor: lsnToString(this.#bufferFloor), published: String(this.#published ?? '-') },
        'redo publisher: buffer full; the dropped records will be read back from storage',
      );
      this.#poke();
    }
    // No wake-up otherwise: a shipped record is not publishable before VDL passes it.
  }

  /** VDL moved (the shipper's onVdl). */
  vdlAdvanced(vdl: Lsn): void {
    if (vdl <= this.#vdl) return;
    this.#vdl = vdl;
    while (
      this.#commitTimesHead < this.#commitTimes.length &&
      this.#commitTimes[this.#commitTimesHead]!.lsn <= vdl
    ) {
      this.#vdlCommitTimeMs = this.#commitTimes[this.#commitTimesHead++]!.timeMs;
    }
    if (this.#commitTimesHead > 1024 && this.#commitTimesHead * 2 > this.#commitTimes.length) {
      this.#commitTimes.splice(0, this.#commitTimesHead);
      this.#commitTimesHead = 0;
    }
    // While a window runs, its timer sends; wake the loop early only once the buffer (an upper bound
    // of what is durable in it) could hold flushBytes — not at every commit.
    if (this.#inWindow && this.#buffer.bytes < this.#o.flushBytes) return;
    this.#poke();
  }

  start(): void {
    assert(this.#loop === undefined, 'started once');
    this.#loop = this.#run().catch((error: unknown) => {
      if (this.#abort.signal.aborted) return;
      this.#o.logger.fatal({ err: (error as Error).message }, 'redo publisher stopped');
      this.stats.lastError = (error as Error).message;
    });
    this.#archiveTimer = setInterval(() => void this.#checkArchive(), this.#o.archiveCheckIntervalMs);
    this.#archiveTimer.unref();
  }

  /**
   * A clean stop's last act (a planned failover, a backtrack): every record durable now goes to the
   * stream without waiting out an aggregation window. True once the stream has them all, false after
   * timeoutMs. Without it the next writer republishes the rest from storage — except after a
   * backtrack, whose marker has voided the old timeline's tail there: a restore to just before the
   * backtrack would miss those commits (ADR 015).
   */
  async drain(timeoutMs: number): Promise<boolean> {
    // Never started (its markers not archived yet): nothing will move, storage keeps the rest.
    if (this.#loop === undefined) return false;
    this.#draining = true;
    this.#poke();
    const deadline = performance.now() + timeoutMs;
    while (this.snapshot().lagLsn > 0n) {
      if (performance.now() > deadline || this.#abort.signal.aborted) return false;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return true;
  }

  async close(): Promise<void> {
    this.#abort.abort();
    clearInterval(this.#archiveTimer);
    this.#poke();
    await this.#loop;
  }

  /** A fresh view for /health and /metrics. */
  snapshot(): RedoPublisherStats {
    const published = this.#published === undefined ? 0n : this.#covered;
    this.stats.publishedLsn = this.#published ?? 0n;
    this.stats.vdl = this.#vdl;
    this.stats.lagLsn = this.#vdl > published ? this.#vdl - published : 0n;
    // With no commit published yet and none archived (a new volume's history being republished),
    // the time since the publisher started is the honest lower bound.
    this.stats.lagMs =
      published >= this.#vdl
        ? 0
        : this.#publishedCommitTimeMs === 0
          ? this.#o.clock() - this.#startedAt
          : Math.max(0, this.#vdlCommitTimeMs - this.#publishedCommitTimeMs);
    this.stats.bufferBytes = this.#buffer.bytes;
    this.stats.bufferRecords = this.#buffer.length;
    return { ...this.stats };
  }

  #poke(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  /** Until VDL moves, the buffer overflows, or close(). */
  #idle(): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      if (this.#abort.signal.aborted) this.#poke();
    });
  }

  /** A pause that only close() cuts short (rate limits, backoff). */
  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const signal = this.#abort.signal;
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', done);
    });
  }

  /** The rest of an aggregation window; VDL moving past flushBytes, an overflow or close() end it early. */
  #window(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#poke(), ms);
      this.#inWindow = true;
      this.#wake = () => {
        this.#inWindow = false;
        clearTimeout(timer);
        resolve();
      };
      if (this.#abort.signal.aborted) this.#poke();
    });
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    await this.#readWatermark();
    while (!signal.aborted) {
      if (this.#healFrom !== undefined) this.#heal(this.#healFrom);
      const covered = this.#covered;
      // Live records start above bufferFloor; below it (a failover, an overflow) storage has them.
      if (covered < this.#bufferFloor) {
        const upto = lsnMin(this.#vdl, this.#bufferFloor);
        if (upto <= covered) {
          await this.#idle();
          continue;
        }
        await this.#republish(covered, upto);
        continue;
      }
      while (this.#buffer.length > 0 && this.#buffer.at(0).lsn <= covered) this.#buffer.shift();
      const { records, bytes, requestFull } = this.#takeLive();
      if (records.length === 0) {
        this.stats.mode = 'live';
        this.#windowStartedAt = undefined;
        await this.#idle();
        continue;
      }
      // Aggregate: the first durable record opens a window; it closes after flushWindowMs, or early
      // once flushBytes (or a whole request) are waiting.
      const now = this.#o.clock();
      this.#windowStartedAt ??= now;
      const windowLeftMs = this.#windowStartedAt + this.#o.flushWindowMs - now;
      if (windowLeftMs > 0 && bytes < this.#o.flushBytes && !requestFull && !this.#draining) {
        await this.#window(windowLeftMs);
        continue;
      }
      this.stats.mode = 'live';
      this.#windowStartedAt = undefined;
      await this.#publish(records, false);
    }
  }

  async #readWatermark(): Promise<void> {
    for (let attempt = 0; !this.#abort.signal.aborted; attempt++) {
      try {
        const { lsn: watermark, commitTimeMs } = await this.#o.readWatermark();
        this.stats.watermarkLsn = watermark;
        this.#publishedCommitTimeMs = commitTimeMs;
        // The archive cannot be ahead of durable history; if it claims so, do not invent records.
        if (watermark > this.#recoveredVdl) {
          this.#o.logger.error(
            { watermark: watermark.toString(), vdl: this.#recoveredVdl.toString() },
            'redo publisher: archive watermark above the recovered VDL; publishing from VDL',
          );
        }
        this.#published = lsnMin(watermark, this.#recoveredVdl);
        this.#covered = this.#published;
        this.#o.logger.info(
          { watermark: watermark.toString(), vdl: this.#recoveredVdl.toString() },
          'redo publisher: resuming from the archive watermark',
        );
        return;
      } catch (error) {
        this.#noteError(error, 'reading the archive watermark');
        await this.#backoff(attempt);
      }
    }
  }

  /**
   * One watchdog turn (the timer's): sample what is published; if anything is above the last known
   * watermark, read it and judge. A stall asks the loop to heal (it owns the publish state).
   */
  async #checkArchive(): Promise<void> {
    if (this.#archiveChecking || this.#abort.signal.aborted || this.#published === undefined) return;
    if (this.#healFrom !== undefined) return; // the loop has not rewound yet
    this.#archiveChecking = true;
    try {
      this.#archiveWatch.sample(this.#o.clock(), this.#published);
      const known = this.stats.watermarkLsn ?? 0n;
      if (this.#published <= known) return;
      let read: { lsn: Lsn; commitTimeMs: number };
      try {
        read = await this.#o.readWatermark();
      } catch (error) {
        this.#noteError(error, 'reading the archive watermark (watchdog)');
        return;
      }
      if (this.#abort.signal.aborted) return;
      if (read.lsn > known) this.stats.watermarkLsn = read.lsn;
      const stall = this.#archiveWatch.verdict(this.#o.clock(), read.lsn);
      if (stall === undefined) return;
      this.stats.archiveStalls++;
      this.stats.lastArchiveStall = {
        watermarkLsn: stall.watermarkLsn,
        publishedLsn: stall.publishedLsn,
        atMs: this.#o.clock(),
      };
      this.#o.logger.error(
        {
          watermarkLsn: lsnToString(stall.watermarkLsn),
          publishedLsn: lsnToString(stall.publishedLsn),
          publishedAgoMs: this.#o.clock() - stall.publishedAtMs,
          coveredLsn: lsnToString(this.#covered),
          stalls: this.stats.archiveStalls,
        },
        'redo publisher: the archive lost part of what was published (its watermark stalled below it); republishing from the watermark',
      );
      this.#archiveWatch.healed(this.#o.clock(), stall.watermarkLsn);
      this.#healFrom = { lsn: stall.watermarkLsn, commitTimeMs: read.commitTimeMs };
      this.#poke();
    } finally {
      this.#archiveChecking = false;
    }
  }

  /**
   * Rewinds the chain to the archive watermark, the overflow way: published and covered go back to
   * it and bufferFloor up to what was covered, so the loop reads (watermark, covered] back from
   * storage, chained at the watermark (the archive's tip), and then goes on live.
   */
  #heal(from: { lsn: Lsn; commitTimeMs: number }): void {
    this.#healFrom = undefined;
    const covered = this.#covered;
    if (this.#published === undefined || from.lsn >= covered) return; // caught up meanwhile
    this.#published = from.lsn;
    this.#covered = from.lsn;
    this.#publishedCommitTimeMs = from.commitTimeMs;
    this.#bufferFloor = lsnMax(covered, this.#bufferFloor);
    this.#windowStartedAt = undefined;
  }

  /** Records from the buffer head that are durable, at most one request's worth (requestFull: cut there). */
  #takeLive(): { records: RedoRecord[]; bytes: number; requestFull: boolean } {
    const records: RedoRecord[] = [];
    let bytes = 0;
    const budget = this.#o.shardBytesPerSecond;
    for (let i = 0; i < this.#buffer.length; i++) {
      const r = this.#buffer.at(i);
      if (r.lsn > this.#vdl) break;
      const size = encodedRecordLength(r);
      // Every batch costs a header; an upper bound on the request size (packing cuts on bytes).
      if (
        records.length > 0 &&
        bytes + size + 2 * redoBatchHeaderBytes > budget - this.#o.sink.entryOverheadBytes * 2
      )
        return { records, bytes, requestFull: true };
      records.push(r);
      bytes += size;
    }
    return { records, bytes, requestFull: false };
  }

  /** Storage → stream for (afterLsn, uptoLsn], in bounded requests. */
  async #republish(afterLsn: Lsn, uptoLsn: Lsn): Promise<void> {
    this.stats.mode = 'republish';
    const started = this.#o.clock();
    const proofLsns = new Map<number, Lsn>();
    // A PG's last LSN at or below uptoLsn is min(its last LSN then, uptoLsn) when that is below
    // uptoLsn; else any record >= uptoLsn proves the read complete. Up to the recovered VDL the
    // recovered tails are exact (and do not wait for live records to become durable).
    const tails = uptoLsn <= this.#recoveredVdl ? this.#recoveredTails : this.#pgTails;
    for (const [pg, tail] of tails) proofLsns.set(pg, lsnMin(tail, uptoLsn));
    this.#o.logger.info(
      { afterLsn: lsnToString(afterLsn), uptoLsn: lsnToString(uptoLsn) },
      'redo publisher: republishing durable history from storage',
    );
    let pending: RedoRecord[] = [];
    let pendingBytes = 0;
    let count = 0;
    const budget = this.#o.shardBytesPerSecond - 2 * (redoBatchHeaderBytes + this.#o.sink.entryOverheadBytes);
    for await (const chunk of this.#o.storage.read({ afterLsn, uptoLsn, proofLsns }, this.#abort.signal)) {
      for (const r of chunk) {
        const size = encodedRecordLength(r);
        if (pending.length > 0 && pendingBytes + size > budget) {
          await this.#publish(pending, true);
          pending = [];
          pendingBytes = 0;
        }
        pending.push(r);
        pendingBytes += size;
        count++;
      }
    }
    if (this.#abort.signal.aborted) return;
    if (pending.length > 0) await this.#publish(pending, true);
    // The rest of the range holds no durable record (a truncated range): covered, and the next
    // batch still chains from the last record published.
    if (this.#covered < uptoLsn) this.#covered = uptoLsn;
    this.#o.logger.info(
      {
        afterLsn: lsnToString(afterLsn),
        uptoLsn: lsnToString(uptoLsn),
        records: count,
        ms: this.#o.clock() - started,
      },
      'redo publisher: republished from storage',
    );
  }

  /** Packs records (continuing the chain) and puts them, retrying until they are in. */
  async #publish(records: RedoRecord[], fromStorage: boolean): Promise<void> {
    const prevLsn = this.#published!;
    assert(records[0]!.lsn > prevLsn, 'records continue the published chain');
    const batches = packRedoBatches(this.#o.epoch, prevLsn, records, this.#o.batchBytesMax, this.#o.timeline);
    let entries = batches.map((b) => encodeRedoBatch(b));
    let headers = batches.map((b) => headerOf(b));
    const overhead = this.#o.sink.entryOverheadBytes;
    // Clean attempts in a row reset the backoff; failures grow it.
    let attempt = 0;
    while (entries.length > 0) {
      if (this.#abort.signal.aborted) return;
      // A request: a prefix of the entries within one second of the shard's budget (one batch always fits).
      let count = 0;
      let bytes = 0;
      while (
        count < entries.length &&
        count < Math.min(putRecordsEntriesMax, this.#o.shardRecordsPerSecond) &&
        (count === 0 || bytes + entries[count]!.length + overhead <= this.#o.shardBytesPerSecond)
      ) {
        bytes += entries[count]!.length + overhead;
        count++;
      }
      assert(bytes <= this.#o.shardBytesPerSecond && bytes <= putRecordsBytesMax, 'a request within limits');
      for (;;) {
        const wait = Math.max(this.#bytes.waitMs(bytes), this.#records.waitMs(count));
        if (wait === 0) break;
        await this.#sleep(wait);
        if (this.#abort.signal.aborted) return;
      }
      this.#bytes.take(bytes);
      this.#records.take(count);
      this.stats.requests++;
      const request = entries.slice(0, count);
      let outcome: PutOutcome;
      try {
        outcome = await this.#o.sink.putRecords(request);
      } catch (error) {
        this.#noteError(error, 'PutRecords');
        await this.#backoff(attempt++);
        continue;
      }
      const landed = outcome.firstFailed ?? count;
      for (let i = 0; i < landed; i++) this.#landed(headers[i]!, entries[i]!.length, fromStorage);
      // Resend from the first failed entry on, in order (later ones that landed become duplicates).
      entries = entries.slice(landed);
      headers = headers.slice(landed);
      if (outcome.firstFailed === undefined) {
        attempt = 0;
        continue;
      }
      this.#noteError(
        new Error(`${count - landed} of ${count} entries failed: ${outcome.errorCodes.join(',')}`),
        'PutRecords',
      );
      await this.#backoff(attempt++);
    }
  }

  #landed(h: ReturnType<typeof headerOf>, bytes: number, fromStorage: boolean): void {
    if (this.#published === undefined || h.lastLsn > this.#published) this.#published = h.lastLsn;
    if (h.lastLsn > this.#covered) this.#covered = h.lastLsn;
    if (h.commitCount > 0) this.#publishedCommitTimeMs = h.lastCommitTimeMs;
    this.stats.batchesPublished++;
    this.stats.bytesPublished += bytes;
    this.stats.recordsPublished += h.recordCount;
    if (fromStorage) this.stats.recordsRepublished += h.recordCount;
  }

  #noteError(error: unknown, what: string): void {
    this.stats.errors++;
    const message = `${what}: ${(error as Error).name ?? 'Error'}: ${(error as Error).message}`;
    // Rate-limited: the first error of a run, then every 20th.
    if (this.stats.lastError === undefined || this.stats.errors % 20 === 1) {
      this.#o.logger.warn({ err: message, errors: this.stats.errors }, 'redo publisher: retrying');
    }
    this.stats.lastError = message;
  }

  async #backoff(attempt: number): Promise<void> {
    const cap = Math.min(backoffMsMax, backoffMsMin * 2 ** Math.min(attempt, 10));
    await this.#sleep(cap / 2 + (cap / 2) * this.#o.random());
  }
}

/** The /health view of the publisher (LSNs as decimal strings). */
export function redoStreamHealth(stream: string, s: RedoPublisherStats): Record<string, unknown> {
  return {
    stream,
    mode: s.mode,
    watermarkLsn: s.watermarkLsn?.toString() ?? null,
    publishedLsn: s.publishedLsn.toString(),
    lagLsn: s.lagLsn.toString(),
    lagMs: s.lagMs,
    bufferBytes: s.bufferBytes,
    batchesPublished: s.batchesPublished,
    recordsRepublished: s.recordsRepublished,
    overflows: s.overflows,
    archiveStalls: s.archiveStalls,
    lastArchiveStall: s.lastArchiveStall
      ? {
          watermarkLsn: s.lastArchiveStall.watermarkLsn.toString(),
          publishedLsn: s.lastArchiveStall.publishedLsn.toString(),
          at: new Date(s.lastArchiveStall.atMs).toISOString(),
        }
      : null,
    errors: s.errors,
    lastError: s.lastError ?? null,
  };
}
