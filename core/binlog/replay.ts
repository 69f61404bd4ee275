// Replaying a cluster's binlog from any point inside its retention (`borealis binlog read`): the
// older events are rebuilt from the continuous-backup redo archive in S3 (the archived redo holds
// the RowImages records, decoded by the same eventsOfRecord the streamer uses, so positions and
// envelopes are the ones the stream carried, ts_ms aside); past the archive, the binlog Kinesis
// stream takes over, every shard merged back into position order. Pure parts: replay-plan.ts.
//
// Decisions:
// - The archive chain is planned from its oldest chunk (planLogChain). When the archived log does
//   not start at the volume's first record (backup retention expired the head), the records up to
//   the chain's first commit may belong to a transaction whose head is gone: they are skipped, and
//   that commit is the archive's floor — nothing at or before it can be read.
// - The stream is read AT_TIMESTAMP a margin before the newest archived commit; what the archive
//   already printed is skipped by position. kinesalite never answers AT_TIMESTAMP when no record
//   is at or after the time (the request hangs): after iteratorTimeoutMs the shard is read from
//   TRIM_HORIZON instead, which is only slower.
// - Without --follow the read ends once every shard has been read to its tip and every event
//   received by then is printed; with --follow it runs until the signal aborts.
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import {
  GetRecordsCommand,
  type GetRecordsCommandOutput,
  GetShardIteratorCommand,
  type GetShardIteratorCommandInput,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { type BacktrackMarker, currentTimeline, onTimeline, timelines } from '../backtrack/timeline.ts';
import { type ChunkInfo, logPrefix, parseLogChunkKey, planLogChain } from '../backup/archive.ts';
import { getObjectBytes } from '../backup/materialize.ts';
import { decodeRedoBatch } from '../backup/redo-batch.ts';
import { listObjects, readArchivedMarkers } from '../backup/s3-archive.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import { lsnMin } from '../lsn.ts';
import { decodeCommitPayload, RecordKind } from '../record.ts';
import { backtrackEvent, eventsOfRecord, MemoryFragmentStore } from './events.ts';
import { lsnOfPosition } from './position.ts';
import {
  type BinlogReadStart,
  beforeRetentionError,
  chunkIsBeforeStart,
  isAtOrAfterStart,
  leadingChunksToSkip,
  parseStreamRecord,
  type ReadEvent,
  ShardMerge,
  streamStartMs,
} from './replay-plan.ts';
import { retentionCutoffMs } from './retention.ts';
import { readBinlogRetention } from './retention-store.ts';

const gunzipAsync = promisify(gunzip);
/** Records per GetRecords (AWS allows 10,000; fewer keeps each response well under its 10 MB). */
export const getRecordsLimit = 1_000;
/** Pause between rounds of reads once every shard is at its tip (AWS: 5 reads/s per shard). */
export const streamPollIdleMs = 250;
/** How long a GetShardIterator AT_TIMESTAMP may take before the shard is read from TRIM_HORIZON. */
export const iteratorTimeoutMs = 3_000;
/** Shards a read merges (a stream this wide is resharded far past what Borealis creates). */
export const shardsMax = 1_000;
/** Failed stream calls in a row before the read gives up. */
const streamFailuresMax = 10;

export interface BinlogReadOptions {
  s3: S3Client;
  bucket: string;
  cluster: string;
  kinesis: KinesisClient;
  streamName: string;
  start: BinlogReadStart;
  follow: boolean;
  /** Ends a --follow read (SIGINT). */
  signal?: AbortSignal;
  nowMs?: () => number;
  /** Awaited: a slow stdout slows the read, nothing piles up. */
  onEvent: (event: ReadEvent) => Promise<void> | void;
  onArchiveProgress?: (p: { done: number; total: number }) => void;
}

export interface BinlogReadSummary {
  retentionHours: number;
  archiveEvents: number;
  streamEvents: number;
  archiveChunksRead: number;
}

/** The archive's gap-free chain from its oldest chunk, and whether it starts at the volume's start. */
async function archiveChain(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<{ chain: ChunkInfo[]; fromStart: boolean; markers: BacktrackMarker[] }> {
  const [listed, markers] = await Promise.all([
    listObjects(s3, bucket, logPrefix(cluster)),
    readArchivedMarkers(s3, bucket, cluster),
  ]);
  const chunks = listed.map((o) => parseLogChunkKey(o.key)).filter((c): c is ChunkInfo => c !== undefined);
  if (chunks.length === 0) return { chain: [], fromStart: true, markers };
  const from = chunks.reduce((m, c) => lsnMin(m, c.prevLsn), chunks[0]!.prevLsn);
  // After a backtrack the archive holds every timeline: a read follows the current one (ADR 015).
  const timeline =
    markers.length === 0 ? undefined : { timelines: timelines(markers), target: currentTimeline(markers) };
  return {
    chain: planLogChain(chunks, from, timeline ? { timeline } : {}).chunks,
    fromStart: from === 0n,
    markers,
  };
}

/** The archive's first commit when its log does not start at LSN 0: nothing at or before it can be read. */
interface ArchiveFloor {
  lsn: bigint;
  commitTimeMs: number;
}

interface ArchiveRead {
  floor: ArchiveFloor | undefined;
  lastCommitTimeMs: number | undefined;
  chunksRead: number;
}

/**
 * The archived events at or after `start`, in position order, through `onEvent`; stops early when
 * onEvent returns false. Chunks wholly before the start are not downloaded (but a log that does not
 * start at LSN 0 is read up to its floor).
 */
async function readArchive(
  o: Pick<BinlogReadOptions, 's3' | 'bucket' | 'cluster' | 'signal' | 'onArchiveProgress'> & {
    chain: ChunkInfo[];
    fromStart: boolean;
    /** The archived backtrack markers: the chain follows the current timeline, with a control event where each began. */
    markers: BacktrackMarker[];
    start: BinlogReadStart;
    nowMs: () => number;
    onEvent: (event: ReadEvent) => Promise<boolean>;
    /** Called once the floor is found, before any event. */
    onFloor?: (floor: ArchiveFloor) => void;
  },
): Promise<ArchiveRead> {
  const fragments = new MemoryFragmentStore();
  // From LSN 0, the leading chunks before the start go unread; otherwise the first chunks are read
  // up to the floor, and the skipping begins after it.
  const skip = o.fromStart ? leadingChunksToSkip(o.chain, o.start) : 0;
  const chunks = o.chain.slice(skip);
  let skipping = !o.fromStart;
  let complete = o.fromStart;
  let floor: ArchiveFloor | undefined;
  let lastLsn = 0n;
  let chunksRead = 0;
  const lastCommitTimeMs = o.chain.findLast((c) => c.lastCommitLsn !== 0n)?.lastCommitTimeMs;
  const current = o.markers.length === 0 ? undefined : currentTimeline(o.markers);
  for (const [i, chunk] of chunks.entries()) {
    if (o.signal?.aborted) break;
    if (skipping && complete) {
      if (chunkIsBeforeStart(chunk, o.start)) continue;
      skipping = false;
    }
    const compressed = await getObjectBytes(o.s3, o.bucket, chunk.key);
    let batch: ReturnType<typeof decodeRedoBatch>;
    try {
      batch = decodeRedoBatch(await gunzipAsync(compressed));
    } catch (error) {
      throw new BorealisError(
        ErrorCode.BAD_CRC,
        `log chunk for LSNs ${chunk.firstLsn}-${chunk.lastLsn} is corrupt: ${(error as Error).message}`,
        { context: { key: chunk.key } },
      );
    }
    chunksRead++;
    const ctx = { cluster: o.cluster, serverId: Number(batch.epoch), nowMs: o.nowMs };
    // The chunk that starts a timeline: its control event comes first, as on the stream.
    const marker = batch.timeline ? o.markers[batch.timeline - 1] : undefined;
    if (complete && marker && batch.prevLsn <= marker.fromLsn && marker.fromLsn >= lastLsn) {
      const control = backtrackEvent(marker, ctx);
      if (isAtOrAfterStart(control, o.start) && !(await o.onEvent(control))) {
        return { floor, lastCommitTimeMs, chunksRead };
      }
    }
    for (const record of batch.records) {
      if (record.lsn <= lastLsn) continue; // overlap with the chunk before
      if (current && !onTimeline(current, record.lsn)) continue; // undone by a backtrack
      lastLsn = record.lsn;
      if (!complete) {
        if (record.kind === RecordKind.Commit) {
          complete = true;
          floor = { lsn: record.lsn, commitTimeMs: decodeCommitPayload(record.payload).commitTimeMs };
          o.onFloor?.(floor);
        }
        continue;
      }
      if (record.kind !== RecordKind.RowImages) continue;
      for (const event of await eventsOfRecord(record, ctx, fragments)) {
        if (!isAtOrAfterStart(event, o.start)) continue;
        if (!(await o.onEvent(event))) return { floor, lastCommitTimeMs, chunksRead };
      }
    }
    o.onArchiveProgress?.({ done: i + 1, total: chunks.length });
  }
  return { floor, lastCommitTimeMs, chunksRead };
}

/** The first event that can be read (at or after the retention cutoff and the archive's floor). */
async function earliestReadable(
  o: BinlogReadOptions,
  chain: ChunkInfo[],
  fromStart: boolean,
  markers: BacktrackMarker[],
  cutoffMs: number,
): Promise<{ event: ReadEvent | undefined; floor: ArchiveFloor | undefined }> {
  let first: ReadEvent | undefined;
  const read = await readArchive({
    s3: o.s3,
    bucket: o.bucket,
    cluster: o.cluster,
    chain,
    fromStart,
    markers,
    start: { kind: 'time', timeMs: cutoffMs },
    nowMs: o.nowMs ?? Date.now,
    onEvent: async (event) => {
      first = event;
      return false;
    },
  });
  if (first === undefined) {
    // Nothing archived since the cutoff: the stream's first event, if any.
    await readStream(
      { ...o, follow: false, start: { kind: 'time', timeMs: cutoffMs } },
      undefined,
      read.lastCommitTimeMs,
      async (event) => {
        first ??= event;
      },
    );
  }
  return { event: first, floor: read.floor };
}

/** Prints the binlog from `start` (see the module header). Errors: before the retention, archive or stream failures. */
export async function readBinlog(o: BinlogReadOptions): Promise<BinlogReadSummary> {
  const nowMs = o.nowMs ?? Date.now;
  const retention = await readBinlogRetention(o.s3, o.bucket, o.cluster);
  const cutoffMs = retentionCutoffMs(nowMs(), retention.hours);
  const { chain, fromStart, markers } = await archiveChain(o.s3, o.bucket, o.cluster);
  let floor: ArchiveFloor | undefined;
  const tooEarly = async () => {
    const earliest = await earliestReadable(o, chain, fromStart, markers, cutoffMs);
    const floorTimeMs = (floor ?? earliest.floor)?.commitTimeMs;
    return beforeRetentionError({
      start: o.start,
      retentionHours: retention.hours,
      cutoffMs,
      ...(floorTimeMs === undefined ? {} : { archiveFloorTimeMs: floorTimeMs }),
      ...(earliest.event ? { earliest: earliest.event } : {}),
    });
  };
  if (o.start.kind === 'time' && o.start.timeMs < cutoffMs) throw await tooEarly();
  /** Whether the start lies at or before the archive's floor (whose transaction may be incomplete). */
  const belowFloor = () =>
    floor !== undefined &&
    (o.start.kind === 'time'
      ? o.start.timeMs <= floor.commitTimeMs
      : lsnOfPosition(o.start.position) <= floor.lsn);

  const summary: BinlogReadSummary = {
    retentionHours: retention.hours,
    archiveEvents: 0,
    streamEvents: 0,
    archiveChunksRead: 0,
  };
  let last: ReadEvent | undefined;
  // The first event printed decides whether the start is inside what can be read.
  let checked = false;
  const check = async (event: ReadEvent) => {
    if (checked) return;
    checked = true;
    if (event.commitTimeMs < cutoffMs || belowFloor()) throw await tooEarly();
  };
  const archived = await readArchive({
    ...o,
    chain,
    fromStart,
    markers,
    nowMs,
    onFloor: (f) => {
      floor = f;
    },
    onEvent: async (event) => {
      await check(event);
      await o.onEvent(event);
      last = event;
      summary.archiveEvents++;
      return true;
    },
  });
  summary.archiveChunksRead = archived.chunksRead;
  // Nothing archived at or after the start: it may still lie below the floor.
  if (!checked && belowFloor()) throw await tooEarly();
  if (o.signal?.aborted) return summary;
  await readStream(o, last, archived.lastCommitTimeMs, async (event) => {
    await check(event);
    await o.onEvent(event);
    summary.streamEvents++;
  });
  return summary;
}

/** The stream's shards (all of them, closed ones included). */
async function listShards(kinesis: KinesisClient, streamName: string): Promise<string[]> {
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const out = await kinesis.send(
      new ListShardsCommand(token === undefined ? { StreamName: streamName } : { NextToken: token }),
    );
    for (const s of out.Shards ?? []) if (s.ShardId) ids.push(s.ShardId);
    token = out.NextToken;
  } while (token !== undefined && ids.length < shardsMax);
  return ids;
}

async function shardIterator(
  kinesis: KinesisClient,
  streamName: string,
  shardId: string,
  fromMs: number | undefined,
  afterSequence: string | undefined,
): Promise<string | undefined> {
  const base = { StreamName: streamName, ShardId: shardId };
  let input: GetShardIteratorCommandInput = { ...base, ShardIteratorType: 'TRIM_HORIZON' };
  if (afterSequence !== undefined) {
    input = { ...base, ShardIteratorType: 'AFTER_SEQUENCE_NUMBER', StartingSequenceNumber: afterSequence };
  } else if (fromMs !== undefined) {
    // Never in the future (Kinesis refuses it): nothing can have arrived after now anyway.
    const at = new Date(Math.min(fromMs, Date.now() - 1));
    try {
      const got = await kinesis.send(
        new GetShardIteratorCommand({ ...base, ShardIteratorType: 'AT_TIMESTAMP', Timestamp: at }),
        { abortSignal: AbortSignal.timeout(iteratorTimeoutMs) },
      );
      return got.ShardIterator;
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'AbortError' && name !== 'TimeoutError') throw error;
    }
  }
  return (await kinesis.send(new GetShardIteratorCommand(input))).ShardIterator;
}

/**
 * The stream's events after `after` (the last one the archive printed) and at or after the start,
 * shards merged into position order, through `emit`.
 */
async function readStream(
  o: BinlogReadOptions,
  after: ReadEvent | undefined,
  archiveLastCommitTimeMs: number | undefined,
  emit: (event: ReadEvent) => Promise<void>,
): Promise<void> {
  const shardIds = await listShards(o.kinesis, o.streamName);
  if (shardIds.length === 0) return;
  const fromMs = streamStartMs(archiveLastCommitTimeMs, o.start);
  const merge = new ShardMerge<ReadEvent>(shardIds, after?.position);
  const iterators = new Map<string, string | undefined>();
  const lastSequence = new Map<string, string>();
  // In parallel: on kinesalite a shard with nothing after the time costs one iteratorTimeoutMs.
  const firstIterators = await Promise.all(
    shardIds.map((id) => shardIterator(o.kinesis, o.streamName, id, fromMs, undefined)),
  );
  for (const [i, id] of shardIds.entries()) iterators.set(id, firstIterators[i]);
  let endTick: number | undefined;
  let failures = 0;
  while (!o.signal?.aborted) {
    let backlog = false;
    for (const id of shardIds) {
      if (!merge.wantsRead(id)) continue;
      const iterator = iterators.get(id);
      if (iterator === undefined) {
        merge.endRead(id, merge.beginRead(id), [], { caughtUp: true, closed: true });
        continue;
      }
      const tick = merge.beginRead(id);
      let out: GetRecordsCommandOutput;
      try {
        out = await o.kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: getRecordsLimit }),
        );
        failures = 0;
      } catch (error) {
        if (++failures >= streamFailuresMax) throw error;
        // An expired iterator (or a throttled read): continue after the last record read.
        if ((error as Error).name === 'ExpiredIteratorException') {
          iterators.set(id, await shardIterator(o.kinesis, o.streamName, id, fromMs, lastSequence.get(id)));
        }
        await sleep(streamPollIdleMs * 2 ** Math.min(failures, 5), o.signal);
        continue;
      }
      const records = out.Records ?? [];
      const events: ReadEvent[] = [];
      for (const r of records) {
        const event = parseStreamRecord(r.Data ?? new Uint8Array(), `${id}/${r.SequenceNumber}`);
        if (isAtOrAfterStart(event, o.start)) events.push(event);
      }
      if (records.length > 0) lastSequence.set(id, records.at(-1)!.SequenceNumber!);
      iterators.set(id, out.NextShardIterator);
      // kinesalite always says MillisBehindLatest 0: a full page means there may be more.
      const caughtUp = out.MillisBehindLatest === 0 && records.length < getRecordsLimit;
      if (!caughtUp) backlog = true;
      merge.endRead(id, tick, events, { caughtUp, closed: out.NextShardIterator === undefined });
    }
    if (!o.follow && endTick === undefined && merge.allCaughtUp()) endTick = merge.tick;
    for (const event of merge.takeReady(endTick)) await emit(event);
    if (endTick !== undefined && merge.finished(endTick)) return;
    if (!backlog) await sleep(streamPollIdleMs, o.signal);
  }
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
