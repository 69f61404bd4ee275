// Carrying out a restore plan's reads: the snapshot's page images, then the planned log chunks applied
// in LSN order, one transaction at a time, stopping at the last commit with commit time <= T. The
// result is the database's pages as of that commit — what a restored volume is loaded with.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { applyDelta } from '../delta.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import { decodeCommitPayload, RecordKind, type RedoRecord } from '../record.ts';
import { pageObjectKey, type SnapshotManifest } from './archive.ts';
import { decodeRedoBatch } from './redo-batch.ts';
import type { RestorePlan } from './restore-plan.ts';

const gunzipAsync = promisify(gunzip);
const downloadConcurrency = 16;

export interface MaterializedDatabase {
  pageSizeBytes: number;
  /** Page number → image, for every page of the database as of the cut. */
  pages: Map<number, Uint8Array>;
  cutCommitLsn: Lsn;
  cutCommitTimeMs: number;
  commitsApplied: number;
  bytesDownloaded: number;
}

export interface MaterializeProgress {
  phase: 'snapshot' | 'log';
  done: number;
  total: number;
}

export async function getObjectBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  try {
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await out.Body!.transformToByteArray());
  } catch (error) {
    const name = (error as Error).name;
    if (name === 'NoSuchKey' || name === 'NotFound') {
      throw new BorealisError(ErrorCode.NOT_COMPLETE, `archive object s3://${bucket}/${key} is missing`, {
        context: { key },
      });
    }
    throw error;
  }
}

async function inParallel<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await run(items[next++]!);
    }),
  );
}

export async function materializeRestore(options: {
  s3: S3Client;
  bucket: string;
  plan: RestorePlan;
  pageSizeBytes: number;
  onProgress?: (p: MaterializeProgress) => void;
}): Promise<MaterializedDatabase> {
  const { s3, bucket, plan } = options;
  let pageSizeBytes = options.pageSizeBytes;
  const pages = new Map<number, Uint8Array>();
  let bytesDownloaded = 0;
  let cutCommitLsn = 0n;
  let cutCommitTimeMs = 0;

  if (plan.snapshot) {
    const manifestBytes = await getObjectBytes(s3, bucket, plan.snapshot.key);
    bytesDownloaded += manifestBytes.length;
    const manifest = JSON.parse(manifestBytes.toString('utf8')) as SnapshotManifest;
    pageSizeBytes = manifest.pageSizeBytes;
    const byHash = new Map<string, number[]>();
    manifest.pages.forEach((hash, i) => {
      const list = byHash.get(hash) ?? [];
      list.push(i + 1);
      byHash.set(hash, list);
    });
    let done = 0;
    await inParallel([...byHash.keys()], downloadConcurrency, async (hash) => {
      const bytes = await getObjectBytes(s3, bucket, pageObjectKey(plan.sourceCluster, hash));
      if (createHash('sha256').update(bytes).digest('hex') !== hash) {
        throw new BorealisError(ErrorCode.BAD_CRC, `snapshot page object ${hash} does not match its hash`, {
          context: { snapshotId: manifest.snapshotId },
        });
      }
      bytesDownloaded += bytes.length;
      for (const pageNo of byHash.get(hash)!) pages.set(pageNo, bytes);
      options.onProgress?.({ phase: 'snapshot', done: ++done, total: byHash.size });
    });
    cutCommitLsn = BigInt(manifest.lsn);
    cutCommitTimeMs = manifest.commitTimeMs;
  }

  // Records of the transaction in progress wait for its commit: applied if it commits by T.
  let pending: RedoRecord[] = [];
  let lastLsn = plan.snapshot ? BigInt(plan.snapshot.lsn) : 0n;
  let commitsApplied = 0;
  let reachedT = false;
  for (const [i, chunk] of plan.chunks.entries()) {
    if (reachedT) break;
    const compressed = await getObjectBytes(s3, bucket, chunk.key);
    bytesDownloaded += compressed.length;
    let batch: ReturnType<typeof decodeRedoBatch>;
    try {
      batch = decodeRedoBatch(await gunzipAsync(compressed));
    } catch (error) {
      throw new BorealisError(
        ErrorCode.BAD_CRC,
        `log chunk for LSNs ${chunk.firstLsn}-${chunk.lastLsn} is corrupt: ${(error as Error).message}`,
        { context: { key: chunk.key } },
      );
    }
    for (const record of batch.records) {
      if (record.lsn <= lastLsn) continue; // overlap with an earlier chunk or the snapshot
      lastLsn = record.lsn;
      if (record.kind !== RecordKind.Commit) {
        if (record.kind === RecordKind.PageImage || record.kind === RecordKind.PageDelta)
          pending.push(record);
        continue;
      }
      const { commitTimeMs } = decodeCommitPayload(record.payload);
      if (commitTimeMs > plan.restoreTimeMs) {
        reachedT = true;
        break;
      }
      for (const r of pending) {
        const base = pages.get(r.pageNo) ?? new Uint8Array(pageSizeBytes);
        pages.set(
          r.pageNo,
          r.kind === RecordKind.PageImage ? Buffer.from(r.payload) : applyDelta(base, r.payload),
        );
      }
      pending = [];
      cutCommitLsn = record.lsn;
      cutCommitTimeMs = commitTimeMs;
      commitsApplied++;
    }
    options.onProgress?.({ phase: 'log', done: i + 1, total: plan.chunks.length });
  }
  // SQLite's header names the database size; pages past it (freed by a shrink) are not part of it.
  const page1 = pages.get(1);
  if (page1 && page1.length >= 32) {
    const size = Buffer.from(page1.buffer, page1.byteOffset, page1.byteLength).readUInt32BE(28);
    if (size > 0) for (const pageNo of [...pages.keys()]) if (pageNo > size) pages.delete(pageNo);
  }
  return { pageSizeBytes, pages, cutCommitLsn, cutCommitTimeMs, commitsApplied, bytesDownloaded };
}
