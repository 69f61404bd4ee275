import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildPack, pagesPerPack, rangeHeader, slotRanges } from './page-pack.ts';

describe('page packs', () => {
  it('lays images back to back and names the pack by its content', () => {
    const images = [1, 2, 3].map((n) => new Uint8Array(8).fill(n));
    const { id, body } = buildPack(images, 8);
    expect(body).toEqual(Buffer.concat(images));
    expect(id).toBe(createHash('sha256').update(body).digest('hex'));
    expect(buildPack(images, 8).id).toBe(id);
    expect(buildPack([images[1]!, images[0]!, images[2]!], 8).id).not.toBe(id);
    expect(() => buildPack([new Uint8Array(7)], 8)).toThrow(/7 bytes/);
    expect(() => buildPack([], 8)).toThrow(/empty/);
  });

  it('holds ~4 MiB of pages', () => {
    expect(pagesPerPack(4096)).toBe(1024);
    expect(pagesPerPack(65536)).toBe(64);
    expect(pagesPerPack(1024, 3000)).toBe(2);
    expect(() => pagesPerPack(4096, 100)).toThrow(/at least one page/);
  });

  it('covers needed slots with few ranged reads, merging small gaps', () => {
    expect(slotRanges([])).toEqual([]);
    expect(slotRanges([5, 1, 2, 2, 3])).toEqual([{ firstSlot: 1, slotCount: 5 }]);
    // A gap of 8 unneeded slots is read through; 9 is not.
    expect(slotRanges([0, 9, 19])).toEqual([
      { firstSlot: 0, slotCount: 10 },
      { firstSlot: 19, slotCount: 1 },
    ]);
    expect(slotRanges([0, 3], 1)).toEqual([
      { firstSlot: 0, slotCount: 1 },
      { firstSlot: 3, slotCount: 1 },
    ]);
    expect(rangeHeader({ firstSlot: 2, slotCount: 3 }, 4096)).toBe('bytes=8192-20479');
  });
});
