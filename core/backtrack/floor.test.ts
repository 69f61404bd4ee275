import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BacktrackFloor, backtrackFloorSamplesMax } from './floor.ts';

describe('backtrack floor', () => {
  it('is none with the window off, 0 until a whole window has passed since the writer opened', () => {
    expect(new BacktrackFloor(0, 0).floor(1_000_000)).toBe('none');
    const floor = new BacktrackFloor(60_000, 1_000);
    floor.note(1_000, 10n);
    floor.note(30_000, 20n);
    expect(floor.floor(60_999)).toBe(0n);
    expect(floor.floor(61_000)).toBe(10n);
    expect(floor.floor(90_000)).toBe(20n);
  });

  it('never passes a VDL noted after now − window (every backtrack target inside the window stays above it)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 500 }), dLsn: fc.integer({ min: 0, max: 50 }) }), {
          maxLength: 300,
        }),
        (windowMs, steps) => {
          const floor = new BacktrackFloor(windowMs, 0);
          const noted: { timeMs: number; lsn: bigint }[] = [];
          let now = 0;
          let lsn = 0n;
          for (const s of steps) {
            now += s.dt;
            lsn += BigInt(s.dLsn);
            floor.note(now, lsn);
            noted.push({ timeMs: now, lsn });
            const f = floor.floor(now);
            expect(typeof f).toBe('bigint');
            // The VDL at the window start is at least the newest noted at or before it.
            const atStart = noted.filter((n) => n.timeMs <= now - windowMs).at(-1)?.lsn ?? 0n;
            expect(f as bigint).toBeLessThanOrEqual(atStart);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it(`keeps at most ${backtrackFloorSamplesMax} samples and still spans the window`, () => {
    const floor = new BacktrackFloor(1_000_000_000, 0);
    for (let i = 0; i <= 3 * backtrackFloorSamplesMax; i++) floor.note(i, BigInt(i));
    expect(floor.floor(1_000_000_000 + 1)).toBeLessThanOrEqual(1n);
  });
});
