// The restorable window: the latest end is the watermark's commit, later only with a horizon that
// holds; the earliest end is the oldest snapshot or the first commit of a log from LSN 0; both or
// neither for the RDS API.
import { describe, expect, it } from 'vitest';
import { type ChunkInfo, logChunkKey, parseLogChunkKey } from './archive.ts';
import type { CommitHorizon } from './commit-horizon.ts';
import { latestRestorableTimeMs, pointInTimeWindow, restorableWindow } from './restorable-window.ts';

function chunk(prev: number, last: number, t0: number, t1: number, commit = last): ChunkInfo {
  return parseLogChunkKey(
    logChunkKey('src', {
      epoch: 1n,
      prevLsn: BigInt(prev),
      firstLsn: BigInt(prev + 1),
      lastLsn: BigInt(last),
      lastCommitLsn: BigInt(commit),
      firstCommitTimeMs: commit === 0 ? 0 : t0,
      lastCommitTimeMs: commit === 0 ? 0 : t1,
      commitCount: commit === 0 ? 0 : 1,
      recordCount: last - prev,
      timeline: 0,
    }),
  )!;
}
const watermark = (lsn: number, commitTimeMs: number) => ({
  lsn: String(lsn),
  commitLsn: String(lsn),
  commitTimeMs,
  updatedAt: '',
});
const horizon = (lsn: number, throughMs: number, fence = ''): CommitHorizon => ({
  lsn: String(lsn),
  throughMs,
  epoch: '1',
  fence,
  checkedAt: '',
});

describe('latestRestorableTimeMs', () => {
  it("is the watermark's commit time without a horizon, and nothing before a commit is archived", () => {
    expect(latestRestorableTimeMs({ watermark: watermark(30, 3900), fence: '' })).toBe(3900);
    expect(latestRestorableTimeMs({ watermark: undefined, horizons: [horizon(0, 9000)], fence: '' })).toBe(
      undefined,
    );
    expect(
      latestRestorableTimeMs({ watermark: watermark(5, 0), horizons: [horizon(5, 9000)], fence: '' }),
    ).toBe(undefined);
  });

  it('advances to a horizon the watermark has passed, never behind the watermark', () => {
    const w = watermark(30, 3900);
    expect(latestRestorableTimeMs({ watermark: w, horizons: [horizon(30, 9000)], fence: '' })).toBe(9000);
    expect(latestRestorableTimeMs({ watermark: w, horizons: [horizon(31, 9000)], fence: '' })).toBe(3900);
    expect(latestRestorableTimeMs({ watermark: w, horizons: [horizon(20, 3000)], fence: '' })).toBe(3900);
    expect(
      latestRestorableTimeMs({ watermark: w, horizons: [horizon(31, 9000), horizon(25, 8000)], fence: '' }),
    ).toBe(8000);
    expect(latestRestorableTimeMs({ watermark: w, horizons: [horizon(30, 9000)], fence: '1-2' })).toBe(3900);
  });
});

describe('pointInTimeWindow', () => {
  const chunks = [chunk(0, 10, 1000, 1900), chunk(10, 20, 2000, 2900), chunk(20, 30, 3000, 3900)];

  it('from the first commit of a log that starts at LSN 0 to the latest', () => {
    expect(
      pointInTimeWindow({
        snapshots: [],
        chunks,
        watermark: watermark(30, 3900),
        horizons: [horizon(30, 9000)],
        fence: '',
      }),
    ).toEqual({ earliestMs: 1000, latestMs: 9000 });
  });

  it("from the oldest snapshot once the log's start has expired, as backup status reports it", () => {
    const input = {
      snapshots: [{ lsn: '20', commitTimeMs: 2900 }],
      chunks: chunks.slice(2),
      watermark: watermark(30, 3900),
    };
    expect(pointInTimeWindow({ ...input, fence: '' })).toEqual({ earliestMs: 2900, latestMs: 3900 });
    expect(restorableWindow(input).earliestMs).toBe(2900);
  });

  it('neither end while nothing is restorable, or when the only snapshot is past the archive', () => {
    expect(pointInTimeWindow({ snapshots: [], chunks: [], watermark: undefined, fence: '' })).toBeUndefined();
    // The log does not start at 0 (a restored cluster) and no snapshot yet.
    expect(
      pointInTimeWindow({
        snapshots: [],
        chunks: chunks.slice(1),
        watermark: watermark(30, 3900),
        fence: '',
      }),
    ).toBeUndefined();
    expect(
      pointInTimeWindow({
        snapshots: [{ lsn: '40', commitTimeMs: 5000 }],
        chunks: chunks.slice(1),
        watermark: watermark(30, 3900),
        fence: '',
      }),
    ).toBeUndefined();
  });

  it('a first page without a commit chunk: the oldest snapshot (a later, still true, earliest)', () => {
    const slices = [chunk(0, 10, 0, 0, 0)];
    expect(
      pointInTimeWindow({
        snapshots: [{ lsn: '20', commitTimeMs: 2900 }],
        chunks: slices,
        watermark: watermark(30, 3900),
        fence: '',
      }),
    ).toEqual({ earliestMs: 2900, latestMs: 3900 });
  });
});
