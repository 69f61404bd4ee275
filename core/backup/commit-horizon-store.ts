// Reading and writing a cluster's commit horizons (commit-horizon.ts) in its backup bucket, and what
// the latest restorable time is computed from (horizons, watermark, fence, newest backtrack marker).
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Lsn } from '../lsn.ts';
import type { Watermark } from './archive.ts';
import { readArchiveFence } from './archive-fence.ts';
import {
  type CommitHorizon,
  commitHorizonKey,
  fenceMark,
  formatCommitHorizons,
  parseCommitHorizons,
} from './commit-horizon.ts';
import { readNewestArchivedMarker, readParsedObject, readWatermark } from './s3-archive.ts';

/** Reads of a body that does not parse before it counts as corrupt (a torn read racing a write). */
const horizonReadAttemptsMax = 5;

/** The stored horizons (none when none was checked yet). */
export async function readCommitHorizons(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<CommitHorizon[]> {
  const key = commitHorizonKey(cluster);
  const stored = await readParsedObject(
    s3,
    bucket,
    key,
    (text) => parseCommitHorizons(text, key),
    horizonReadAttemptsMax,
  );
  return stored ?? [];
}

/** Stores the horizons (nextHorizons' choice): a whole-object PUT. */
export async function writeCommitHorizons(
  s3: S3Client,
  bucket: string,
  cluster: string,
  horizons: readonly CommitHorizon[],
): Promise<void> {
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: commitHorizonKey(cluster),
      Body: formatCommitHorizons(horizons),
      ContentType: 'application/json',
    }),
  );
}

/** What the latest restorable time is computed from (restorable-window.ts latestRestorableTimeMs). */
export interface RestorableState {
  watermark: Watermark | undefined;
  horizons: CommitHorizon[];
  /** The archive fence now (fenceMark). */
  fence: string;
  /** The newest archived backtrack marker's fromLsn (0: none). */
  backtrackFromLsn: Lsn;
}

/**
 * The watermark, the fence, the horizons and the newest backtrack marker of a cluster's archive: the
 * horizons first, then the rest at once (a marker archived before a horizon was stored is seen —
 * commit-horizon.ts). Horizons that cannot be read count as none: they only ever extend the
 * watermark's time, so without them the latest restorable time is the watermark's commit — earlier,
 * still true.
 */
export async function readRestorableState(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<RestorableState> {
  const horizons = await readCommitHorizons(s3, bucket, cluster).catch((): CommitHorizon[] => []);
  const [watermark, voids, marker] = await Promise.all([
    readWatermark(s3, bucket, cluster),
    readArchiveFence(s3, bucket, cluster),
    readNewestArchivedMarker(s3, bucket, cluster),
  ]);
  return {
    watermark: watermark?.value,
    horizons,
    fence: fenceMark(voids),
    backtrackFromLsn: marker?.fromLsn ?? 0n,
  };
}
