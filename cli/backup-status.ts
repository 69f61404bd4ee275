// Reads a cluster's backup state from its bucket (watermark, manifests, log listing) for
// `borealis backup status`; loaded on use, since the S3 client slows every other command's start.
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { logPrefix, type Watermark, watermarkKey } from '../core/backup/archive.ts';
import type { BackupTarget } from './backup-target.ts';
import { type BackupStatus, backupStatus } from './backup-view.ts';

async function readWatermark(s3: S3Client, bucket: string, cluster: string): Promise<Watermark | undefined> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: watermarkKey(cluster) }));
    return JSON.parse(await got.Body!.transformToString()) as Watermark;
  } catch (error) {
    if (error instanceof NoSuchKey || (error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
}

async function listLogObjects(s3: S3Client, bucket: string, cluster: string) {
  const objects: { key: string; size: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: logPrefix(cluster), ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) if (o.Key) objects.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return objects;
}

export async function readBackupStatus(
  target: BackupTarget,
  nowMs: number = Date.now(),
): Promise<BackupStatus> {
  const { listManifests } = await import('../functions/snapshot/catalog.ts');
  const [watermark, manifests, logObjects] = await Promise.all([
    readWatermark(target.s3, target.bucket, target.cluster),
    listManifests(target.s3, target.bucket, target.cluster),
    listLogObjects(target.s3, target.bucket, target.cluster),
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
