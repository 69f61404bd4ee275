import { describe, expect, it } from 'vitest';
import { LostSetBuilder, lostCommitsListedMax } from './lost-set.ts';

const commit = (lsn: bigint, ms: number) => ({ lsn, txnId: lsn * 10n, commitTimeMs: ms });

describe('LostSetBuilder', () => {
  it('names exactly the commits in (promoted VDL, old VDL], with their times, across pieces', () => {
    const b = new LostSetBuilder(10n, 40n);
    b.add([commit(5n, 1_000), commit(10n, 2_000), commit(12n, 3_000)]);
    b.add([commit(30n, 4_000), commit(40n, 5_000), commit(41n, 6_000)]);
    expect(b.result()).toEqual({
      lsnRange: { above: '10', upTo: '40' },
      transactions: 3,
      firstCommitTime: new Date(3_000).toISOString(),
      lastCommitTime: new Date(5_000).toISOString(),
      commits: [
        { lsn: '12', txnId: '120', commitTime: new Date(3_000).toISOString() },
        { lsn: '30', txnId: '300', commitTime: new Date(4_000).toISOString() },
        { lsn: '40', txnId: '400', commitTime: new Date(5_000).toISOString() },
      ],
      complete: true,
    });
  });

  it('nothing lost: an empty set whose range is empty', () => {
    expect(new LostSetBuilder(10n, 10n).result()).toMatchObject({
      lsnRange: { above: '10', upTo: '10' },
      transactions: 0,
      firstCommitTime: null,
      commits: [],
      complete: true,
    });
  });

  it('lists at most lostCommitsListedMax, counts them all', () => {
    const b = new LostSetBuilder(0n, 1_000_000n);
    b.add(Array.from({ length: lostCommitsListedMax + 5 }, (_, i) => commit(BigInt(i + 1), i)));
    const r = b.result();
    expect([r.transactions, r.commits.length, r.complete]).toEqual([
      lostCommitsListedMax + 5,
      lostCommitsListedMax,
      false,
    ]);
    expect(r.lastCommitTime).toBe(new Date(lostCommitsListedMax + 4).toISOString());
  });

  it('refuses commits out of order (a broken read would misstate the loss)', () => {
    const b = new LostSetBuilder(0n, 100n);
    b.add([commit(5n, 1)]);
    expect(() => b.add([commit(4n, 2)])).toThrow(/LSN order/);
  });
});
