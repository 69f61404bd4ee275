import { describe, expect, it } from 'vitest';
import { backupStatus, formatBackupStatus, formatLag } from './backup-view.ts';

const t0 = Date.UTC(2026, 0, 2, 3, 0, 0);
const chunk = (first: number, last: number, prev: number, commit: number, t1: number, t2: number) =>
  `clusters/borealis/log/${String(first).padStart(20, '0')}-${String(last).padStart(20, '0')}` +
  `.p${String(prev).padStart(20, '0')}.c${String(commit).padStart(20, '0')}` +
  `.t${String(t1).padStart(13, '0')}-${String(t2).padStart(13, '0')}.brb.gz`;

const base = {
  cluster: 'borealis',
  region: 'us-east-1',
  bucket: 'borealis-backup-us-east-1',
  nowMs: t0 + 60_000,
};

describe('backup status', () => {
  it('reports nothing restorable for an empty bucket', () => {
    const s = backupStatus({ ...base, watermark: undefined, snapshots: [], logObjects: [] });
    expect(s.latestRestorableTime).toBeNull();
    expect(s.earliestRestorableTime).toBeNull();
    expect(s.lagMs).toBeNull();
    expect(s.snapshots.count).toBe(0);
    expect(s.logChunks).toEqual({ count: 0, bytes: 0, firstLsn: null, lastLsn: null });
    expect(formatBackupStatus(s)).toContain('latest restorable    - (nothing archived yet)');
  });

  it('takes the latest from the watermark and the earliest from the oldest snapshot', () => {
    const s = backupStatus({
      ...base,
      watermark: { lsn: '500', commitLsn: '498', commitTimeMs: t0 + 55_000, updatedAt: 'u' },
      snapshots: [
        { snapshotId: 'snap-b', lsn: 300n, commitTimeMs: t0 + 30_000 },
        { snapshotId: 'snap-a', lsn: 100n, commitTimeMs: t0 + 10_000 },
      ],
      logObjects: [
        { key: chunk(201, 500, 200, 498, t0 + 20_000, t0 + 55_000), size: 700 },
        { key: chunk(50, 200, 49, 200, t0 + 5_000, t0 + 20_000), size: 300 },
        { key: 'clusters/borealis/log/not-a-chunk', size: 5 },
      ],
    });
    expect(s.latestRestorableTime).toBe(new Date(t0 + 55_000).toISOString());
    // The log does not start at LSN 0, so the oldest snapshot bounds the window.
    expect(s.earliestRestorableTime).toBe(new Date(t0 + 10_000).toISOString());
    expect(s.lagMs).toBe(5_000);
    expect(s.snapshots).toEqual({ count: 2, oldest: 'snap-a', newest: 'snap-b' });
    expect(s.logChunks).toEqual({ count: 2, bytes: 1000, firstLsn: '50', lastLsn: '500' });
    expect(formatBackupStatus(s)).toBe(
      [
        'cluster              borealis (us-east-1), bucket borealis-backup-us-east-1',
        'latest restorable    2026-01-02T03:00:55.000Z',
        'lag behind now       5.0 s',
        'earliest restorable  2026-01-02T03:00:10.000Z',
        'watermark            LSN 500 (commit 498, updated u)',
        'snapshots            2 (oldest snap-a, newest snap-b)',
        'log chunks           2, 1000 B (LSN 50 to 500)',
        '',
      ].join('\n'),
    );
  });

  it('restores from the first commit when the log starts at LSN 0, and from a snapshot newer than the log', () => {
    const s = backupStatus({
      ...base,
      watermark: { lsn: '20', commitLsn: '20', commitTimeMs: t0 + 2_000, updatedAt: 'u' },
      snapshots: [{ snapshotId: 'snap-x', lsn: 90n, commitTimeMs: t0 + 9_000 }],
      logObjects: [{ key: chunk(1, 20, 0, 20, t0 + 1_000, t0 + 2_000), size: 10 }],
    });
    expect(s.earliestRestorableTime).toBe(new Date(t0 + 1_000).toISOString());
    expect(s.latestRestorableTime).toBe(new Date(t0 + 9_000).toISOString());
  });

  it('formats lag', () => {
    expect(formatLag(250)).toBe('250 ms');
    expect(formatLag(4_200)).toBe('4.2 s');
    expect(formatLag(125_000)).toBe('2 min 5 s');
    expect(formatLag(2 * 3_600_000 + 60_000)).toBe('2 h 1 min');
  });
});
