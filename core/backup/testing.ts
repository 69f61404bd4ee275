// Test helpers for the backup archive (never imported by production code): a log of whole-page
// transactions written to an S3 double as the archiver would store it — gzip'd redo batches under
// their chunk keys, and a watermark.
import { gzipSync } from 'node:zlib';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Lsn } from '../lsn.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../record.ts';
import { type ChunkInfo, logChunkKey, parseLogChunkKey, type Watermark, watermarkKey } from './archive.ts';
import { encodeRedoBatch, headerOf, packRedoBatches } from './redo-batch.ts';

export interface PageTransaction {
  /** Page number → new whole image. */
  pages: Map<number, Uint8Array>;
  commitTimeMs: number;
}

/** Records of the transactions from LSN `afterLsn` + 1: page images, then a commit each. */
export function pageImageLog(afterLsn: Lsn, txns: readonly PageTransaction[]): RedoRecord[] {
  let lsn = afterLsn;
  const records: RedoRecord[] = [];
  txns.forEach((t, i) => {
    for (const [pageNo, image] of t.pages) {
      lsn += 1n;
      records.push({
        lsn,
        pg: 0,
        pageNo,
        prevLsnInPg: lsn - 1n,
        prevLsnOfPage: 0n,
        kind: RecordKind.PageImage,
        flags: 0,
        payload: image,
      });
    }
    lsn += 1n;
    records.push(pg0CommitRecord(lsn, BigInt(i + 1), t.commitTimeMs));
  });
  return records;
}

/** A commit record of a one-PG test log (PG 0, backlinked to the record just before it). */
export function pg0CommitRecord(lsn: Lsn, txnId: bigint, commitTimeMs: number): RedoRecord {
  return {
    lsn,
    pg: 0,
    pageNo: 0,
    prevLsnInPg: lsn - 1n,
    prevLsnOfPage: 0n,
    kind: RecordKind.Commit,
    flags: RecordFlags.Cpl,
    payload: encodeCommitPayload({
      txnId,
      commitTimeMs,
      pgTails: [{ pg: 0, lastLsn: lsn }],
      vdlHint: 0n,
      prevCommitLsn: 0n,
      prevCommitPg: 0,
    }),
  };
}

/**
 * Stores the records as chunks of at most `maxBytes` chained from `prevLsn`, and (unless told not
 * to) a watermark at the last one. Returns the chunks in order.
 */
export async function archiveRecords(
  target: { s3: S3Client; bucket: string; cluster: string },
  prevLsn: Lsn,
  records: readonly RedoRecord[],
  options: { maxBytes?: number; watermark?: boolean; timeline?: number } = {},
): Promise<ChunkInfo[]> {
  const chunks: ChunkInfo[] = [];
  for (const batch of packRedoBatches(1n, prevLsn, records, options.maxBytes, options.timeline)) {
    const key = logChunkKey(target.cluster, headerOf(batch));
    await target.s3.send(
      new PutObjectCommand({ Bucket: target.bucket, Key: key, Body: gzipSync(encodeRedoBatch(batch)) }),
    );
    chunks.push(parseLogChunkKey(key)!);
  }
  const last = chunks.at(-1);
  if (last && options.watermark !== false) {
    const watermark: Watermark = {
      lsn: last.lastLsn.toString(),
      commitLsn: last.lastCommitLsn.toString(),
      commitTimeMs: last.lastCommitTimeMs,
      updatedAt: new Date().toISOString(),
    };
    await target.s3.send(
      new PutObjectCommand({
        Bucket: target.bucket,
        Key: watermarkKey(target.cluster),
        Body: JSON.stringify(watermark),
      }),
    );
  }
  return chunks;
}
