// The storage node's state machine: every request of the storage protocol, and the background work
// (gossip, coalescing, GC, log collection, scrub). Foreground work is only append → fsync → ack;
// everything else runs off that path, in bounded batches per tick.
import { join } from 'node:path';
import { assert } from '../../core/assert.ts';
import { newestCommitAtOrBefore as newestCommitOnTimeline } from '../../core/backtrack/commit-search.ts';
import { type BacktrackMarker, onTimeline, type Timeline } from '../../core/backtrack/timeline.ts';
import { applyDelta } from '../../core/delta.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { pgIdAll, recordsPerGossipMax } from '../../core/limits.ts';
import type { Logger } from '../../core/log.ts';
import { LSN_MAX, type Lsn, lsnMax, lsnMin, lsnToString } from '../../core/lsn.ts';
import {
  decodeCommitPayload,
  decodeEpochPayload,
  decodeRecord,
  decodeTruncateRangePayload,
  encodeEpochPayload,
  encodeRecords,
  encodeTruncateRangePayload,
  RecordKind,
  type RedoRecord,
} from '../../core/record.ts';
import { pageRangeOfPg, segmentsOnNode, type VolumeConfig } from '../../core/volume.ts';
import type {
  GossipRecordsMessage,
  SegmentRecoveryInfo,
  StorageMessage,
  TruncationRange,
} from '../../core/wire/messages.ts';
import {
  clipByMarkers,
  markerListUpdateProblem,
  markerVoids,
  markerVoidsAsTruncations,
  readBacktrackMarkers,
  writeBacktrackMarkers,
} from './backtrack.ts';
import {
  collectionBase,
  collectionTarget,
  lowestPeerScl,
  mergeWriterFloor,
  type PeerSclSample,
  type RetainedBy,
  type WriterFloor,
} from './log-collection.ts';
import type { StorageMetrics } from './metrics.ts';
import { isPageRecord, Segment } from './segment.ts';
import {
  type CollectionManifest,
  readCollectionManifest,
  writeCollectionManifest,
} from './store/collection-manifest.ts';
import { LogFile, type LogLocation, logFileBytesMax } from './store/log-file.ts';
import { PageStore, versionKey } from './store/page-store.ts';

export interface StorageNodeOptions {
  id: string;
  az: string;
  dataDir: string;
  volume: VolumeConfig;
  logger: Logger;
  /** Keep page versions at least this long (backtrack/backup window). */
  retentionMs: number;
  /** Coalesce at least this often (coalesceIfDue); a large backlog starts a batch sooner. */
  coalesceIntervalMs?: number;
  /** Log files roll over at this size (default logFileBytesMax); collection deletes whole files. */
  logFileBytesMax?: number;
  /** A peer segment not heard from for this long no longer holds log collection back (it rebuilds). */
  peerStaleMs?: number;
  clock?: () => number;
}

/** Default of StorageNodeOptions.peerStaleMs: a peer away this long rebuilds from page images. */
export const peerStaleMsDefault = 10 * 60_000;

/** Where one segment's log stands: reported in /metrics and /health. */
export interface SegmentLogStatus {
  pg: number;
  kind: 'full' | 'tail';
  baseLsn: Lsn;
  /** The lowest LSN the segment still holds (0: none). */
  oldestRetainedLsn: Lsn;
  /** Which input holds the log there (the minimum of the collection inputs). */
  retainedBy: RetainedBy;
  indexEntries: number;
}

/** Records coalesced per segment per tick: bounds the time one tick holds the event loop. */
const coalesceRecordsPerTick = 4096;
/**
 * Log bytes coalesced per tick over all segments: a tick holds the page-store queue, and truncation,
 * a backtrack marker or a repair wait behind it. 4096 records of page images (a 1 GB fill of blobs)
 * made one tick ~64 MB and a recovery's truncation time out behind it; 4 MiB keeps that wait short.
 */
const coalesceBytesPerTick = 4 * 1024 * 1024;
/**
 * A page with this many records waiting starts a coalesce batch before the interval is up: getPage
 * replays a page's records above its newest version from the log, and this bounds that replay.
 */
const pageRecordsPendingMax = 32;
/**
 * Coalesce every second by default: a batch stores one version per page it touches (the newest), so
 * the longer the interval, the fewer versions (4 KiB+ of B-tree writes each) for the same records.
 */
export const coalesceIntervalMsDefault = 1000;
/** Records and page versions the scrub re-checks per tick. */
const scrubItemsPerTick = 512;
/** Page versions examined by GC per segment per tick. */
const gcVersionsPerTick = 8192;

export class StorageNode {
  readonly id: string;
  readonly az: string;
  readonly volume: VolumeConfig;
  readonly segments = new Map<number, Segment>();
  epoch = 0n;
  /**
   * A node that starts on an empty data dir has forgotten the epoch it once enforced: until gossip has
   * taught it the volume's epoch from enough peers, it takes no appends (it could otherwise help a
   * fenced writer to a write quorum).
   */
  acceptsAppends: boolean;
  readonly #log: LogFile;
  readonly #logDir: string;
  readonly #pages: PageStore;
  readonly #logger: Logger;
  readonly #clock: () => number;
  readonly #retentionMs: number;
  readonly #coalesceIntervalMs: number;
  #coalesceTicks = 0;
  /** The last tick stopped at the byte budget with records left: the next check runs another. */
  #coalesceCutShort = false;
  #lastCoalesceMs = 0;
  /** PGMRPL per PG (or pgIdAll for every PG): never lowered, since GC and pruning act on it. */
  readonly #readPointFloor = new Map<number, Lsn>();
  /** Where GC resumes in each PG's versions (the key after the last one it examined). */
  readonly #gcCursor = new Map<number, Buffer>();
  /** Where the version scrub resumes in each PG's versions. */
  readonly #scrubCursor = new Map<number, Buffer>();
  #metrics: StorageMetrics | undefined;
  /** The writer's collection inputs (archive watermark, backtrack, secondary): never lowered. */
  #writerFloor: WriterFloor | undefined;
  /** Per PG hosted: what each peer segment last said its SCL was (gossip), for the gossip input. */
  readonly #peerScl = new Map<number, Map<string, PeerSclSample>>();
  readonly #peerStaleMs: number;
  /** Per log file: per PG, the highest LSN of its records written there. A file goes when all are collected. */
  readonly #fileMaxLsn: Map<number, Map<number, Lsn>>;
  /** Per PG: the exactFromLsn the next manifest records (reads a restart must refuse below). */
  readonly #exactFrom = new Map<number, Lsn>();
  /** Per PG: the last collection target and the input that set it. */
  readonly #retainedBy = new Map<number, RetainedBy>();
  /** Serialises page-store writers (coalescer, truncation, GC, repair) so none undoes another. */
  #pageStoreQueue: Promise<unknown> = Promise.resolve();
  /** The volume's backtrack markers (durable in backtrack.json): the timeline (ADR 015). */
  #backtrackMarkers: BacktrackMarker[] = [];
  readonly #dataDir: string;
  readonly openStats: { records: number; tailCutBytes: number; tailCutReason?: string };

  private constructor(
    options: StorageNodeOptions,
    log: LogFile,
    pages: PageStore,
    fresh: boolean,
    fileMaxLsn: Map<number, Map<number, Lsn>>,
  ) {
    this.id = options.id;
    this.#logDir = join(options.dataDir, 'log');
    this.#dataDir = options.dataDir;
    this.#fileMaxLsn = fileMaxLsn;
    this.#peerStaleMs = options.peerStaleMs ?? peerStaleMsDefault;
    this.az = options.az;
    this.volume = options.volume;
    this.#log = log;
    this.#pages = pages;
    this.#logger = options.logger;
    this.#clock = options.clock ?? Date.now;
    this.#retentionMs = options.retentionMs;
    this.#coalesceIntervalMs = options.coalesceIntervalMs ?? coalesceIntervalMsDefault;
    this.acceptsAppends = !fresh;
    this.openStats = { records: 0, tailCutBytes: 0 };
    // Every peer of every hosted PG is 'not heard yet' until gossip reaches it (or it goes stale).
    const startMs = this.#clock();
    for (const p of options.volume.placement) {
      const peers = new Map<string, PeerSclSample>();
      for (const s of p.segments)
        if (s.nodeId !== options.id) peers.set(s.nodeId, { scl: undefined, heardAtMs: startMs });
      this.#peerScl.set(p.pg, peers);
    }
  }

  static open(options: StorageNodeOptions): StorageNode {
    const pages = new PageStore(join(options.dataDir, 'pages'));
    const hosted = segmentsOnNode(options.volume, options.id);
    if (hosted.length === 0) {
      throw new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `node ${options.id} holds no segment in the volume config`,
      );
    }
    const logDir = join(options.dataDir, 'log');
    // Where each segment's log starts (log collection), and the epoch and truncations it kept.
    const manifest = readCollectionManifest(logDir);
    const manifestOf = (pg: number) => manifest?.segments.find((s) => s.pg === pg);
    // The timeline first: records the log replays off it are set aside, truncations are clipped by it.
    const markers = readBacktrackMarkers(options.dataDir);
    const voids = markerVoids(markers);
    const segments = new Map(
      hosted.map((h) => {
        const m = manifestOf(h.pg);
        const segment = new Segment(h.pg, h.kind, m?.baseLsn ?? 0n, m?.exactFromLsn ?? 0n);
        const truncations = (m?.truncations ?? []).flatMap((t) => clipByMarkers(t, markers));
        segment.retimeline(voids, truncations);
        return [h.pg, segment];
      }),
    );
    let epoch = manifest?.epoch ?? 0n;
    const fileMaxLsn = new Map<number, Map<number, Lsn>>();
    const { log, stats } = LogFile.open(
      logDir,
      (record, location) => {
        noteWritten(fileMaxLsn, record, location);
        if (record.kind === RecordKind.Epoch) {
          const e = decodeEpochPayload(record.payload).epoch;
          if (e > epoch) epoch = e;
          return;
        }
        const segment = segments.get(record.pg);
        if (!segment) return; // placement moved away from this node: the record is not ours any more
        if (record.kind === RecordKind.TruncateRange) {
          for (const t of clipByMarkers(decodeTruncateRangePayload(record.payload), markers))
            segment.truncate(t);
          return;
        }
        segment.hold(record, location);
      },
      options.logFileBytesMax ?? logFileBytesMax,
    );
    // A crash between a truncation marker reaching the log and its page versions leaving the page
    // store would leave versions of void records behind, which reads above the range would start from.
    for (const segment of segments.values()) {
      if (segment.kind !== 'full') continue;
      const removed = pages.reconcileTruncations(segment.pg, segment.truncations);
      if (removed > 0) {
        options.logger.warn({ pg: segment.pg, removed }, 'removed page versions of truncated records');
      }
      segment.resumeCoalescingAt(lsnMax(pages.coalescedLsn(segment.pg), segment.baseLsn));
    }
    const node = new StorageNode(
      options,
      log,
      pages,
      stats.records === 0 && manifest === undefined,
      fileMaxLsn,
    );
    for (const m of manifest?.segments ?? []) node.#exactFrom.set(m.pg, m.exactFromLsn);
    node.epoch = epoch;
    node.#backtrackMarkers = markers;
    for (const [pg, segment] of segments) node.segments.set(pg, segment);
    node.openStats.records = stats.records;
    node.openStats.tailCutBytes = stats.tailCutBytes;
    if (stats.tailCutReason) node.openStats.tailCutReason = stats.tailCutReason;
    if (stats.tailCutBytes > 0) {
      options.logger.warn(
        { tailCutBytes: stats.tailCutBytes, reason: stats.tailCutReason },
        'cut a torn or corrupt log tail; gossip refills what was lost',
      );
    }
    options.logger.info(
      {
        records: stats.records,
        epoch: epoch.toString(),
        fresh: stats.records === 0,
        segments: [...segments.values()].map((s) => ({ pg: s.pg, kind: s.kind, scl: lsnToString(s.scl) })),
      },
      'storage node opened',
    );
    return node;
  }

  attachMetrics(metrics: StorageMetrics): void {
    this.#metrics = metrics;
    metrics.tailCutBytes.set(this.openStats.tailCutBytes);
    this.#log.onFlush = ({ batches, bytes, fsyncSeconds }) => {
      metrics.fsyncs.inc();
      metrics.fsyncSeconds.observe(fsyncSeconds);
      metrics.bytesAppended.inc(bytes);
      metrics.appendBatches.inc(batches);
    };
  }

  get versionsRetained(): number {
    return this.#pages.versionCount;
  }

  /** Answers one request. Throws BorealisError for every rejection; the server turns it into an error frame. */
  async handle(message: StorageMessage): Promise<StorageMessage> {
    switch (message.type) {
      case 'append':
        return this.#append(message.epoch, message.records);
      case 'getPage':
        return this.#getPage(message.pg, message.pageNo, message.readPoint);
      case 'recoveryInfo':
        return this.#recoveryInfo(message.epoch);
      case 'truncate':
        return this.#truncate(message.epoch, message.pg, message.aboveLsn, message.uptoLsn);
      case 'cplBelow': {
        const segment = this.#segment(message.pg);
        const lsn = segment.lastCplBelow(message.belowLsn);
        const record = lsn === 0n ? undefined : this.#readRecord(segment, lsn);
        return { type: 'cplBelowReply', pg: message.pg, record };
      }
      case 'gossipPull':
        return this.#gossipPull(message.pg, message.afterLsn, message.uptoLsn, message.maxBytes);
      case 'readPointFloor': {
        if (message.pg !== pgIdAll) this.#segment(message.pg);
        // PGMRPL only moves forward; a lower value (a late or reordered message) cannot bring back
        // what GC and pruning have already let go of, so it is not taken.
        const floor = this.#readPointFloor.get(message.pg) ?? 0n;
        if (message.lsn > floor) this.#readPointFloor.set(message.pg, message.lsn);
        return { type: 'readPointFloorAck' };
      }
      case 'collectionFloor': {
        // A fenced writer's inputs change nothing; a newer writer's replace the old ones.
        if (message.epoch < this.epoch) return { type: 'readPointFloorAck' };
        this.#writerFloor = mergeWriterFloor(this.#writerFloor, {
          epoch: message.epoch,
          archive: message.archive,
          backtrack: message.backtrack,
          globalSecondary: message.globalSecondary,
        });
        return { type: 'readPointFloorAck' };
      }
      case 'segmentBases':
        return {
          type: 'segmentBasesReply',
          segments: [...this.segments.values()].map((s) => ({ pg: s.pg, baseLsn: s.baseLsn, scl: s.scl })),
        };
      case 'pageImages':
        return this.#pageImages(message.pg, message.atLsn, message.fromPageNo, message.maxBytes);
      case 'ping':
        return { type: 'pong' };
      default:
        throw new BorealisError(
          ErrorCode.UNKNOWN_MESSAGE_TYPE,
          `a storage node does not serve ${message.type}`,
        );
    }
  }

  #segment(pg: number): Segment {
    const segment = this.segments.get(pg);
    if (!segment) {
      throw new BorealisError(ErrorCode.UNKNOWN_PG, `node ${this.id} holds no segment of pg ${pg}`, {
        context: { pg, node: this.id },
      });
    }
    return segment;
  }

  #checkEpoch(epoch: bigint, what: string): void {
    if (epoch < this.epoch) {
      throw new BorealisError(
        ErrorCode.STALE_EPOCH,
        `${what} at epoch ${epoch} refused: volume epoch is ${this.epoch}`,
        { context: { epoch: epoch.toString(), volumeEpoch: this.epoch.toString(), node: this.id } },
      );
    }
  }

  /** Bumps the epoch in memory at once (later stale requests are refused) and returns its log marker. */
  #adoptEpoch(epoch: bigint): Buffer[] {
    if (epoch <= this.epoch) return [];
    this.epoch = epoch;
    this.#logger.info({ epoch: epoch.toString() }, 'adopted a new volume epoch');
    return [
      encodeRecords([
        {
          lsn: 1n,
          pg: pgIdAll,
          pageNo: 0,
          prevLsnInPg: 0n,
          prevLsnOfPage: 0n,
          kind: RecordKind.Epoch,
          flags: 0,
          payload: encodeEpochPayload({ epoch }),
        },
      ]),
    ];
  }

  /** Adopts an epoch learned from peers, durably, before acting on it. */
  async adoptEpochDurably(epoch: bigint): Promise<void> {
    const marker = this.#adoptEpoch(epoch);
    if (marker.length > 0) await this.#log.append(marker);
  }

  #validateRecord(record: RedoRecord, segment: Segment, claims: Map<Lsn, Lsn>): void {
    const bad = (why: string) =>
      new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `record ${lsnToString(record.lsn)} of pg ${record.pg}: ${why}`,
        {
          context: { lsn: record.lsn.toString(), pg: record.pg, pageNo: record.pageNo },
        },
      );
    if (record.kind === RecordKind.Epoch || record.kind === RecordKind.TruncateRange) {
      throw bad('epoch and truncation markers are not appended by clients');
    }
    if (isPageRecord(record.kind)) {
      const range = pageRangeOfPg(this.volume, record.pg);
      if (record.pageNo < range.first || record.pageNo > range.last) {
        throw bad(`page ${record.pageNo} is outside the PG (pages ${range.first}–${range.last})`);
      }
      if (record.kind === RecordKind.PageImage && record.payload.length !== this.volume.pageSizeBytes) {
        throw bad(`page image of ${record.payload.length} bytes, page size is ${this.volume.pageSizeBytes}`);
      }
    }
    const problem = segment.problemWith(record, claims);
    if (problem) throw bad(problem);
  }

  async #append(epoch: bigint, records: RedoRecord[]): Promise<StorageMessage> {
    if (!this.acceptsAppends) {
      throw new BorealisError(
        ErrorCode.NOT_READY,
        `node ${this.id} is rebuilding and has not learned the epoch yet`,
      );
    }
    this.#checkEpoch(epoch, 'append');
    // Validate everything before anything changes: a bad request changes nothing.
    const claimsByPg = new Map<number, Map<Lsn, Lsn>>();
    for (const record of records) {
      const segment = this.#segment(record.pg);
      let claims = claimsByPg.get(record.pg);
      if (!claims) {
        claims = new Map();
        claimsByPg.set(record.pg, claims);
      }
      this.#validateRecord(record, segment, claims);
    }
    const buffers = this.#adoptEpoch(epoch);
    const writes: RedoRecord[] = [];
    for (const record of records) {
      const segment = this.segments.get(record.pg)!;
      if (!segment.needsWrite(record)) continue;
      segment.claim(record);
      writes.push(record);
      buffers.push(encodeRecords([record]));
    }
    if (buffers.length > 0) {
      const locations = await this.#appendClaimed(writes, buffers);
      this.#holdAll(writes, locations.slice(locations.length - writes.length));
    }
    return {
      type: 'appendAck',
      epoch: this.epoch,
      scls: [...claimsByPg.keys()].map((pg) => ({ pg, scl: this.segments.get(pg)!.scl })),
    };
  }

  /** Appends claimed records; a refused append (no space) gives their claims back, so they can come again. */
  async #appendClaimed(claimed: RedoRecord[], buffers: Buffer[]): Promise<LogLocation[]> {
    try {
      return await this.#log.append(buffers);
    } catch (error) {
      for (const record of claimed) this.segments.get(record.pg)?.unclaim(record);
      throw error;
    }
  }

  /** The last append refused for want of space, until one succeeds again (undefined: none). */
  get spaceError(): { message: string; atMs: number } | undefined {
    return this.#log.spaceError;
  }

  #holdAll(records: RedoRecord[], locations: LogLocation[]): number {
    let added = 0;
    records.forEach((record, i) => {
      noteWritten(this.#fileMaxLsn, record, locations[i]!);
      if (this.segments.get(record.pg)!.hold(record, locations[i]!)) added++;
    });
    this.#metrics?.recordsAppended.inc(added);
    return added;
  }

  async #getPage(pg: number, pageNo: number, readPoint: Lsn): Promise<StorageMessage> {
    const segment = this.#segment(pg);
    if (segment.kind !== 'full') {
      throw new BorealisError(
        ErrorCode.NOT_FULL_SEGMENT,
        `pg ${pg} is a tail segment on node ${this.id}: no pages`,
        {
          context: { pg, node: this.id },
        },
      );
    }
    const range = pageRangeOfPg(this.volume, pg);
    if (pageNo < range.first || pageNo > range.last) {
      throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `page ${pageNo} is not in pg ${pg}`, {
        context: { pg, pageNo, first: range.first, last: range.last },
      });
    }
    if (readPoint > segment.scl) {
      throw new BorealisError(
        ErrorCode.NOT_COMPLETE,
        `pg ${pg} on node ${this.id} is complete to ${lsnToString(segment.scl)}, below read point ${lsnToString(readPoint)}`,
        { context: { pg, scl: segment.scl.toString(), readPoint: readPoint.toString(), node: this.id } },
      );
    }
    const page = this.#materialise(segment, pageNo, readPoint);
    return { type: 'page', versionLsn: page.lsn, page: page.bytes };
  }

  #floorOf(pg: number): Lsn | undefined {
    return this.#readPointFloor.get(pg) ?? this.#readPointFloor.get(pgIdAll);
  }

  /**
   * The page as of readPoint: its newest intact stored version at or below readPoint, plus its records
   * above that version, read back from the log. Refused when records it would need were pruned (the
   * read point is below the floor, and the version it would start from has been collected).
   */
  #materialise(segment: Segment, pageNo: number, readPoint: Lsn): { lsn: Lsn; bytes: Uint8Array } {
    let base = this.#pages.latest(segment.pg, pageNo, readPoint);
    let corrupt: Lsn | undefined;
    // A rotten version is skipped: an older one plus the log gives the same page, while the lists allow.
    // So is a version off the timeline (a backtrack voided it; a backtrack forward may want it again).
    for (let voided = base && segment.backtrackVoidOf(base.lsn); base && (!base.intact || voided); ) {
      if (voided) base = this.#pages.latest(segment.pg, pageNo, voided.aboveLsn);
      else {
        corrupt ??= base.lsn;
        base = this.#pages.latest(segment.pg, pageNo, base.lsn - 1n);
      }
      voided = base && segment.backtrackVoidOf(base.lsn);
    }
    let lsn = base?.lsn ?? 0n;
    let bytes: Uint8Array = base?.bytes ?? new Uint8Array(0);
    // Below exactFromLsn, records a read may need were collected before the last restart (or never
    // held: a segment rebuilt from page images): only a version exactly at the read point will do.
    const pruned = readPoint < segment.exactFromLsn ? LSN_MAX : segment.prunedUpto(pageNo);
    if (lsn < pruned && lsn !== readPoint) {
      if (corrupt !== undefined) {
        throw new BorealisError(
          ErrorCode.NOT_COMPLETE,
          `page ${pageNo} version ${lsnToString(corrupt)} is corrupt; scrub repairs it`,
          { context: { pg: segment.pg, pageNo }, retryable: true },
        );
      }
      const floor = this.#floorOf(segment.pg);
      throw new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `page ${pageNo} of pg ${segment.pg} cannot be read at ${lsnToString(readPoint)}: below the read point floor ${floor === undefined ? '(unset)' : lsnToString(floor)}, its versions are collected`,
        {
          context: {
            pg: segment.pg,
            pageNo,
            readPoint: readPoint.toString(),
            floor: floor?.toString(),
            prunedUpto: pruned.toString(),
          },
        },
      );
    }
    for (const recordLsn of segment.pageRecordsIn(pageNo, lsn, readPoint)) {
      const record = this.#readRecord(segment, recordLsn);
      bytes = this.#applyRecord(bytes, record);
      lsn = recordLsn;
    }
    return { lsn, bytes };
  }

  #applyRecord(page: Uint8Array, record: RedoRecord): Uint8Array {
    if (record.kind === RecordKind.PageImage) return Buffer.from(record.payload);
    const base = page.length === 0 ? new Uint8Array(this.volume.pageSizeBytes) : page;
    return applyDelta(base, record.payload);
  }

  #readRecord(segment: Segment, lsn: Lsn): RedoRecord {
    const entry = segment.entry(lsn);
    if (!entry) {
      throw new BorealisError(
        ErrorCode.INTERNAL,
        `record ${lsnToString(lsn)} of pg ${segment.pg} is not held`,
      );
    }
    return this.#decodeHeld(segment, lsn, this.#log.read(entry.location));
  }

  /** Decodes (and CRC-checks) the log bytes of a held record, which must be that record. */
  #decodeHeld(segment: Segment, lsn: Lsn, raw: Buffer): RedoRecord {
    const { record } = decodeRecord(raw, 0);
    if (record.lsn !== lsn || record.pg !== segment.pg) {
      throw new BorealisError(ErrorCode.BAD_CRC, `log entry for ${lsnToString(lsn)} holds another record`);
    }
    return record;
  }

  async #recoveryInfo(epoch: bigint): Promise<StorageMessage> {
    if (epoch > 0n) {
      this.#checkEpoch(epoch, 'recovery');
      const marker = this.#adoptEpoch(epoch);
      if (marker.length > 0) await this.#log.append(marker);
    }
    return { type: 'recoveryInfoReply', epoch: this.epoch, segments: this.recoveryInfo() };
  }

  recoveryInfo(): SegmentRecoveryInfo[] {
    // A backtrack voided up to its fromLsn: a writer opening after it must allocate above (ADR 015).
    const resumeAbove = this.#backtrackMarkers[this.#backtrackMarkers.length - 1]?.fromLsn ?? 0n;
    return [...this.segments.values()].map((s) => ({
      pg: s.pg,
      kind: s.kind,
      scl: s.scl,
      maxLsn: s.maxLsn,
      truncatedUpto: lsnMax(s.truncatedUpto, resumeAbove),
      lastCplLsn: s.lastCplLsn,
    }));
  }

  async #truncate(epoch: bigint, pg: number, aboveLsn: Lsn, uptoLsn: Lsn): Promise<StorageMessage> {
    this.#checkEpoch(epoch, 'truncate');
    const segment = this.#segment(pg);
    if (aboveLsn > uptoLsn) {
      throw new BorealisError(ErrorCode.INVALID_ARGUMENT, 'truncate needs aboveLsn <= uptoLsn', {
        context: { aboveLsn: aboveLsn.toString(), uptoLsn: uptoLsn.toString() },
      });
    }
    await this.applyTruncations(pg, [{ epoch, aboveLsn, uptoLsn }], this.#adoptEpoch(epoch));
    return { type: 'truncated', pg, scl: segment.scl, tailLsn: segment.lastHeldAtOrBelow(aboveLsn) };
  }

  /** Persists truncation markers (and any epoch marker) and applies them to the segment and its pages. */
  async applyTruncations(pg: number, ranges: TruncationRange[], extra: Buffer[] = []): Promise<void> {
    const segment = this.#segment(pg);
    // Parts of a range a backtrack marker governs stay the marker's (a backtrack forward restores them).
    const fresh = ranges
      .flatMap((t) => clipByMarkers(t, this.#backtrackMarkers))
      .filter((t) => !segment.truncations.some((x) => x.aboveLsn === t.aboveLsn && x.uptoLsn === t.uptoLsn));
    const buffers = [
      ...extra,
      ...fresh.map((t) =>
        encodeRecords([
          {
            lsn: t.uptoLsn > 0n ? t.uptoLsn : 1n,
            pg,
            pageNo: 0,
            prevLsnInPg: 0n,
            prevLsnOfPage: 0n,
            kind: RecordKind.TruncateRange,
            flags: 0,
            payload: encodeTruncateRangePayload(t),
          },
        ]),
      ),
    ];
    if (buffers.length > 0) await this.#log.append(buffers);
    for (const t of fresh) {
      segment.truncate(t);
      this.#logger.info(
        { pg, epoch: t.epoch.toString(), aboveLsn: lsnToString(t.aboveLsn), uptoLsn: lsnToString(t.uptoLsn) },
        'truncated segment',
      );
      if (segment.kind === 'full') {
        await this.#withPageStore(() => this.#pages.removeRange(pg, t.aboveLsn, t.uptoLsn));
      }
    }
  }

  /**
   * Per hosted segment, the newest commit (held or set aside by a void) on `timeline` with commit time
   * at or before timeMs, skipping truncated ones: a backtrack's target is the newest over a read quorum
   * of every PG. Commit times never go backwards along a timeline: a binary search reads O(log n)
   * commit records from the local log, whatever the distance (core/backtrack/commit-search.ts).
   */
  newestCommitAtOrBefore(
    timeline: Timeline,
    timeMs: number,
  ): { pg: number; lsn: Lsn; commitTimeMs: number }[] {
    const out: { pg: number; lsn: Lsn; commitTimeMs: number }[] = [];
    for (const segment of this.segments.values()) {
      const found = newestCommitOnTimeline(
        {
          commits: segment.commitsAscending(),
          offTimelineFrom: (lsn) => {
            const truncated = segment.truncations.find((t) => lsn > t.aboveLsn && lsn <= t.uptoLsn);
            if (truncated) return truncated.aboveLsn;
            if (onTimeline(timeline, lsn)) return undefined;
            // The end of the timeline's range below lsn: everything between is off it.
            let below = 0n;
            for (const r of timeline) if (r.uptoLsn < lsn && r.uptoLsn > below) below = r.uptoLsn;
            return below;
          },
          commitTimeOf: (lsn) => {
            const entry = segment.anyEntry(lsn)!;
            const record = this.#decodeHeld(segment, lsn, this.#log.read(entry.location));
            return decodeCommitPayload(record.payload).commitTimeMs;
          },
        },
        timeMs,
      );
      out.push({ pg: segment.pg, lsn: found?.lsn ?? 0n, commitTimeMs: found?.commitTimeMs ?? 0 });
    }
    return out;
  }

  get backtrackMarkers(): readonly BacktrackMarker[] {
    return this.#backtrackMarkers;
  }

  /**
   * Takes the volume's backtrack marker list (ADR 015) from the control plane: a longer list than the
   * one held is made durable (fsync) and its epoch adopted before the segments move to the new
   * timeline. Refused under a newer epoch than the last marker's: a writer opened since (a failover
   * raced the backtrack), so the backtrack fails and the cluster stays as it was — except a catch-up
   * (`catchUp`: a node that missed the push learns completed markers later, under any epoch).
   */
  async applyBacktrackMarkers(
    markers: BacktrackMarker[],
    options: { catchUp?: boolean } = {},
  ): Promise<void> {
    const check = () => {
      const problem = markerListUpdateProblem(this.#backtrackMarkers, markers);
      if (problem) {
        throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `backtrack markers refused: ${problem}`, {
          context: { node: this.id, held: this.#backtrackMarkers.length, sent: markers.length },
        });
      }
      return markers.length > this.#backtrackMarkers.length;
    };
    if (!check()) return;
    const last = markers[markers.length - 1]!;
    // A catch-up (the control plane's background re-push) sends only markers already on a write
    // quorum of every PG: a writer opened since them is expected, so their epoch is not checked.
    if (!options.catchUp) this.#checkEpoch(last.epoch, 'backtrack');
    const queued = performance.now();
    await this.#withPageStore(async () => {
      // Again in the queue: two pushes in flight at once must not replace a longer list by a shorter.
      if (!check()) return;
      const started = performance.now();
      const marker = this.#adoptEpoch(last.epoch);
      if (marker.length > 0) await this.#log.append(marker);
      writeBacktrackMarkers(this.#dataDir, markers);
      this.#backtrackMarkers = markers;
      const voids = markerVoids(markers);
      for (const segment of this.segments.values()) {
        const truncations = segment.truncations.flatMap((t) => clipByMarkers(t, markers));
        segment.retimeline(voids, truncations);
      }
      this.#logger.info(
        {
          seq: last.seq,
          epoch: last.epoch.toString(),
          targetLsn: lsnToString(last.targetLsn),
          fromLsn: lsnToString(last.fromLsn),
          voids: voids.length,
          catchUp: options.catchUp === true,
          // Behind the page-store queue (a coalescing tick), then the durable list and the retimeline.
          queuedMs: Math.round(started - queued),
          applyMs: Math.round(performance.now() - started),
        },
        'backtrack marker applied: segments moved to the new timeline',
      );
    });
  }

  #gossipPull(pg: number, afterLsn: Lsn, uptoLsn: Lsn, maxBytes: number): GossipRecordsMessage {
    const segment = this.#segment(pg);
    const records: RedoRecord[] = [];
    let bytes = 0;
    for (const lsn of segment.lsnsInRange(afterLsn, uptoLsn, recordsPerGossipMax)) {
      const entry = segment.entry(lsn)!;
      if (records.length > 0 && bytes + entry.location.length > maxBytes) break;
      const raw = this.#log.read(entry.location);
      const decoded = tryDecode(raw);
      // A corrupt copy is never passed on: stop here, the scrub repairs it and the peer asks again.
      if (!decoded || decoded.lsn !== lsn) break;
      records.push(decoded);
      bytes += entry.location.length;
    }
    return {
      type: 'gossipRecords',
      pg,
      peerScl: segment.scl,
      epoch: this.epoch,
      // Marker voids too: a recovering writer's walk (and a peer that missed the marker) must see them.
      truncations: [
        ...segment.truncations.map((t) => ({ ...t })),
        ...markerVoidsAsTruncations(this.#backtrackMarkers),
      ],
      records,
    };
  }

  /** Takes records a peer sent (gossip, rebuild, repair): the same durable path as an append. */
  async acceptGossip(reply: GossipRecordsMessage): Promise<number> {
    const segment = this.#segment(reply.pg);
    const extra = this.#adoptEpoch(reply.epoch);
    await this.applyTruncations(reply.pg, reply.truncations, extra);
    const writes: RedoRecord[] = [];
    const claims = new Map<Lsn, Lsn>();
    for (const record of reply.records) {
      if (record.pg !== reply.pg || !segment.needsWrite(record)) continue;
      if (segment.problemWith(record, claims) !== undefined) continue; // a peer's contradiction: skip it
      segment.claim(record);
      writes.push({ ...record, payload: Buffer.from(record.payload) });
    }
    if (writes.length === 0) return 0;
    const locations = await this.#appendClaimed(
      writes,
      writes.map((r) => encodeRecords([r])),
    );
    const added = this.#holdAll(writes, locations);
    this.#metrics?.gossipFills.inc(added);
    return added;
  }

  #withPageStore<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#pageStoreQueue.then(work, work);
    this.#pageStoreQueue = run.catch(() => undefined);
    return run;
  }

  /**
   * Coalesces when the interval is up, or sooner when a batch is full or a page has many records
   * waiting (each one lengthens getPage's replay from the log).
   */
  coalesceIfDue(): Promise<number> {
    let due = this.#coalesceCutShort || this.#clock() - this.#lastCoalesceMs >= this.#coalesceIntervalMs;
    for (const segment of this.segments.values()) {
      const backlog = segment.coalesceBacklog;
      if (backlog.hottestPage >= pageRecordsPendingMax || backlog.records >= coalesceRecordsPerTick)
        due = true;
    }
    return due ? this.coalesce() : Promise.resolve(0);
  }

  /**
   * Background: turns records up to SCL into page versions, storing only the newest version of each
   * page in a batch; reads at points between two stored versions replay the page's records from the
   * log. One page-store transaction per tick for all segments. Returns the number of versions stored.
   */
  coalesce(): Promise<number> {
    this.#lastCoalesceMs = this.#clock();
    return this.#withPageStore(async () => {
      this.#coalesceCutShort = false;
      // What each segment's batch covers, then one read of the log for every batch's page records.
      const plans: { segment: Segment; from: Lsn; upto: Lsn; pageLsns: Lsn[]; first: number }[] = [];
      const locations: LogLocation[] = [];
      let bytes = 0;
      // Each tick starts at the next segment: with the byte budget, none waits behind the others.
      const segments = [...this.segments.values()];
      const start = this.#coalesceTicks++ % Math.max(1, segments.length);
      for (const segment of [...segments.slice(start), ...segments.slice(0, start)]) {
        if (segment.kind !== 'full' || segment.coalescedLsn >= segment.scl) continue;
        if (bytes >= coalesceBytesPerTick) {
          this.#coalesceCutShort = true; // the rest at the next check, not the next interval
          break;
        }
        const from = segment.coalescedLsn;
        const lsns = segment.lsnsInRange(from, segment.scl, coalesceRecordsPerTick);
        if (lsns.length === 0) continue;
        const pageLsns: Lsn[] = [];
        let upto = from;
        for (const lsn of lsns) {
          const entry = segment.entry(lsn)!;
          if (isPageRecord(entry.kind)) {
            // At least one record per batch, so a single huge one still goes through.
            if (pageLsns.length > 0 && bytes + entry.location.length > coalesceBytesPerTick) {
              this.#coalesceCutShort = true;
              break;
            }
            pageLsns.push(lsn);
            locations.push(entry.location);
            bytes += entry.location.length;
          }
          upto = lsn;
        }
        plans.push({ segment, from, upto, pageLsns, first: locations.length - pageLsns.length });
      }
      const raws = this.#log.readMany(locations);
      const batches: {
        segment: Segment;
        upto: Lsn;
        truncationCount: number;
        versions: { pageNo: number; lsn: Lsn; bytes: Uint8Array }[];
      }[] = [];
      for (const { segment, from, upto, pageLsns, first } of plans) {
        const newest = new Map<number, { pageNo: number; lsn: Lsn; bytes: Uint8Array }>();
        try {
          pageLsns.forEach((lsn, i) => {
            const record = this.#decodeHeld(segment, lsn, raws[first + i]!);
            // The page as of the batch start: every record of it up to there is in a version or the list.
            const base =
              newest.get(record.pageNo)?.bytes ?? this.#materialise(segment, record.pageNo, from).bytes;
            newest.set(record.pageNo, { pageNo: record.pageNo, lsn, bytes: this.#applyRecord(base, record) });
          });
        } catch (error) {
          // A corrupt record or version the scrub has not repaired yet: this segment waits, others go on.
          if (!(error instanceof BorealisError)) throw error;
          this.#logger.warn({ pg: segment.pg, err: error.message }, 'coalescing of a segment deferred');
          continue;
        }
        batches.push({
          segment,
          upto,
          truncationCount: segment.truncationCount,
          versions: [...newest.values()],
        });
      }
      if (batches.length === 0) return 0;
      await this.#pages.putVersions(
        batches.map((b) => ({ pg: b.segment.pg, versions: b.versions, coalescedLsn: b.upto })),
        this.#clock(),
      );
      let total = 0;
      for (const b of batches) {
        // A truncation that ran meanwhile lowered coalescedLsn and queued the removal of its range's
        // versions behind this batch: the next batch starts again from the lowered point.
        if (b.segment.truncationCount === b.truncationCount) b.segment.markCoalesced(b.upto);
        total += b.versions.length;
      }
      this.#metrics?.versionsCoalesced.inc(total);
      return total;
    });
  }

  /**
   * Background: drop page versions nobody can read any more — older than the retention window and
   * superseded by a newer version at or below the lowest read point in use (PGMRPL) — and let go of
   * the page records such a version makes unnecessary for every allowed read. Examines a bounded
   * number of versions per segment per tick, resuming where the last tick stopped.
   */
  collectGarbage(): Promise<number> {
    return this.#withPageStore(async () => {
      const now = this.#clock();
      const doomed: { pg: number; pageNo: number; lsn: Lsn }[] = [];
      for (const segment of this.segments.values()) {
        if (segment.kind !== 'full') continue;
        const floor = this.#floorOf(segment.pg);
        if (floor === undefined) continue; // no reader has told us its read point: keep everything
        // Only versions the coalescer has settled (not a batch a truncation is about to undo) count,
        // and none above the backtrack floor: a backtrack may go back to any point above it (ADR 015).
        const backtrackFloor = this.#writerFloor?.backtrack;
        const settled = lsnMin(
          lsnMin(floor, segment.coalescedLsn),
          typeof backtrackFloor === 'bigint' ? backtrackFloor : LSN_MAX,
        );
        let previous: { pageNo: number; lsn: Lsn; createdAtMs: number } | undefined;
        let newestSettled: { pageNo: number; lsn: Lsn } | undefined;
        const prune = () => {
          if (newestSettled) segment.prunePageRecords(newestSettled.pageNo, newestSettled.lsn);
          newestSettled = undefined;
        };
        let examined = 0;
        let last: { pageNo: number; lsn: Lsn } | undefined;
        for (const v of this.#pages.versionHeadersOf(segment.pg, this.#gcCursor.get(segment.pg))) {
          if (examined++ >= gcVersionsPerTick) break;
          if (previous && previous.pageNo !== v.pageNo) prune();
          // A version off the timeline supersedes nothing; below the floor no backtrack can bring it back.
          if (segment.backtrackVoidOf(v.lsn)) {
            if (v.lsn <= settled) doomed.push({ pg: segment.pg, pageNo: v.pageNo, lsn: v.lsn });
            last = v;
            continue;
          }
          // `previous` is superseded by v when v is the same page and still visible at the floor.
          if (
            previous &&
            previous.pageNo === v.pageNo &&
            v.lsn <= settled &&
            previous.createdAtMs < now - this.#retentionMs
          ) {
            doomed.push({ pg: segment.pg, pageNo: previous.pageNo, lsn: previous.lsn });
          }
          if (v.lsn <= settled) newestSettled = v;
          previous = v;
          last = v;
        }
        prune();
        if (examined > gcVersionsPerTick && last) {
          this.#gcCursor.set(segment.pg, versionKey(segment.pg, last.pageNo, last.lsn));
        } else this.#gcCursor.delete(segment.pg);
      }
      await this.#pages.remove(doomed);
      this.#metrics?.versionsCollected.inc(doomed.length);
      return doomed.length;
    });
  }

  /** Gossip heard from a peer node: its segments' SCLs, for the gossip input of log collection. */
  notePeerSegments(nodeId: string, segments: readonly { pg: number; scl: Lsn }[]): void {
    const now = this.#clock();
    for (const s of segments) {
      const sample = this.#peerScl.get(s.pg)?.get(nodeId);
      if (!sample || !this.segments.has(s.pg)) continue;
      sample.scl = s.scl;
      sample.heardAtMs = now;
    }
  }

  /** Each segment's collection target now: how far its log may go, and which input holds it there. */
  #collectionTargets(): Map<number, { upto: Lsn; retainedBy: RetainedBy }> {
    const now = this.#clock();
    const targets = new Map<number, { upto: Lsn; retainedBy: RetainedBy }>();
    for (const segment of this.segments.values()) {
      const full = segment.kind === 'full';
      targets.set(
        segment.pg,
        collectionTarget({
          writer: this.#writerFloor,
          readPointFloor: this.#floorOf(segment.pg),
          ownScl: segment.scl,
          ...(full && { coalescedLsn: segment.coalescedLsn }),
          ...(full && segment.pageRecordsFrom !== undefined && { pageRecordsFrom: segment.pageRecordsFrom }),
          peerScl: lowestPeerScl(this.#peerScl.get(segment.pg)?.values() ?? [], now, this.#peerStaleMs),
        }),
      );
    }
    return targets;
  }

  /**
   * Background: log collection. Moves each segment's base up to what no input needs any more (see
   * log-collection.ts), lets go of the index entries below it and deletes every log file all of whose
   * records are collected. Before a file goes, the page store is made durable (it must hold what the
   * records were coalesced into) and the collection manifest records the new bases, the epoch and the
   * truncations (their markers may be in the file). Returns the number of index entries collected.
   */
  collectLog(): Promise<number> {
    return this.#withPageStore(async () => {
      const targets = this.#collectionTargets();
      const bases = new Map<number, Lsn>();
      for (const segment of this.segments.values()) {
        const target = targets.get(segment.pg)!;
        this.#retainedBy.set(segment.pg, target.retainedBy);
        const base = collectionBase(target.upto, segment.baseLsn, {
          lastCommitAtOrBelow: (lsn) => segment.lastCommitAtOrBelow(lsn),
          chainRecordAtOrBelow: (lsn) => segment.lastHeldAtOrBelow(lsn),
          prevOf: (lsn) => segment.prevOf(lsn),
        });
        if (base > segment.baseLsn) bases.set(segment.pg, base);
      }
      const baseOf = (pg: number) => bases.get(pg) ?? this.segments.get(pg)?.baseLsn ?? LSN_MAX;
      const doomedFiles = this.#log.fileNos.filter(
        (fileNo) =>
          fileNo !== this.#log.currentFileNo &&
          [...(this.#fileMaxLsn.get(fileNo) ?? new Map<number, Lsn>())].every(
            ([pg, max]) => max <= baseOf(pg),
          ),
      );
      if (bases.size === 0 && doomedFiles.length === 0) return 0;
      if (bases.size > 0) {
        for (const [pg] of bases) {
          const segment = this.segments.get(pg)!;
          // Reads a restart must refuse: below what pruning may have relied on so far (PGMRPL and the
          // coalesced LSN now; both only move up, and every pruning used at most their minimum).
          const settled =
            segment.kind === 'full' ? lsnMin(this.#floorOf(pg) ?? 0n, segment.coalescedLsn) : bases.get(pg)!;
          this.#exactFrom.set(pg, lsnMax(this.#exactFrom.get(pg) ?? 0n, lsnMax(settled, bases.get(pg)!)));
        }
        this.#pages.makeDurable();
        this.#writeManifest(bases);
      } else {
        // Only files to delete: their markers must still be covered by the manifest.
        this.#writeManifest(bases);
      }
      let collected = 0;
      for (const [pg, base] of bases) collected += this.segments.get(pg)!.collectUpto(base);
      for (const fileNo of doomedFiles) {
        this.#log.remove(fileNo);
        this.#fileMaxLsn.delete(fileNo);
      }
      this.#metrics?.logRecordsCollected.inc(collected);
      this.#metrics?.logFilesRemoved.inc(doomedFiles.length);
      if (doomedFiles.length > 0) {
        this.#logger.debug(
          { files: doomedFiles, logBytes: this.#log.bytes, collected },
          'collected log files',
        );
      }
      return collected;
    });
  }

  #writeManifest(bases: ReadonlyMap<number, Lsn>): void {
    const manifest: CollectionManifest = {
      epoch: this.epoch,
      segments: [...this.segments.values()].map((s) => ({
        pg: s.pg,
        baseLsn: bases.get(s.pg) ?? s.baseLsn,
        exactFromLsn: this.#exactFrom.get(s.pg) ?? s.exactFromLsn,
        truncations: s.truncations.map((t) => ({ ...t })),
      })),
    };
    writeCollectionManifest(this.#logDir, manifest);
  }

  /** Where each segment's log stands, for /metrics and /health. */
  logStatus(): SegmentLogStatus[] {
    return [...this.segments.values()].map((s) => ({
      pg: s.pg,
      kind: s.kind,
      baseLsn: s.baseLsn,
      oldestRetainedLsn: s.oldestHeldLsn,
      retainedBy: this.#retainedBy.get(s.pg) ?? this.#collectionTargets().get(s.pg)!.retainedBy,
      indexEntries: s.recordCount,
    }));
  }

  get logBytes(): number {
    return this.#log.bytes;
  }

  get logFiles(): number {
    return this.#log.fileNos.length;
  }

  get pageStoreBytes(): number {
    return this.#pages.bytesUsed;
  }

  /**
   * Page images of a full segment as of atLsn (0: its SCL), for a peer segment that is behind this
   * node's log base and so cannot be filled with records: from fromPageNo on, pages that exist, up to
   * maxBytes (at least one page).
   */
  #pageImages(pg: number, atLsn: Lsn, fromPageNo: number, maxBytes: number): StorageMessage {
    const segment = this.#segment(pg);
    if (segment.kind !== 'full') {
      throw new BorealisError(
        ErrorCode.NOT_FULL_SEGMENT,
        `pg ${pg} is a tail segment on node ${this.id}: no pages`,
        {
          context: { pg, node: this.id },
        },
      );
    }
    const at = atLsn === 0n ? segment.scl : atLsn;
    if (at > segment.scl || at < segment.baseLsn) {
      throw new BorealisError(
        ErrorCode.NOT_COMPLETE,
        `pg ${pg} on node ${this.id} cannot give page images at ${lsnToString(at)}: it holds ${lsnToString(segment.baseLsn)}–${lsnToString(segment.scl)}`,
        { context: { pg, atLsn: at.toString(), node: this.id }, retryable: true },
      );
    }
    const range = pageRangeOfPg(this.volume, pg);
    const pages: { pageNo: number; versionLsn: Lsn; bytes: Uint8Array }[] = [];
    let bytes = 0;
    let pageNo = Math.max(fromPageNo, range.first);
    for (; pageNo <= range.last; pageNo++) {
      if (pages.length > 0 && bytes + this.volume.pageSizeBytes > maxBytes) break;
      const page = this.#materialise(segment, pageNo, at);
      if (page.bytes.length === 0) continue; // never written by then
      pages.push({ pageNo, versionLsn: page.lsn, bytes: page.bytes });
      bytes += page.bytes.length;
    }
    return { type: 'pageImagesReply', pg, atLsn: at, nextPageNo: pageNo, done: pageNo > range.last, pages };
  }

  /** A segment rebuilding from page images: stores a batch of them (their versions are exact). */
  storePageImages(
    pg: number,
    images: { pageNo: number; versionLsn: Lsn; bytes: Uint8Array }[],
  ): Promise<void> {
    const segment = this.#segment(pg);
    assert(segment.kind === 'full', 'page images go to a full segment');
    const range = pageRangeOfPg(this.volume, pg);
    for (const image of images) {
      if (
        image.pageNo < range.first ||
        image.pageNo > range.last ||
        image.bytes.length !== this.volume.pageSizeBytes
      ) {
        throw new BorealisError(
          ErrorCode.INVALID_ARGUMENT,
          `a peer sent a bad page image of page ${image.pageNo}`,
          {
            context: { pg, pageNo: image.pageNo, bytes: image.bytes.length },
          },
        );
      }
    }
    return this.#withPageStore(() =>
      this.#pages.putImages(
        pg,
        images.map((i) => ({ pageNo: i.pageNo, lsn: i.versionLsn, bytes: Buffer.from(i.bytes) })),
        this.#clock(),
      ),
    );
  }

  /**
   * Moves a segment that is behind its peers' log base to atLsn (a record of the PG's chain): its page
   * images up to there are stored (full), so the page store's coalesced LSN and the manifest say so,
   * durably, before the segment starts over there. Returns false when it has caught up meanwhile.
   */
  rebaseSegment(pg: number, atLsn: Lsn): Promise<boolean> {
    const segment = this.#segment(pg);
    return this.#withPageStore(async () => {
      if (atLsn <= segment.scl || atLsn <= segment.baseLsn) return false;
      this.#pages.makeDurable(segment.kind === 'full' ? [{ pg, lsn: atLsn }] : []);
      this.#exactFrom.set(pg, lsnMax(this.#exactFrom.get(pg) ?? 0n, atLsn));
      this.#writeManifest(new Map([[pg, atLsn]]));
      const before = segment.scl;
      segment.rebase(atLsn);
      this.#logger.info(
        {
          pg,
          kind: segment.kind,
          from: lsnToString(before),
          to: lsnToString(atLsn),
          scl: lsnToString(segment.scl),
        },
        segment.kind === 'full'
          ? "segment rebuilt from page images past its peers' collected log"
          : "tail segment restarted at its peers' log base (their log below it is collected)",
      );
      return true;
    });
  }

  /**
   * Background scrub, records: re-checks the CRC of a bounded batch per segment, resuming where the
   * last round stopped (each segment gets its share, so a long segment cannot starve the others).
   */
  *scrubRecordsCandidates(
    cursorBySegment: Map<number, Lsn>,
  ): Generator<{ segment: Segment; lsn: Lsn; ok: boolean }> {
    const share = Math.max(64, Math.floor(scrubItemsPerTick / this.segments.size));
    for (const segment of this.segments.values()) {
      let budget = share;
      let last = cursorBySegment.get(segment.pg) ?? 0n;
      let wrapped = true;
      for (const [lsn, entry] of segment.entries(last)) {
        if (budget-- <= 0) {
          wrapped = false;
          break;
        }
        const decoded = tryDecode(this.#log.read(entry.location));
        this.#metrics?.scrubChecked.inc({ what: 'record' });
        yield { segment, lsn, ok: decoded !== undefined && decoded.lsn === lsn && decoded.pg === segment.pg };
        last = lsn;
      }
      cursorBySegment.set(segment.pg, wrapped ? 0n : last);
    }
  }

  /** Writes a good copy of a record (from a peer) and points the index at it. */
  async replaceRecord(segment: Segment, record: RedoRecord): Promise<void> {
    const [location] = await this.#log.append([encodeRecords([record])]);
    noteWritten(this.#fileMaxLsn, record, location!);
    segment.relocate(record.lsn, location!);
    this.#metrics?.scrubRepairs.inc({ what: 'record' });
  }

  /**
   * Page versions whose CRC does not match: a bounded batch, each full segment its share, resuming
   * where the last round stopped (so every version is checked in turn, not just the first ones).
   */
  corruptVersions(
    limit = scrubItemsPerTick,
  ): { pg: number; pageNo: number; lsn: Lsn; createdAtMs: number }[] {
    const bad = [];
    let checked = 0;
    const full = [...this.segments.values()].filter((s) => s.kind === 'full');
    const share = Math.max(1, Math.floor(limit / Math.max(1, full.length)));
    for (const segment of full) {
      let budget = share;
      let last: Buffer | undefined;
      for (const v of this.#pages.versionsOf(segment.pg, this.#scrubCursor.get(segment.pg))) {
        if (budget-- <= 0) break;
        checked++;
        if (!v.intact) bad.push({ pg: v.pg, pageNo: v.pageNo, lsn: v.lsn, createdAtMs: v.createdAtMs });
        last = versionKey(v.pg, v.pageNo, v.lsn);
      }
      if (budget < 0 && last) this.#scrubCursor.set(segment.pg, last);
      else this.#scrubCursor.delete(segment.pg);
    }
    this.#metrics?.scrubChecked.inc({ what: 'page' }, checked);
    return bad;
  }

  async repairVersion(
    v: { pg: number; pageNo: number; lsn: Lsn; createdAtMs: number },
    bytes: Uint8Array,
  ): Promise<void> {
    await this.#withPageStore(() =>
      this.#pages.repair({ ...v, bytes: Buffer.alloc(0), intact: false }, bytes),
    );
    this.#metrics?.scrubRepairs.inc({ what: 'page' });
  }

  async close(): Promise<void> {
    await this.#pageStoreQueue;
    this.#log.close();
    await this.#pages.close();
  }
}

/** Notes that a record of record.pg up to record.lsn lives in location's file (markers need no note). */
function noteWritten(
  fileMaxLsn: Map<number, Map<number, Lsn>>,
  record: RedoRecord,
  location: LogLocation,
): void {
  if (record.kind === RecordKind.Epoch || record.kind === RecordKind.TruncateRange) return;
  let byPg = fileMaxLsn.get(location.fileNo);
  if (!byPg) {
    byPg = new Map();
    fileMaxLsn.set(location.fileNo, byPg);
  }
  if ((byPg.get(record.pg) ?? 0n) < record.lsn) byPg.set(record.pg, record.lsn);
}

function tryDecode(raw: Buffer): RedoRecord | undefined {
  try {
    return decodeRecord(raw, 0).record;
  } catch {
    return undefined;
  }
}
