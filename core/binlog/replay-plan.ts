// The pure parts of a binlog replay (`borealis binlog read`, core/binlog/replay.ts does the I/O):
// where a read starts and which events it keeps, which archived log chunks it can skip, where the
// binlog stream takes over from the archive, how a stream record becomes an event again, and the
// merge of the stream's shards back into position order.
//
// Decisions:
// - A read starts at a position (inclusive) or at a commit time (the first event whose commit time
//   is >= T). Commit times never go backwards along the log (the writer clamps them), so both select
//   a suffix of the log, and an event is kept exactly when it is at or after the start.
// - Chunks: a leading chunk can be skipped only when it ends on a commit (no transaction, and so no
//   fragmented change, straddles its end) and everything in it is before the start.
// - Shards: the streamer puts events in position order, per key on one shard. Merging shards, an
//   event is printed only when no other shard can still deliver an earlier one: that shard holds a
//   later event already, or it is closed, or it was read to its tip (MillisBehindLatest 0) by a read
//   that began after the event was received — a producer puts an earlier event no later than a later
//   one, so a read that starts after the later one arrived sees the earlier one. Reads are ordered
//   by a tick counter rather than the clock, so tests drive the merge without timing.
import { assert } from '../assert.ts';
import type { ChunkInfo } from '../backup/archive.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { BinlogEnvelope, StreamEnvelope } from './events.ts';
import { type BinlogPosition, comparePositions, formatPosition, lsnOfPosition } from './position.ts';

/** An event as a read prints it: from the archive (rebuilt) or from the stream (parsed). */
export interface ReadEvent {
  envelope: StreamEnvelope;
  position: BinlogPosition;
  commitTimeMs: number;
}

export type BinlogReadStart =
  | { kind: 'position'; position: BinlogPosition }
  | { kind: 'time'; timeMs: number };

/** Events buffered per shard before the reader stops reading that shard until the merge drains it. */
export const shardBufferEventsMax = 10_000;
/** The stream is read from this long before the last archived commit (clock skew between writer and Kinesis). */
export const streamStartMarginMs = 30_000;

export function isAtOrAfterStart(
  event: Pick<ReadEvent, 'position' | 'commitTimeMs'>,
  start: BinlogReadStart,
): boolean {
  return start.kind === 'time'
    ? event.commitTimeMs >= start.timeMs
    : comparePositions(event.position, start.position) >= 0;
}

/** Whether a chunk holds nothing at or after the start and ends on a commit (so it can go unread). */
export function chunkIsBeforeStart(c: ChunkInfo, start: BinlogReadStart): boolean {
  const endsOnCommit = c.lastCommitLsn !== 0n && c.lastCommitLsn === c.lastLsn;
  const before =
    start.kind === 'position' ? c.lastLsn < lsnOfPosition(start.position) : c.lastCommitTimeMs < start.timeMs;
  return endsOnCommit && before;
}

/** How many chunks at the head of a chain can go unread (chunkIsBeforeStart, one after the other). */
export function leadingChunksToSkip(chain: readonly ChunkInfo[], start: BinlogReadStart): number {
  const n = chain.findIndex((c) => !chunkIsBeforeStart(c, start));
  return n < 0 ? chain.length : n;
}

/**
 * Where the stream read begins (epoch ms, for AT_TIMESTAMP): a margin before the newest commit the
 * archive holds — every event not in the archive commits at or after it, and reaches the stream
 * after its commit — or before the start time if that is later. Undefined: from the stream's start.
 */
export function streamStartMs(
  archiveLastCommitTimeMs: number | undefined,
  start: BinlogReadStart,
): number | undefined {
  const from = Math.max(archiveLastCommitTimeMs ?? 0, start.kind === 'time' ? start.timeMs : 0);
  return from > 0 ? Math.max(0, from - streamStartMarginMs) : undefined;
}

/** A binlog stream record's data (an envelope's JSON) as an event; MALFORMED_FRAME if it is not one. */
export function parseStreamRecord(data: Uint8Array, where: string): ReadEvent {
  const bad = (why: string) =>
    new BorealisError(
      ErrorCode.MALFORMED_FRAME,
      `binlog stream record ${where} is not a binlog event: ${why}`,
      {
        retryable: false,
        context: { where },
      },
    );
  let envelope: BinlogEnvelope;
  try {
    envelope = JSON.parse(
      Buffer.from(data.buffer, data.byteOffset, data.length).toString('utf8'),
    ) as BinlogEnvelope;
  } catch {
    throw bad('not JSON');
  }
  const source = (envelope as Partial<BinlogEnvelope> | null)?.source;
  if (
    typeof source !== 'object' ||
    source === null ||
    typeof source.file !== 'string' ||
    !Number.isSafeInteger(source.pos) ||
    !Number.isSafeInteger(source.row) ||
    source.row < 0 ||
    !Number.isSafeInteger(source.ts_ms)
  ) {
    throw bad('no source.file, pos, row and ts_ms');
  }
  const position = { file: source.file, pos: source.pos, row: source.row };
  try {
    lsnOfPosition(position);
  } catch (error) {
    throw bad((error as Error).message);
  }
  return { envelope, position, commitTimeMs: source.ts_ms };
}

/** The one-line error of a read that starts before what can be read, naming where it can start. */
export function beforeRetentionError(input: {
  start: BinlogReadStart;
  retentionHours: number;
  cutoffMs: number;
  /** The archive's first complete commit, when the archived log does not start at the volume's start. */
  archiveFloorTimeMs?: number;
  earliest?: ReadEvent;
}): BorealisError {
  const what =
    input.start.kind === 'time'
      ? `time ${new Date(input.start.timeMs).toISOString()}`
      : `position ${formatPosition(input.start.position)}`;
  const bound =
    input.archiveFloorTimeMs !== undefined && input.archiveFloorTimeMs >= input.cutoffMs
      ? `the oldest archived transaction (committed ${new Date(input.archiveFloorTimeMs).toISOString()})`
      : `the binlog retention (${input.retentionHours} h: events committed since ${new Date(input.cutoffMs).toISOString()})`;
  const earliest = input.earliest
    ? `the earliest position that can be read is ${formatPosition(input.earliest.position)} (committed ${new Date(input.earliest.commitTimeMs).toISOString()})`
    : 'no event that can be read has been committed yet';
  return new BorealisError(ErrorCode.INVALID_ARGUMENT, `binlog ${what} is before ${bound}; ${earliest}`, {
    retryable: false,
    context: { earliestPosition: input.earliest ? formatPosition(input.earliest.position) : null },
  });
}

interface Received<E> {
  event: E;
  tick: number;
}

interface ShardState<E> {
  queue: Received<E>[];
  /** Start tick of the newest read that reached the shard's tip (-1: none yet). */
  caughtUpAt: number;
  closed: boolean;
}

/** Merges events read from several shards into position order (see the module header). */
export class ShardMerge<E extends { position: BinlogPosition }> {
  readonly #shards = new Map<string, ShardState<E>>();
  #tick = 0;
  #last: BinlogPosition | undefined;

  constructor(
    shardIds: readonly string[],
    /** Events already printed up to here (from the archive): anything at or before it is a duplicate. */
    after?: BinlogPosition,
    readonly bufferedMax = shardBufferEventsMax,
  ) {
    assert(shardIds.length > 0, 'a stream has at least one shard');
    for (const id of shardIds) this.#shards.set(id, { queue: [], caughtUpAt: -1, closed: false });
    this.#last = after;
  }

  get tick(): number {
    return this.#tick;
  }

  /** The newest position handed out (or the one given as `after`). */
  get lastPosition(): BinlogPosition | undefined {
    return this.#last;
  }

  /** Call before a shard's GetRecords; pass the tick to endRead. */
  beginRead(shardId: string): number {
    this.#shard(shardId);
    return ++this.#tick;
  }

  /** A read's outcome: its events (in the shard's order), and whether it reached the tip or the end. */
  endRead(
    shardId: string,
    startTick: number,
    events: readonly E[],
    status: { caughtUp: boolean; closed: boolean },
  ): void {
    const shard = this.#shard(shardId);
    const tick = ++this.#tick;
    for (const event of events) shard.queue.push({ event, tick });
    // A shard keeps position order; sort only if a producer broke it (stable, so ties keep theirs).
    for (let i = Math.max(1, shard.queue.length - events.length); i < shard.queue.length; i++) {
      if (comparePositions(shard.queue[i - 1]!.event.position, shard.queue[i]!.event.position) > 0) {
        shard.queue.sort((a, b) => comparePositions(a.event.position, b.event.position));
        break;
      }
    }
    if (status.caughtUp) shard.caughtUpAt = Math.max(shard.caughtUpAt, startTick);
    if (status.closed) shard.closed = true;
  }

  /** Whether a shard may be read now (open, and its buffer below the bound). */
  wantsRead(shardId: string): boolean {
    const shard = this.#shard(shardId);
    return !shard.closed && shard.queue.length < this.bufferedMax;
  }

  /** Every shard has been read to its tip (or closed) at least once. */
  allCaughtUp(): boolean {
    return [...this.#shards.values()].every((s) => s.closed || s.caughtUpAt >= 0);
  }

  /**
   * Events that can be printed now, in position order, duplicates (at or before the last one
   * printed) dropped. With `endTick`, only events received by then (a read without --follow).
   */
  takeReady(endTick?: number): E[] {
    const out: E[] = [];
    for (;;) {
      const next = this.#candidate();
      if (next === undefined) return out;
      const [id, head] = next;
      if (endTick !== undefined && head.tick > endTick) return out;
      for (const [otherId, other] of this.#shards) {
        if (otherId === id || other.closed || other.queue.length > 0) continue;
        if (other.caughtUpAt <= head.tick) return out; // that shard may still deliver an earlier event
      }
      this.#shards.get(id)!.queue.shift();
      if (this.#last !== undefined && comparePositions(head.event.position, this.#last) <= 0) continue;
      this.#last = head.event.position;
      out.push(head.event);
    }
  }

  /** Without --follow: every event received by `endTick` has been handed out. */
  finished(endTick: number): boolean {
    const next = this.#candidate();
    return next === undefined || next[1].tick > endTick;
  }

  #candidate(): [string, Received<E>] | undefined {
    let best: [string, Received<E>] | undefined;
    for (const [id, shard] of this.#shards) {
      const head = shard.queue[0];
      if (head && (!best || comparePositions(head.event.position, best[1].event.position) < 0))
        best = [id, head];
    }
    return best;
  }

  #shard(id: string): ShardState<E> {
    const shard = this.#shards.get(id);
    assert(shard !== undefined, () => `unknown shard ${id}`);
    return shard;
  }
}
