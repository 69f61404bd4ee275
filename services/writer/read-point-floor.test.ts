import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReadPointFloor } from './read-point-floor.ts';

describe('ReadPointFloor (PGMRPL)', () => {
  it('is 0 until a VDL sample is a window old, then trails VDL by the window', () => {
    const f = new ReadPointFloor(1000);
    expect(f.advance(0, 10n, 10n)).toBe(0n);
    expect(f.advance(500, 20n, 20n)).toBe(0n);
    expect(f.advance(999, 30n, 30n)).toBe(0n);
    expect(f.advance(1000, 40n, 40n)).toBe(10n);
    expect(f.advance(1500, 50n, 50n)).toBe(20n);
    expect(f.advance(2100, 60n, 60n)).toBe(40n);
  });

  it("never passes the writer's oldest pinned read point, and never moves back", () => {
    const f = new ReadPointFloor(1000);
    f.advance(0, 10n, 10n);
    f.advance(100, 50n, 50n);
    expect(f.advance(2000, 90n, 5n)).toBe(5n); // a transaction pinned at 5: the floor stops there
    expect(f.advance(2100, 90n, 90n)).toBe(50n);
    expect(f.advance(2200, 95n, 7n)).toBe(50n); // a lower answer would be ignored by storage anyway
  });

  it('property: the floor is monotone, at most the pinned read point when it moved, and at most VDL of a window ago', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            dt: fc.integer({ min: 0, max: 700 }),
            dv: fc.integer({ min: 0, max: 5 }),
            pinBack: fc.integer({ min: 0, max: 40 }),
          }),
          {
            maxLength: 200,
          },
        ),
        (steps) => {
          const window = 1000;
          const f = new ReadPointFloor(window);
          let now = 0;
          let vdl = 0n;
          const history: { at: number; vdl: bigint }[] = [];
          let previous = 0n;
          for (const s of steps) {
            now += s.dt;
            vdl += BigInt(s.dv);
            history.push({ at: now, vdl });
            const pinned = vdl - BigInt(s.pinBack) < 0n ? 0n : vdl - BigInt(s.pinBack);
            const floor = f.advance(now, vdl, pinned);
            expect(floor >= previous).toBe(true);
            if (floor > previous) expect(floor <= pinned).toBe(true);
            const aged = history.filter((h) => h.at <= now - window);
            const vdlThen = aged.length > 0 ? aged[aged.length - 1]!.vdl : 0n;
            expect(floor <= vdlThen).toBe(true);
            previous = floor;
          }
        },
      ),
    );
  });
});
