// Reads a cluster's backup state from its bucket (watermark, manifests, log listing) for
// `borealis backup status`; loaded on use, since the S3 client slows every other command's start.
import { logPrefix } from '../core/backup/archive.ts';
import { listObjects, readWatermark } from '../core/backup/s3-archive.ts';
import type { BackupTarget } from './backup-target.ts';
import { type BackupStatus, backupStatus } from './backup-view.ts';

export async function readBackupStatus(
  target: BackupTarget,
  nowMs: number = Date.now(),
): Promise<BackupStatus> {
  const { listSnapshotSummaries } = await import('../functions/snapshot/catalog.ts');
  const [watermark, manifests, logObjects] = await Promise.all([
    readWatermark(target.s3, target.bucket, target.cluster).then((w) => w?.value),
    listSnapshotSummaries(target.s3, target.bucket, target.cluster),
    listObjects(target.s3, target.bucket, logPrefix(target.cluster)),
  ]);
  return backupStatus({
    cluster: target.cluster,
    region: target.region,
    bucket: target.bucket,
    watermark,
    snapshots: manifests.map((m) => ({
      snapshotId: m.snapshotId,
      lsn: BigInt(m.lsn),
      commitTimeMs: m.commitTimeMs,
    })),
    logObjects,
    nowMs,
  });
}
