// The continuous backup in S3, as keys and pure planning: log chunks (compressed redo batches), the
// archive watermark, snapshots (manifests + page packs: many page images per object). Every key a writer, the
// archiver, the snapshot and restore functions and the CLI use is built here, so they agree.
//
// A log chunk's key carries everything planning needs (LSN range, prevLsn, last commit and its
// time), so a restore or a watermark advance is planned from one listing, without downloads. Keys
// are deterministic functions of the content: writing the same chunk twice is a no-op overwrite.
import { coversWithin, type Timeline } from '../backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import type { RedoBatchHeader } from './redo-batch.ts';

const lsnDigits = 20;
const timeDigits = 13;
const timelineDigits = 5;

export function clusterPrefix(cluster: string): string {
  return `clusters/${cluster}/`;
}

export function logPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}log/`;
}

export function watermarkKey(cluster: string): string {
  return `${clusterPrefix(cluster)}watermark.json`;
}

/** Backtrack markers, one object each (written by the writer before it publishes on their timeline). */
export function backtrackPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}backtracks/`;
}

export function backtrackMarkerKey(cluster: string, seq: number): string {
  return `${backtrackPrefix(cluster)}${seq.toString().padStart(5, '0')}.json`;
}

export function snapshotPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}snapshots/`;
}

export function snapshotManifestKey(cluster: string, snapshotId: string): string {
  return `${snapshotPrefix(cluster)}${snapshotId}.json`;
}

export function pagesPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}pages/`;
}

/** Format 1 snapshots: one object per page image, named by its sha256 (read, and expired, still). */
export function pageObjectKey(cluster: string, sha256Hex: string): string {
  return `${pagesPrefix(cluster)}${sha256Hex.slice(0, 2)}/${sha256Hex}`;
}

export function packsPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}packs/`;
}

/** A page pack (format 2): page images back to back, named by the sha256 of the whole body. */
export function packObjectKey(cluster: string, packId: string): string {
  return `${packsPrefix(cluster)}${packId.slice(0, 2)}/${packId}`;
}

/** What a chunk's key says about it. */
export interface ChunkInfo {
  key: string;
  prevLsn: Lsn;
  firstLsn: Lsn;
  lastLsn: Lsn;
  /** 0 when the chunk holds no commit (a slice of a large transaction). */
  lastCommitLsn: Lsn;
  firstCommitTimeMs: number;
  lastCommitTimeMs: number;
  /** The backtrack timeline it was published under (0: before any backtrack; ADR 015). */
  timeline: number;
}

const pad = (n: bigint | number, digits: number) => n.toString().padStart(digits, '0');

export function logChunkKey(cluster: string, h: RedoBatchHeader): string {
  return (
    `${logPrefix(cluster)}${pad(h.firstLsn, lsnDigits)}-${pad(h.lastLsn, lsnDigits)}` +
    `.p${pad(h.prevLsn, lsnDigits)}.c${pad(h.lastCommitLsn, lsnDigits)}` +
    `.t${pad(h.firstCommitTimeMs, timeDigits)}-${pad(h.lastCommitTimeMs, timeDigits)}` +
    // Only after a backtrack, so the keys of a volume that never had one stay as they were.
    `${h.timeline > 0 ? `.k${pad(h.timeline, timelineDigits)}` : ''}.brb.gz`
  );
}

/**
 * A ListObjectsV2 StartAfter that skips every chunk whose firstLsn is <= `lsn`: keys sort by their
 * zero-padded firstLsn, and '.' sorts after the '-' that follows it.
 */
export function logChunkStartAfter(cluster: string, lsn: Lsn): string {
  return `${logPrefix(cluster)}${pad(lsn, lsnDigits)}.`;
}

const chunkKeyPattern =
  /(\d{20})-(\d{20})\.p(\d{20})\.c(\d{20})\.t(\d{13})-(\d{13})(?:\.k(\d{5}))?\.brb\.gz$/;

export function parseLogChunkKey(key: string): ChunkInfo | undefined {
  const m = chunkKeyPattern.exec(key);
  if (!m) return undefined;
  return {
    key,
    firstLsn: BigInt(m[1]!),
    lastLsn: BigInt(m[2]!),
    prevLsn: BigInt(m[3]!),
    lastCommitLsn: BigInt(m[4]!),
    firstCommitTimeMs: Number(m[5]!),
    lastCommitTimeMs: Number(m[6]!),
    timeline: m[7] === undefined ? 0 : Number(m[7]),
  };
}

/** The archive watermark: the log is gap-free from the start (or the oldest snapshot) up to `lsn`. */
export interface Watermark {
  /** Last record of the contiguous archived log (decimal string: LSNs are 64-bit). */
  lsn: string;
  /** Newest commit in it: the latest restorable point. */
  commitLsn: string;
  commitTimeMs: number;
  updatedAt: string;
}

export interface LogChain {
  chunks: ChunkInfo[];
  /** Where the chain ends (fromLsn when nothing continues it). */
  endLsn: Lsn;
  lastCommitLsn: Lsn;
  lastCommitTimeMs: number;
}

/** Which timeline a chain follows, after backtracks (ADR 015). */
export interface ChainTimeline {
  /** The timeline after each marker archived: [k] for chunks published under k markers. */
  timelines: readonly Timeline[];
  /** The timeline to follow (e.g. the one at the restore time, or the current one). */
  target: Timeline;
}

/**
 * Whether a chunk can be a link of a chain on `on.target`: it holds every record of its own timeline
 * in (prevLsn, lastLsn], so it holds every record of the target's there when the target has no LSN
 * in that range its own timeline lacks. A chunk of a timeline not archived (its marker missing) never
 * is. Without `on`, every chunk is (no backtrack).
 */
export function chunkServes(chunk: ChunkInfo, on: ChainTimeline | undefined): boolean {
  if (!on) return true;
  const own = on.timelines[chunk.timeline];
  return (
    own !== undefined && coversWithin(own, on.target, { aboveLsn: chunk.prevLsn, uptoLsn: chunk.lastLsn })
  );
}

/**
 * The longest gap-free run of chunks continuing a log that ends at `fromLsn`: a chunk continues it
 * when prevLsn <= W < lastLsn (it holds every durable record in (prevLsn, lastLsn], so also the ones
 * after W). Overlapping chunks (re-sent or republished after a failover) agree on their overlap.
 * With `untilTimeMs`, stops after the last chunk holding a commit with time <= untilTimeMs. After a
 * backtrack, `timeline` names the one to follow: only chunks that serve it are links (chunkServes),
 * and W means "every record of that timeline at or below W is in the chain".
 */
export function planLogChain(
  chunks: readonly ChunkInfo[],
  fromLsn: Lsn,
  options: {
    untilTimeMs?: number;
    lastCommitLsn?: Lsn;
    lastCommitTimeMs?: number;
    timeline?: ChainTimeline;
  } = {},
): LogChain {
  const sorted = chunks
    .filter((c) => chunkServes(c, options.timeline))
    .sort((a, b) => (a.prevLsn < b.prevLsn ? -1 : a.prevLsn > b.prevLsn ? 1 : 0));
  const chain: ChunkInfo[] = [];
  // On a timeline with voids, every record of it at or below W is in the chain also when W is at the
  // end of one of its intervals or inside a void: W moves to the start of the next interval.
  const target = options.timeline?.target;
  const skipVoid = (lsn: Lsn): Lsn => {
    if (!target) return lsn;
    const next = target.find((r) => r.uptoLsn > lsn);
    return next && next.aboveLsn > lsn ? next.aboveLsn : lsn;
  };
  let w = skipVoid(fromLsn);
  let lastCommitLsn = options.lastCommitLsn ?? 0n;
  let lastCommitTimeMs = options.lastCommitTimeMs ?? 0;
  for (;;) {
    let best: ChunkInfo | undefined;
    for (const c of sorted) {
      if (c.prevLsn > w) break;
      if (c.lastLsn > w && (!best || c.lastLsn > best.lastLsn)) best = c;
    }
    if (!best) break;
    const until = options.untilTimeMs;
    // A chunk whose first commit is after T adds nothing restorable (its records before that commit
    // belong to a transaction that commits after T).
    if (until !== undefined && best.lastCommitLsn !== 0n && best.firstCommitTimeMs > until) break;
    chain.push(best);
    w = skipVoid(best.lastLsn);
    if (best.lastCommitLsn !== 0n && best.lastCommitLsn > lastCommitLsn) {
      lastCommitLsn = best.lastCommitLsn;
      lastCommitTimeMs = best.lastCommitTimeMs;
    }
    if (until !== undefined && best.lastCommitTimeMs > until) break;
  }
  return { chunks: chain, endLsn: w, lastCommitLsn, lastCommitTimeMs };
}

/** Names the first gap after `from` in a listing: what a failed restore reports. */
export function describeGap(chunks: readonly ChunkInfo[], from: Lsn): string {
  const after = chunks.filter((c) => c.prevLsn > from).sort((a, b) => (a.prevLsn < b.prevLsn ? -1 : 1))[0];
  return after
    ? `log records after LSN ${from} up to ${after.prevLsn} are missing from the archive`
    : `no archived log after LSN ${from}`;
}

export class ArchiveGapError extends BorealisError {
  constructor(message: string, context: Record<string, unknown>) {
    super(ErrorCode.NOT_COMPLETE, message, { context });
  }
}

/** Manifest formats: 1 stored a page object per content hash; 2 stores page packs. */
export const snapshotFormatPerPage = 1;
export const snapshotFormatPacked = 2;

/** A page pack a manifest uses: its id (packObjectKey) and how many page images it holds. */
export interface PackRef {
  id: string;
  slots: number;
}

export interface SnapshotManifest {
  /** snapshotFormatPacked; absent in format 1 manifests (page objects by hash, no packs). */
  format?: number;
  snapshotId: string;
  cluster: string;
  /** The consistent point: a commit LSN (decimal string); pages are as of it. */
  lsn: string;
  commitTimeMs: number;
  createdAt: string;
  pageSizeBytes: number;
  /** Database size in pages (SQLite's header): pages[i] is page i + 1. */
  pageCount: number;
  /** sha256 hex of each page image: how later snapshots and restores check and share pages. */
  pages: string[];
  /** Format 2: the packs holding this snapshot's pages (shared with other snapshots). */
  packs?: PackRef[];
  /** Format 2: page i + 1 is slot pageSlots[i] of packs[pagePacks[i]]. */
  pagePacks?: number[];
  pageSlots?: number[];
  /** The snapshot this one is incremental to (its unchanged pages are shared), or null. */
  parent: string | null;
  /** Bytes uploaded by this snapshot (new packs) and bytes it refers to in all. */
  bytesUploaded: number;
  bytesTotal: number;
  /**
   * How the pages to read were chosen: 'log' — only pages with a record in the archived log after
   * the parent's LSN; 'full' — every page was read from storage.
   */
  changedPagesFrom?: 'log' | 'full';
  /** Pages read from storage for this snapshot. */
  pagesRead?: number;
  /**
   * A copy (the RDS API's CopyDBClusterSnapshot): the source snapshot's ARN. A copy may come from
   * another region's volume, whose log this bucket does not hold, so it is never the parent of a new
   * snapshot, the base of a point-in-time restore or of retention: it restores only by its id.
   */
  copiedFrom?: string;
}
