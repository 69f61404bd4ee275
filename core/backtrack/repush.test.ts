import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  afterMarkerRepush,
  type MarkerRepushState,
  markerRepushBackoffMaxMs,
  markerRepushBackoffMinMs,
  markerRepushBackoffMs,
  markerRepushSettleMs,
  nodesNeedingMarkers,
} from './repush.ts';

const node = (id: string, markerCount: number | undefined, healthy = true) => ({ id, healthy, markerCount });

describe('marker re-push decision', () => {
  it('picks the healthy nodes that report fewer markers than the record', () => {
    const nodes = [node('n1', 2), node('n2', 1), node('n3', 0), node('n4', 3), node('n5', 0, false)];
    expect(nodesNeedingMarkers(nodes, 2, new Map(), 0)).toEqual(['n2', 'n3']);
  });

  it('pushes nothing while the record is empty (no backtrack has completed)', () => {
    expect(nodesNeedingMarkers([node('n1', 0)], 0, new Map(), 0)).toEqual([]);
  });

  it('leaves alone a node that reports no count or more markers than the record', () => {
    expect(nodesNeedingMarkers([node('n1', undefined), node('n2', 5)], 3, new Map(), 0)).toEqual([]);
  });

  it('keeps at most one push in flight per node', () => {
    const states = new Map<string, MarkerRepushState>([
      ['n1', { inFlight: true, failures: 0, notBeforeMs: 0 }],
    ]);
    expect(nodesNeedingMarkers([node('n1', 0), node('n2', 0)], 1, states, 1_000)).toEqual(['n2']);
  });

  it('waits out the backoff after a failure, then tries again', () => {
    const failed = afterMarkerRepush(undefined, false, 10_000);
    expect(failed).toEqual({ inFlight: false, failures: 1, notBeforeMs: 10_000 + markerRepushBackoffMinMs });
    const states = new Map([['n1', failed]]);
    expect(nodesNeedingMarkers([node('n1', 0)], 1, states, failed.notBeforeMs - 1)).toEqual([]);
    expect(nodesNeedingMarkers([node('n1', 0)], 1, states, failed.notBeforeMs)).toEqual(['n1']);
  });

  it('doubles the backoff per consecutive failure up to the cap; a success clears it (a short settle)', () => {
    let state: MarkerRepushState | undefined;
    const delays: number[] = [];
    for (let i = 0; i < 12; i++) {
      state = afterMarkerRepush(state, false, 0);
      delays.push(state.notBeforeMs);
    }
    expect(delays.slice(0, 4)).toEqual([500, 1_000, 2_000, 4_000]);
    expect(delays.at(-1)).toBe(markerRepushBackoffMaxMs);
    expect(afterMarkerRepush(state, true, 7)).toEqual({
      inFlight: false,
      failures: 0,
      notBeforeMs: 7 + markerRepushSettleMs,
    });
  });

  it('backoff is monotone in the failures, never below the minimum nor above the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), (failures) => {
        const ms = markerRepushBackoffMs(failures);
        expect(ms).toBeGreaterThanOrEqual(markerRepushBackoffMinMs);
        expect(ms).toBeLessThanOrEqual(markerRepushBackoffMaxMs);
        expect(markerRepushBackoffMs(failures + 1)).toBeGreaterThanOrEqual(ms);
      }),
    );
  });

  it('never picks a node that is unhealthy, in flight, in backoff, or not behind', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            healthy: fc.boolean(),
            markerCount: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
            state: fc.option(
              fc.record({
                inFlight: fc.boolean(),
                failures: fc.integer({ min: 0, max: 5 }),
                notBeforeMs: fc.integer({ min: 0, max: 2_000 }),
              }),
              { nil: undefined },
            ),
          }),
          { maxLength: 8 },
        ),
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 0, max: 2_000 }),
        (raw, recorded, now) => {
          const nodes = raw.map((r, i) => ({ id: `n${i}`, healthy: r.healthy, markerCount: r.markerCount }));
          const states = new Map<string, MarkerRepushState>();
          for (const [i, r] of raw.entries()) if (r.state) states.set(`n${i}`, r.state);
          const due = new Set(nodesNeedingMarkers(nodes, recorded, states, now));
          raw.forEach((r, i) => {
            const s = r.state;
            const expected =
              recorded > 0 &&
              r.healthy &&
              r.markerCount !== undefined &&
              r.markerCount < recorded &&
              !(s && (s.inFlight || now < s.notBeforeMs));
            expect(due.has(`n${i}`)).toBe(expected);
          });
        },
      ),
    );
  });
});
