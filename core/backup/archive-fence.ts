// The archive fence: LSN ranges voided in a region's timeline by a Global Database failover (ADR 016).
// When a region that was the primary loses its commits above the promoted point, its archive is cut
// back to that point (core/global/archive-cut.ts) — but its archiver may still hold a backlog of the
// old writer's redo (a Kinesis stream outlives a region outage; an invocation may be in flight). The
// fence, written before the cut, makes the archiver drop every record in a voided range, so that
// backlog can never re-enter the chain. A void is (aboveLsn, belowLsn): the old writer never allocated
// at or above belowLsn (the next promotion allocates 2^40 above the point at least), and no region
// ever writes a record inside it again.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import { clusterPrefix } from './archive.ts';
import type { RedoBatch } from './redo-batch.ts';
import { readParsedObject } from './s3-archive.ts';

export interface LsnVoid {
  aboveLsn: Lsn;
  belowLsn: Lsn;
}

/** Voids kept at most: one per failover that cut this region's archive. */
export const archiveFenceVoidsMax = 1_000;

export function archiveFenceKey(cluster: string): string {
  return `${clusterPrefix(cluster)}archive-fence.json`;
}

/**
 * Whether `lsn` is voided. A chunk whose last LSN is voided holds voided records (its records above
 * the point are the old writer's), so it never is a link of a chain; one that only spans a void (a
 * republished chunk of the timeline that continued) holds none.
 */
export function inVoid(lsn: Lsn, voids: readonly LsnVoid[]): boolean {
  return voids.some((v) => lsn > v.aboveLsn && lsn < v.belowLsn);
}

/**
 * Pure: the batch without its voided records — undefined when none is left. A voided record is the
 * old writer's, above the point: every record after it in the same batch is the old writer's too (a
 * batch is one writer's contiguous log), so the batch keeps its prefix before the first one.
 */
export function fenceBatch(batch: RedoBatch, voids: readonly LsnVoid[]): RedoBatch | undefined {
  if (voids.length === 0) return batch;
  const cut = batch.records.findIndex((r) => inVoid(r.lsn, voids));
  if (cut === -1) return batch;
  if (cut === 0) return undefined;
  return { ...batch, records: batch.records.slice(0, cut) };
}

function parseFence(text: string, key: string): LsnVoid[] {
  const bad = (why: string) =>
    new BorealisError(ErrorCode.INVALID_ARGUMENT, `archive fence ${key}: ${why}`, { retryable: false });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  const voids = (doc as { voids?: unknown }).voids;
  if (!Array.isArray(voids)) throw bad('voids must be a list');
  return voids.map((v: { aboveLsn?: unknown; belowLsn?: unknown }) => {
    if (typeof v.aboveLsn !== 'string' || !/^\d{1,20}$/.test(v.aboveLsn))
      throw bad('aboveLsn must be decimal');
    if (typeof v.belowLsn !== 'string' || !/^\d{1,20}$/.test(v.belowLsn))
      throw bad('belowLsn must be decimal');
    const range = { aboveLsn: BigInt(v.aboveLsn), belowLsn: BigInt(v.belowLsn) };
    if (range.belowLsn <= range.aboveLsn) throw bad('belowLsn must be above aboveLsn');
    return range;
  });
}

/** The cluster's fence (no object: nothing voided, the common case). */
export async function readArchiveFence(s3: S3Client, bucket: string, cluster: string): Promise<LsnVoid[]> {
  const key = archiveFenceKey(cluster);
  return (await readParsedObject(s3, bucket, key, (text) => parseFence(text, key))) ?? [];
}

/** Adds a void to the fence (a repeat adds nothing). Written before the archive is cut. */
export async function addArchiveVoid(
  s3: S3Client,
  bucket: string,
  cluster: string,
  add: LsnVoid,
): Promise<LsnVoid[]> {
  const voids = await readArchiveFence(s3, bucket, cluster);
  if (voids.some((v) => v.aboveLsn === add.aboveLsn && v.belowLsn === add.belowLsn)) return voids;
  const next = [...voids, add].slice(-archiveFenceVoidsMax);
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: archiveFenceKey(cluster),
      Body: `${JSON.stringify({ voids: next.map((v) => ({ aboveLsn: v.aboveLsn.toString(), belowLsn: v.belowLsn.toString() })) })}\n`,
      ContentType: 'application/json',
    }),
  );
  return next;
}
