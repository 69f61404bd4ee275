// A Global Database member's backup archive around an unplanned failover (ADR 016): before the old
// primary's volume voids the commits above the promoted point, its archive is cut back to that point
// (core/global/archive-cut.ts): first the fence (core/backup/archive-fence.ts) — from then on its
// archiver drops the old writer's records above the point, whatever backlog its stream still holds —
// then the archive is let settle (an invocation that read no fence may be in flight), then the lost
// chunks move aside and the watermark goes back. The caller gives the region's S3 client and bucket.
import type { S3Client } from '@aws-sdk/client-s3';
import { addArchiveVoid } from '../backup/archive-fence.ts';
import { readWatermark } from '../backup/s3-archive.ts';
import { globalPromotionLsnGap } from '../limits.ts';
import type { Lsn } from '../lsn.ts';
import { type ArchiveCutResult, cutArchive, readArchiveCutPlan } from './archive-cut.ts';

/** The archive is settled once its watermark has not moved for this long… */
const archiveQuietMs = 2_000;
/** …or after this long in any case (an archiver that is down does not move it either). */
const archiveSettleMaxMs = 30_000;

export interface RegionArchive {
  s3: S3Client;
  bucket: string;
  cluster: string;
}

/**
 * The watermark a cut back to `aboveLsn` leaves, planned on the archive as it is now: a cut made
 * later (after more chunks were archived) leaves this or higher, so storage keeping the log above it
 * is enough. '0' when nothing at or below the point is archived.
 */
export async function plannedArchiveFloor(archive: RegionArchive, aboveLsn: Lsn): Promise<string> {
  const { plan } = await readArchiveCutPlan(archive.s3, archive.bucket, archive.cluster, aboveLsn);
  return plan.watermark?.lsn ?? '0';
}

/**
 * Fences the archive above `aboveLsn` (a promoted point): the void reaches to the 2^40 gap every
 * promotion allocates above it, so it holds every LSN the old writer may have allocated and none any
 * region allocates later. Idempotent.
 */
export async function fenceArchive(archive: RegionArchive, aboveLsn: Lsn): Promise<void> {
  await addArchiveVoid(archive.s3, archive.bucket, archive.cluster, {
    aboveLsn,
    belowLsn: aboveLsn + globalPromotionLsnGap,
  });
}

/**
 * Fences the archive, waits until it stops moving (or has archived `untilLsn`, the old VDL, when that
 * is not above the point), then cuts it back to `aboveLsn`. Returns the cut and the floor the
 * rejoining applier keeps the log above.
 */
export async function cutArchiveSettled(
  archive: RegionArchive,
  aboveLsn: Lsn,
  untilLsn?: Lsn,
): Promise<{ cut: ArchiveCutResult; archiveFloor: string }> {
  await fenceArchive(archive, aboveLsn);
  const { s3, bucket, cluster } = archive;
  const started = Date.now();
  let last: string | undefined;
  let since = Date.now();
  for (;;) {
    const w = (await readWatermark(s3, bucket, cluster))?.value.lsn ?? '0';
    if (w !== last) {
      last = w;
      since = Date.now();
    }
    // The old VDL archived (only when nothing above the point was left to drop): settled.
    // Otherwise 2 s without the watermark moving — an invocation that read no fence may still run.
    const reached = untilLsn !== undefined && untilLsn <= aboveLsn && BigInt(w) >= untilLsn;
    if (reached || Date.now() - since >= archiveQuietMs || Date.now() - started >= archiveSettleMaxMs) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  const cut = await cutArchive(s3, bucket, cluster, aboveLsn);
  return { cut, archiveFloor: cut.watermarkAfter ?? '0' };
}
