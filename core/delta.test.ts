import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applyDelta, computeDelta, deltaIsEmpty, deltaRangeCount } from './delta.ts';
import { BorealisError, InvariantViolation } from './errors.ts';
import { pageSizeBytesMax } from './limits.ts';

const arbPageSize = fc.constantFrom(512, 1024, 4096);
/** Pseudo-random page bytes from a seed: far cheaper than a 4 KiB fast-check array, same coverage. */
function pageFromSeed(size: number, seed: number): Uint8Array {
  const page = new Uint8Array(size);
  let x = seed | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    page[i] = x & 0xff;
  }
  return page;
}

/** A page and a mutated copy: random byte writes and random filled runs. */
const arbPagePair = arbPageSize.chain((size) =>
  fc
    .tuple(
      fc.integer(),
      fc.array(fc.tuple(fc.nat({ max: size - 1 }), fc.integer({ min: 0, max: 255 })), { maxLength: 40 }),
      fc.array(fc.tuple(fc.nat({ max: size - 1 }), fc.nat({ max: 64 }), fc.integer({ min: 0, max: 255 })), {
        maxLength: 4,
      }),
    )
    .map(([seed, writes, runs]) => {
      const oldPage = pageFromSeed(size, seed);
      const newPage = Uint8Array.from(oldPage);
      for (const [offset, value] of writes) newPage[offset] = value;
      for (const [offset, length, value] of runs)
        newPage.fill(value, offset, Math.min(size, offset + length));
      return { oldPage, newPage };
    }),
);

/** Byte equality without vitest's element-by-element deep equality (slow on whole pages). */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function header(delta: Uint8Array): Array<[number, number]> {
  const view = new DataView(delta.buffer, delta.byteOffset, delta.byteLength);
  const ranges: Array<[number, number]> = [];
  let offset = 4;
  for (let i = 0; i < view.getUint32(0, true); i++) {
    const start = view.getUint32(offset, true);
    const length = view.getUint32(offset + 4, true);
    ranges.push([start, length]);
    offset += 8 + length;
  }
  return ranges;
}

function makeDelta(ranges: Array<[number, number[]]>): Uint8Array {
  const size = 4 + ranges.reduce((sum, [, bytes]) => sum + 8 + bytes.length, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32LE(ranges.length, 0);
  let offset = 4;
  for (const [start, bytes] of ranges) {
    out.writeUInt32LE(start, offset);
    out.writeUInt32LE(bytes.length, offset + 4);
    out.set(bytes, offset + 8);
    offset += 8 + bytes.length;
  }
  return out;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BorealisError);
    return (error as BorealisError).code;
  }
  return 'no error';
}

describe('computeDelta / applyDelta', () => {
  it('applyDelta(old, computeDelta(old, new)) equals new', () => {
    fc.assert(
      fc.property(arbPagePair, ({ oldPage, newPage }) => {
        const delta = computeDelta(oldPage, newPage);
        expect(same(applyDelta(oldPage, delta), newPage)).toBe(true);
      }),
    );
  });

  it('ranges ascend, cover only changed regions, and are separated by at least 8 unchanged bytes', () => {
    fc.assert(
      fc.property(arbPagePair, ({ oldPage, newPage }) => {
        const ranges = header(computeDelta(oldPage, newPage));
        let endBefore = -8;
        for (const [start, length] of ranges) {
          expect(length).toBeGreaterThan(0);
          expect(start - endBefore).toBeGreaterThanOrEqual(8);
          // A range starts and ends on a changed byte.
          expect(oldPage[start]).not.toBe(newPage[start]);
          expect(oldPage[start + length - 1]).not.toBe(newPage[start + length - 1]);
          endBefore = start + length;
        }
        // Every changed byte is inside some range.
        for (let i = 0; i < newPage.length; i++) {
          if (oldPage[i] !== newPage[i]) expect(ranges.some(([s, l]) => i >= s && i < s + l)).toBe(true);
        }
      }),
    );
  });

  it('identical pages give zero ranges', () => {
    fc.assert(
      fc.property(arbPageSize, (size) => {
        const page = new Uint8Array(size).map((_, i) => i * 31);
        const delta = computeDelta(page, Uint8Array.from(page));
        expect(deltaIsEmpty(delta)).toBe(true);
        expect(deltaRangeCount(delta)).toBe(0);
        expect(delta.length).toBe(4);
        expect(same(applyDelta(page, delta), page)).toBe(true);
      }),
    );
  });

  it('a single changed byte yields a delta under 32 bytes', () => {
    fc.assert(
      fc.property(arbPageSize, fc.nat(), fc.integer({ min: 1, max: 255 }), (size, at, xor) => {
        const oldPage = new Uint8Array(size).fill(0x5a);
        const newPage = Uint8Array.from(oldPage);
        newPage[at % size]! ^= xor;
        const delta = computeDelta(oldPage, newPage);
        expect(delta.length).toBe(13);
        expect(delta.length).toBeLessThan(32);
        expect(header(delta)).toEqual([[at % size, 1]]);
      }),
    );
  });

  it('merges changes fewer than 8 bytes apart and splits those 8 or more apart', () => {
    const oldPage = new Uint8Array(64);
    const close = Uint8Array.from(oldPage);
    close[10] = 1;
    close[17] = 1; // 7 unchanged bytes between
    expect(header(computeDelta(oldPage, close))).toEqual([[10, 8]]);
    const far = Uint8Array.from(oldPage);
    far[10] = 1;
    far[19] = 1; // 8 unchanged bytes between
    expect(header(computeDelta(oldPage, far))).toEqual([
      [10, 1],
      [19, 1],
    ]);
  });

  it('handles changes at both ends of the page', () => {
    const oldPage = new Uint8Array(4096);
    const newPage = Uint8Array.from(oldPage);
    newPage[0] = 1;
    newPage[4095] = 2;
    expect(header(computeDelta(oldPage, newPage))).toEqual([
      [0, 1],
      [4095, 1],
    ]);
  });

  it('treats an absent old page as zeros', () => {
    fc.assert(
      fc.property(fc.integer(), (seed) => {
        const newPage = pageFromSeed(512, seed);
        const delta = computeDelta(undefined, newPage);
        expect(same(delta, computeDelta(new Uint8Array(512), newPage))).toBe(true);
        expect(same(applyDelta(new Uint8Array(512), delta), newPage)).toBe(true);
      }),
    );
    expect(deltaIsEmpty(computeDelta(undefined, new Uint8Array(4096)))).toBe(true);
  });

  it('handles a page of the largest size changed everywhere', () => {
    const oldPage = new Uint8Array(pageSizeBytesMax);
    const newPage = new Uint8Array(pageSizeBytesMax).fill(1);
    const delta = computeDelta(oldPage, newPage);
    expect(delta.length).toBe(4 + 8 + pageSizeBytesMax);
    expect(same(applyDelta(oldPage, delta), newPage)).toBe(true);
  });

  it('handles the most fragmented page (a change every 9th byte)', () => {
    const oldPage = new Uint8Array(pageSizeBytesMax);
    const newPage = Uint8Array.from(oldPage);
    for (let i = 0; i < newPage.length; i += 9) newPage[i] = 1;
    const delta = computeDelta(oldPage, newPage);
    expect(deltaRangeCount(delta)).toBe(Math.ceil(pageSizeBytesMax / 9));
    expect(same(applyDelta(oldPage, delta), newPage)).toBe(true);
  });

  it('never mutates the base page', () => {
    fc.assert(
      fc.property(arbPagePair, ({ oldPage, newPage }) => {
        const before = Uint8Array.from(oldPage);
        const result = applyDelta(oldPage, computeDelta(oldPage, newPage));
        expect(same(oldPage, before)).toBe(true);
        expect(result).not.toBe(oldPage);
      }),
    );
  });

  it('asserts on mismatched or oversized pages', () => {
    expect(() => computeDelta(new Uint8Array(10), new Uint8Array(11))).toThrow(InvariantViolation);
    expect(() => computeDelta(undefined, new Uint8Array(pageSizeBytesMax + 1))).toThrow(InvariantViolation);
  });
});

describe('applyDelta on bad input', () => {
  const base = new Uint8Array(16);

  it('rejects out-of-bounds ranges with MALFORMED_FRAME', () => {
    expect(codeOf(() => applyDelta(base, makeDelta([[15, [1, 2]]])))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => applyDelta(base, makeDelta([[16, [1]]])))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => applyDelta(base, makeDelta([[0xffff_ffff, [1]]])))).toBe('MALFORMED_FRAME');
    expect(applyDelta(base, makeDelta([[15, [7]]]))[15]).toBe(7);
  });

  it('rejects truncated, trailing, empty, overlapping and descending ranges', () => {
    const good = makeDelta([[2, [1, 2, 3]]]);
    expect(codeOf(() => applyDelta(base, good.subarray(0, 3)))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => applyDelta(base, good.subarray(0, good.length - 1)))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => applyDelta(base, good.subarray(0, 10)))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => applyDelta(base, Buffer.concat([good, Buffer.alloc(1)])))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => applyDelta(base, makeDelta([[2, []]])))).toBe('MALFORMED_FRAME');
    expect(
      codeOf(() =>
        applyDelta(
          base,
          makeDelta([
            [2, [1, 2]],
            [3, [1]],
          ]),
        ),
      ),
    ).toBe('MALFORMED_FRAME');
    expect(
      codeOf(() =>
        applyDelta(
          base,
          makeDelta([
            [8, [1]],
            [2, [1]],
          ]),
        ),
      ),
    ).toBe('MALFORMED_FRAME');
    const hugeCount = Buffer.from(good);
    hugeCount.writeUInt32LE(0xffff_ffff, 0);
    expect(codeOf(() => applyDelta(base, hugeCount))).toBe('MALFORMED_FRAME');
    expect(codeOf(() => deltaIsEmpty(new Uint8Array(2)))).toBe('MALFORMED_FRAME');
  });

  it('leaves the base untouched when it throws, and throws only BorealisError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (delta) => {
        const page = new Uint8Array(32).fill(3);
        try {
          const result = applyDelta(page, delta);
          expect(result.length).toBe(32);
        } catch (error) {
          expect(error).toBeInstanceOf(BorealisError);
        }
        expect(page.every((b) => b === 3)).toBe(true);
      }),
    );
  });
});
