// The snapshot's database, rebuilt as a local SQLite file from its page packs in S3 (Lambda: /tmp).
// Page i + 1 is written at byte i × pageSize as each ranged pack read arrives, every image checked
// against the manifest's sha256 first, so memory holds only the reads in flight (a few packs' worth),
// whatever the database size; the disk holds the database once. Format 1 manifests (one object per
// page image) are read too. The reader (sqlite-reader.ts) then opens the file read-only.
import { createHash } from 'node:crypto';
import { closeSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { packObjectKey, pageObjectKey, type SnapshotManifest } from '../../core/backup/archive.ts';
import { getObjectBytes } from '../../core/backup/materialize.ts';
import { rangeHeader, slotRanges } from '../../core/backup/page-pack.ts';
import { isPacked } from '../../core/backup/snapshot-manifest.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';

/** Ranged pack reads in flight: each is at most one pack (4 MiB), so memory stays ~6 packs. */
export const packReadsInFlightMax = 6;
/** GETs in flight for format 1 page objects (4 KiB each: request-bound). */
const pageObjectReadsInFlight = 16;

interface Read {
  key: string;
  range?: string;
  /** Offset within the body → the pages that image is. */
  pagesByOffset: Map<number, number[]>;
  bytes: number;
}

function planReads(cluster: string, m: SnapshotManifest): Read[] {
  const size = m.pageSizeBytes;
  if (!isPacked(m)) {
    const byHash = new Map<string, number[]>();
    for (const [i, hash] of m.pages.entries()) {
      const list = byHash.get(hash) ?? [];
      list.push(i + 1);
      byHash.set(hash, list);
    }
    return [...byHash].map(([hash, pageNos]) => ({
      key: pageObjectKey(cluster, hash),
      pagesByOffset: new Map([[0, pageNos]]),
      bytes: size,
    }));
  }
  const bySlotByPack = new Map<number, Map<number, number[]>>();
  for (let i = 0; i < m.pageCount; i++) {
    const pack = m.pagePacks![i]!;
    const bySlot = bySlotByPack.get(pack) ?? new Map<number, number[]>();
    bySlotByPack.set(pack, bySlot);
    const slot = m.pageSlots![i]!;
    const list = bySlot.get(slot) ?? [];
    list.push(i + 1);
    bySlot.set(slot, list);
  }
  const reads: Read[] = [];
  for (const [pack, bySlot] of bySlotByPack) {
    const key = packObjectKey(cluster, m.packs![pack]!.id);
    for (const range of slotRanges(bySlot.keys())) {
      const pagesByOffset = new Map<number, number[]>();
      for (let s = range.firstSlot; s < range.firstSlot + range.slotCount; s++) {
        const pages = bySlot.get(s);
        if (pages) pagesByOffset.set((s - range.firstSlot) * size, pages);
      }
      reads.push({ key, range: rangeHeader(range, size), pagesByOffset, bytes: range.slotCount * size });
    }
  }
  return reads;
}

export interface DatabaseFileProgress {
  pagesWritten: number;
  pageCount: number;
}

/**
 * Writes the snapshot's database to `path` (created or truncated). Resolves with the bytes read from
 * S3. A missing pack or a page whose sha256 differs from the manifest's is an error: never a
 * silently different database.
 */
export async function writeDatabaseFile(options: {
  s3: S3Client;
  bucket: string;
  cluster: string;
  manifest: SnapshotManifest;
  path: string;
  onProgress?: (p: DatabaseFileProgress) => void;
  /** Checked between reads: a true stops the download (a cancelled export). */
  stopped?: () => boolean;
}): Promise<{ bytesRead: number; requests: number }> {
  const { manifest: m } = options;
  const size = m.pageSizeBytes;
  const reads = planReads(options.cluster, m);
  const fd = openSync(options.path, 'w');
  let bytesRead = 0;
  let pagesWritten = 0;
  try {
    ftruncateSync(fd, m.pageCount * size);
    let next = 0;
    let failed = false;
    const limit = isPacked(m) ? packReadsInFlightMax : pageObjectReadsInFlight;
    await Promise.all(
      Array.from({ length: Math.min(limit, reads.length) }, async () => {
        while (!failed && next < reads.length && !options.stopped?.()) {
          const read = reads[next++]!;
          try {
            const body = await getObjectBytes(options.s3, options.bucket, read.key, read.range);
            if (body.length !== read.bytes) {
              throw new BorealisError(
                ErrorCode.NOT_COMPLETE,
                `${read.key} gave ${body.length} bytes where ${read.bytes} were asked for`,
                { context: { key: read.key } },
              );
            }
            bytesRead += body.length;
            for (const [offset, pageNos] of read.pagesByOffset) {
              const image = body.subarray(offset, offset + size);
              const hash = createHash('sha256').update(image).digest('hex');
              for (const pageNo of pageNos) {
                if (m.pages[pageNo - 1] !== hash) {
                  throw new BorealisError(
                    ErrorCode.BAD_CRC,
                    `snapshot ${m.snapshotId}: page ${pageNo} in ${read.key} does not match its sha256 in the manifest`,
                    { context: { snapshotId: m.snapshotId, pageNo } },
                  );
                }
                writeSync(fd, image, 0, size, (pageNo - 1) * size);
              }
              pagesWritten += pageNos.length;
            }
            options.onProgress?.({ pagesWritten, pageCount: m.pageCount });
          } catch (error) {
            failed = true;
            throw error;
          }
        }
      }),
    );
  } finally {
    closeSync(fd);
  }
  return { bytesRead, requests: reads.length };
}
