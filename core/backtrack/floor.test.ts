import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { lsnMax } from '../lsn.ts';
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

  it('uses the seed from storage until a whole window has passed, then the larger of seed and noted VDL', () => {
    const floor = new BacktrackFloor(60_000, 100_000);
    expect(floor.seedCutoffMs).toBe(40_000);
    floor.note(100_000, 50n);
    expect(floor.floor(120_000)).toBe(0n); // no seed (storage did not answer): hold everything
    floor.seed(30n);
    expect(floor.floor(120_000)).toBe(30n);
    expect(floor.floor(159_999)).toBe(30n);
    expect(floor.floor(160_000)).toBe(50n);
    floor.seed(70n);
    expect(floor.floor(160_000)).toBe(70n);
    expect(new BacktrackFloor(0, 0).floor(1)).toBe('none');
  });

  it('a seed never lowers the floor below a noted VDL nor raises it above max(seed, noted)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.bigInt({ min: 0n, max: 1_000n }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 500 }), dLsn: fc.integer({ min: 0, max: 50 }) }), {
          maxLength: 100,
        }),
        (windowMs, seed, steps) => {
          const seeded = new BacktrackFloor(windowMs, 0);
          const plain = new BacktrackFloor(windowMs, 0);
          seeded.seed(seed);
          let now = 0;
          let lsn = 0n;
          for (const s of steps) {
            now += s.dt;
            lsn += BigInt(s.dLsn);
            seeded.note(now, lsn);
            plain.note(now, lsn);
            const p = plain.floor(now) as bigint;
            expect(seeded.floor(now)).toBe(lsnMax(p, seed));
          }
        },
      ),
      { numRuns: 200 },
    );
  });

  it(`keeps at most ${backtrackFloorSamplesMax} samples and still spans the window`, () => {
    const floor = new BacktrackFloor(1_000_000_000, 0);
    for (let i = 0; i <= 3 * backtrackFloorSamplesMax; i++) floor.note(i, BigInt(i));
    expect(floor.floor(1_000_000_000 + 1)).toBeLessThanOrEqual(1n);
  });
});
