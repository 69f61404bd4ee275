import { describe, expect, it } from 'vitest';
import { type ChunkInfo, logChunkKey, parseLogChunkKey } from './archive.ts';
import { planOfJob, planRestore, restoreJob } from './restore-plan.ts';

/** A chunk covering (prev, last] whose commits span [t0, t1]. */
function chunk(prev: number, last: number, t0: number, t1: number, commit = last): ChunkInfo {
  const key = logChunkKey('src', {
    epoch: 1n,
    prevLsn: BigInt(prev),
    firstLsn: BigInt(prev + 1),
    lastLsn: BigInt(last),
    lastCommitLsn: BigInt(commit),
    firstCommitTimeMs: t0,
    lastCommitTimeMs: t1,
    commitCount: commit === 0 ? 0 : 1,
    recordCount: last - prev,
    timeline: 0,
  });
  return parseLogChunkKey(key)!;
}

const watermark = (lsn: number, t: number) => ({
  lsn: String(lsn),
  commitLsn: String(lsn),
  commitTimeMs: t,
  updatedAt: '',
});

describe('planRestore', () => {
  const chunks = [chunk(0, 10, 1000, 1900), chunk(10, 20, 2000, 2900), chunk(20, 30, 3000, 3900)];

  it('chains the log up to the chunk holding the last commit <= T', () => {
    const plan = planRestore({
      sourceCluster: 'src',
      request: { restoreTimeMs: 2500 },
      snapshots: [],
      chunks,
      watermark: watermark(30, 3900),
    });
    expect(plan.chunks.map((c) => c.lastLsn)).toEqual([10n, 20n]);
    expect(plan.snapshot).toBeUndefined();
    expect(plan.restoreTimeMs).toBe(2500);
    // A T between two chunks: the next chunk's first commit is after T, nothing is missing.
    const between = planRestore({
      sourceCluster: 'src',
      request: { restoreTimeMs: 2950 },
      snapshots: [],
      chunks,
      watermark: watermark(30, 3900),
    });
    expect(between.chunks.map((c) => c.lastLsn)).toEqual([10n, 20n]);
  });

  it('starts from the newest snapshot at or before T', () => {
    const snapshots = [
      { snapshotId: 's1', lsn: '10', commitTimeMs: 1900, key: 'k1' },
      { snapshotId: 's2', lsn: '20', commitTimeMs: 2900, key: 'k2' },
    ];
    const plan = planRestore({
      sourceCluster: 'src',
      request: { restoreTimeMs: 3500 },
      snapshots,
      chunks,
      watermark: watermark(30, 3900),
    });
    expect(plan.snapshot?.snapshotId).toBe('s2');
    expect(plan.chunks.map((c) => c.lastLsn)).toEqual([30n]);
    const exact = planRestore({
      sourceCluster: 'src',
      request: { snapshotId: 's1' },
      snapshots,
      chunks,
      watermark: undefined,
    });
    expect(exact).toMatchObject({ chunks: [], cutCommitLsn: '10', restoreTimeMs: 1900 });
    expect(() =>
      planRestore({
        sourceCluster: 'src',
        request: { snapshotId: 'nope' },
        snapshots,
        chunks,
        watermark: undefined,
      }),
    ).toThrow(/no snapshot nope/);
  });

  it('overlapping chunks (republished after a failover) still chain', () => {
    const overlapping = [chunk(0, 10, 1000, 1900), chunk(5, 25, 1500, 2600), chunk(25, 30, 3000, 3900)];
    const plan = planRestore({
      sourceCluster: 'src',
      request: { restoreTimeMs: 3900 },
      snapshots: [],
      chunks: overlapping,
      watermark: watermark(30, 3900),
    });
    expect(plan.chunks.map((c) => [c.prevLsn, c.lastLsn])).toEqual([
      [0n, 10n],
      [5n, 25n],
      [25n, 30n],
    ]);
  });

  it('a missing chunk fails the plan and names the missing LSN range', () => {
    const gap = [chunks[0]!, chunks[2]!];
    expect(() =>
      planRestore({
        sourceCluster: 'src',
        request: { restoreTimeMs: 3500 },
        snapshots: [],
        chunks: gap,
        watermark: watermark(30, 3900),
      }),
    ).toThrow(/after LSN 10 up to 20 are missing/);
  });

  it('refuses a time after the latest restorable time, or no time at all', () => {
    expect(() =>
      planRestore({
        sourceCluster: 'src',
        request: { restoreTimeMs: 5000 },
        snapshots: [],
        chunks,
        watermark: watermark(30, 3900),
      }),
    ).toThrow(/after the latest restorable time/);
    expect(() =>
      planRestore({
        sourceCluster: 'src',
        request: {},
        snapshots: [],
        chunks,
        watermark: watermark(30, 3900),
      }),
    ).toThrow(/restore time or a snapshot/);
  });

  it('accepts a time after the last archived commit up to a horizon the watermark has passed, and cuts at that commit', () => {
    const horizon = (lsn: number, throughMs: number, fence = '') => ({
      lsn: String(lsn),
      throughMs,
      epoch: '1',
      fence,
      checkedAt: '',
    });
    const plan = planRestore({
      sourceCluster: 'src',
      request: { restoreTimeMs: 8000 },
      snapshots: [],
      chunks,
      watermark: watermark(30, 3900),
      horizons: [horizon(30, 9000)],
      fence: '',
    });
    expect(plan.chunks.map((c) => c.lastLsn)).toEqual([10n, 20n, 30n]);
    expect(plan).toMatchObject({ cutCommitLsn: '30', cutCommitTimeMs: 3900, restoreTimeMs: 8000 });
    // Not past the horizon; not a horizon above the watermark; not one checked before a cut.
    const refused =
      (restoreTimeMs: number, horizons: ReturnType<typeof horizon>[], fence = '') =>
      () =>
        planRestore({
          sourceCluster: 'src',
          request: { restoreTimeMs },
          snapshots: [],
          chunks,
          watermark: watermark(30, 3900),
          horizons,
          fence,
        });
    expect(refused(9001, [horizon(30, 9000)])).toThrow(
      /after the latest restorable time 1970-01-01T00:00:09.000Z/,
    );
    expect(refused(8000, [horizon(31, 9000)])).toThrow(/after the latest restorable time/);
    expect(refused(8000, [horizon(30, 9000)], '5-99')).toThrow(/after the latest restorable time/);
    // After a backtrack whose fromLsn is at or above the last archived commit: not yet.
    const marker = {
      seq: 1,
      epoch: 2n,
      appliedAtMs: 3950,
      targetLsn: 20n,
      targetTimeMs: 2900,
      fromLsn: 30n,
    };
    expect(() =>
      planRestore({
        sourceCluster: 'src',
        request: { restoreTimeMs: 8000 },
        snapshots: [],
        chunks,
        watermark: watermark(30, 3900),
        markers: [marker],
        horizons: [horizon(30, 9000)],
        fence: '',
      }),
    ).toThrow(/after the latest restorable time 1970-01-01T00:00:03.900Z/);
  });

  it('a job round-trips through JSON to the same plan', () => {
    const plan = planRestore({
      sourceCluster: 'src',
      request: { restoreTimeMs: 2500 },
      snapshots: [],
      chunks,
      watermark: watermark(30, 3900),
    });
    const job = JSON.parse(
      JSON.stringify(
        restoreJob(plan, { requestId: 'r', targetCluster: 'dst', region: 'us-east-1', bucket: 'b' }),
      ),
    );
    expect(planOfJob(job)).toEqual(plan);
  });
});
