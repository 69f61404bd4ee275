import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.ts';
import { InvariantViolation } from './errors.ts';

/** Bit-at-a-time reference, written from the definition, independent of the tables. */
function crc32cReference(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('matches the standard check value and RFC 3720 vectors', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });

  it('is 0 for no bytes and unsigned for all inputs', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
        const crc = crc32c(data);
        expect(crc >>> 0).toBe(crc);
      }),
    );
  });

  it('agrees with the bitwise reference at every length (slice-by-8 tails)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), (data) => {
        expect(crc32c(data)).toBe(crc32cReference(data));
      }),
    );
  });

  it('incremental equals one-shot', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.nat(), fc.nat(), (data, cut1Seed, cut2Seed) => {
        const cut1 = cut1Seed % (data.length + 1);
        const cut2 = cut1 + (cut2Seed % (data.length - cut1 + 1));
        const first = crc32c(data, 0, cut1);
        const second = crc32c(data, cut1, cut2, first);
        const third = crc32c(data, cut2, data.length, second);
        expect(third).toBe(crc32c(data));
      }),
    );
  });

  it('a sub-range equals the crc of the same bytes on their own', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), (data, a, b) => {
        const start = a % (data.length + 1);
        const end = start + (b % (data.length - start + 1));
        expect(crc32c(data, start, end)).toBe(crc32cReference(data.slice(start, end)));
      }),
    );
  });

  it('works on Buffers that are views into a larger pool', () => {
    const pool = Buffer.from('xx123456789yy');
    expect(crc32c(pool.subarray(2, 11))).toBe(0xe3069283);
  });

  it('detects every single-bit flip', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 1, maxLength: 100 }), fc.nat(), (data, bitSeed) => {
        const bit = bitSeed % (data.length * 8);
        const flipped = Uint8Array.from(data);
        flipped[bit >> 3]! ^= 1 << (bit & 7);
        expect(crc32c(flipped)).not.toBe(crc32c(data));
      }),
    );
  });

  it('asserts its range and seed', () => {
    const data = new Uint8Array(8);
    expect(() => crc32c(data, 4, 2)).toThrow(InvariantViolation);
    expect(() => crc32c(data, 0, 9)).toThrow(InvariantViolation);
    expect(() => crc32c(data, -1)).toThrow(InvariantViolation);
    expect(() => crc32c(data, 0, 8, -1)).toThrow(InvariantViolation);
    expect(() => crc32c(data, 0, 8, 2 ** 32)).toThrow(InvariantViolation);
  });
});
