import { describe, expect, it } from 'vitest';
import { RecordKind } from '../record.ts';
import { fenceBatch, inVoid } from './archive-fence.ts';
import type { RedoBatch } from './redo-batch.ts';

describe('archive fence', () => {
  const voids = [{ aboveLsn: 100n, belowLsn: 1000n }];

  it('voids exactly the LSNs strictly between its bounds', () => {
    expect([99n, 100n, 101n, 999n, 1000n, 1001n].map((lsn) => inVoid(lsn, voids))).toEqual([
      false,
      false,
      true,
      true,
      false,
      false,
    ]);
    expect(inVoid(500n, [])).toBe(false);
  });

  it('keeps a batch below the point whole, cuts one across it, drops one above it', () => {
    // Records at LSNs 50, 60, …, 150.
    const batch: RedoBatch = {
      epoch: 1n,
      prevLsn: 40n,
      records: Array.from({ length: 11 }, (_, i) => ({
        lsn: BigInt(50 + 10 * i),
        pg: 0,
        pageNo: 1,
        prevLsnInPg: BigInt(40 + 10 * i),
        prevLsnOfPage: 0n,
        kind: RecordKind.PageDelta,
        flags: 0,
        payload: Buffer.alloc(4),
      })),
    };
    const lsns = batch.records.map((r) => r.lsn);
    expect(lsns[0]).toBeLessThan(100n);
    expect(lsns.at(-1)).toBeGreaterThan(100n);
    expect(fenceBatch(batch, [])).toBe(batch);
    expect(fenceBatch(batch, [{ aboveLsn: lsns.at(-1)!, belowLsn: lsns.at(-1)! + 10n }])).toBe(batch);
    const cut = fenceBatch(batch, voids)!;
    expect(cut.prevLsn).toBe(batch.prevLsn);
    expect(cut.records.map((r) => r.lsn)).toEqual(lsns.filter((lsn) => lsn <= 100n));
    expect(fenceBatch(batch, [{ aboveLsn: 0n, belowLsn: 1n << 40n }])).toBeUndefined();
  });
});
