import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LSN_MAX, type Lsn, lsnMax } from '../lsn.ts';
import { commonPrefixEnd, floorSeedQuery, seededBacktrackFloor, targetFromAnswers } from './floor-seed.ts';
import {
  type BacktrackMarker,
  backtrackTarget,
  type CommitTime,
  currentTimeline,
  nextMarker,
  onTimeline,
  type Timeline,
  timelineAt,
  timelineOrigin,
} from './timeline.ts';

type Event =
  | { kind: 'commit'; dt: number; records: number }
  | { kind: 'backtrack'; dt: number; back: number; gap: number };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      dt: fc.integer({ min: 0, max: 3 }),
      records: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('backtrack' as const),
      dt: fc.integer({ min: 0, max: 3 }),
      back: fc.integer({ min: 0, max: 40 }),
      gap: fc.integer({ min: 0, max: 4 }),
    }),
  },
);

/** Commits and backtracks as the control plane makes them (nextMarker), with commit times in order. */
function history(events: Event[]): { commits: CommitTime[]; markers: BacktrackMarker[]; nowMs: number } {
  const commits: CommitTime[] = [];
  const markers: BacktrackMarker[] = [];
  let allocated = 0n;
  let now = 0;
  for (const e of events) {
    now += e.dt;
    if (e.kind === 'commit') {
      allocated += BigInt(e.records);
      commits.push({ lsn: allocated, commitTimeMs: now });
    } else {
      const fromLsn = allocated + BigInt(e.gap);
      markers.push(
        nextMarker(markers, commits, {
          timeMs: Math.max(0, now - e.back),
          nowMs: now,
          epoch: BigInt(markers.length + 2),
          fromLsn,
        }),
      );
      allocated = fromLsn;
      // The writer after a backtrack commits after it took effect.
      now = Math.max(now, markers[markers.length - 1]!.appliedAtMs) + 1;
    }
  }
  return { commits, markers, nowMs: now };
}

const range = (aboveLsn: bigint, uptoLsn: bigint) => ({ aboveLsn, uptoLsn });

describe('commonPrefixEnd', () => {
  it('is LSN_MAX for equal timelines and where they first differ otherwise', () => {
    expect(commonPrefixEnd(timelineOrigin, timelineOrigin)).toBe(LSN_MAX);
    const cut = [range(0n, 5n), range(9n, LSN_MAX)];
    expect(commonPrefixEnd(timelineOrigin, cut)).toBe(5n);
    expect(commonPrefixEnd(cut, timelineOrigin)).toBe(5n);
    expect(commonPrefixEnd(cut, [range(0n, 5n), range(12n, LSN_MAX)])).toBe(9n);
    expect(commonPrefixEnd(cut, [range(0n, 3n), range(9n, LSN_MAX)])).toBe(3n);
    expect(commonPrefixEnd([range(0n, 5n)], cut)).toBe(9n);
  });

  it('the timelines hold the same LSNs up to it, and differ just above it', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), fc.array(eventArb, { maxLength: 30 }), (e1, e2) => {
        const a = currentTimeline(history(e1).markers);
        const b = currentTimeline(history(e2).markers);
        const end = commonPrefixEnd(a, b);
        const probeTo = end === LSN_MAX ? 300n : end;
        for (let x = 1n; x <= probeTo; x++) expect(onTimeline(a, x)).toBe(onTimeline(b, x));
        if (end !== LSN_MAX) expect(onTimeline(a, end + 1n)).not.toBe(onTimeline(b, end + 1n));
      }),
      { numRuns: 300 },
    );
  });
});

describe('seeded backtrack floor', () => {
  it('with no backtrack in the history it is the newest commit at or before the cutoff', () => {
    const commits = [1n, 2n, 3n, 4n].map((lsn) => ({ lsn, commitTimeMs: Number(lsn) * 10 }));
    const target = backtrackTarget([], commits, 25);
    expect(target).toBe(2n);
    expect(seededBacktrackFloor([], 25, target)).toBe(2n);
  });

  it('a backtrack after the cutoff to a time before it pulls the floor down to its target', () => {
    // Commits at 1..10 ms (LSN = time); at 20 ms a backtrack to 2 ms; the writer opens at 20 ms with a
    // 15 ms window. target(5 ms) = 5, but a backtrack now to 6 ms needs LSNs 3..6, which the current
    // timeline voids: below a floor of 5 GC would drop them. The seed is 2.
    const commits = Array.from({ length: 10 }, (_, i) => ({ lsn: BigInt(i + 1), commitTimeMs: i + 1 }));
    const marker = nextMarker([], commits, { timeMs: 2, nowMs: 20, epoch: 2n, fromLsn: 10n });
    const cutoff = 20 - 15;
    expect(backtrackTarget([marker], commits, cutoff)).toBe(5n);
    expect(seededBacktrackFloor([marker], cutoff, 5n)).toBe(2n);
  });

  it('never exceeds what a backtrack to any time inside the window needs (target, and the timeline below it)', () => {
    fc.assert(
      fc.property(
        fc.array(eventArb, { maxLength: 40 }),
        fc.integer({ min: 0, max: 60 }),
        fc.integer({ min: 0, max: 5 }),
        (events, windowMs, openDelay) => {
          const { commits, markers, nowMs } = history(events);
          const openedAtMs = nowMs + openDelay;
          const cutoff = openedAtMs - windowMs;
          const floor = seededBacktrackFloor(markers, cutoff, backtrackTarget(markers, commits, cutoff));
          const current = currentTimeline(markers);
          // Every backtrack this writer could run: to T from the cutoff on (no backtrack happens while
          // it is open: one would restart it).
          for (let t = cutoff; t <= openedAtMs; t++) {
            expect(floor).toBeLessThanOrEqual(backtrackTarget(markers, commits, t));
            const at = timelineAt(markers, t);
            for (let x = 1n; x <= floor; x++) expect(onTimeline(at, x)).toBe(onTimeline(current, x));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('any lower target answer gives a floor no higher (a node that missed commits only costs retention)', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), fc.integer({ min: 0, max: 60 }), (events, back) => {
        const { commits, markers, nowMs } = history(events);
        const cutoff = nowMs - back;
        const target = backtrackTarget(markers, commits, cutoff);
        for (let lower = 0n; lower <= target; lower++) {
          expect(seededBacktrackFloor(markers, cutoff, lower)).toBeLessThanOrEqual(
            seededBacktrackFloor(markers, cutoff, target),
          );
        }
      }),
    );
  });
});

describe('floor seed query and answers', () => {
  it('asks for the timeline as it was at the cutoff', () => {
    const commits = Array.from({ length: 10 }, (_, i) => ({ lsn: BigInt(i + 1), commitTimeMs: i + 1 }));
    const marker = nextMarker([], commits, { timeMs: 2, nowMs: 20, epoch: 2n, fromLsn: 10n });
    expect(floorSeedQuery([marker], 5)).toEqual({ timeline: timelineOrigin, timeMs: 5 });
    const after: Timeline = floorSeedQuery([marker], 25).timeline;
    expect(after).toEqual([range(0n, 2n), range(10n, LSN_MAX)]);
  });

  it('takes the newest answer, skipping 0 and what lies above VDL on the current timeline', () => {
    expect(targetFromAnswers([], [0n, 7n, 3n], 10n)).toBe(7n);
    expect(targetFromAnswers([], [12n, 7n], 10n)).toBe(7n);
    expect(targetFromAnswers([], [0n, 0n], 10n)).toBe(0n);
    // Above VDL but off the current timeline (voided by a backtrack): a target a forward backtrack keeps.
    const commits = Array.from({ length: 10 }, (_, i) => ({ lsn: BigInt(i + 1), commitTimeMs: i + 1 }));
    const marker = nextMarker([], commits, { timeMs: 2, nowMs: 20, epoch: 2n, fromLsn: 10n });
    expect(targetFromAnswers([marker], [5n, 11n], 2n)).toBe(5n);
  });

  it('the target from every node answering is the model target, whatever lower answers come with it', () => {
    fc.assert(
      fc.property(fc.array(eventArb, { maxLength: 30 }), fc.integer({ min: 0, max: 60 }), (events, back) => {
        const { commits, markers, nowMs } = history(events);
        const cutoff = nowMs - back;
        const target = backtrackTarget(markers, commits, cutoff);
        const vdl: Lsn = commits.reduce((m, c) => lsnMax(m, c.lsn), 0n);
        expect(targetFromAnswers(markers, [target, target / 2n, 0n], vdl)).toBe(target);
      }),
    );
  });
});
