// A segment moved from timeline to timeline in memory (retimeline, truncate) must hold exactly what a
// restart would rebuild from the same log, marker list and truncations: the storage node relies on
// both paths agreeing, and retimeline only re-decides the records above the lowest change.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type BacktrackMarker, onTimeline, timelineAt } from '../../core/backtrack/timeline.ts';
import type { Lsn } from '../../core/lsn.ts';
import { RecordKind, type RedoRecord } from '../../core/record.ts';
import { clipByMarkers, markerVoids } from './backtrack.ts';
import { Segment } from './segment.ts';

type Op =
  | { kind: 'write'; n: number; commitEvery: number; order: number[] }
  | { kind: 'coalesce'; share: number }
  | { kind: 'backtrack'; at: number }
  | { kind: 'truncate'; keep: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    n: fc.integer({ min: 1, max: 12 }),
    commitEvery: fc.integer({ min: 1, max: 4 }),
    // The order the node receives the batch in (writer retries and gossip deliver out of order).
    order: fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 12, maxLength: 12 }),
  }),
  fc.record({ kind: fc.constant('coalesce' as const), share: fc.integer({ min: 0, max: 100 }) }),
  fc.record({ kind: fc.constant('backtrack' as const), at: fc.integer({ min: 0, max: 1_000 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.integer({ min: 0, max: 3 }) }),
);

const location = (lsn: Lsn) => ({ fileNo: 1, offset: Number(lsn) * 100, length: 100 });
const pages = [1, 2, 3];

/** A record of PG 0: a commit on page 0, a page delta elsewhere. */
function record(lsn: Lsn, prevLsnInPg: Lsn, pageNo: number): RedoRecord {
  return {
    lsn,
    pg: 0,
    pageNo,
    prevLsnInPg,
    prevLsnOfPage: 0n,
    kind: pageNo === 0 ? RecordKind.Commit : RecordKind.PageDelta,
    flags: 0,
    payload: new Uint8Array(0),
  };
}

/** What a restart rebuilds: the timeline first, then the log replayed in LSN order. */
function reopened(
  records: readonly RedoRecord[],
  markers: readonly BacktrackMarker[],
  live: Segment,
): Segment {
  const segment = new Segment(0, 'full');
  segment.retimeline(
    markerVoids(markers),
    live.truncations.flatMap((t) => clipByMarkers(t, markers)),
  );
  for (const r of [...records].sort((a, b) => (a.lsn < b.lsn ? -1 : 1))) segment.hold(r, location(r.lsn));
  segment.resumeCoalescingAt(live.coalescedLsn);
  return segment;
}

function expectSameState(live: Segment, again: Segment, records: readonly RedoRecord[]): void {
  expect([...live.entries()].map(([lsn]) => lsn)).toEqual([...again.entries()].map(([lsn]) => lsn));
  expect(live.scl).toBe(again.scl);
  expect(live.maxLsn).toBe(again.maxLsn);
  expect(live.lastCplLsn).toBe(again.lastCplLsn);
  // A restart forgets truncated records; the live segment keeps them aside (a marker may clip them).
  expect(live.commitsAscending().filter((lsn) => !live.isTruncated(lsn))).toEqual(again.commitsAscending());
  for (const { lsn } of records) {
    expect(live.has(lsn)).toBe(again.has(lsn));
    expect(live.anyEntry(lsn)).toBeDefined();
  }
  for (const pageNo of pages)
    expect(live.pageRecordsIn(pageNo, 0n, 1n << 60n)).toEqual(again.pageRecordsIn(pageNo, 0n, 1n << 60n));
  expect(live.coalesceBacklog).toEqual(again.coalesceBacklog);
}

function run(ops: readonly Op[]): void {
  const live = new Segment(0, 'full');
  const records: RedoRecord[] = [];
  const writtenAt = new Map<Lsn, number>();
  const markers: BacktrackMarker[] = [];
  let lsnCounter = 0n;
  let last = 0n; // the backlink of the next record: the writer's tail on the current timeline
  let clock = 0;
  let epoch = 1n;
  // Records that have been through a coalescing batch (on some timeline) and whose page versions were
  // not removed since (a truncation removes its range's): all that coalescedLsn may claim.
  const coalesced = new Set<Lsn>();
  for (const o of ops) {
    if (o.kind === 'write') {
      const batch: RedoRecord[] = [];
      for (let i = 0; i < o.n; i++) {
        const lsn = ++lsnCounter;
        const isCommit = i % o.commitEvery === o.commitEvery - 1;
        batch.push(record(lsn, last, isCommit ? 0 : pages[i % pages.length]!));
        writtenAt.set(lsn, ++clock);
        last = lsn;
      }
      const order = batch.map((_, i) => i).sort((a, b) => o.order[a]! - o.order[b]! || a - b);
      for (const i of order) {
        const r = batch[i]!;
        expect(live.problemWith(r, new Map())).toBeUndefined();
        expect(live.hold(r, location(r.lsn))).toBe(true);
        records.push(r);
      }
    } else if (o.kind === 'coalesce') {
      // The coalescer has reflected the records up to a held record at or below SCL in page versions.
      if (live.scl > live.coalescedLsn) {
        const upto = live.lastHeldAtOrBelow(
          live.coalescedLsn + ((live.scl - live.coalescedLsn) * BigInt(o.share)) / 100n,
        );
        if (upto > live.coalescedLsn) {
          for (const r of records)
            if (r.lsn > live.coalescedLsn && r.lsn <= upto && live.has(r.lsn)) coalesced.add(r.lsn);
          live.markCoalesced(upto);
        }
      }
    } else if (o.kind === 'backtrack') {
      // What the volume showed at time t: the newest record written by then on the timeline of t.
      const t = Math.floor((o.at / 1_000) * clock);
      const timeline = timelineAt(markers, t);
      let targetLsn = 0n;
      for (const r of records) {
        if (writtenAt.get(r.lsn)! <= t && onTimeline(timeline, r.lsn) && !live.isTruncated(r.lsn))
          targetLsn = r.lsn;
      }
      markers.push({
        seq: markers.length + 1,
        epoch: ++epoch,
        appliedAtMs: ++clock,
        targetLsn,
        targetTimeMs: t,
        fromLsn: lsnCounter,
      });
      const asideBefore = records.filter((r) => !live.has(r.lsn)).map((r) => r.lsn);
      live.retimeline(
        markerVoids(markers),
        live.truncations.flatMap((tr) => clipByMarkers(tr, markers)),
      );
      last = live.lastHeldAtOrBelow(targetLsn);
      // A record brought back at or below coalescedLsn went through the coalescer before it left.
      for (const lsn of asideBefore)
        if (live.has(lsn) && lsn <= live.coalescedLsn) expect(coalesced.has(lsn)).toBe(true);
    } else {
      // A crash recovery: the new writer truncates above its VDL (a held record near the tail).
      const held = [...live.entries()].map(([lsn]) => lsn);
      const vdl = held[held.length - 1 - o.keep] ?? 0n;
      // As the node does: the parts a backtrack marker governs stay the marker's.
      const raw = { epoch: ++epoch, aboveLsn: vdl, uptoLsn: lsnCounter + 3n };
      for (const t of clipByMarkers(raw, markers)) {
        live.truncate(t);
        for (const lsn of coalesced) if (lsn > t.aboveLsn && lsn <= t.uptoLsn) coalesced.delete(lsn);
      }
      lsnCounter += 3n;
      last = live.lastHeldAtOrBelow(vdl);
    }
    expectSameState(live, reopened(records, markers, live), records);
    // coalescedLsn claims only records that have been through the coalescer.
    for (const r of records)
      if (live.has(r.lsn) && r.lsn <= live.coalescedLsn) expect(coalesced.has(r.lsn)).toBe(true);
  }
}

describe('segment timelines', () => {
  it('after any mix of writes, backtracks back and forth and recovery truncations, holds what a restart rebuilds', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => run(ops)),
      { numRuns: 400 },
    );
  });

  it('holds a record set aside as contradicting the chain once a truncation removed the contradiction', () => {
    const live = new Segment(0, 'full');
    const rec = (lsn: Lsn, prevLsnInPg: Lsn) => record(lsn, prevLsnInPg, 1);
    for (const r of [rec(1n, 0n), rec(2n, 1n), rec(3n, 2n)]) live.hold(r, location(r.lsn));
    live.retimeline([{ aboveLsn: 1n, uptoLsn: 3n }], []);
    const four = rec(4n, 1n);
    expect(live.hold(four, location(4n))).toBe(true);
    // 2 and 3 come back and claim 1 first: 4 contradicts the chain and is set aside.
    live.retimeline([], []);
    expect(live.has(4n)).toBe(false);
    expect(live.anyEntry(4n)).toBeDefined();
    live.truncate({ epoch: 2n, aboveLsn: 1n, uptoLsn: 3n });
    expect(live.problemWith(four, new Map())).toBeUndefined();
    expect(live.needsWrite(four)).toBe(true);
    expect(live.hold(four, location(4n))).toBe(true);
    expect(live.needsWrite(four)).toBe(false);
    expect([...live.entries()].map(([lsn]) => lsn)).toEqual([1n, 4n]);
    expect(live.scl).toBe(4n);
    expect(live.pageRecordsIn(1, 0n, 10n)).toEqual([1n, 4n]);
  });

  it('log collection forgets set-aside records at or below the new base', () => {
    const live = new Segment(0, 'full');
    const commit = (lsn: Lsn, prevLsnInPg: Lsn) => record(lsn, prevLsnInPg, 0);
    for (let lsn = 1n; lsn <= 4n; lsn++) live.hold(commit(lsn, lsn - 1n), location(lsn));
    live.retimeline([{ aboveLsn: 2n, uptoLsn: 4n }], []);
    for (const r of [commit(5n, 2n), commit(6n, 5n)]) expect(live.hold(r, location(r.lsn))).toBe(true);
    expect(live.voidedCount).toBe(2);
    expect(live.commitsAscending()).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    expect(live.collectUpto(5n)).toBe(3); // 1, 2 and 5 held
    expect(live.voidedCount).toBe(0);
    expect(live.anyEntry(3n)).toBeUndefined();
    expect(live.commitsAscending()).toEqual([6n]);
    expect([...live.entries()].map(([lsn]) => lsn)).toEqual([6n]);
  });

  it('a backtrack forward coalesces again only above the highest coalescing mark back on the timeline', () => {
    const live = new Segment(0, 'full');
    const page = (lsn: bigint) => 1 + Number(lsn % 3n);
    for (let lsn = 1n; lsn <= 100n; lsn++) live.hold(record(lsn, lsn - 1n, page(lsn)), location(lsn));
    live.markCoalesced(60n);
    live.markCoalesced(100n);
    live.retimeline([{ aboveLsn: 50n, uptoLsn: 100n }], []); // back to 50
    expect(live.coalescedLsn).toBe(100n); // nothing held above 50 is uncoalesced
    for (let lsn = 101n; lsn <= 120n; lsn++)
      live.hold(record(lsn, lsn === 101n ? 50n : lsn - 1n, page(lsn)), location(lsn));
    live.markCoalesced(120n);
    // Forward to when the first timeline was at 80: 51..80 come back; mark 60 is on the timeline again.
    live.retimeline([{ aboveLsn: 80n, uptoLsn: 120n }], []);
    expect(live.has(80n) && !live.has(81n) && !live.has(101n)).toBe(true);
    expect(live.coalescedLsn).toBe(60n);
    expect(live.coalesceBacklog.records).toBe(20);
    // A truncation drops the marks above its start: back at 60 again, nothing claims past 55.
    live.truncate({ epoch: 9n, aboveLsn: 55n, uptoLsn: 130n });
    live.retimeline([{ aboveLsn: 80n, uptoLsn: 120n }], [{ epoch: 9n, aboveLsn: 80n, uptoLsn: 130n }]);
    expect(live.coalescedLsn).toBe(55n);
  });

  it('sets a run of 400,000 of a million records aside and brings it back whole', () => {
    const live = new Segment(0, 'full');
    const n = 1_000_000n;
    for (let lsn = 1n; lsn <= n; lsn++) {
      live.hold(record(lsn, lsn - 1n, lsn % 4n === 0n ? 0 : 1 + Number(lsn % 3n)), location(lsn));
    }
    const target = n - 400_000n;
    live.retimeline([{ aboveLsn: target, uptoLsn: n }], []);
    expect(live.recordCount).toBe(Number(target));
    expect(live.voidedCount).toBe(400_000);
    expect(live.scl).toBe(target);
    expect(live.lastCplLsn).toBe(target);
    expect(live.has(target + 1n)).toBe(false);
    expect(live.anyEntry(target + 1n)).toBeDefined();
    live.retimeline([], []);
    expect(live.recordCount).toBe(Number(n));
    expect(live.voidedCount).toBe(0);
    expect(live.scl).toBe(n);
    expect(live.commitsAscending().length).toBe(Number(n / 4n));
  });
});
