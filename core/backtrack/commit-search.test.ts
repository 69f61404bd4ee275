// The binary target search against the walk it replaced (newest first, first on-timeline commit at or
// before T), over random commit sets, random off-timeline ranges and times sorted on the timeline only;
// and how few commit records it reads.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Lsn } from '../lsn.ts';
import { newestCommitAtOrBefore } from './commit-search.ts';

interface Case {
  commits: Lsn[];
  off: { aboveLsn: Lsn; uptoLsn: Lsn }[];
  times: Map<Lsn, number>;
}

const caseArb = fc
  .record({
    lsns: fc.uniqueArray(fc.integer({ min: 1, max: 2_000 }), { maxLength: 300 }),
    off: fc.array(fc.tuple(fc.integer({ min: 0, max: 2_000 }), fc.integer({ min: 0, max: 200 })), {
      maxLength: 6,
    }),
    steps: fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 300, maxLength: 300 }),
    noise: fc.array(fc.integer({ min: 0, max: 10_000 }), { minLength: 300, maxLength: 300 }),
  })
  .map(({ lsns, off, steps, noise }): Case => {
    const commits = lsns.map(BigInt).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const ranges = off.map(([a, n]) => ({ aboveLsn: BigInt(a), uptoLsn: BigInt(a + n) }));
    const isOff = (lsn: Lsn) => ranges.some((r) => lsn > r.aboveLsn && lsn <= r.uptoLsn);
    // Non-decreasing along the commits on the timeline (equal times too); anything off it.
    const times = new Map<Lsn, number>();
    let t = 1_000;
    commits.forEach((lsn, i) => {
      if (isOff(lsn)) {
        times.set(lsn, noise[i]!);
      } else {
        t += steps[i]!;
        times.set(lsn, t);
      }
    });
    return { commits, off: ranges, times };
  });

function search(c: Case, timeMs: number, reads: Lsn[] = []) {
  return newestCommitAtOrBefore(
    {
      commits: c.commits,
      offTimelineFrom: (lsn) => {
        const r = c.off.find((x) => lsn > x.aboveLsn && lsn <= x.uptoLsn);
        return r?.aboveLsn;
      },
      commitTimeOf: (lsn) => {
        reads.push(lsn);
        return c.times.get(lsn)!;
      },
    },
    timeMs,
  );
}

function walk(c: Case, timeMs: number) {
  const isOff = (lsn: Lsn) => c.off.some((r) => lsn > r.aboveLsn && lsn <= r.uptoLsn);
  for (const lsn of [...c.commits].reverse()) {
    if (isOff(lsn)) continue;
    const commitTimeMs = c.times.get(lsn)!;
    if (commitTimeMs <= timeMs) return { lsn, commitTimeMs };
  }
  return undefined;
}

describe('newestCommitAtOrBefore (the binary target search)', () => {
  it('finds what the newest-first walk finds, for any commits, voids and times', () => {
    fc.assert(
      fc.property(caseArb, fc.integer({ min: 900, max: 2_000 }), (c, timeMs) => {
        expect(search(c, timeMs)).toEqual(walk(c, timeMs));
      }),
      { numRuns: 2_000 },
    );
  });

  it('reads O(log n) commit records: 20 for 280,000 commits, not the distance', () => {
    const commits = Array.from({ length: 280_000 }, (_, i) => BigInt(i * 3 + 1));
    const c: Case = { commits, off: [], times: new Map(commits.map((l, i) => [l, 1_000 + i])) };
    const reads: Lsn[] = [];
    expect(search(c, 1_000 + 5, reads)).toEqual({ lsn: commits[5], commitTimeMs: 1_005 });
    expect(new Set(reads).size).toBeLessThanOrEqual(20);
  });

  it('steps over an off-timeline range whole, without reading inside it', () => {
    const commits = Array.from({ length: 1_000 }, (_, i) => BigInt(i + 1));
    const off = [{ aboveLsn: 100n, uptoLsn: 900n }];
    const c: Case = { commits, off, times: new Map(commits.map((l, i) => [l, 1_000 + i])) };
    const reads: Lsn[] = [];
    expect(search(c, 5_000, reads)).toEqual({ lsn: 1_000n, commitTimeMs: 1_999 });
    expect(search(c, 1_500, reads)).toEqual({ lsn: 100n, commitTimeMs: 1_099 });
    expect(reads.filter((l) => l > 100n && l <= 900n)).toEqual([]);
  });
});
