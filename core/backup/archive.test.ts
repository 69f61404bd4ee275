// Archive keys and log-chain planning: chunk keys round-trip and sort by LSN, and planLogChain
// follows a gap-free chain through gaps, overlaps, duplicates and a restore time.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type ChunkInfo,
  describeGap,
  logChunkKey,
  logChunkStartAfter,
  logPrefix,
  parseLogChunkKey,
  planLogChain,
  snapshotManifestKey,
  watermarkKey,
} from './archive.ts';
import type { RedoBatchHeader } from './redo-batch.ts';

const arbLsn = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const arbTime = fc.integer({ min: 0, max: 9_999_999_999_999 });

function header(
  prevLsn: bigint,
  firstLsn: bigint,
  lastLsn: bigint,
  commit?: [bigint, number, number],
): RedoBatchHeader {
  return {
    epoch: 1n,
    prevLsn,
    firstLsn,
    lastLsn,
    lastCommitLsn: commit?.[0] ?? 0n,
    firstCommitTimeMs: commit?.[1] ?? 0,
    lastCommitTimeMs: commit?.[2] ?? 0,
    commitCount: commit ? 1 : 0,
    recordCount: 1,
    timeline: 0,
  };
}

/** A chunk (prev, last] whose commit (if any) is at `last` with time = last (times follow LSNs). */
function chunk(prev: bigint, last: bigint, withCommit = true): ChunkInfo {
  const key = logChunkKey(
    'c',
    header(prev, prev + 1n, last, withCommit ? [last, Number(prev + 1n), Number(last)] : undefined),
  );
  return parseLogChunkKey(key)!;
}

describe('archive keys', () => {
  it('round-trips every field of a chunk key', () => {
    fc.assert(
      fc.property(
        arbLsn,
        arbLsn,
        arbLsn,
        arbLsn,
        arbTime,
        arbTime,
        fc.integer({ min: 0, max: 10_000 }),
        (prev, first, last, commit, t1, t2, timeline) => {
          const h = {
            ...header(prev, first, last),
            lastCommitLsn: commit,
            firstCommitTimeMs: t1,
            lastCommitTimeMs: t2,
            timeline,
          };
          const key = logChunkKey('cluster-1', h);
          expect(key.startsWith(logPrefix('cluster-1'))).toBe(true);
          expect(parseLogChunkKey(key)).toEqual({
            key,
            prevLsn: prev,
            firstLsn: first,
            lastLsn: last,
            lastCommitLsn: commit,
            firstCommitTimeMs: t1,
            lastCommitTimeMs: t2,
            timeline,
          });
          // A volume that never had a backtrack keeps the keys it had before timelines existed.
          expect(key.includes('.k')).toBe(timeline > 0);
        },
      ),
    );
  });

  it('ignores keys that are not chunks', () => {
    expect(parseLogChunkKey(watermarkKey('c'))).toBeUndefined();
    expect(parseLogChunkKey(snapshotManifestKey('c', 's1'))).toBeUndefined();
    expect(parseLogChunkKey(`${logPrefix('c')}junk.brb.gz`)).toBeUndefined();
  });

  it('sorts keys by firstLsn, and StartAfter(L) skips exactly the chunks with firstLsn <= L', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(arbLsn, arbLsn), { minLength: 1, maxLength: 30 }),
        arbLsn,
        (ranges, l) => {
          const keys = ranges.map(([a, b]) => logChunkKey('c', header(0n, a, b)));
          const byKey = [...keys].sort();
          const firsts = byKey.map((k) => parseLogChunkKey(k)!.firstLsn);
          expect(firsts).toEqual([...firsts].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)));
          const after = logChunkStartAfter('c', l);
          for (const k of keys) expect(k > after).toBe(parseLogChunkKey(k)!.firstLsn > l);
        },
      ),
    );
  });
});

describe('planLogChain', () => {
  it('follows a contiguous chain from 0 and carries its last commit', () => {
    const chain = planLogChain([chunk(20n, 30n), chunk(0n, 10n), chunk(10n, 20n)], 0n);
    expect(chain.chunks.map((c) => c.lastLsn)).toEqual([10n, 20n, 30n]);
    expect(chain).toMatchObject({ endLsn: 30n, lastCommitLsn: 30n, lastCommitTimeMs: 30 });
  });

  it('stops before a gap and names it', () => {
    const chunks = [chunk(0n, 10n), chunk(10n, 20n), chunk(25n, 30n)];
    const chain = planLogChain(chunks, 0n);
    expect(chain.endLsn).toBe(20n);
    expect(describeGap(chunks, chain.endLsn)).toBe(
      'log records after LSN 20 up to 25 are missing from the archive',
    );
    expect(describeGap(chunks, 30n)).toBe('no archived log after LSN 30');
  });

  it('crosses overlaps and duplicates, taking the chunk that reaches furthest', () => {
    const chunks = [
      chunk(0n, 10n),
      chunk(0n, 10n),
      chunk(5n, 15n),
      chunk(8n, 40n),
      chunk(12n, 20n),
      chunk(40n, 50n),
    ];
    const chain = planLogChain(chunks, 0n);
    expect(chain.chunks.map((c) => [c.prevLsn, c.lastLsn])).toEqual([
      [0n, 10n],
      [8n, 40n],
      [40n, 50n],
    ]);
    expect(chain.endLsn).toBe(50n);
    // From the middle of a chunk: a chunk that ends at or before the start adds nothing.
    expect(planLogChain(chunks, 45n).chunks.map((c) => c.lastLsn)).toEqual([50n]);
    expect(planLogChain(chunks, 50n)).toMatchObject({ chunks: [], endLsn: 50n });
  });

  it('keeps the commit it was given when the chain adds none', () => {
    const chain = planLogChain([chunk(10n, 20n, false)], 10n, { lastCommitLsn: 9n, lastCommitTimeMs: 99 });
    expect(chain).toMatchObject({ endLsn: 20n, lastCommitLsn: 9n, lastCommitTimeMs: 99 });
  });

  it('stops at a restore time: after the chunk that crosses it, before one that starts after it', () => {
    const chunks = [chunk(0n, 10n), chunk(10n, 20n, false), chunk(20n, 30n), chunk(30n, 40n)];
    // chunk (20, 30] holds commits timed 21..30: T = 25 is inside it.
    const until = planLogChain(chunks, 0n, { untilTimeMs: 25 });
    expect(until.chunks.map((c) => c.lastLsn)).toEqual([10n, 20n, 30n]);
    // T = 15: the commit-less chunk still joins (its records belong to a later commit), then stop.
    const early = planLogChain(chunks, 0n, { untilTimeMs: 15 });
    expect(early.chunks.map((c) => c.lastLsn)).toEqual([10n, 20n]);
    expect(early.lastCommitLsn).toBe(10n);
  });

  /** Random logs: chunks are (prev, last] intervals over a set of LSNs, some chunks missing. */
  const arbChunks = fc
    .uniqueArray(fc.bigInt({ min: 1n, max: 300n }), { minLength: 2, maxLength: 40 })
    .chain((lsns) => {
      const sorted = [0n, ...lsns.sort((a, b) => (a < b ? -1 : 1))];
      const n = sorted.length;
      return fc
        .array(fc.tuple(fc.nat({ max: n - 2 }), fc.integer({ min: 1, max: 6 })), { maxLength: 40 })
        .map((spans) => ({
          lsns: sorted,
          chunks: spans.map(([i, len]) => chunk(sorted[i]!, sorted[Math.min(n - 1, i + len)]!)),
        }));
    });

  it('reaches exactly as far as the union of chunks is gap-free from the start', () => {
    fc.assert(
      fc.property(arbChunks, fc.nat({ max: 300 }), ({ lsns, chunks }, fromIndex) => {
        const from = lsns[fromIndex % lsns.length]!;
        const chain = planLogChain(chunks, from);
        // Model: an LSN is covered when some chunk holds it; the end is the last LSN before the first
        // uncovered one after `from`.
        let expected = from;
        for (const lsn of lsns.filter((l) => l > from)) {
          if (!chunks.some((c) => c.prevLsn < lsn && lsn <= c.lastLsn)) break;
          expected = lsn;
        }
        expect(chain.endLsn).toBe(expected);
        let w = from;
        for (const c of chain.chunks) {
          expect(c.prevLsn <= w && w < c.lastLsn).toBe(true);
          w = c.lastLsn;
        }
        expect(chain.lastCommitLsn).toBe(chain.chunks.length > 0 ? chain.endLsn : 0n);
      }),
      { numRuns: 500 },
    );
  });

  it('with a restore time, covers every reachable commit at or before it and no chunk wholly after it', () => {
    fc.assert(
      fc.property(arbChunks, fc.nat({ max: 320 }), ({ chunks }, untilTimeMs) => {
        const full = planLogChain(chunks, 0n);
        const until = planLogChain(chunks, 0n, { untilTimeMs });
        // Commit times equal LSNs here: every commit <= T the full chain reaches is in the chain.
        const reachable = BigInt(Math.min(untilTimeMs, Number(full.endLsn)));
        expect(until.endLsn >= reachable).toBe(true);
        for (const c of until.chunks) expect(c.firstCommitTimeMs <= untilTimeMs).toBe(true);
      }),
      { numRuns: 500 },
    );
  });
});
