// Which restore jobs are a snapshot restored as it is (named so in the RDS events of the new cluster)
// and which a point in time.
import { describe, expect, it } from 'vitest';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import { isSnapshotRestore } from './restore.ts';

const snapshot = { snapshotId: 'snap', key: 'k', lsn: '100', commitTimeMs: 1_000 };
const job = (overrides: Partial<RestoreJob>): RestoreJob => ({
  requestId: 'r',
  sourceCluster: 'src',
  targetCluster: 'new',
  region: 'us-east-1',
  bucket: 'b',
  snapshot,
  chunkKeys: [],
  restoreTimeMs: 1_000,
  cutCommitLsn: '100',
  cutCommitTimeMs: 1_000,
  ...overrides,
});

describe('isSnapshotRestore', () => {
  it('the snapshot alone, cut at its own commit and time, is a snapshot restore', () => {
    expect(isSnapshotRestore(job({}))).toBe(true);
  });

  it('log past the snapshot, a later cut, a later time or no snapshot at all is a point in time', () => {
    expect(isSnapshotRestore(job({ chunkKeys: ['log/1'] }))).toBe(false);
    expect(isSnapshotRestore(job({ cutCommitLsn: '120' }))).toBe(false);
    expect(isSnapshotRestore(job({ restoreTimeMs: 2_000 }))).toBe(false);
    const { snapshot: _, ...none } = job({});
    expect(isSnapshotRestore(none)).toBe(false);
  });
});
