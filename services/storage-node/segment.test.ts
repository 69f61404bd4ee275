import { describe, expect, it } from 'vitest';
import type { Lsn } from '../../core/lsn.ts';
import { RecordKind, type RecordKindValue, type RedoRecord } from '../../core/record.ts';
import { Segment } from './segment.ts';

/** Holds records 1..n of one PG (a chain by LSN), page `pageOf(lsn)`, 0 meaning a commit. */
function segmentWith(n: number, pageOf: (lsn: number) => number, coalescedLsn = 0n): Segment {
  const segment = new Segment(0, 'full');
  segment.resumeCoalescingAt(coalescedLsn);
  for (let i = 1; i <= n; i++) {
    const pageNo = pageOf(i);
    const kind: RecordKindValue = pageNo === 0 ? RecordKind.Commit : RecordKind.PageDelta;
    const record: RedoRecord = {
      lsn: BigInt(i),
      pg: 0,
      pageNo,
      prevLsnInPg: BigInt(i - 1),
      prevLsnOfPage: 0n,
      kind,
      flags: 0,
      payload: new Uint8Array(0),
    };
    expect(segment.hold(record, { fileNo: 1, offset: i * 100, length: 100 })).toBe(true);
  }
  return segment;
}

const lsns = (...values: number[]): Lsn[] => values.map(BigInt);

describe('segment page record lists', () => {
  // Pages alternate 1, 2, 1, 2 …; every fifth record is a commit.
  const pageOf = (lsn: number) => (lsn % 5 === 0 ? 0 : 1 + (lsn % 2));

  it('keep every page record, coalesced or not, and answer ranges in order', () => {
    const segment = segmentWith(12, pageOf, 8n);
    expect(segment.pageRecordsIn(2, 0n, 12n)).toEqual(lsns(1, 3, 7, 9, 11));
    expect(segment.pageRecordsIn(1, 0n, 12n)).toEqual(lsns(2, 4, 6, 8, 12));
    expect(segment.pageRecordsIn(1, 4n, 8n)).toEqual(lsns(6, 8));
    expect(segment.pageRecordsIn(1, 12n, 99n)).toEqual([]);
    expect(segment.pageRecordsIn(7, 0n, 99n)).toEqual([]);
  });

  it('count the coalescer backlog per page and in all, and shrink it as records are coalesced', () => {
    const segment = segmentWith(12, pageOf);
    expect(segment.coalesceBacklog).toEqual({ records: 10, hottestPage: 5 });
    segment.markCoalesced(8n);
    expect(segment.coalesceBacklog).toEqual({ records: 3, hottestPage: 2 });
    segment.markCoalesced(12n);
    expect(segment.coalesceBacklog).toEqual({ records: 0, hottestPage: 0 });
    // Records that arrive below coalescedLsn (gossip filling a gap) are not backlog, but are listed.
    expect(segment.pageRecordsIn(2, 0n, 12n)).toHaveLength(5);
  });

  it('prune only below a stored version, and remember how far', () => {
    const segment = segmentWith(12, pageOf, 9n);
    expect(segment.prunedUpto(2)).toBe(0n);
    expect(segment.prunePageRecords(2, 7n)).toBe(3);
    expect(segment.pageRecordsIn(2, 0n, 12n)).toEqual(lsns(9, 11));
    expect(segment.prunedUpto(2)).toBe(7n);
    // Other pages keep everything.
    expect(segment.pageRecordsIn(1, 0n, 12n)).toHaveLength(5);
    // A version above coalescedLsn is not stored yet: pruning below it is a broken invariant.
    expect(() => segment.prunePageRecords(1, 10n)).toThrow(/stored version/);
  });

  it('drop truncated records, and rebuild pruned lists when the truncation cuts below the pruning', () => {
    const kept = segmentWith(12, pageOf, 12n);
    kept.prunePageRecords(2, 3n);
    kept.truncate({ epoch: 2n, aboveLsn: 8n, uptoLsn: 12n });
    expect(kept.pageRecordsIn(2, 0n, 99n)).toEqual(lsns(7));
    expect(kept.prunedUpto(2)).toBe(3n);
    expect(kept.coalescedLsn).toBe(8n);

    const rebuilt = segmentWith(12, pageOf, 12n);
    rebuilt.prunePageRecords(2, 11n);
    rebuilt.truncate({ epoch: 2n, aboveLsn: 8n, uptoLsn: 12n });
    // The version at 11 the pruning relied on is void now: the list comes back from the held records.
    expect(rebuilt.prunedUpto(2)).toBe(0n);
    expect(rebuilt.pageRecordsIn(2, 0n, 99n)).toEqual(lsns(1, 3, 7));
    expect(rebuilt.coalesceBacklog).toEqual({ records: 0, hottestPage: 0 });
  });

  it('recount the backlog of every page when a truncation lowers coalescedLsn', () => {
    const segment = segmentWith(12, pageOf, 12n);
    segment.truncate({ epoch: 2n, aboveLsn: 4n, uptoLsn: 6n });
    // Records 7..12 are above the lowered coalescedLsn (4) again: 7, 8, 9, 11, 12 (10 is a commit).
    expect(segment.coalescedLsn).toBe(4n);
    expect(segment.coalesceBacklog).toEqual({ records: 5, hottestPage: 3 });
    expect(segment.truncationCount).toBe(1);
  });
});

describe('segment log collection', () => {
  const pageOf = (lsn: number) => (lsn % 5 === 0 ? 0 : 1 + (lsn % 2));
  const record = (lsn: number, prev = lsn - 1): RedoRecord => ({
    lsn: BigInt(lsn),
    pg: 0,
    pageNo: 1,
    prevLsnInPg: BigInt(prev),
    prevLsnOfPage: 0n,
    kind: RecordKind.PageDelta,
    flags: 0,
    payload: new Uint8Array(0),
  });

  it('lets go of records at or below the base, keeps the chain going, and never takes them back', () => {
    const segment = segmentWith(20, pageOf, 20n);
    for (const pageNo of [1, 2]) segment.prunePageRecords(pageNo, 12n);
    expect(segment.pageRecordsFrom).toBe(13n);
    expect(segment.collectUpto(9n)).toBe(9);
    expect(segment.baseLsn).toBe(9n);
    expect(segment.oldestHeldLsn).toBe(10n);
    expect(segment.recordCount).toBe(11);
    expect(segment.lastCplBelow(10n)).toBe(0n); // commit 5 is gone; 10 is the newest kept
    expect(segment.lastCommitAtOrBelow(10n)).toBe(10n);
    // A record at or below the base (gossip, a retry) is neither written nor held again.
    expect(segment.needsWrite(record(3))).toBe(false);
    expect(segment.hold(record(3), { fileNo: 1, offset: 0, length: 100 })).toBe(false);
    expect(segment.hold(record(21), { fileNo: 1, offset: 0, length: 100 })).toBe(true);
    expect(segment.scl).toBe(21n);
    // A lower base changes nothing.
    expect(segment.collectUpto(5n)).toBe(0);
    expect(segment.baseLsn).toBe(9n);
  });

  it('never collects a page record a read may still replay', () => {
    const segment = segmentWith(20, pageOf, 20n);
    expect(() => segment.collectUpto(9n)).toThrow(/no page record a read may replay/);
  });

  it('remembers a truncation below the base without voiding anything, and clamps one across it', () => {
    const segment = segmentWith(20, pageOf, 20n);
    for (const pageNo of [1, 2]) segment.prunePageRecords(pageNo, 20n);
    segment.collectUpto(15n);
    segment.truncate({ epoch: 2n, aboveLsn: 2n, uptoLsn: 8n });
    expect(segment.truncations).toHaveLength(1);
    expect(segment.scl).toBe(20n);
    segment.truncate({ epoch: 3n, aboveLsn: 10n, uptoLsn: 18n });
    expect(segment.scl).toBe(15n);
    expect(segment.has(16n)).toBe(false);
    expect(segment.has(19n)).toBe(true);
  });

  it('starts over at a rebuild point: drops what is below, keeps the chain above', () => {
    const segment = new Segment(0, 'tail');
    // Held: 1..3 (complete), then 31, 32 (pending: 4..30 are gone from every peer).
    for (const r of [record(1), record(2), record(3), record(31, 30), record(32)]) {
      segment.hold(r, { fileNo: 1, offset: 0, length: 100 });
    }
    expect(segment.scl).toBe(3n);
    segment.rebase(30n);
    expect(segment.baseLsn).toBe(30n);
    expect(segment.exactFromLsn).toBe(30n);
    expect(segment.scl).toBe(32n);
    expect(segment.recordCount).toBe(2);
    expect(segment.has(2n)).toBe(false);
  });
});
