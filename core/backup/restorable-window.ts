// The restorable window of a cluster's backup, pure, from what the archive holds: one definition for
// the retention function's report, the restore planner, and the RDS API's DBCluster fields
// (EarliestRestorableTime, LatestRestorableTime).
// - Earliest: the oldest snapshot's commit time, or the first archived commit when the log still
//   starts at LSN 0 (a restore then replays it from an empty volume) — what the retention function
//   keeps determines it (functions/backup-retention keeps a base snapshot at or before now − period).
// - Latest (what a restore accepts): the archive watermark's commit time, or later once a commit
//   horizon (commit-horizon.ts) that the watermark has passed says no commit up to its time is missing.

import type { Lsn } from '../lsn.ts';
import type { ChunkInfo, SnapshotManifest, Watermark } from './archive.ts';
import { applyingHorizon, type CommitHorizon } from './commit-horizon.ts';

/** What `backup status` reports as restorable, from manifests, chunks and the watermark (pure). */
export function restorableWindow(input: {
  snapshots: readonly Pick<SnapshotManifest, 'lsn' | 'commitTimeMs'>[];
  chunks: readonly ChunkInfo[];
  watermark: Watermark | undefined;
}): { earliestMs: number | undefined; latestMs: number | undefined } {
  const snapshots = [...input.snapshots].sort((a, b) => {
    const x = BigInt(a.lsn);
    const y = BigInt(b.lsn);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  const chunks = [...input.chunks].sort((a, b) =>
    a.firstLsn < b.firstLsn ? -1 : a.firstLsn > b.firstLsn ? 1 : 0,
  );
  const w = input.watermark;
  let latestMs = w && w.commitTimeMs > 0 ? w.commitTimeMs : undefined;
  const newest = snapshots.at(-1);
  if (newest && (latestMs === undefined || newest.commitTimeMs > latestMs)) latestMs = newest.commitTimeMs;
  const firstCommit = chunks.find((c) => c.lastCommitLsn !== 0n);
  const logFromStart = chunks[0]?.prevLsn === 0n && firstCommit !== undefined && w !== undefined;
  const candidates = [
    ...(snapshots[0] ? [snapshots[0].commitTimeMs] : []),
    ...(logFromStart ? [firstCommit!.firstCommitTimeMs] : []),
  ];
  return { earliestMs: candidates.length > 0 ? Math.min(...candidates) : undefined, latestMs };
}

/**
 * The latest time a point-in-time restore accepts (undefined: no commit archived yet): the watermark's
 * commit time, or the newest horizon's time that holds (the watermark has passed its LSN, under the
 * same archive fence, and past the newest backtrack) when it is later. Never earlier than the
 * watermark's commit.
 */
export function latestRestorableTimeMs(input: {
  watermark: Watermark | undefined;
  horizons?: readonly CommitHorizon[];
  fence: string;
  /** The newest archived backtrack marker's fromLsn (0: none), read after the horizons. */
  backtrackFromLsn?: Lsn;
}): number | undefined {
  const w = input.watermark;
  if (w === undefined || w.commitTimeMs <= 0) return undefined;
  const horizon = applyingHorizon(input.horizons ?? [], w, input.fence, input.backtrackFromLsn ?? 0n);
  return horizon === undefined ? w.commitTimeMs : Math.max(w.commitTimeMs, horizon.throughMs);
}

/**
 * The window RestoreDBClusterToPointInTime can be given, as DescribeDBClusters reports it: both ends
 * or neither (nothing restorable yet, or the only snapshot is newer than the archive's end). `chunks`
 * may be the first page of the log listing only: the earliest end needs the oldest chunks alone, and
 * one whose first commit is not in it makes the earliest the oldest snapshot's (later: still true).
 */
export function pointInTimeWindow(input: {
  snapshots: readonly Pick<SnapshotManifest, 'lsn' | 'commitTimeMs'>[];
  chunks: readonly ChunkInfo[];
  watermark: Watermark | undefined;
  horizons?: readonly CommitHorizon[];
  fence: string;
  backtrackFromLsn?: Lsn;
}): { earliestMs: number; latestMs: number } | undefined {
  const { earliestMs } = restorableWindow(input);
  const latestMs = latestRestorableTimeMs(input);
  if (earliestMs === undefined || latestMs === undefined || earliestMs > latestMs) return undefined;
  return { earliestMs, latestMs };
}
