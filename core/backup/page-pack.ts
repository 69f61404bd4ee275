// Page packs: many page images in one S3 object, so that snapshots and restores make a few requests
// per megabytes instead of one per 4 KiB page (S3 and its emulators are bound by requests, not
// bytes). A pack is the images back to back — slot s at byte s × pageSize — and is named by the
// sha256 of its body, so writing it twice is a no-op and a pack never changes once written. Which
// page is in which slot is the manifest's business (core/backup/snapshot-manifest.ts). Pure.
import { createHash } from 'node:crypto';
import { assert } from '../assert.ts';

/** A pack is closed at this size: a few ranged GETs restore a large database, and a lost one costs little. */
export const packBytesTargetDefault = 4 * 2 ** 20;
/**
 * Ranged reads of one pack merge needed slots separated by at most this many unneeded ones: a GET
 * costs far more than 8 pages of bytes.
 */
export const packReadGapSlotsMax = 8;

export function pagesPerPack(pageSizeBytes: number, packBytesTarget = packBytesTargetDefault): number {
  assert(pageSizeBytes > 0 && packBytesTarget >= pageSizeBytes, 'a pack holds at least one page');
  return Math.floor(packBytesTarget / pageSizeBytes);
}

/** The pack body of these images (in slot order) and its id. */
export function buildPack(
  images: readonly Uint8Array[],
  pageSizeBytes: number,
): { id: string; body: Buffer } {
  assert(images.length > 0, 'an empty pack');
  const body = Buffer.allocUnsafe(images.length * pageSizeBytes);
  images.forEach((image, slot) => {
    assert(
      image.length === pageSizeBytes,
      () => `slot ${slot} is ${image.length} bytes, not ${pageSizeBytes}`,
    );
    body.set(image, slot * pageSizeBytes);
  });
  return { id: createHash('sha256').update(body).digest('hex'), body };
}

/** One ranged GET: slots [firstSlot, firstSlot + slotCount) of a pack. */
export interface SlotRange {
  firstSlot: number;
  slotCount: number;
}

/** Needed slots (any order, repeats allowed) → the ranged reads that cover them. */
export function slotRanges(slots: Iterable<number>, gapSlotsMax = packReadGapSlotsMax): SlotRange[] {
  const sorted = [...new Set(slots)].sort((a, b) => a - b);
  const ranges: SlotRange[] = [];
  for (const slot of sorted) {
    assert(Number.isSafeInteger(slot) && slot >= 0, () => `slot ${slot}`);
    const last = ranges.at(-1);
    if (last && slot - (last.firstSlot + last.slotCount) <= gapSlotsMax) {
      last.slotCount = slot - last.firstSlot + 1;
    } else {
      ranges.push({ firstSlot: slot, slotCount: 1 });
    }
  }
  return ranges;
}

/** The HTTP Range header of a slot range (inclusive byte bounds). */
export function rangeHeader(range: SlotRange, pageSizeBytes: number): string {
  const first = range.firstSlot * pageSizeBytes;
  return `bytes=${first}-${first + range.slotCount * pageSizeBytes - 1}`;
}
