import { describe, expect, it } from 'vitest';
import { readerLagToleranceMs } from './limits.ts';
import { chooseReader } from './reader-choice.ts';

describe('reader choice', () => {
  it('has nothing to choose from an empty fleet', () => {
    expect(chooseReader([], 0)).toBeUndefined();
  });

  it('prefers fewer requests in flight, then less lag', () => {
    expect(
      chooseReader(
        [
          { inFlight: 2, lagMs: 0 },
          { inFlight: 1, lagMs: 500 },
        ],
        0,
      ),
    ).toBe(1);
    expect(
      chooseReader(
        [
          { inFlight: 1, lagMs: 500 },
          { inFlight: 1, lagMs: 2 },
        ],
        0,
      ),
    ).toBe(1);
    expect(
      chooseReader(
        [
          { inFlight: 0, lagMs: null },
          { inFlight: 0, lagMs: 900 },
        ],
        0,
      ),
    ).toBe(1);
  });

  it('takes turns among equals, so one request at a time still spreads', () => {
    const readers = [
      { inFlight: 0, lagMs: 1 },
      { inFlight: 0, lagMs: readerLagToleranceMs - 1 },
      { inFlight: 0, lagMs: 3 * readerLagToleranceMs },
    ];
    const chosen = [0, 1, 2, 3].map((turn) => chooseReader(readers, turn));
    expect(chosen).toEqual([0, 1, 0, 1]);
  });
});
