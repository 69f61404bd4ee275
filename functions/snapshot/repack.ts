// Repacking, part of a snapshot: the images a new snapshot still uses from its parent's packs move
// into the snapshot's own packs when those packs are mostly dead or small and too many — read back
// from S3 and checked against their sha256, never read from storage. Without it a pack lives as long
// as one page of it never changes, and every incremental snapshot adds a pack a restore needs a GET
// for. ADR 008.
import { createHash } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { packObjectKey } from '../../core/backup/archive.ts';
import { getObjectBytes } from '../../core/backup/materialize.ts';
import { rangeHeader, slotRanges } from '../../core/backup/page-pack.ts';
import type { PageLocation } from '../../core/backup/snapshot-manifest.ts';
import type { PackWriter } from './pack-writer.ts';

/** A parent pack of which less than this share of the slots is still in use is repacked. */
export const repackBelowLiveFraction = 0.25;
/**
 * Small packs (under a quarter of packBytesTarget: each incremental snapshot writes one) are merged
 * once more than this many are in use, so a restore needs few GETs.
 */
export const smallPacksMax = 16;
/** Bytes repacked per snapshot at most: repacking is S3 work that must not make a snapshot long. */
export const repackBytesMaxDefault = 64 * 2 ** 20;

/** Where a page's image will be: in a pack of the parent, or in one this snapshot writes. */
export type Placement =
  | ({ kind: 'shared' } & PageLocation & { slots: number })
  | { kind: 'new'; pack: number; slot: number };

const sha256Hex = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/**
 * Moves the images still in use out of parent packs that are mostly dead (less than
 * repackBelowLiveFraction of their slots used) or small and too many (more than smallPacksMax),
 * into this snapshot's packs, reading them back from S3 — never from storage. Without it a pack
 * lives as long as one page of it never changes, and a restore needs a GET per small pack. An image
 * that does not match its hash is left for the caller to read from storage. Returns the number of
 * images moved.
 */
export async function repack(input: {
  s3: S3Client;
  bucket: string;
  cluster: string;
  pageSizeBytes: number;
  packBytesTarget: number;
  repackBytesMax: number;
  hashes: string[];
  placements: Placement[];
  writer: PackWriter;
  /** Filled with the packs found damaged and the pages whose images they held. */
  damaged: { packs: Set<string>; pages: number[] };
}): Promise<number> {
  const { pageSizeBytes, placements } = input;
  const bySlotByPack = new Map<string, { slots: number; bySlot: Map<number, number[]> }>();
  placements.forEach((p, i) => {
    if (p.kind !== 'shared') return;
    const pack = bySlotByPack.get(p.packId) ?? { slots: p.slots, bySlot: new Map<number, number[]>() };
    bySlotByPack.set(p.packId, pack);
    const pages = pack.bySlot.get(p.slot) ?? [];
    pages.push(i + 1);
    pack.bySlot.set(p.slot, pages);
  });
  const mostlyDead = [...bySlotByPack].filter(([, p]) => p.bySlot.size < p.slots * repackBelowLiveFraction);
  const small = [...bySlotByPack].filter(
    ([, p]) =>
      p.slots * pageSizeBytes < input.packBytesTarget / 4 &&
      p.bySlot.size >= p.slots * repackBelowLiveFraction,
  );
  const chosen = [...mostlyDead, ...(small.length > smallPacksMax ? small : [])].map(
    ([packId, p]) => [packId, p.bySlot] as const,
  );
  let budget = input.repackBytesMax;
  let moved = 0;
  for (const [packId, bySlot] of chosen) {
    if (bySlot.size * pageSizeBytes > budget) continue;
    budget -= bySlot.size * pageSizeBytes;
    const key = packObjectKey(input.cluster, packId);
    for (const range of slotRanges(bySlot.keys())) {
      const body = await getObjectBytes(input.s3, input.bucket, key, rangeHeader(range, pageSizeBytes));
      for (let s = range.firstSlot; s < range.firstSlot + range.slotCount; s++) {
        const pageNos = bySlot.get(s);
        if (!pageNos) continue;
        const offset = (s - range.firstSlot) * pageSizeBytes;
        const image = body.subarray(offset, offset + pageSizeBytes);
        const expected = input.hashes[pageNos[0]! - 1]!;
        // A damaged image is not copied on: the caller reads those pages from storage instead.
        if (image.length !== pageSizeBytes || sha256Hex(image) !== expected) {
          input.damaged.packs.add(packId);
          input.damaged.pages.push(...pageNos);
          continue;
        }
        const added = input.writer.add(Buffer.from(image));
        for (const pageNo of pageNos) placements[pageNo - 1] = { kind: 'new', ...added.location };
        await added.buffered;
        moved++;
      }
    }
  }
  return moved;
}
