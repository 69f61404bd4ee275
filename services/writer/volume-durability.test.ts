import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { VolumeDurability } from './volume-durability.ts';

/** The definition, computed from scratch: VCL = highest L with every record <= L complete; VDL = highest CPL <= VCL. */
function spec(records: { lsn: bigint; pg: number; cpl: boolean }[], pgcl: Map<number, bigint>, base: bigint) {
  let vcl = records.length ? records[records.length - 1]!.lsn : base;
  for (const r of records) {
    if (r.lsn > (pgcl.get(r.pg) ?? 0n)) {
      vcl = r.lsn - 1n;
      break;
    }
  }
  if (vcl < base) vcl = base;
  let vdl = base;
  for (const r of records) if (r.cpl && r.lsn <= vcl) vdl = r.lsn;
  return { vcl, vdl };
}

describe('VolumeDurability', () => {
  it('matches the definition of VCL and VDL for any allocation and ack order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ pg: fc.integer({ min: 0, max: 3 }), cpl: fc.boolean() }), {
          minLength: 1,
          maxLength: 60,
        }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 70 })), {
          maxLength: 80,
        }),
        fc.integer({ min: 0, max: 5 }),
        (shapes, acks, baseNumber) => {
          const base = BigInt(baseNumber);
          const tracker = new VolumeDurability(base, 1_000n);
          const records = shapes.map((s, i) => ({ ...s, lsn: base + BigInt(i + 1) }));
          for (const r of records) tracker.allocated(r.lsn, r.pg, r.cpl);
          const pgcl = new Map<number, bigint>();
          for (const [pg, offset] of acks) {
            const lsn = base + BigInt(offset);
            // A PG's complete LSN only ever names one of its own records (or stays below all of them).
            const own = records.filter((r) => r.pg === pg && r.lsn <= lsn).pop()?.lsn ?? 0n;
            if (own > (pgcl.get(pg) ?? 0n)) pgcl.set(pg, own);
            tracker.pgComplete(pg, own);
            expect({ vcl: tracker.vcl, vdl: tracker.vdl }).toEqual(spec(records, pgcl, base));
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('applies LAL back-pressure relative to VDL', () => {
    const tracker = new VolumeDurability(0n, 4n);
    expect(tracker.canAllocate(4)).toBe(true);
    expect(tracker.canAllocate(5)).toBe(false);
    for (let i = 1n; i <= 4n; i++) tracker.allocated(i, 0, i === 2n);
    expect(tracker.canAllocate(1)).toBe(false);
    tracker.pgComplete(0, 3n); // VCL 3, VDL = CPL 2
    expect(tracker.vdl).toBe(2n);
    expect(tracker.canAllocate(2)).toBe(true);
    expect(tracker.canAllocate(3)).toBe(false);
  });

  it('refuses allocation out of LSN order', () => {
    const tracker = new VolumeDurability(10n, 100n);
    expect(() => tracker.allocated(10n, 0, true)).toThrow(/out of order/);
  });
});
