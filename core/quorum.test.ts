import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantViolation } from './errors.ts';
import { LSN_INVALID, type Lsn, lsnMin } from './lsn.ts';
import {
  fullMaskOf,
  isReadQuorum,
  isReadQuorumMask,
  isWriteQuorum,
  isWriteQuorumMask,
  pgCompleteLsn,
  type SegmentKind,
  volumeCompleteLsn,
  volumeDurableLsn,
} from './quorum.ts';

// --- Independent specification, from the Aurora papers' wording rather than from quorum.ts ---------

/** Every placement of 3 full and 3 tail segments over 6 slots (placement is data, not code). */
function allPlacements(): SegmentKind[][] {
  const placements: SegmentKind[][] = [];
  for (let a = 0; a < 6; a++)
    for (let b = a + 1; b < 6; b++)
      for (let c = b + 1; c < 6; c++) {
        placements.push([0, 1, 2, 3, 4, 5].map((i) => (i === a || i === b || i === c ? 'full' : 'tail')));
      }
  return placements;
}

function allSubsets(): boolean[][] {
  const subsets: boolean[][] = [];
  for (let mask = 0; mask < 64; mask++) subsets.push([0, 1, 2, 3, 4, 5].map((i) => ((mask >> i) & 1) === 1));
  return subsets;
}

function specWrite(set: boolean[], kinds: SegmentKind[]): boolean {
  const members = set.filter(Boolean).length;
  const allFull = kinds.every((kind, i) => kind !== 'full' || set[i]);
  return members >= 4 || allFull;
}

function specRead(set: boolean[], kinds: SegmentKind[]): boolean {
  const members = set.filter(Boolean).length;
  const someFull = kinds.some((kind, i) => kind === 'full' && set[i]);
  return members >= 3 && someFull;
}

function specPgcl(scls: Lsn[], kinds: SegmentKind[]): Lsn {
  let best = LSN_INVALID;
  for (const candidate of [LSN_INVALID, ...scls]) {
    const set = scls.map((scl) => scl >= candidate);
    if (specWrite(set, kinds) && candidate > best) best = candidate;
  }
  return best;
}

function maskOf(set: boolean[]): number {
  return set.reduce((mask, member, i) => (member ? mask | (1 << i) : mask), 0);
}

const placements = allPlacements();
const subsets = allSubsets();
const standard: SegmentKind[] = ['full', 'tail', 'full', 'tail', 'full', 'tail']; // AZ a, b, c: one of each

describe('placements', () => {
  it('there are 20 placements of 3 full among 6', () => {
    expect(placements.length).toBe(20);
    expect(subsets.length).toBe(64);
  });

  it('fullMaskOf marks the full segments and checks the PG shape', () => {
    expect(fullMaskOf(standard)).toBe(0b010101);
    expect(() => fullMaskOf(['full', 'full', 'full', 'tail', 'tail'])).toThrow(InvariantViolation);
    expect(() => fullMaskOf(['full', 'full', 'tail', 'tail', 'tail', 'tail'])).toThrow(InvariantViolation);
    expect(() => fullMaskOf(['full', 'full', 'full', 'full', 'tail', 'tail'])).toThrow(InvariantViolation);
    expect(() => fullMaskOf(['full', 'full', 'full', 'tail', 'tail', 'x' as SegmentKind])).toThrow(
      InvariantViolation,
    );
  });
});

describe('isWriteQuorum / isReadQuorum (exhaustive)', () => {
  it('agree with the spec for every subset under every placement', () => {
    for (const kinds of placements) {
      const fullMask = fullMaskOf(kinds);
      for (const set of subsets) {
        expect(isWriteQuorum(set, kinds)).toBe(specWrite(set, kinds));
        expect(isReadQuorum(set, kinds)).toBe(specRead(set, kinds));
        expect(isWriteQuorumMask(maskOf(set), fullMask)).toBe(specWrite(set, kinds));
        expect(isReadQuorumMask(maskOf(set), fullMask)).toBe(specRead(set, kinds));
      }
    }
  });

  it('counts: 23 write quorums (22 of 4+, plus the full triple) and 41 read quorums per placement', () => {
    for (const kinds of placements) {
      // 4-of-6: C(6,4)+C(6,5)+C(6,6) = 22; all-full adds sets of exactly 3 that are the full ones: 1.
      expect(subsets.filter((set) => isWriteQuorum(set, kinds)).length).toBe(23);
      // >= 3 of 6 is 42 sets; only the all-tail triple lacks a full segment.
      expect(subsets.filter((set) => isReadQuorum(set, kinds)).length).toBe(41);
    }
  });

  it('every write quorum meets every read quorum (recovery sees every durable write)', () => {
    for (const kinds of placements) {
      const writes = subsets.filter((set) => isWriteQuorum(set, kinds)).map(maskOf);
      const reads = subsets.filter((set) => isReadQuorum(set, kinds)).map(maskOf);
      for (const w of writes) for (const r of reads) expect(w & r).not.toBe(0);
    }
  });

  it('every two write quorums meet (two writers cannot both make conflicting writes durable)', () => {
    for (const kinds of placements) {
      const writes = subsets.filter((set) => isWriteQuorum(set, kinds)).map(maskOf);
      for (const a of writes) for (const b of writes) expect(a & b).not.toBe(0);
    }
  });

  it('every read quorum contains a full segment (a page can be served after recovery)', () => {
    for (const kinds of placements) {
      const fullMask = fullMaskOf(kinds);
      for (const set of subsets) if (isReadQuorum(set, kinds)) expect(maskOf(set) & fullMask).not.toBe(0);
    }
  });

  it('losing an AZ keeps a write quorum; losing an AZ and one more node keeps a read quorum', () => {
    // Standard placement: AZ k holds segments 2k (full) and 2k+1 (tail).
    for (let az = 0; az < 3; az++) {
      const afterAz = [0, 1, 2, 3, 4, 5].map((i) => Math.floor(i / 2) !== az);
      expect(isWriteQuorum(afterAz, standard)).toBe(true);
      for (let extra = 0; extra < 6; extra++) {
        if (!afterAz[extra]) continue;
        const afterAzAndNode = afterAz.map((alive, i) => alive && i !== extra);
        expect(isReadQuorum(afterAzAndNode, standard)).toBe(true);
      }
    }
  });

  it('all three full segments alone are a write quorum but not 3 tails', () => {
    expect(isWriteQuorum([true, false, true, false, true, false], standard)).toBe(true);
    expect(isWriteQuorum([false, true, false, true, false, true], standard)).toBe(false);
    expect(isReadQuorum([false, true, false, true, false, true], standard)).toBe(false);
  });

  it('asserts on malformed inputs', () => {
    expect(() => isWriteQuorum([true, true, true, true, true], standard)).toThrow(InvariantViolation);
    expect(() => isReadQuorum([true, true, true, true, true, true, true], standard)).toThrow(
      InvariantViolation,
    );
    expect(() => isWriteQuorumMask(0b1000000, 0b010101)).toThrow(InvariantViolation);
    expect(() => isReadQuorumMask(-1, 0b010101)).toThrow(InvariantViolation);
  });
});

describe('pgCompleteLsn', () => {
  const arbScls = fc.array(
    fc.oneof(fc.bigInt({ min: 0n, max: 20n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
    { minLength: 6, maxLength: 6 },
  );

  it('agrees with the brute-force spec on random SCLs and placements', () => {
    fc.assert(
      fc.property(arbScls, fc.constantFrom(...placements), (scls, kinds) => {
        expect(pgCompleteLsn(scls, kinds)).toBe(specPgcl(scls, kinds));
      }),
      { numRuns: 2000 },
    );
  });

  it('is the 4th highest SCL when the full segments lag, else the slowest full segment', () => {
    // full: 0, 2, 4
    expect(pgCompleteLsn([10n, 60n, 20n, 50n, 30n, 40n], standard)).toBe(30n); // 4th highest: 60,50,40,30
    expect(pgCompleteLsn([90n, 1n, 80n, 2n, 70n, 3n], standard)).toBe(70n); // all full at >= 70
    expect(pgCompleteLsn([5n, 5n, 5n, 5n, 5n, 5n], standard)).toBe(5n);
    expect(pgCompleteLsn([0n, 0n, 0n, 0n, 0n, 0n], standard)).toBe(0n);
  });

  it('the segments at or above PGCL always form a write quorum, and none above it do', () => {
    fc.assert(
      fc.property(arbScls, fc.constantFrom(...placements), (scls, kinds) => {
        const pgcl = pgCompleteLsn(scls, kinds);
        expect(
          isWriteQuorum(
            scls.map((s) => s >= pgcl),
            kinds,
          ),
        ).toBe(true);
        expect(
          isWriteQuorum(
            scls.map((s) => s > pgcl),
            kinds,
          ),
        ).toBe(false);
      }),
      { numRuns: 500 },
    );
  });

  it('asserts on the wrong number of SCLs or non-LSNs', () => {
    expect(() => pgCompleteLsn([1n, 2n, 3n], standard)).toThrow(InvariantViolation);
    expect(() => pgCompleteLsn([1n, 2n, 3n, 4n, 5n, -1n], standard)).toThrow(InvariantViolation);
  });
});

describe('volumeCompleteLsn', () => {
  it('is the minimum PGCL', () => {
    fc.assert(
      fc.property(fc.array(fc.bigInt({ min: 0n, max: 1000n }), { minLength: 1, maxLength: 20 }), (pgcls) => {
        const min = pgcls.reduce(lsnMin);
        expect(volumeCompleteLsn(pgcls)).toBe(min);
      }),
    );
  });

  it('asserts that a volume has a PG', () => {
    expect(() => volumeCompleteLsn([])).toThrow(InvariantViolation);
  });
});

describe('volumeDurableLsn', () => {
  const arbCpls = fc
    .uniqueArray(fc.bigInt({ min: 1n, max: 500n }), { maxLength: 40 })
    .map((cpls) => cpls.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));

  it('is the highest CPL at or below VCL (linear-scan spec)', () => {
    fc.assert(
      fc.property(arbCpls, fc.bigInt({ min: 0n, max: 520n }), (cpls, vcl) => {
        let expected = LSN_INVALID;
        for (const cpl of cpls) if (cpl <= vcl) expected = cpl;
        expect(volumeDurableLsn(vcl, cpls)).toBe(expected);
      }),
    );
  });

  it('returns LSN_INVALID with no CPL at or below VCL', () => {
    expect(volumeDurableLsn(10n, [])).toBe(0n);
    expect(volumeDurableLsn(10n, [11n, 20n])).toBe(0n);
    expect(volumeDurableLsn(11n, [11n, 20n])).toBe(11n);
    expect(volumeDurableLsn(19n, [11n, 20n])).toBe(11n);
    expect(volumeDurableLsn(1000n, [11n, 20n])).toBe(20n);
  });

  it('asserts when the CPLs around the answer are out of order', () => {
    expect(() => volumeDurableLsn(15n, [10n, 10n, 5n])).toThrow(InvariantViolation);
    expect(() => volumeDurableLsn(10n, [5n, 5n])).toThrow(InvariantViolation);
  });
});
