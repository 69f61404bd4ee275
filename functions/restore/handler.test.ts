// The restore function against an S3 double and a fake provisioner: it plans from snapshot ids and
// chunk keys alone (no manifest of a generated id is downloaded), hands the new cluster its job,
// emits Completed; a failure to create removes the half-made cluster and emits Failed with the
// reason; bad requests and gaps fail before anything is created.
import type { EventBridgeEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { snapshotManifestKey } from '../../core/backup/archive.ts';
import { commitHorizonKey, formatCommitHorizons } from '../../core/backup/commit-horizon.ts';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import { archiveRecords, pageImageLog } from '../../core/backup/testing.ts';
import { generatedSnapshotId } from '../snapshot/catalog.ts';
import { memoryS3 } from '../snapshot/testing.ts';
import {
  type ClusterProvisioner,
  handleRestoreRequested,
  type RestoreCompletedDetail,
  type RestoreFailedDetail,
  restoreCompleted,
  restoreFailed,
  restoreRequested,
} from './handler.ts';

const bucket = 'b';
const image = (n: number) => new Uint8Array(32).fill(n);

function fakeProvisioner(fail?: string) {
  const created: RestoreJob[] = [];
  const destroyed: string[] = [];
  const provisioner: ClusterProvisioner = {
    exists: async (name) => name === 'taken',
    create: async (job) => {
      created.push(job);
      if (fail) throw new Error(fail);
      return {
        endpoints: { writer: 'http://w', reader: 'http://r' },
        resourceArn: 'arn:cluster',
        secretArn: 'arn:secret',
      };
    },
    destroy: async (name) => {
      destroyed.push(name);
    },
  };
  return { provisioner, created, destroyed };
}

const event = (detail: Record<string, unknown>): EventBridgeEvent<string, unknown> =>
  ({ 'detail-type': restoreRequested, source: 'borealis', detail }) as EventBridgeEvent<string, unknown>;

/** Six commits 1 s apart; a snapshot manifest named after commit 2 (only its key is listed). */
async function archive() {
  const s3 = memoryS3();
  const txns = Array.from({ length: 6 }, (_, t) => ({
    pages: new Map([[t + 1, image(t)]]),
    commitTimeMs: 1_700_000_000_000 + t * 1000,
  }));
  const chunks = await archiveRecords({ s3: s3.client, bucket, cluster: 'src' }, 0n, pageImageLog(0n, txns), {
    maxBytes: 200,
  });
  // Commit t is LSN 2(t + 1); the snapshot is at commit 2.
  const snapshotId = generatedSnapshotId(txns[2]!.commitTimeMs, 6n);
  s3.objects.set(snapshotManifestKey('src', snapshotId), Buffer.from('{"not": "read"}'));
  return { s3, chunks, txns, snapshotId };
}

describe('restore function', () => {
  it('plans from the listing, creates the cluster with its job, and reports it', async () => {
    const { s3, txns, snapshotId } = await archive();
    const { provisioner, created } = fakeProvisioner();
    const emitted: { type: string; detail: unknown }[] = [];
    const t = txns[4]!.commitTimeMs;
    const detail = (await handleRestoreRequested(
      event({
        requestId: 'r1',
        sourceCluster: 'src',
        targetCluster: 'dst',
        restoreTime: new Date(t).toISOString(),
      }),
      {
        s3: s3.client,
        bucket,
        region: 'us-east-1',
        provisioner,
        emit: async (type, d) => void emitted.push({ type, detail: d }),
      },
    )) as RestoreCompletedDetail;
    expect(emitted.map((e) => e.type)).toEqual([restoreCompleted]);
    expect(detail).toMatchObject({
      requestId: 'r1',
      targetCluster: 'dst',
      endpoints: { writer: 'http://w' },
    });
    expect(created).toHaveLength(1);
    const job = created[0]!;
    expect(job.snapshot).toMatchObject({ snapshotId, lsn: '6', commitTimeMs: txns[2]!.commitTimeMs });
    expect(job.cutCommitLsn).toBe('10');
    expect(job.chunkKeys.length).toBeGreaterThan(0);
    // The manifest of a generated id is never downloaded to plan (it may be megabytes).
    expect(s3.gets.some((g) => g.key.includes('/snapshots/'))).toBe(false);
  });

  it('a failed create removes the half-made cluster and reports why', async () => {
    const { s3, txns } = await archive();
    const { provisioner, destroyed } = fakeProvisioner(
      'the restored cluster did not start: log chunk for LSNs 7-8 is corrupt',
    );
    const emitted: { type: string; detail: unknown }[] = [];
    const detail = (await handleRestoreRequested(
      event({
        requestId: 'r2',
        sourceCluster: 'src',
        targetCluster: 'dst',
        restoreTime: new Date(txns[5]!.commitTimeMs).toISOString(),
      }),
      {
        s3: s3.client,
        bucket,
        region: 'us-east-1',
        provisioner,
        emit: async (type, d) => void emitted.push({ type, detail: d }),
      },
    )) as RestoreFailedDetail;
    expect(destroyed).toEqual(['dst']);
    expect(emitted.map((e) => e.type)).toEqual([restoreFailed]);
    expect(detail.reason).toMatch(/log chunk for LSNs 7-8 is corrupt/);
  });

  it('restores a time after the last archived commit when a stored commit horizon covers it, to that commit', async () => {
    const { s3, txns } = await archive();
    const last = txns[5]!.commitTimeMs;
    const { provisioner, created } = fakeProvisioner();
    const run = async (restoreTime: number) =>
      handleRestoreRequested(
        event({
          requestId: `r${restoreTime}`,
          sourceCluster: 'src',
          targetCluster: 'dst',
          restoreTime: new Date(restoreTime).toISOString(),
        }),
        { s3: s3.client, bucket, region: 'us-east-1', provisioner, emit: async () => undefined },
      );
    // Without a horizon: after the latest restorable time.
    expect(((await run(last + 5_000)) as RestoreFailedDetail).reason).toMatch(
      /after the latest restorable time/,
    );
    // The last commit is LSN 12; a horizon at it says nothing up to last + 9 s is missing.
    const h = { lsn: '12', throughMs: last + 9_000, epoch: '1', fence: '', checkedAt: '' };
    s3.objects.set(commitHorizonKey('src'), Buffer.from(formatCommitHorizons([h])));
    const done = (await run(last + 5_000)) as RestoreCompletedDetail;
    expect(done.restoreTime).toBe(new Date(last + 5_000).toISOString());
    expect(created.at(-1)).toMatchObject({ cutCommitLsn: '12', cutCommitTimeMs: last });
    expect(((await run(last + 9_001)) as RestoreFailedDetail).reason).toMatch(
      /after the latest restorable time/,
    );
  });

  it('refuses bad requests and a gap before creating anything', async () => {
    const { s3, chunks, txns } = await archive();
    const { provisioner, created } = fakeProvisioner();
    const run = async (d: Record<string, unknown>) =>
      (await handleRestoreRequested(event(d), {
        s3: s3.client,
        bucket,
        region: 'us-east-1',
        provisioner,
        emit: async () => undefined,
      })) as RestoreFailedDetail;
    const base = { requestId: 'r', sourceCluster: 'src', targetCluster: 'dst' };
    expect((await run({ ...base })).reason).toMatch(/exactly one of restoreTime/);
    expect((await run({ ...base, targetCluster: 'taken', snapshotId: 'x' })).reason).toMatch(
      /already exists/,
    );
    expect((await run({ ...base, snapshotId: 'nope' })).reason).toMatch(/no snapshot nope/);
    const gap = chunks.find((c) => c.prevLsn >= 6n)!;
    s3.objects.delete(gap.key);
    const failed = await run({ ...base, restoreTime: new Date(txns[5]!.commitTimeMs).toISOString() });
    expect(failed.reason).toMatch(
      new RegExp(`cannot plan the restore: log records after LSN ${gap.prevLsn} up to \\d+ are missing`),
    );
    expect(created).toEqual([]);
  });
});
