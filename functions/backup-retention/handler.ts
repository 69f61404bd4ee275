// The backup retention function's logic (pure: S3, the clock and the period are injected): expires
// what the archive no longer needs to restore every point in [now − retention, latest restorable].
//
// - Period: the cluster's own setting when stored (BackupRetentionPeriod, changed by the RDS API's
//   ModifyDBCluster: core/backup/retention-setting.ts), else the one given (BACKUP_RETENTION_DAYS,
//   `backup expire --retention-days`); the report says which, and a note when the two differ.
// - Base: the newest snapshot at or before now − retention (cutoff). A restore to any T >= cutoff
//   plans from the base or a later snapshot (core/backup/restore-plan.ts picks the newest snapshot
//   <= T), so snapshots older than the base are deleted, and log chunks whose records all lie at or
//   below the base's LSN (lastLsn <= base.lsn): every chain from a kept snapshot continues past its
//   LSN, so it only uses chunks with lastLsn above it. The chunk bound is also capped at the archive
//   watermark: the archiver plans its advances from there and must find every chunk above it.
// - No snapshot at or before the cutoff (none yet, or all newer): nothing but orphan pages expires;
//   with no snapshot at all a restore replays the log from LSN 0, so the whole log is kept.
// - Page packs (and format 1 page objects): shared between snapshots, so a pack goes only when no
//   remaining manifest names it AND it was last written more than `pageGraceMs` ago — a snapshot in
//   progress has uploaded packs but no manifest yet. After deleting, manifests written meanwhile are
//   checked: one naming a deleted pack or page (a running snapshot shared it in the race window) is
//   removed, as an incomplete snapshot; the log still covers its time. A copy (CopyDBClusterSnapshot,
//   `copiedFrom`) removed so is noted as a lost copy: no log covers it here (it may be of another
//   region's volume), it must be copied again (the copier, finding a pack gone, fails it too).
// - Order: manifests, then chunks, then packs and pages, so a crash midway never leaves a manifest
//   whose log or images are gone. Every delete is idempotent; a second run deletes nothing. The watermark and
//   anything under log/ that is not a chunk key are never touched.
// - Binlog objects (functions/binlog-streamer): an envelope too large for a Kinesis record is kept in
//   the bucket for the binlog retention (a consumer reads it after seeing its reference on the
//   stream); fragments of a change wait there for the change's last one, seconds normally — one
//   older than a week (Kinesis's default retention is a day) belongs to a change whose redo left
//   the stream long ago, and goes.
// - Earliest restorable time after expiry is computed like `borealis backup status` and the RDS API
//   do it (core/backup/restorable-window.ts: the oldest snapshot's time, or the first commit when the
//   log still starts at LSN 0): with a base it is the base's time (<= cutoff), so the whole retention
//   window is covered.
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  logPrefix,
  packObjectKey,
  packsPrefix,
  pageObjectKey,
  pagesPrefix,
  parseLogChunkKey,
  type SnapshotManifest,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { restorableWindow } from '../../core/backup/restorable-window.ts';
import { retentionDaysInEffect } from '../../core/backup/retention-setting.ts';
import { readBackupRetentionSetting } from '../../core/backup/retention-setting-store.ts';
import { listObjects, readWatermark } from '../../core/backup/s3-archive.ts';
import { isPacked, packIdsOf } from '../../core/backup/snapshot-manifest.ts';
import { fragmentsPrefix, largeEnvelopesPrefix } from '../../core/binlog/retention.ts';
import { readBinlogRetention } from '../../core/binlog/retention-store.ts';
import { parseBackupRetentionDays } from '../../core/functions.ts';
import { lsnMin } from '../../core/lsn.ts';
import { isCopy, listManifests, listSnapshotIds, readManifest } from '../snapshot/catalog.ts';
import { forEachBounded } from '../snapshot/handler.ts';

export const dayMs = 86_400_000;
/** Packs and pages written more recently than this are never deleted (a snapshot in progress owns them). */
export const pageGraceMsDefault = 3_600_000;
/** Binlog fragments older than this are orphans (their change's redo is long off the stream). */
export const binlogFragmentGraceMs = 7 * dayMs;
/** Deletes in flight at once. */
export const deletesInFlightDefault = 16;

export interface RetentionDeps {
  s3: S3Client;
  bucket: string;
  cluster: string;
  now: () => number;
  /**
   * The period when the cluster has no backup retention setting of its own (its BackupRetentionPeriod,
   * core/backup/retention-setting.ts, which wins when stored). Validated here: an integer in [1, 35].
   */
  retentionDays: number | string | undefined;
  /** @default pageGraceMsDefault */
  pageGraceMs?: number;
  deletesInFlight?: number;
  /** Keys per ListObjectsV2 page (tests use few, to exercise pagination). */
  listPageKeys?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface RetentionCounts {
  manifests: number;
  chunks: number;
  /** Page packs (format 2 snapshots). */
  packs: number;
  /** Page objects (format 1 snapshots). */
  pages: number;
}

export interface RetentionReport {
  cluster: string;
  retentionDays: number;
  /** Where the period came from: the cluster's stored setting, or the one given (environment, flag). */
  retentionSource: 'cluster setting' | 'default';
  /** now − retention (ISO): every point from here to the latest restorable time stays restorable. */
  retainFrom: string;
  /** After expiry (ISO, null when nothing is restorable); <= retainFrom when the window is covered. */
  earliestRestorableTime: string | null;
  latestRestorableTime: string | null;
  /** The snapshot restores at the start of the window begin from (null: none old enough yet). */
  baseSnapshot: string | null;
  deleted: RetentionCounts;
  kept: RetentionCounts;
  /** Large binlog envelopes past the binlog retention and orphaned fragments (binlog-streamer). */
  binlogObjects: { deleted: number; kept: number };
  notes: string[];
  checkedAt: string;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The image objects (packs, format 1 pages) a manifest needs. */
function imageKeysOf(cluster: string, m: SnapshotManifest): string[] {
  return isPacked(m)
    ? packIdsOf(m).map((id) => packObjectKey(cluster, id))
    : m.pages.map((h) => pageObjectKey(cluster, h));
}

function listAll(deps: RetentionDeps, prefix: string) {
  return listObjects(deps.s3, deps.bucket, prefix, { pageKeys: deps.listPageKeys });
}

// Shared with the RDS API's EarliestRestorableTime (core/backup/restorable-window.ts); re-exported
// for the callers that found it here.
export { restorableWindow };

export async function expireBackups(deps: RetentionDeps): Promise<RetentionReport> {
  const givenDays = parseBackupRetentionDays(deps.retentionDays);
  const { s3, bucket, cluster } = deps;
  const log = deps.log ?? (() => undefined);
  const notes: string[] = [];
  // Read before the clock: a setting stored while this runs applies from the next run.
  const setting = await readBackupRetentionSetting(s3, bucket, cluster);
  const { days: retentionDays, source: retentionSource } = retentionDaysInEffect(setting, givenDays);
  if (setting !== undefined && setting.days !== givenDays) {
    notes.push(
      `retention ${retentionDays} days: the cluster's setting (BackupRetentionPeriod, set ${setting.updatedAt}), not the ${givenDays} given`,
    );
  }
  const nowMs = deps.now();
  const cutoffMs = nowMs - retentionDays * dayMs;
  const graceMs = deps.pageGraceMs ?? pageGraceMsDefault;
  const inFlight = deps.deletesInFlight ?? deletesInFlightDefault;

  const [stored, allManifests, logObjects] = await Promise.all([
    readWatermark(s3, bucket, cluster),
    listManifests(s3, bucket, cluster),
    listAll(deps, logPrefix(cluster)),
  ]);
  const watermark = stored?.value;
  const chunks = logObjects.flatMap((o) => {
    const info = parseLogChunkKey(o.key);
    return info ? [info] : [];
  });

  // Copies (CopyDBClusterSnapshot) may be of another region's volume: they are no base and never
  // expire here (manual snapshots, deleted by DeleteDBClusterSnapshot), but their packs are kept.
  const manifests = allManifests.filter((m) => !isCopy(m));
  const copies = allManifests.filter(isCopy);
  // listManifests sorts oldest first by LSN; commit times never go backwards along the log.
  const base = manifests.filter((m) => m.commitTimeMs <= cutoffMs).at(-1);
  const expiredManifests = base
    ? manifests.filter((m) => BigInt(m.lsn) < BigInt(base.lsn) && m.commitTimeMs <= cutoffMs)
    : [];
  const expiredIds = new Set(expiredManifests.map((m) => m.snapshotId));
  const keptManifests = manifests.filter((m) => !expiredIds.has(m.snapshotId));

  // Chunks at or below every kept snapshot's LSN and the watermark are needed by no restore.
  let chunkBound: bigint | undefined;
  if (!base) {
    notes.push(
      manifests.length === 0
        ? 'no snapshot yet: the whole log is kept (a restore replays it from LSN 0)'
        : `no snapshot at or before ${iso(cutoffMs)} yet: the log is kept until one is older than the retention period`,
    );
  } else if (!watermark) {
    notes.push('no archive watermark: log chunks are kept');
  } else {
    chunkBound = keptManifests.reduce((b, m) => lsnMin(b, BigInt(m.lsn)), BigInt(watermark.lsn));
  }
  const expiredChunks = chunkBound === undefined ? [] : chunks.filter((c) => c.lastLsn <= chunkBound!);
  const expiredChunkKeys = new Set(expiredChunks.map((c) => c.key));
  const keptChunks = chunks.filter((c) => !expiredChunkKeys.has(c.key));

  const remove = (keys: readonly string[]) =>
    forEachBounded(keys, inFlight, async (key) => {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    });
  await remove(expiredManifests.map((m) => snapshotManifestKey(cluster, m.snapshotId)));
  await remove(expiredChunks.map((c) => c.key));

  // Packs and pages: those no kept manifest names, old enough not to belong to a snapshot in progress.
  const referenced = new Set<string>();
  for (const m of [...keptManifests, ...copies])
    for (const key of imageKeysOf(cluster, m)) referenced.add(key);
  const [packObjects, pageObjects] = await Promise.all([
    listAll(deps, packsPrefix(cluster)),
    listAll(deps, pagesPrefix(cluster)),
  ]);
  const unreferenced = (objects: readonly { key: string; lastModifiedMs: number }[]) =>
    objects.filter((o) => !referenced.has(o.key) && o.lastModifiedMs <= nowMs - graceMs);
  const expiredPacks = unreferenced(packObjects);
  const expiredPages = unreferenced(pageObjects);
  await remove([...expiredPacks, ...expiredPages].map((o) => o.key));

  // A manifest written since the listing that names a deleted pack or page is an incomplete snapshot.
  const deletedImages = new Set([...expiredPacks, ...expiredPages].map((o) => o.key));
  const known = new Set(allManifests.map((m) => m.snapshotId));
  const damaged: { id: string; copiedFrom: string | undefined }[] = [];
  if (deletedImages.size > 0) {
    for (const id of await listSnapshotIds(s3, bucket, cluster)) {
      if (known.has(id)) continue;
      const m = await readManifest(s3, bucket, cluster, id);
      if (m && imageKeysOf(cluster, m).some((key) => deletedImages.has(key)))
        damaged.push({ id, copiedFrom: isCopy(m) ? m.copiedFrom : undefined });
    }
    await remove(damaged.map((d) => snapshotManifestKey(cluster, d.id)));
    for (const { id, copiedFrom } of damaged) {
      notes.push(
        copiedFrom === undefined
          ? `snapshot ${id} was written during expiry and named a deleted pack or page: removed (the log covers it)`
          : `copy ${id} (CopyDBClusterSnapshot of ${copiedFrom}) was written during expiry and named a deleted pack or page: removed, the copy is lost (no log here covers it): copy the snapshot again`,
      );
    }
  }

  // Binlog objects: large envelopes for the binlog retention, orphaned fragments after a week.
  const binlogRetentionMs = (await readBinlogRetention(s3, bucket, cluster)).hours * 3_600_000;
  const [largeEnvelopes, fragments] = await Promise.all([
    listAll(deps, largeEnvelopesPrefix(cluster)),
    listAll(deps, fragmentsPrefix(cluster)),
  ]);
  const expiredBinlog = [
    ...largeEnvelopes.filter((o) => o.lastModifiedMs <= nowMs - binlogRetentionMs),
    ...fragments.filter((o) => o.lastModifiedMs <= nowMs - binlogFragmentGraceMs),
  ];
  await remove(expiredBinlog.map((o) => o.key));

  const window = restorableWindow({ snapshots: keptManifests, chunks: keptChunks, watermark });
  if (window.earliestMs !== undefined && window.earliestMs > cutoffMs) {
    notes.push(`the archive starts after ${iso(cutoffMs)}: restorable only from ${iso(window.earliestMs)}`);
  }
  const report: RetentionReport = {
    cluster,
    retentionDays,
    retentionSource,
    retainFrom: iso(cutoffMs),
    earliestRestorableTime: window.earliestMs === undefined ? null : iso(window.earliestMs),
    latestRestorableTime: window.latestMs === undefined ? null : iso(window.latestMs),
    baseSnapshot: base?.snapshotId ?? null,
    deleted: {
      manifests: expiredManifests.length + damaged.length,
      chunks: expiredChunks.length,
      packs: expiredPacks.length,
      pages: expiredPages.length,
    },
    kept: {
      manifests: keptManifests.length + copies.length,
      chunks: keptChunks.length,
      packs: packObjects.length - expiredPacks.length,
      pages: pageObjects.length - expiredPages.length,
    },
    binlogObjects: {
      deleted: expiredBinlog.length,
      kept: largeEnvelopes.length + fragments.length - expiredBinlog.length,
    },
    notes,
    checkedAt: iso(nowMs),
  };
  log('backup expiry done', { ...report });
  return report;
}
