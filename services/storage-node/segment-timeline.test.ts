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
  | { kind: 'write'; n: number; commitEvery: number }
  | { kind: 'backtrack'; at: number }
  | { kind: 'truncate'; keep: number };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('write' as const),
    n: fc.integer({ min: 1, max: 12 }),
    commitEvery: fc.integer({ min: 1, max: 4 }),
  }),
  fc.record({ kind: fc.constant('backtrack' as const), at: fc.integer({ min: 0, max: 1_000 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.integer({ min: 0, max: 3 }) }),
);

const location = (lsn: Lsn) => ({ fileNo: 1, offset: Number(lsn) * 100, length: 100 });
const pages = [1, 2, 3];

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
  for (const record of records) segment.hold(record, location(record.lsn));
  return segment;
}

function expectSameState(live: Segment, again: Segment, records: readonly RedoRecord[]): void {
  expect([...live.entries()].map(([lsn]) => lsn)).toEqual([...again.entries()].map(([lsn]) => lsn));
  expect(live.scl).toBe(again.scl);
  expect(live.maxLsn).toBe(again.maxLsn);
  expect(live.lastCplLsn).toBe(again.lastCplLsn);
  // A restart forgets truncated records; the live segment keeps them aside (a marker may clip them).
  expect(live.commitsAscending().filter((lsn) => !live.isTruncated(lsn))).toEqual(again.commitsAscending());
  for (const record of records) {
    expect(live.has(record.lsn)).toBe(again.has(record.lsn));
    expect(live.anyEntry(record.lsn)).toBeDefined();
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
  for (const o of ops) {
    if (o.kind === 'write') {
      for (let i = 0; i < o.n; i++) {
        const lsn = ++lsnCounter;
        const isCommit = i % o.commitEvery === o.commitEvery - 1;
        const record: RedoRecord = {
          lsn,
          pg: 0,
          pageNo: isCommit ? 0 : pages[i % pages.length]!,
          prevLsnInPg: last,
          prevLsnOfPage: 0n,
          kind: isCommit ? RecordKind.Commit : RecordKind.PageDelta,
          flags: 0,
          payload: new Uint8Array(0),
        };
        expect(live.problemWith(record, new Map())).toBeUndefined();
        expect(live.hold(record, location(lsn))).toBe(true);
        records.push(record);
        writtenAt.set(lsn, ++clock);
        last = lsn;
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
      live.retimeline(
        markerVoids(markers),
        live.truncations.flatMap((tr) => clipByMarkers(tr, markers)),
      );
      last = live.lastHeldAtOrBelow(targetLsn);
    } else {
      // A crash recovery: the new writer truncates above its VDL (a held record near the tail).
      const held = [...live.entries()].map(([lsn]) => lsn);
      const vdl = held[held.length - 1 - o.keep] ?? 0n;
      // As the node does: the parts a backtrack marker governs stay the marker's.
      const raw = { epoch: ++epoch, aboveLsn: vdl, uptoLsn: lsnCounter + 3n };
      for (const t of clipByMarkers(raw, markers)) live.truncate(t);
      lsnCounter += 3n;
      last = live.lastHeldAtOrBelow(vdl);
    }
    expectSameState(live, reopened(records, markers, live), records);
  }
}

describe('segment timelines', () => {
  it('after any mix of writes, backtracks back and forth and recovery truncations, holds what a restart rebuilds', () => {
    fc.assert(
      fc.property(fc.array(op, { minLength: 1, maxLength: 25 }), (ops) => run(ops)),
      { numRuns: 400 },
    );
  });

  it('sets a run of 400,000 of a million records aside and brings it back whole', () => {
    const live = new Segment(0, 'full');
    const n = 1_000_000n;
    for (let lsn = 1n; lsn <= n; lsn++) {
      const isCommit = lsn % 4n === 0n;
      live.hold(
        {
          lsn,
          pg: 0,
          pageNo: isCommit ? 0 : 1 + Number(lsn % 3n),
          prevLsnInPg: lsn - 1n,
          prevLsnOfPage: 0n,
          kind: isCommit ? RecordKind.Commit : RecordKind.PageDelta,
          flags: 0,
          payload: new Uint8Array(0),
        },
        location(lsn),
      );
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
