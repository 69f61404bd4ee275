import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LSN_MAX, type Lsn } from '../lsn.ts';
import {
  type BacktrackMarker,
  backtrackTarget,
  type CommitTime,
  clipTruncation,
  currentTimeline,
  cutTimeline,
  type LsnRange,
  markerListProblem,
  nextMarker,
  onTimeline,
  subtractRanges,
  type Timeline,
  timelineAt,
  timelineChange,
  timelineOrigin,
  timelines,
  voidRanges,
} from './timeline.ts';

/** A volume driven by commits and backtracks, checked against "what the cluster showed at T". */
interface Simulation {
  commits: CommitTime[];
  markers: BacktrackMarker[];
  /** After every event: its time and the commits (LSNs) the cluster showed then. */
  shown: { timeMs: number; lsns: Set<Lsn> }[];
  allocated: Lsn;
}

type Event =
  | { kind: 'commit'; dt: number; records: number }
  | { kind: 'backtrack'; dt: number; back: number; gap: number };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      dt: fc.integer({ min: 1, max: 3 }),
      records: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('backtrack' as const),
      dt: fc.integer({ min: 1, max: 3 }),
      back: fc.integer({ min: 0, max: 60 }),
      gap: fc.integer({ min: 0, max: 4 }),
    }),
  },
);

/** The model: a backtrack to T makes the cluster show what it showed at T (after every event at <= T). */
function shownAt(sim: Simulation, timeMs: number): Set<Lsn> {
  let out = new Set<Lsn>();
  for (const s of sim.shown) if (s.timeMs <= timeMs) out = s.lsns;
  return out;
}

function simulate(events: Event[]): Simulation {
  const sim: Simulation = {
    commits: [],
    markers: [],
    shown: [{ timeMs: 0, lsns: new Set() }],
    allocated: 0n,
  };
  let now = 0;
  let visible = new Set<Lsn>();
  for (const e of events) {
    now += e.dt;
    if (e.kind === 'commit') {
      sim.allocated += BigInt(e.records); // the transaction's page records, its commit last
      sim.commits.push({ lsn: sim.allocated, commitTimeMs: now });
      visible = new Set(visible).add(sim.allocated);
    } else {
      const timeMs = Math.max(0, now - e.back);
      const fromLsn = sim.allocated + BigInt(e.gap); // a fenced writer may have allocated beyond
      const marker = nextMarker(sim.markers, sim.commits, {
        timeMs,
        nowMs: now,
        epoch: BigInt(sim.markers.length + 2),
        fromLsn,
      });
      sim.markers.push(marker);
      sim.allocated = fromLsn;
      visible = new Set(shownAt(sim, timeMs));
    }
    sim.shown.push({ timeMs: now, lsns: visible });
  }
  return sim;
}

function commitsOn(timeline: Timeline, commits: readonly CommitTime[], timeMs = Number.MAX_SAFE_INTEGER) {
  return new Set(
    commits.filter((c) => c.commitTimeMs <= timeMs && onTimeline(timeline, c.lsn)).map((c) => c.lsn),
  );
}

function wellFormed(timeline: Timeline): void {
  expect(timeline.length).toBeGreaterThan(0);
  expect(timeline[timeline.length - 1]!.uptoLsn).toBe(LSN_MAX);
  timeline.forEach((r, i) => {
    expect(r.aboveLsn).toBeLessThan(r.uptoLsn);
    if (i > 0) expect(r.aboveLsn).toBeGreaterThan(timeline[i - 1]!.uptoLsn); // disjoint, not adjacent
  });
}

/** Range lists as LSN sets over a small space, for brute-force comparison. */
function members(ranges: readonly LsnRange[], max: number): Set<number> {
  const out = new Set<number>();
  for (let x = 1; x <= max; x++)
    if (ranges.some((r) => BigInt(x) > r.aboveLsn && BigInt(x) <= r.uptoLsn)) out.add(x);
  return out;
}

const rangeListArb = (max: number) =>
  fc
    .uniqueArray(fc.integer({ min: 0, max }), { maxLength: 8 })
    .map((points) => points.sort((a, b) => a - b))
    .map((points) => {
      const out: LsnRange[] = [];
      for (let i = 0; i + 1 < points.length; i += 2)
        out.push({ aboveLsn: BigInt(points[i]!), uptoLsn: BigInt(points[i + 1]!) });
      return out;
    });

describe('backtrack timeline', () => {
  it('the cluster after any mix of commits and backtracks holds exactly what it showed at each target time', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        const sim = simulate(events);
        expect(markerListProblem(sim.markers)).toBeUndefined();
        const now = sim.shown[sim.shown.length - 1]!;
        expect(commitsOn(currentTimeline(sim.markers), sim.commits)).toEqual(now.lsns);
        for (const t of timelines(sim.markers)) wellFormed(t);
      }),
      { numRuns: 500 },
    );
  });

  it('the timeline at any past time T, with the commits of time <= T on it, is what the cluster showed at T', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 40 }), (events) => {
        const sim = simulate(events);
        const end = sim.shown[sim.shown.length - 1]!.timeMs;
        for (let t = 0; t <= end; t++) {
          expect(commitsOn(timelineAt(sim.markers, t), sim.commits, t)).toEqual(shownAt(sim, t));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('backtracks compose: forward to a time before an earlier backtrack brings undone commits back', () => {
    const commits: CommitTime[] = [
      { lsn: 10n, commitTimeMs: 100 }, // insert 10 rows
      { lsn: 20n, commitTimeMs: 200 }, // delete them all
    ];
    // backtrack at 300 to T1 = 150: the delete is undone
    const m1 = nextMarker([], commits, { timeMs: 150, nowMs: 300, epoch: 5n, fromLsn: 25n });
    expect(m1).toMatchObject({ seq: 1, targetLsn: 10n, fromLsn: 25n });
    expect(currentTimeline([m1])).toEqual([
      { aboveLsn: 0n, uptoLsn: 10n },
      { aboveLsn: 25n, uptoLsn: LSN_MAX },
    ]);
    // backtrack at 400 to T2 = 250: the delete is back (the timeline as it was at 250)
    const m2 = nextMarker([m1], commits, { timeMs: 250, nowMs: 400, epoch: 6n, fromLsn: 30n });
    expect(m2.targetLsn).toBe(20n);
    expect(commitsOn(currentTimeline([m1, m2]), commits)).toEqual(new Set([10n, 20n]));
    // backtrack at 500 to T1 again, then 5 new rows at 550: a backtrack to 600 keeps them
    const m3 = nextMarker([m1, m2], commits, { timeMs: 150, nowMs: 500, epoch: 7n, fromLsn: 35n });
    const later = [...commits, { lsn: 40n, commitTimeMs: 550 }];
    const m4 = nextMarker([m1, m2, m3], later, { timeMs: 600, nowMs: 650, epoch: 8n, fromLsn: 45n });
    expect(m4.targetLsn).toBe(40n);
    expect(commitsOn(currentTimeline([m1, m2, m3, m4]), later)).toEqual(new Set([10n, 40n]));
  });

  it('a backtrack to a time with no commit yet keeps nothing; one to now keeps everything', () => {
    const commits: CommitTime[] = [{ lsn: 7n, commitTimeMs: 50 }];
    expect(backtrackTarget([], commits, 49)).toBe(0n);
    const empty = nextMarker([], commits, { timeMs: 10, nowMs: 60, epoch: 2n, fromLsn: 9n });
    expect(currentTimeline([empty])).toEqual([{ aboveLsn: 9n, uptoLsn: LSN_MAX }]);
    const whole = nextMarker([], commits, { timeMs: 60, nowMs: 60, epoch: 2n, fromLsn: 7n });
    expect(currentTimeline([whole])).toEqual(timelineOrigin);
  });

  it('cutTimeline refuses a cut at an LSN off the timeline', () => {
    const t: Timeline = [
      { aboveLsn: 0n, uptoLsn: 10n },
      { aboveLsn: 20n, uptoLsn: LSN_MAX },
    ];
    expect(() => cutTimeline(t, 15n)).toThrow(/not on the timeline/);
    expect(cutTimeline(t, 22n)).toEqual([
      { aboveLsn: 0n, uptoLsn: 10n },
      { aboveLsn: 20n, uptoLsn: 22n },
    ]);
  });

  it('markerListProblem names a list that is out of order', () => {
    const m = (seq: number, epoch: bigint, fromLsn: Lsn, appliedAtMs = seq): BacktrackMarker => ({
      seq,
      epoch,
      appliedAtMs,
      targetLsn: 0n,
      targetTimeMs: 0,
      fromLsn,
    });
    expect(markerListProblem([m(1, 2n, 5n), m(2, 3n, 9n)])).toBeUndefined();
    expect(markerListProblem([m(2, 2n, 5n)])).toMatch(/seq 2, expected 1/);
    expect(markerListProblem([m(1, 3n, 5n), m(2, 3n, 9n)])).toMatch(/epoch/);
    expect(markerListProblem([m(1, 2n, 5n), m(2, 3n, 4n)])).toMatch(/resumes below marker 1/);
    expect(markerListProblem([m(1, 2n, 5n, 9), m(2, 3n, 9n, 8)])).toMatch(/took effect before/);
  });

  it('voidRanges is the complement of the timeline', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), (events) => {
        const sim = simulate(events);
        const timeline = currentTimeline(sim.markers);
        const max = Number(sim.allocated) + 5;
        const on = members(timeline, max);
        const off = members(voidRanges(timeline), max);
        for (let x = 1; x <= max; x++) expect(on.has(x)).toBe(!off.has(x));
      }),
      { numRuns: 300 },
    );
  });

  it('subtractRanges is set difference', () => {
    fc.assert(
      fc.property(rangeListArb(40), rangeListArb(40), (a, b) => {
        const expected = members(a, 40);
        for (const x of members(b, 40)) expected.delete(x);
        expect(members(subtractRanges(a, b), 40)).toEqual(expected);
      }),
      { numRuns: 1000 },
    );
  });

  it('timelineChange voids what leaves the timeline and restores what comes back, below the end', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), fc.array(eventArb, { maxLength: 10 }), (a, b) => {
        const before = simulate(a);
        const after = simulate([...a, ...b]);
        const end = after.allocated;
        const max = Number(end) + 3;
        const oldOn = members(currentTimeline(before.markers), Number(end));
        const newOn = members(currentTimeline(after.markers), Number(end));
        const change = timelineChange(currentTimeline(before.markers), currentTimeline(after.markers), end);
        const voided = members(change.voided, max);
        const restored = members(change.restored, max);
        for (let x = 1; x <= max; x++) {
          expect(voided.has(x)).toBe(oldOn.has(x) && !newOn.has(x));
          expect(restored.has(x)).toBe(!oldOn.has(x) && newOn.has(x));
        }
      }),
      { numRuns: 300 },
    );
  });

  it("clipTruncation leaves a backtrack's void to its marker, and older truncations alone", () => {
    const marker: BacktrackMarker = {
      seq: 1,
      epoch: 5n,
      appliedAtMs: 100,
      targetLsn: 10n,
      targetTimeMs: 50,
      fromLsn: 30n,
    };
    // The writer opening after the backtrack finds VDL = 10 and truncates far above: only (30, 40] is its own.
    expect(clipTruncation({ epoch: 6n, aboveLsn: 10n, uptoLsn: 40n }, [marker])).toEqual([
      { aboveLsn: 30n, uptoLsn: 40n },
    ]);
    // The marker's own epoch: the same.
    expect(clipTruncation({ epoch: 5n, aboveLsn: 10n, uptoLsn: 30n }, [marker])).toEqual([]);
    // A recovery before the backtrack voided never-durable records: they stay void on every timeline.
    expect(clipTruncation({ epoch: 3n, aboveLsn: 12n, uptoLsn: 15n }, [marker])).toEqual([
      { aboveLsn: 12n, uptoLsn: 15n },
    ]);
    // Above the marker: untouched.
    expect(clipTruncation({ epoch: 9n, aboveLsn: 50n, uptoLsn: 60n }, [marker])).toEqual([
      { aboveLsn: 50n, uptoLsn: 60n },
    ]);
  });
});
