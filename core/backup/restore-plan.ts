// Planning a restore from what the archive holds, without downloading: the newest snapshot at or
// before the restore time, then the gap-free chain of log chunks from the snapshot's LSN up to the
// last commit with commit time <= T. Restoring exactly "the commits with time <= T" works because
// commit times never go backwards along the log (the writer clamps them), so those commits are a
// prefix of it, and a transaction's records all lie between the previous commit and its own.
//
// After a backtrack (ADR 015) "what the cluster showed at T" is the timeline as it was at T (the
// archived markers that had taken effect by then): the snapshot must be on it, the chain follows it
// (archive.ts chunkServes), and the records off it are skipped while applying (plan.timeline).
import { timelineFromJson, timelineToJson } from '../backtrack/json.ts';
import {
  type BacktrackMarker,
  onTimeline,
  type Timeline,
  timelineAt,
  timelines,
} from '../backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import {
  type ChunkInfo,
  chunkServes,
  describeGap,
  parseLogChunkKey,
  planLogChain,
  type SnapshotManifest,
  type Watermark,
} from './archive.ts';
import type { CommitHorizon } from './commit-horizon.ts';
import { latestRestorableTimeMs } from './restorable-window.ts';

export interface RestoreRequest {
  /** Restore to this time (ms since epoch): every commit with commit time <= it. */
  restoreTimeMs?: number;
  /** Or restore exactly this snapshot. */
  snapshotId?: string;
}

export interface RestorePlan {
  sourceCluster: string;
  /** The snapshot the pages start from (undefined: from an empty volume, log from LSN 0). */
  snapshot?: { snapshotId: string; key: string; lsn: string; commitTimeMs: number };
  /** Log chunks to apply, in chain order. */
  chunks: ChunkInfo[];
  /** Apply records up to and including this commit (decimal LSN; '0' = snapshot only). */
  cutCommitLsn: string;
  /** The commit time of the last commit restored (0 when none). */
  cutCommitTimeMs: number;
  restoreTimeMs: number;
  /** The LSNs that make up the database at T, after backtracks; undefined: every LSN (none). */
  timeline?: Timeline;
}

export type ManifestSummary = Pick<SnapshotManifest, 'snapshotId' | 'lsn' | 'commitTimeMs'> & { key: string };

function badRequest(message: string, context: Record<string, unknown> = {}): BorealisError {
  return new BorealisError(ErrorCode.INVALID_ARGUMENT, message, { context });
}

export function planRestore(input: {
  sourceCluster: string;
  request: RestoreRequest;
  snapshots: readonly ManifestSummary[];
  chunks: readonly ChunkInfo[];
  watermark: Watermark | undefined;
  /** The archived backtrack markers (readArchivedMarkers), oldest first. */
  markers?: readonly BacktrackMarker[];
  /**
   * The cluster's commit horizons and the archive fence now (commit-horizon.ts): with them a time
   * after the watermark's last commit is restorable up to a horizon, and restores to that commit.
   * The markers above must be read after the horizons.
   */
  horizons?: readonly CommitHorizon[];
  fence?: string;
}): RestorePlan {
  const { request, watermark } = input;
  const markers = input.markers ?? [];
  const snapshots = [...input.snapshots].sort((a, b) => a.commitTimeMs - b.commitTimeMs);
  if (request.snapshotId !== undefined) {
    const s = snapshots.find((x) => x.snapshotId === request.snapshotId);
    if (!s) throw badRequest(`no snapshot ${request.snapshotId} of cluster ${input.sourceCluster}`);
    return {
      sourceCluster: input.sourceCluster,
      snapshot: { snapshotId: s.snapshotId, key: s.key, lsn: s.lsn, commitTimeMs: s.commitTimeMs },
      chunks: [],
      cutCommitLsn: s.lsn,
      cutCommitTimeMs: s.commitTimeMs,
      restoreTimeMs: s.commitTimeMs,
    };
  }
  const t = request.restoreTimeMs;
  if (t === undefined || !Number.isFinite(t)) throw badRequest('name a restore time or a snapshot id');
  const latest =
    latestRestorableTimeMs({
      watermark,
      horizons: input.horizons,
      fence: input.fence ?? '',
      backtrackFromLsn: markers.at(-1)?.fromLsn ?? 0n,
    }) ??
    watermark?.commitTimeMs ??
    0;
  if (!watermark || t > latest) {
    throw badRequest(
      `restore time ${new Date(t).toISOString()} is after the latest restorable time ${
        watermark ? new Date(latest).toISOString() : '(nothing archived yet)'
      }`,
      { latestRestorableTimeMs: latest },
    );
  }
  const target = markers.length === 0 ? undefined : timelineAt(markers, t);
  // A snapshot at or before T is on T's timeline unless a backtrack after it voided its point; then an
  // older one is. (A snapshot of a later timeline has a commit time after the marker, so after T.)
  const base = [...snapshots]
    .reverse()
    .find((s) => s.commitTimeMs <= t && (!target || onTimeline(target, BigInt(s.lsn))));
  const from = base ? BigInt(base.lsn) : 0n;
  const chain = planLogChain(input.chunks, from, {
    untilTimeMs: t,
    lastCommitLsn: from,
    lastCommitTimeMs: base?.commitTimeMs ?? 0,
    ...(target && { timeline: { timelines: timelines(markers), target } }),
  });
  // The chain must reach every commit with time <= T. The archive holds them (T <= the watermark's
  // time, or T <= a horizon the watermark has passed: every such commit is at or below the
  // watermark); if the chain stops short, a chunk is missing or unreadable.
  const reachesT =
    chain.lastCommitTimeMs > t ||
    chain.endLsn >= BigInt(watermark.lsn) ||
    reachedPast(input.chunks, chain, t) ||
    (target !== undefined && timelineEnded(input.chunks, chain.endLsn, markers, t));
  if (!reachesT) {
    throw new BorealisError(ErrorCode.NOT_COMPLETE, describeGap(input.chunks, chain.endLsn), {
      context: { fromLsn: from.toString(), reachedLsn: chain.endLsn.toString() },
    });
  }
  return {
    sourceCluster: input.sourceCluster,
    snapshot: base && {
      snapshotId: base.snapshotId,
      key: base.key,
      lsn: base.lsn,
      commitTimeMs: base.commitTimeMs,
    },
    chunks: chain.chunks,
    // The exact cut is found while applying (the last commit with time <= T); this is its bound.
    cutCommitLsn: chain.lastCommitLsn.toString(),
    cutCommitTimeMs: chain.lastCommitTimeMs,
    restoreTimeMs: t,
    ...(target && { timeline: target }),
  };
}

/**
 * A timeline a later backtrack left (T is before a marker took effect) ends where its archived log
 * ends: no chunk of it holds a record above the chain. Its commits up to the backtrack were archived
 * if the archive had caught up with them when the backtrack stopped the writer (ADR 015).
 */
function timelineEnded(
  chunks: readonly ChunkInfo[],
  endLsn: bigint,
  markers: readonly BacktrackMarker[],
  t: number,
): boolean {
  if (!markers.some((m) => m.appliedAtMs > t)) return false;
  const on = { timelines: timelines(markers), target: timelineAt(markers, t) };
  return !chunks.some((c) => c.lastLsn > endLsn && chunkServes(c, on) && onTimeline(on.target, c.lastLsn));
}

/** The chain stopped because the next chunk's first commit is after T: nothing restorable is missing. */
function reachedPast(chunks: readonly ChunkInfo[], chain: { endLsn: bigint }, t: number): boolean {
  return chunks.some(
    (c) =>
      c.prevLsn <= chain.endLsn &&
      c.lastLsn > chain.endLsn &&
      c.lastCommitLsn !== 0n &&
      c.firstCommitTimeMs > t,
  );
}

/** A restore as the restore function hands it to the new cluster's control plane (JSON file). */
export interface RestoreJob {
  requestId: string;
  sourceCluster: string;
  targetCluster: string;
  region: string;
  bucket: string;
  snapshot?: RestorePlan['snapshot'];
  /** Chunk keys in chain order (parseLogChunkKey gives the rest back). */
  chunkKeys: string[];
  restoreTimeMs: number;
  cutCommitLsn: string;
  cutCommitTimeMs: number;
  /** plan.timeline as [aboveLsn, uptoLsn] decimal pairs; absent when no backtrack matters. */
  timeline?: [string, string][];
}

export function restoreJob(
  plan: RestorePlan,
  target: { requestId: string; targetCluster: string; region: string; bucket: string },
): RestoreJob {
  return {
    ...target,
    sourceCluster: plan.sourceCluster,
    ...(plan.snapshot ? { snapshot: plan.snapshot } : {}),
    chunkKeys: plan.chunks.map((c) => c.key),
    restoreTimeMs: plan.restoreTimeMs,
    cutCommitLsn: plan.cutCommitLsn,
    cutCommitTimeMs: plan.cutCommitTimeMs,
    ...(plan.timeline && { timeline: timelineToJson(plan.timeline) }),
  };
}

export function planOfJob(job: RestoreJob): RestorePlan {
  return {
    sourceCluster: job.sourceCluster,
    snapshot: job.snapshot,
    chunks: job.chunkKeys.map((key) => {
      const info = parseLogChunkKey(key);
      if (!info) throw badRequest(`restore job: ${key} is not a log chunk key`);
      return info;
    }),
    cutCommitLsn: job.cutCommitLsn,
    cutCommitTimeMs: job.cutCommitTimeMs,
    restoreTimeMs: job.restoreTimeMs,
    ...(job.timeline && { timeline: timelineFromJson(job.timeline) }),
  };
}
