// Carrying out a restore plan's reads: the snapshot's page images, then the planned log chunks applied
// in LSN order, one transaction at a time, stopping at the last commit with commit time <= T. The
// result is the database's pages as of that commit — what a restored volume is loaded with.
//
// Snapshot pages come from page packs with a few ranged GETs in parallel (format 2), or one GET per
// distinct page (format 1 manifests); every image is checked against the manifest's sha256.
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { assert } from '../assert.ts';
import { onTimeline } from '../backtrack/timeline.ts';
import { applyDelta } from '../delta.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import { decodeCommitPayload, RecordKind, type RedoRecord } from '../record.ts';
import { packObjectKey, pageObjectKey, type SnapshotManifest } from './archive.ts';
import { rangeHeader, type SlotRange, slotRanges } from './page-pack.ts';
import { decodeRedoBatch } from './redo-batch.ts';
import type { RestorePlan } from './restore-plan.ts';
import { isPacked, parseSnapshotManifest } from './snapshot-manifest.ts';

const gunzipAsync = promisify(gunzip);
/** GETs in flight for format 1 manifests (one 4 KiB page each: request-bound). */
const pageObjectReadsInFlight = 16;
/** Ranged pack GETs in flight: a few large reads keep S3 busy without a storm of requests. */
export const packReadsInFlightDefault = 6;

export interface MaterializedDatabase {
  pageSizeBytes: number;
  /** Page number → image, for every page of the database as of the cut. */
  pages: Map<number, Uint8Array>;
  cutCommitLsn: Lsn;
  cutCommitTimeMs: number;
  commitsApplied: number;
  bytesDownloaded: number;
  /** GETs made for the snapshot's page images. */
  snapshotRequests: number;
}

export interface MaterializeProgress {
  phase: 'snapshot' | 'log';
  done: number;
  total: number;
}

export async function getObjectBytes(
  s3: S3Client,
  bucket: string,
  key: string,
  range?: string,
): Promise<Buffer> {
  try {
    const out = await s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: key, ...(range === undefined ? {} : { Range: range }) }),
    );
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
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (!failed && next < items.length) {
        try {
          await run(items[next++]!);
        } catch (error) {
          failed = true; // the first failure stops the other workers: no point downloading the rest
          throw error;
        }
      }
    }),
  );
}

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

function corruptPage(manifest: SnapshotManifest, pageNo: number, where: string): BorealisError {
  return new BorealisError(
    ErrorCode.BAD_CRC,
    `snapshot ${manifest.snapshotId}: page ${pageNo} in ${where} does not match its sha256 in the manifest`,
    { context: { snapshotId: manifest.snapshotId, pageNo, where } },
  );
}

/** One ranged read of a pack and the pages it brings: slot → page numbers. */
interface PackRead {
  key: string;
  range: SlotRange;
  pagesBySlot: Map<number, number[]>;
}

function planPackReads(cluster: string, manifest: SnapshotManifest): PackRead[] {
  const bySlotByPack = new Map<number, Map<number, number[]>>();
  for (let i = 0; i < manifest.pageCount; i++) {
    const pack = manifest.pagePacks![i]!;
    const bySlot = bySlotByPack.get(pack) ?? new Map<number, number[]>();
    bySlotByPack.set(pack, bySlot);
    const slot = manifest.pageSlots![i]!;
    const list = bySlot.get(slot) ?? [];
    list.push(i + 1);
    bySlot.set(slot, list);
  }
  const reads: PackRead[] = [];
  for (const [pack, bySlot] of bySlotByPack) {
    const key = packObjectKey(cluster, manifest.packs![pack]!.id);
    for (const range of slotRanges(bySlot.keys())) {
      const pagesBySlot = new Map<number, number[]>();
      for (let s = range.firstSlot; s < range.firstSlot + range.slotCount; s++) {
        const pages = bySlot.get(s);
        if (pages) pagesBySlot.set(s, pages);
      }
      reads.push({ key, range, pagesBySlot });
    }
  }
  return reads;
}

/** Every page image of a snapshot, checked against the manifest. */
async function readSnapshotPages(options: {
  s3: S3Client;
  bucket: string;
  cluster: string;
  manifest: SnapshotManifest;
  pages: Map<number, Uint8Array>;
  packReadsInFlight: number;
  onProgress?: (p: MaterializeProgress) => void;
}): Promise<{ bytes: number; requests: number }> {
  const { s3, bucket, cluster, manifest, pages } = options;
  const size = manifest.pageSizeBytes;
  let bytes = 0;
  let done = 0;
  const total = manifest.pageCount;
  if (isPacked(manifest)) {
    const reads = planPackReads(cluster, manifest);
    await inParallel(reads, options.packReadsInFlight, async (read) => {
      const body = await getObjectBytes(s3, bucket, read.key, rangeHeader(read.range, size));
      if (body.length !== read.range.slotCount * size) {
        throw new BorealisError(
          ErrorCode.NOT_COMPLETE,
          `pack ${read.key} is ${body.length} bytes where slots ${read.range.firstSlot}+${read.range.slotCount} were asked for`,
          { context: { key: read.key } },
        );
      }
      bytes += body.length;
      for (const [slot, pageNos] of read.pagesBySlot) {
        const offset = (slot - read.range.firstSlot) * size;
        const image = body.subarray(offset, offset + size);
        const hash = sha256Hex(image);
        for (const pageNo of pageNos) {
          if (manifest.pages[pageNo - 1] !== hash) throw corruptPage(manifest, pageNo, read.key);
          pages.set(pageNo, image);
        }
        done += pageNos.length;
      }
      options.onProgress?.({ phase: 'snapshot', done, total });
    });
    return { bytes, requests: reads.length };
  }
  const byHash = new Map<string, number[]>();
  manifest.pages.forEach((hash, i) => {
    const list = byHash.get(hash) ?? [];
    list.push(i + 1);
    byHash.set(hash, list);
  });
  await inParallel([...byHash.keys()], pageObjectReadsInFlight, async (hash) => {
    const key = pageObjectKey(cluster, hash);
    const image = await getObjectBytes(s3, bucket, key);
    const pageNos = byHash.get(hash)!;
    if (sha256Hex(image) !== hash) throw corruptPage(manifest, pageNos[0]!, key);
    bytes += image.length;
    for (const pageNo of pageNos) pages.set(pageNo, image);
    done += pageNos.length;
    options.onProgress?.({ phase: 'snapshot', done, total });
  });
  return { bytes, requests: byHash.size };
}

export async function materializeRestore(options: {
  s3: S3Client;
  bucket: string;
  plan: RestorePlan;
  pageSizeBytes: number;
  /** @default packReadsInFlightDefault */
  packReadsInFlight?: number;
  onProgress?: (p: MaterializeProgress) => void;
}): Promise<MaterializedDatabase> {
  const { s3, bucket, plan } = options;
  let pageSizeBytes = options.pageSizeBytes;
  const pages = new Map<number, Uint8Array>();
  let bytesDownloaded = 0;
  let cutCommitLsn = 0n;
  let cutCommitTimeMs = 0;

  let snapshotRequests = 0;
  if (plan.snapshot) {
    const manifestBytes = await getObjectBytes(s3, bucket, plan.snapshot.key);
    bytesDownloaded += manifestBytes.length;
    const manifest = parseSnapshotManifest(
      manifestBytes.toString('utf8'),
      plan.snapshot.key,
      plan.snapshot.snapshotId,
    );
    assert(manifest.lsn === plan.snapshot.lsn, 'the planned snapshot and its manifest name one LSN');
    pageSizeBytes = manifest.pageSizeBytes;
    const read = await readSnapshotPages({
      s3,
      bucket,
      cluster: plan.sourceCluster,
      manifest,
      pages,
      packReadsInFlight: options.packReadsInFlight ?? packReadsInFlightDefault,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    bytesDownloaded += read.bytes;
    snapshotRequests = read.requests;
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
      // Voided by a backtrack that had taken effect at T (ADR 015): not part of the database then.
      if (plan.timeline && !onTimeline(plan.timeline, record.lsn)) continue;
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
  return {
    pageSizeBytes,
    pages,
    cutCommitLsn,
    cutCommitTimeMs,
    commitsApplied,
    bytesDownloaded,
    snapshotRequests,
  };
}
