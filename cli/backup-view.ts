// `borealis backup status`: the backup of a cluster in one document — latest and earliest restorable
// times, snapshots, log chunks and how far the archive lags behind now — computed from a listing
// (pure, so it is tested without S3) and its human view.
import { parseLogChunkKey, type Watermark } from '../core/backup/archive.ts';
import { lsnMax } from '../core/lsn.ts';
import { formatBytes } from './snapshot-view.ts';

/** `backup status --json`: field names are a contract (add, never rename). */
export interface BackupStatus {
  cluster: string;
  region: string;
  bucket: string;
  /** Newest point a restore can reach (ISO): the archive watermark's commit, or a newer snapshot's. */
  latestRestorableTime: string | null;
  /** Oldest point a restore can reach (ISO): the oldest snapshot, or the first archived commit. */
  earliestRestorableTime: string | null;
  /** now − latestRestorableTime, in ms (null when nothing is restorable). */
  lagMs: number | null;
  watermark: { lsn: string; commitLsn: string; commitTime: string; updatedAt: string } | null;
  snapshots: { count: number; oldest: string | null; newest: string | null };
  logChunks: { count: number; bytes: number; firstLsn: string | null; lastLsn: string | null };
  checkedAt: string;
}

export interface SnapshotSummary {
  snapshotId: string;
  lsn: bigint;
  commitTimeMs: number;
}

export interface BackupListing {
  cluster: string;
  region: string;
  bucket: string;
  watermark: Watermark | undefined;
  snapshots: readonly SnapshotSummary[];
  /** Every object under the log prefix: key and size. */
  logObjects: readonly { key: string; size: number }[];
  nowMs: number;
}

const iso = (ms: number) => new Date(ms).toISOString();

export function backupStatus(l: BackupListing): BackupStatus {
  const chunks = l.logObjects.flatMap((o) => {
    const info = parseLogChunkKey(o.key);
    return info ? [{ ...info, size: o.size }] : [];
  });
  chunks.sort((a, b) => (a.firstLsn < b.firstLsn ? -1 : a.firstLsn > b.firstLsn ? 1 : 0));
  const snapshots = [...l.snapshots].sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
  const oldest = snapshots[0];
  const newest = snapshots.at(-1);

  let latestMs: number | undefined =
    l.watermark && l.watermark.commitTimeMs > 0 ? l.watermark.commitTimeMs : undefined;
  if (newest && (latestMs === undefined || newest.commitTimeMs > latestMs)) latestMs = newest.commitTimeMs;
  // The log alone restores from an empty volume only if it starts at the very first record.
  const firstCommit = chunks.find((c) => c.lastCommitLsn !== 0n);
  const logFromStart = chunks[0]?.prevLsn === 0n && firstCommit !== undefined && l.watermark !== undefined;
  const candidates = [
    ...(oldest ? [oldest.commitTimeMs] : []),
    ...(logFromStart ? [firstCommit!.firstCommitTimeMs] : []),
  ];
  const earliestMs = candidates.length > 0 ? Math.min(...candidates) : undefined;

  return {
    cluster: l.cluster,
    region: l.region,
    bucket: l.bucket,
    latestRestorableTime: latestMs === undefined ? null : iso(latestMs),
    earliestRestorableTime: earliestMs === undefined ? null : iso(earliestMs),
    lagMs: latestMs === undefined ? null : Math.max(0, l.nowMs - latestMs),
    watermark: l.watermark
      ? {
          lsn: l.watermark.lsn,
          commitLsn: l.watermark.commitLsn,
          commitTime: iso(l.watermark.commitTimeMs),
          updatedAt: l.watermark.updatedAt,
        }
      : null,
    snapshots: {
      count: snapshots.length,
      oldest: oldest?.snapshotId ?? null,
      newest: newest?.snapshotId ?? null,
    },
    logChunks: {
      count: chunks.length,
      bytes: chunks.reduce((n, c) => n + c.size, 0),
      firstLsn: chunks[0]?.firstLsn.toString() ?? null,
      lastLsn: chunks.length > 0 ? chunks.reduce((m, c) => lsnMax(m, c.lastLsn), 0n).toString() : null,
    },
    checkedAt: iso(l.nowMs),
  };
}

/** 1234 → "1.2 s"; 125000 → "2 min 5 s". */
export function formatLag(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.round(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours} h ${minutes} min` : `${minutes} min ${seconds} s`;
}

export function formatBackupStatus(s: BackupStatus): string {
  const none = '-';
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name.padEnd(21)}${value}`);
  field('cluster', `${s.cluster} (${s.region}), bucket ${s.bucket}`);
  field('latest restorable', s.latestRestorableTime ?? `${none} (nothing archived yet)`);
  if (s.lagMs !== null) field('lag behind now', formatLag(s.lagMs));
  field('earliest restorable', s.earliestRestorableTime ?? none);
  field(
    'watermark',
    s.watermark
      ? `LSN ${s.watermark.lsn} (commit ${s.watermark.commitLsn}, updated ${s.watermark.updatedAt})`
      : none,
  );
  field(
    'snapshots',
    s.snapshots.count === 0
      ? '0'
      : `${s.snapshots.count} (oldest ${s.snapshots.oldest}, newest ${s.snapshots.newest})`,
  );
  field(
    'log chunks',
    `${s.logChunks.count}, ${formatBytes(s.logChunks.bytes)}` +
      (s.logChunks.firstLsn === null ? '' : ` (LSN ${s.logChunks.firstLsn} to ${s.logChunks.lastLsn})`),
  );
  return `${lines.join('\n')}\n`;
}
