import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantViolation } from './errors.ts';
import { type Lsn, lsnMax, lsnMin } from './lsn.ts';
import { type ChainGap, mergeRanges, SegmentChain } from './segment-chain.ts';

/** A PG's chain: strictly increasing LSNs (other PGs' LSNs fall in between), each backlinked to the previous. */
const arbChain = fc.array(fc.integer({ min: 1, max: 1000 }), { minLength: 1, maxLength: 60 }).map((steps) => {
  const lsns: Lsn[] = [];
  let lsn = 0n;
  for (const step of steps) {
    lsn += BigInt(step);
    lsns.push(lsn);
  }
  return lsns;
});

function prevOf(chain: Lsn[], index: number, first: Lsn = 0n): Lsn {
  return index === 0 ? first : chain[index - 1]!;
}

/** A delivery: some records dropped, the rest shuffled with duplicates. */
const arbDelivery = arbChain.chain((chain) =>
  fc
    .tuple(
      fc.array(fc.boolean(), { minLength: chain.length, maxLength: chain.length }),
      fc.array(fc.nat({ max: chain.length - 1 }), { maxLength: 10 }),
    )
    .chain(([dropped, duplicates]) => {
      const delivered = chain.map((_, i) => i).filter((i) => !dropped[i]);
      const sends = [...delivered, ...duplicates.filter((i) => !dropped[i])];
      return fc
        .shuffledSubarray(sends, { minLength: sends.length, maxLength: sends.length })
        .map((order) => ({
          chain,
          dropped,
          order,
        }));
    }),
);

function inGap(gaps: ChainGap[], lsn: Lsn): boolean {
  return gaps.some((gap) => lsn > gap.afterLsn && lsn <= gap.uptoLsn);
}

describe('SegmentChain: out-of-order delivery', () => {
  it('SCL is the last LSN of the longest delivered prefix; maxLsn the highest delivered', () => {
    fc.assert(
      fc.property(arbDelivery, ({ chain, dropped, order }) => {
        const segment = new SegmentChain();
        for (const i of order) segment.add(chain[i]!, prevOf(chain, i));
        const prefix = dropped.indexOf(true) === -1 ? chain.length : dropped.indexOf(true);
        expect(segment.scl).toBe(prefix === 0 ? 0n : chain[prefix - 1]!);
        const held = chain.filter((_, i) => !dropped[i]);
        expect(segment.maxLsn).toBe(held.length === 0 ? 0n : held[held.length - 1]!);
        expect(segment.pendingCount).toBe(held.filter((lsn) => lsn > segment.scl).length);
        for (const [i, lsn] of chain.entries()) expect(segment.hasRecord(lsn)).toBe(!dropped[i]);
      }),
    );
  });

  it('gaps() cover exactly the dropped records below the highest held one', () => {
    fc.assert(
      fc.property(arbDelivery, ({ chain, dropped, order }) => {
        const segment = new SegmentChain();
        for (const i of order) segment.add(chain[i]!, prevOf(chain, i));
        const gaps = segment.gaps();
        for (const [i, lsn] of chain.entries()) {
          const shouldFetch = dropped[i]! && lsn < segment.maxLsn;
          expect(inGap(gaps, lsn)).toBe(shouldFetch);
        }
        // Each gap starts at a held record (or SCL) and ends at a missing one; gaps ascend, disjoint.
        let before = -1n;
        for (const gap of gaps) {
          expect(gap.afterLsn).toBeGreaterThan(before);
          expect(gap.afterLsn).toBeLessThan(gap.uptoLsn);
          expect(gap.afterLsn === segment.scl || segment.hasRecord(gap.afterLsn)).toBe(true);
          expect(segment.hasRecord(gap.uptoLsn)).toBe(false);
          before = gap.uptoLsn;
        }
      }),
    );
  });

  it('delivering the dropped records completes the chain', () => {
    fc.assert(
      fc.property(arbDelivery, ({ chain, dropped, order }) => {
        const segment = new SegmentChain();
        for (const i of order) segment.add(chain[i]!, prevOf(chain, i));
        for (const [i, lsn] of chain.entries()) {
          if (dropped[i]) expect(segment.add(lsn, prevOf(chain, i))).toBe('added');
        }
        expect(segment.scl).toBe(chain[chain.length - 1]!);
        expect(segment.maxLsn).toBe(segment.scl);
        expect(segment.gaps()).toEqual([]);
        expect(segment.pendingCount).toBe(0);
      }),
    );
  });

  it('add() reports added once and duplicate after, whether above or below SCL', () => {
    fc.assert(
      fc.property(arbDelivery, ({ chain, order }) => {
        const segment = new SegmentChain();
        const seen = new Set<number>();
        for (const i of order) {
          expect(segment.add(chain[i]!, prevOf(chain, i))).toBe(seen.has(i) ? 'duplicate' : 'added');
          seen.add(i);
        }
        const scl = segment.scl;
        for (const i of seen) expect(segment.add(chain[i]!, prevOf(chain, i))).toBe('duplicate');
        expect(segment.scl).toBe(scl);
      }),
    );
  });
});

describe('SegmentChain: rewind', () => {
  it('rewound to any LSN and given the records above it again, in any order, equals a chain that never left', () => {
    fc.assert(
      fc.property(arbDelivery, fc.nat(), ({ chain, order }, pick) => {
        const full = new SegmentChain();
        for (const i of order) full.add(chain[i]!, prevOf(chain, i));
        const at = pick % (chain.length + 1) === 0 ? 0n : chain[(pick % (chain.length + 1)) - 1]!;
        const rewound = new SegmentChain();
        for (const i of order) rewound.add(chain[i]!, prevOf(chain, i));
        rewound.rewind(at, []);
        expect(rewound.maxLsn).toBeLessThanOrEqual(at);
        for (const lsn of chain) if (lsn > at) expect(rewound.hasRecord(lsn)).toBe(false);
        for (const i of order) if (chain[i]! > at) rewound.add(chain[i]!, prevOf(chain, i));
        expect(rewound.scl).toBe(full.scl);
        expect(rewound.maxLsn).toBe(full.maxLsn);
        expect(rewound.pendingCount).toBe(full.pendingCount);
        expect(rewound.gaps()).toEqual(full.gaps());
        for (const lsn of chain) expect(rewound.hasRecord(lsn)).toBe(full.hasRecord(lsn));
      }),
    );
  });

  it('takes the truncation list it is given: a range dropped from it accepts its records again', () => {
    const chain = new SegmentChain();
    for (let lsn = 1n; lsn <= 5n; lsn++) chain.add(lsn, lsn - 1n);
    chain.truncate(3n, 5n);
    expect(chain.add(4n, 3n)).toBe('truncated');
    chain.rewind(3n, []);
    expect(chain.add(4n, 3n)).toBe('added');
    expect(chain.scl).toBe(4n);
    chain.rewind(2n, [{ aboveLsn: 2n, uptoLsn: 9n }]);
    expect(chain.scl).toBe(2n);
    expect(chain.add(3n, 2n)).toBe('truncated');
    expect(() => chain.rewind(0n, [])).not.toThrow();
  });
});

describe('SegmentChain: truncation', () => {
  it('a recovering writer truncates above VDL and continues from the tail below it', () => {
    fc.assert(
      fc.property(
        arbDelivery,
        fc.nat(),
        fc.integer({ min: 0, max: 5000 }),
        fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 10 }),
        ({ chain, dropped, order }, aboveSeed, uptoExtra, newSteps) => {
          const last = chain[chain.length - 1]!;
          const aboveLsn = BigInt(aboveSeed) % (last + 1n);
          const uptoLsn = last + BigInt(uptoExtra);
          const segment = new SegmentChain();
          for (const i of order) segment.add(chain[i]!, prevOf(chain, i));

          segment.truncate(aboveLsn, uptoLsn);
          const survivors = chain.map((lsn, i) => ({ lsn, i })).filter(({ lsn }) => lsn <= aboveLsn);
          const prefix = survivors.findIndex(({ i }) => dropped[i]);
          const deliveredPrefix = prefix === -1 ? survivors : survivors.slice(0, prefix);
          const expectedScl =
            deliveredPrefix.length === 0 ? 0n : deliveredPrefix[deliveredPrefix.length - 1]!.lsn;
          expect(segment.scl).toBe(expectedScl);
          for (const lsn of chain) if (lsn > aboveLsn) expect(segment.hasRecord(lsn)).toBe(false);
          expect(segment.maxLsn).toBeLessThanOrEqual(aboveLsn);

          // The old writer's stragglers inside the range are refused.
          for (const [i, lsn] of chain.entries()) {
            if (lsn > aboveLsn) expect(segment.add(lsn, prevOf(chain, i))).toBe('truncated');
          }

          // The new writer's records start above the range, backlinked to the PG's tail at or below aboveLsn.
          const tail = survivors.length === 0 ? 0n : survivors[survivors.length - 1]!.lsn;
          const fresh: Lsn[] = [];
          let lsn = uptoLsn;
          for (const step of newSteps) {
            lsn += BigInt(step);
            fresh.push(lsn);
          }
          for (const [j, freshLsn] of fresh.entries())
            expect(segment.add(freshLsn, prevOf(fresh, j, tail))).toBe('added');
          // Gossip fills what the segment missed below aboveLsn.
          for (const { lsn: survivor, i } of survivors)
            if (dropped[i]) segment.add(survivor, prevOf(chain, i));
          expect(segment.scl).toBe(fresh[fresh.length - 1]!);
          expect(segment.gaps()).toEqual([]);
        },
      ),
    );
  });

  it('records above the truncated range lose their chain and wait for a predecessor', () => {
    const segment = new SegmentChain();
    for (const [lsn, prev] of [
      [10n, 0n],
      [20n, 10n],
      [30n, 20n],
      [40n, 30n],
    ] as const)
      segment.add(lsn, prev);
    expect(segment.scl).toBe(40n);
    segment.truncate(15n, 25n);
    expect(segment.scl).toBe(10n);
    expect(segment.maxLsn).toBe(40n);
    expect(segment.hasRecord(20n)).toBe(false);
    expect(segment.hasRecord(30n)).toBe(true);
    expect(segment.pendingCount).toBe(2);
    expect(segment.gaps()).toEqual([{ afterLsn: 10n, uptoLsn: 20n }]);
    expect(segment.add(20n, 10n)).toBe('truncated');
  });

  it('a truncation entirely above SCL only drops pending records', () => {
    const segment = new SegmentChain();
    segment.add(10n, 0n);
    segment.add(30n, 20n);
    segment.add(50n, 40n);
    segment.truncate(25n, 35n);
    expect(segment.scl).toBe(10n);
    expect(segment.maxLsn).toBe(50n);
    expect(segment.hasRecord(30n)).toBe(false);
    expect(segment.gaps()).toEqual([{ afterLsn: 10n, uptoLsn: 40n }]);
  });

  it('an empty truncation range changes nothing but is allowed', () => {
    const segment = new SegmentChain();
    segment.add(10n, 0n);
    segment.truncate(10n, 10n);
    expect(segment.scl).toBe(10n);
    expect(segment.add(11n, 10n)).toBe('added');
  });

  it('re-chains records above the range when nothing inside it was held', () => {
    const segment = new SegmentChain();
    segment.add(10n, 0n);
    segment.add(40n, 10n);
    segment.truncate(15n, 30n);
    expect(segment.scl).toBe(40n);
    expect(segment.pendingCount).toBe(0);
  });

  it('asserts on an inverted range', () => {
    expect(() => new SegmentChain().truncate(5n, 4n)).toThrow(InvariantViolation);
  });
});

describe('SegmentChain: basics', () => {
  it('starts empty', () => {
    const segment = new SegmentChain();
    expect(segment.scl).toBe(0n);
    expect(segment.maxLsn).toBe(0n);
    expect(segment.gaps()).toEqual([]);
    expect(segment.hasRecord(0n)).toBe(false);
    expect(segment.hasRecord(1n)).toBe(false);
  });

  it('starts from an initial SCL rebuilt from disk', () => {
    const segment = new SegmentChain(100n);
    expect(segment.scl).toBe(100n);
    expect(segment.hasRecord(100n)).toBe(true);
    expect(segment.hasRecord(50n)).toBe(true); // below the retained history: complete by SCL
    expect(segment.add(50n, 40n)).toBe('duplicate');
    expect(segment.add(150n, 100n)).toBe('added');
    expect(segment.scl).toBe(150n);
  });

  it('reports the gaps below each pending record', () => {
    const segment = new SegmentChain();
    segment.add(10n, 0n);
    segment.add(30n, 20n);
    segment.add(50n, 40n);
    segment.add(60n, 50n);
    expect(segment.gaps()).toEqual([
      { afterLsn: 10n, uptoLsn: 20n },
      { afterLsn: 30n, uptoLsn: 40n },
    ]);
    segment.add(20n, 10n);
    expect(segment.scl).toBe(30n);
    expect(segment.gaps()).toEqual([{ afterLsn: 30n, uptoLsn: 40n }]);
  });

  it('a long reversed delivery chains in one step at the end', () => {
    const segment = new SegmentChain();
    const count = 5000;
    for (let i = count; i >= 2; i--) segment.add(BigInt(i), BigInt(i - 1));
    expect(segment.scl).toBe(0n);
    expect(segment.pendingCount).toBe(count - 1);
    expect(segment.gaps()).toEqual([{ afterLsn: 0n, uptoLsn: 1n }]);
    segment.add(1n, 0n);
    expect(segment.scl).toBe(BigInt(count));
    expect(segment.pendingCount).toBe(0);
    expect(segment.hasRecord(2500n)).toBe(true);
  });

  it('asserts on records that contradict the chain', () => {
    const sameLsnOtherPrev = new SegmentChain();
    sameLsnOtherPrev.add(30n, 20n);
    expect(() => sameLsnOtherPrev.add(30n, 10n)).toThrow(InvariantViolation);

    const twoSuccessors = new SegmentChain();
    twoSuccessors.add(30n, 20n);
    expect(() => twoSuccessors.add(40n, 20n)).toThrow(InvariantViolation);

    const backlinkBelowScl = new SegmentChain();
    backlinkBelowScl.add(10n, 0n);
    backlinkBelowScl.add(20n, 10n);
    expect(() => backlinkBelowScl.add(30n, 10n)).toThrow(InvariantViolation);

    const belowSclOffChain = new SegmentChain();
    belowSclOffChain.add(10n, 0n);
    belowSclOffChain.add(20n, 10n);
    expect(() => belowSclOffChain.add(15n, 10n)).toThrow(InvariantViolation);
    expect(() => belowSclOffChain.add(20n, 5n)).toThrow(InvariantViolation);
  });

  it('conflictOf predicts exactly when add() would assert, and a refused add changes nothing', () => {
    const arbOp = fc.oneof(
      {
        weight: 4,
        arbitrary: fc.tuple(
          fc.constant('add' as const),
          fc.bigInt({ min: 0n, max: 40n }),
          fc.bigInt({ min: 0n, max: 40n }),
        ),
      },
      {
        weight: 1,
        arbitrary: fc.tuple(
          fc.constant('truncate' as const),
          fc.bigInt({ min: 0n, max: 40n }),
          fc.bigInt({ min: 0n, max: 40n }),
        ),
      },
    );
    fc.assert(
      fc.property(fc.array(arbOp, { maxLength: 60 }), (ops) => {
        const segment = new SegmentChain();
        for (const [op, a, b] of ops) {
          if (op === 'truncate') {
            segment.truncate(lsnMin(a, b), lsnMax(a, b));
            continue;
          }
          const conflict = segment.conflictOf(a, b);
          const before = {
            scl: segment.scl,
            maxLsn: segment.maxLsn,
            gaps: segment.gaps(),
            pending: segment.pendingCount,
          };
          if (conflict === undefined) {
            expect(['added', 'duplicate', 'truncated']).toContain(segment.add(a, b));
          } else {
            expect(() => segment.add(a, b)).toThrow(InvariantViolation);
            expect({
              scl: segment.scl,
              maxLsn: segment.maxLsn,
              gaps: segment.gaps(),
              pending: segment.pendingCount,
            }).toEqual(before);
          }
          for (const gap of segment.gaps()) {
            expect(gap.afterLsn >= segment.scl && gap.afterLsn < gap.uptoLsn).toBe(true);
            expect(segment.hasRecord(gap.uptoLsn)).toBe(false);
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it('a backlink that skips a held record leaves that record out of gaps and SCL', () => {
    const segment = new SegmentChain();
    segment.add(2n, 1n); // claims a predecessor at 1
    segment.add(3n, 0n); // but 3 claims to follow 0 directly
    expect(segment.scl).toBe(3n);
    expect(segment.hasRecord(2n)).toBe(true);
    expect(segment.gaps()).toEqual([]);
    segment.add(4n, 3n);
    expect(segment.scl).toBe(4n);
    segment.add(9n, 7n); // a real gap above SCL still starts at SCL, not at the stray record
    expect(segment.gaps()).toEqual([{ afterLsn: 4n, uptoLsn: 7n }]);
  });

  it('conflictOf names the contradiction', () => {
    const segment = new SegmentChain();
    segment.add(10n, 0n);
    segment.add(20n, 10n);
    segment.add(40n, 30n);
    expect(segment.conflictOf(40n, 35n)).toBe('same LSN held with another backlink');
    expect(segment.conflictOf(50n, 30n)).toBe('two records backlink to the same predecessor');
    expect(segment.conflictOf(50n, 10n)).toBe('backlink below SCL');
    expect(segment.conflictOf(15n, 10n)).toBe('LSN at or below SCL but not on the chain');
    expect(segment.conflictOf(20n, 5n)).toBe('backlink contradicts the chain');
    expect(segment.conflictOf(5n, 5n)).toBe('a record must backlink below itself');
    expect(segment.conflictOf(30n, 20n)).toBeUndefined();
    expect(segment.conflictOf(20n, 10n)).toBeUndefined();
  });

  it('asserts on malformed arguments', () => {
    const segment = new SegmentChain();
    expect(() => segment.add(0n, 0n)).toThrow(InvariantViolation);
    expect(() => segment.add(5n, 5n)).toThrow(InvariantViolation);
    expect(() => segment.add(5n, 6n)).toThrow(InvariantViolation);
    expect(() => segment.add(-1n, 0n)).toThrow(InvariantViolation);
    expect(() => segment.add(2n ** 64n, 0n)).toThrow(InvariantViolation);
    expect(() => segment.add(5 as unknown as bigint, 0n)).toThrow(InvariantViolation);
    expect(() => new SegmentChain(-1n)).toThrow(InvariantViolation);
  });
});

describe('SegmentChain: forgetBelow', () => {
  function filled(count: number): SegmentChain {
    const segment = new SegmentChain();
    for (let i = 1; i <= count; i++) segment.add(BigInt(i * 10), BigInt((i - 1) * 10));
    return segment;
  }

  it('keeps answers above the floor exact and refuses truncation below it', () => {
    const segment = filled(1000);
    segment.forgetBelow(5005n);
    expect(segment.scl).toBe(10000n);
    expect(segment.hasRecord(5000n)).toBe(true); // the kept anchor
    expect(segment.hasRecord(5010n)).toBe(true);
    expect(segment.hasRecord(5015n)).toBe(false);
    expect(segment.hasRecord(10n)).toBe(true); // below the floor: complete by SCL
    expect(segment.add(10n, 0n)).toBe('duplicate');
    expect(() => segment.truncate(4990n, 20000n)).toThrow(InvariantViolation);
    segment.truncate(5000n, 20000n);
    expect(segment.scl).toBe(5000n);
    expect(segment.add(20010n, 5000n)).toBe('added');
    expect(segment.scl).toBe(20010n);
  });

  it('stays correct through repeated forgetting, compaction and growth', () => {
    const segment = new SegmentChain();
    let lsn = 0n;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 100; i++) {
        segment.add(lsn + 1n, lsn);
        lsn += 1n;
      }
      segment.forgetBelow(lsn - 20n);
      expect(segment.hasRecord(lsn - 10n)).toBe(true);
    }
    expect(segment.scl).toBe(5000n);
    segment.truncate(4990n, 6000n);
    expect(segment.scl).toBe(4990n);
    expect(segment.hasRecord(4995n)).toBe(false);
    expect(segment.hasRecord(4985n)).toBe(true);
  });

  it('is a no-op below the current floor', () => {
    const segment = filled(10);
    segment.forgetBelow(55n);
    segment.forgetBelow(15n);
    segment.truncate(50n, 1000n);
    expect(segment.scl).toBe(50n);
  });
});

describe('mergeRanges', () => {
  it('gives disjoint ascending ranges holding exactly the LSNs of the union', () => {
    const range = fc
      .tuple(fc.bigInt({ min: 0n, max: 60n }), fc.bigInt({ min: 0n, max: 20n }))
      .map(([aboveLsn, length]) => ({ aboveLsn, uptoLsn: aboveLsn + length }));
    fc.assert(
      fc.property(fc.array(range, { maxLength: 12 }), (ranges) => {
        const merged = mergeRanges(ranges);
        for (let i = 1; i < merged.length; i++)
          expect(merged[i]!.aboveLsn).toBeGreaterThan(merged[i - 1]!.uptoLsn);
        for (let lsn = 1n; lsn <= 90n; lsn++) {
          const inUnion = ranges.some((r) => lsn > r.aboveLsn && lsn <= r.uptoLsn);
          expect(merged.some((r) => lsn > r.aboveLsn && lsn <= r.uptoLsn)).toBe(inUnion);
          // The chain's own test (a binary search over them) agrees: a record there is refused.
          const chain = new SegmentChain(0n);
          chain.rewind(0n, ranges);
          expect(chain.add(lsn, 0n) === 'truncated').toBe(inUnion);
        }
      }),
      { numRuns: 300 },
    );
  });
});
