// A cluster created by a restore: before its writer opens, the control plane downloads the planned
// snapshot and log chunks (core/backup/materialize.ts) and hydrates the empty volume with them
// (restore-loader.ts). Done once: a marker in the cluster dir makes a restarted control plane skip
// it, and a failure stops the control plane with the reason (the restore function then removes the
// half-made cluster).
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { s3Client } from '../../core/aws/clients.ts';
import { materializeRestore } from '../../core/backup/materialize.ts';
import { planOfJob, type RestoreJob } from '../../core/backup/restore-plan.ts';
import type { RestoreProgress } from '../../core/cluster/topology.ts';
import { storageClients } from '../../core/engine/instance.ts';
import type { Logger } from '../../core/log.ts';
import { pageRangeOfPg, type VolumeConfig } from '../../core/volume.ts';
import { loadVolume } from './restore-loader.ts';

interface RestoreMarker {
  requestId: string;
  progress: RestoreProgress;
}

export function readRestoreJob(path: string): RestoreJob {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as RestoreJob;
  } catch (error) {
    console.error(`control-plane: cannot read the restore job ${path}: ${(error as Error).message}`);
    process.exit(2);
  }
}

export async function runRestore(options: {
  job: RestoreJob;
  dir: string;
  volume: VolumeConfig;
  logger: Logger;
  report: (progress: RestoreProgress) => void;
}): Promise<void> {
  const { job, volume, logger } = options;
  const markerFile = join(options.dir, 'restored.json');
  if (existsSync(markerFile)) {
    const marker = JSON.parse(readFileSync(markerFile, 'utf8')) as RestoreMarker;
    options.report(marker.progress);
    return;
  }
  const started = performance.now();
  const progress: RestoreProgress = {
    requestId: job.requestId,
    sourceCluster: job.sourceCluster,
    phase: 'downloading',
    done: 0,
    total: 0,
    restoreTime: new Date(job.restoreTimeMs).toISOString(),
    restoredToCommitTime: null,
    bytes: 0,
    // The RDS API's events for the new cluster (core/rds/events.ts) date its creation by these.
    startedAt: new Date().toISOString(),
    ...(isSnapshotRestore(job) ? { snapshotId: job.snapshot!.snapshotId } : {}),
  };
  options.report(progress);
  const s3 = s3Client({ region: job.region });
  try {
    const db = await materializeRestore({
      s3,
      bucket: job.bucket,
      plan: planOfJob(job),
      pageSizeBytes: volume.pageSizeBytes,
      onProgress: (p) => {
        progress.done = p.done;
        progress.total = p.total;
      },
    });
    if (db.pageSizeBytes !== volume.pageSizeBytes) {
      throw new Error(
        `the backup has ${db.pageSizeBytes}-byte pages, the new volume ${volume.pageSizeBytes}`,
      );
    }
    const lastPage = pageRangeOfPg(volume, volume.placement.length - 1).last;
    const biggest = Math.max(0, ...db.pages.keys());
    if (biggest > lastPage)
      throw new Error(`the database has ${biggest} pages; the new volume holds ${lastPage}`);
    const downloadedAt = performance.now();
    progress.phase = 'loading';
    progress.bytes = db.bytesDownloaded;
    progress.restoredToCommitTime =
      db.cutCommitTimeMs > 0 ? new Date(db.cutCommitTimeMs).toISOString() : null;
    const clients = storageClients(volume);
    try {
      const loaded = await loadVolume({
        volume,
        clients,
        logger,
        pages: db.pages,
        onProgress: (done, total) => {
          progress.done = done;
          progress.total = total;
        },
      });
      progress.phase = 'done';
      progress.bytes = loaded.bytes;
      progress.finishedAt = new Date().toISOString();
      const seconds = (performance.now() - started) / 1000;
      logger.info(
        {
          requestId: job.requestId,
          pages: loaded.pages,
          mb: (loaded.bytes / 2 ** 20).toFixed(1),
          seconds: seconds.toFixed(2),
          // Where the time went: S3 reads (snapshot packs, log chunks) vs shipping to storage.
          downloadSeconds: ((downloadedAt - started) / 1000).toFixed(2),
          loadSeconds: ((performance.now() - downloadedAt) / 1000).toFixed(2),
          snapshotRequests: db.snapshotRequests,
          logChunks: job.chunkKeys.length,
          mbPerSecond: (loaded.bytes / 2 ** 20 / seconds).toFixed(1),
          commitsApplied: db.commitsApplied,
          restoredTo: progress.restoredToCommitTime,
        },
        'restore loaded',
      );
    } finally {
      for (const c of clients.values()) c.close();
    }
    writeFileSync(
      `${markerFile}.tmp`,
      `${JSON.stringify({ requestId: job.requestId, progress } satisfies RestoreMarker)}\n`,
    );
    renameSync(`${markerFile}.tmp`, markerFile);
  } catch (error) {
    progress.phase = 'failed';
    progress.finishedAt = new Date().toISOString();
    progress.error = (error as Error).message;
    throw error;
  } finally {
    s3.destroy();
  }
}

/**
 * A restore of a snapshot as it is (RestoreDBClusterFromSnapshot): the plan is the snapshot alone, cut
 * at its own commit (core/backup/restore-plan.ts). A point in time that needs no log past a snapshot's
 * commit and asks exactly that commit's time restores the same database, and is named the same way.
 */
export function isSnapshotRestore(job: RestoreJob): boolean {
  return (
    job.snapshot !== undefined &&
    job.chunkKeys.length === 0 &&
    job.cutCommitLsn === job.snapshot.lsn &&
    job.restoreTimeMs === job.snapshot.commitTimeMs
  );
}
