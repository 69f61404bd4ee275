// Global Database: a region's backup archive cut back to the point its volume rejoins at, after an
// unplanned failover (ADR 016). While it was the primary, that region's archiver stored its redo —
// including the commits above the new primary's promoted point, which are lost. Its volume voids them
// when it rejoins; its archive must not keep them in the chain, or a restore there — and the log this
// region publishes again once it is the primary after a switchover, chained at its watermark — would
// mix the two timelines. The lost chunks and the snapshots taken above the point move under
// `lost-timelines/<cut>/` (kept, as Aurora keeps a snapshot of the old primary, never restored from),
// and the watermark goes back to the end of the chain that remains, at or below the point.
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  type ChunkInfo,
  clusterPrefix,
  logPrefix,
  parseLogChunkKey,
  snapshotPrefix,
  type Watermark,
  watermarkKey,
} from '../backup/archive.ts';
import { listObjects, readWatermark } from '../backup/s3-archive.ts';
import type { Lsn } from '../lsn.ts';

export interface ArchiveCutPlan {
  /** Log chunks holding a record above the point (a chunk straddling it too: it holds lost ones). */
  move: string[];
  /** The watermark after the cut: the last chunk end at or below the point on the chain from it. */
  watermark: Watermark | undefined;
}

/**
 * Pure: which chunks leave and where the watermark goes. `watermark` is the archive's now; the chain
 * kept is its part at or below `aboveLsn` — the highest chunk end at or below both, with that chunk's
 * last commit (a chunk without one keeps the commit of the chain before it, found by walking back).
 */
export function planArchiveCut(
  chunks: readonly ChunkInfo[],
  watermark: Watermark | undefined,
  aboveLsn: Lsn,
  nowIso: string,
): ArchiveCutPlan {
  const move = chunks.filter((c) => c.lastLsn > aboveLsn).map((c) => c.key);
  if (watermark === undefined) return { move, watermark: undefined };
  const limit = BigInt(watermark.lsn) < aboveLsn ? BigInt(watermark.lsn) : aboveLsn;
  if (limit === BigInt(watermark.lsn)) return { move, watermark };
  const kept = chunks.filter((c) => c.lastLsn <= limit).sort((a, b) => (a.lastLsn < b.lastLsn ? 1 : -1));
  const end = kept[0];
  if (end === undefined) return { move, watermark: undefined };
  const withCommit = kept.find((c) => c.lastCommitLsn > 0n);
  return {
    move,
    watermark: {
      lsn: end.lastLsn.toString(),
      commitLsn: (withCommit?.lastCommitLsn ?? 0n).toString(),
      commitTimeMs: withCommit?.lastCommitTimeMs ?? 0,
      updatedAt: nowIso,
    },
  };
}

export interface ArchiveCutResult {
  movedChunks: number;
  movedSnapshots: number;
  /** Where they went. */
  lostPrefix: string;
  watermarkBefore: string | null;
  watermarkAfter: string | null;
}

/** The cut of the archive of `cluster` in `bucket` as it stands now (read, not applied). */
export async function readArchiveCutPlan(
  s3: S3Client,
  bucket: string,
  cluster: string,
  aboveLsn: Lsn,
  now = new Date(),
): Promise<{ plan: ArchiveCutPlan; stored: Awaited<ReturnType<typeof readWatermark>> }> {
  const chunks = (await listObjects(s3, bucket, logPrefix(cluster)))
    .map((o) => parseLogChunkKey(o.key))
    .filter((c): c is ChunkInfo => c !== undefined);
  const stored = await readWatermark(s3, bucket, cluster);
  return { plan: planArchiveCut(chunks, stored?.value, aboveLsn, now.toISOString()), stored };
}

/** Applies the cut to the archive of `cluster` in `bucket`. Idempotent: a repeat moves nothing more. */
export async function cutArchive(
  s3: S3Client,
  bucket: string,
  cluster: string,
  aboveLsn: Lsn,
  now = new Date(),
): Promise<ArchiveCutResult> {
  const lostPrefix = `${clusterPrefix(cluster)}lost-timelines/${now.toISOString().replace(/[:.]/g, '-')}-above-${aboveLsn}/`;
  const { plan, stored } = await readArchiveCutPlan(s3, bucket, cluster, aboveLsn, now);
  const move = async (key: string) => {
    const to = `${lostPrefix}${key.slice(clusterPrefix(cluster).length)}`;
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: to, CopySource: `${bucket}/${key}` }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
  };
  // The watermark first: from here on nothing reads the chain past the point.
  if (plan.watermark === undefined && stored !== undefined) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: watermarkKey(cluster) }));
  } else if (plan.watermark !== undefined && plan.watermark !== stored?.value) {
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: watermarkKey(cluster),
        Body: JSON.stringify(plan.watermark),
        ContentType: 'application/json',
      }),
    );
  }
  for (const key of plan.move) await move(key);
  let movedSnapshots = 0;
  for (const o of await listObjects(s3, bucket, snapshotPrefix(cluster))) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }));
    const manifest = JSON.parse(await got.Body!.transformToString()) as { lsn?: string; copiedFrom?: string };
    // A copy of another region's snapshot (CopyDBClusterSnapshot) is not this region's timeline: kept.
    // A copy made within the region is of its own volume: it goes with the timeline it holds.
    const copiedFromRegion = manifest.copiedFrom?.split(':')[3];
    if (copiedFromRegion !== undefined && `${cluster}-backup-${copiedFromRegion}` !== bucket) continue;
    if (manifest.lsn !== undefined && /^\d{1,20}$/.test(manifest.lsn) && BigInt(manifest.lsn) > aboveLsn) {
      await move(o.key);
      movedSnapshots++;
    }
  }
  return {
    movedChunks: plan.move.length,
    movedSnapshots,
    lostPrefix,
    watermarkBefore: stored?.value.lsn ?? null,
    watermarkAfter: plan.watermark?.lsn ?? null,
  };
}
