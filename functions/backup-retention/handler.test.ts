// The retention handler against a real s3rver (started here on a free port): a synthetic archive
// spread over days (log chunks stored by the archiver itself, manifests and shared pages written
// directly) and a fake clock. After expiry, every T in [now − retention, latest] still plans a
// restore (the same plan as before), shared pages stay, the no-snapshot case keeps the log, a second
// run deletes nothing, and `backup status` reports the same window.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBackupStatus } from '../../cli/backup-status.ts';
import { s3Client } from '../../core/aws/clients.ts';
import {
  clusterPrefix,
  logPrefix,
  packObjectKey,
  pageObjectKey,
  parseLogChunkKey,
  snapshotManifestKey,
  watermarkKey,
} from '../../core/backup/archive.ts';
import { type ManifestSummary, planRestore } from '../../core/backup/restore-plan.ts';
import { backupRetentionSettingKey } from '../../core/backup/retention-setting.ts';
import { writeBackupRetentionSetting } from '../../core/backup/retention-setting-store.ts';
import { fragmentsPrefix, largeEnvelopesPrefix } from '../../core/binlog/retention.ts';
import { writeBinlogRetention } from '../../core/binlog/retention-store.ts';
import { functionEnvironment, parseBackupRetentionDays } from '../../core/functions.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { regionalResources } from '../../core/resources.ts';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { readWatermark } from '../backup-archiver/handler.ts';
import { listManifests } from '../snapshot/catalog.ts';
import { dayMs, expireBackups, type RetentionDeps } from './handler.ts';
import { retentionConfigFromEnv } from './index.ts';
import {
  type ArchiveTarget,
  archiveDays,
  hashOf,
  writePack,
  writePackedSnapshot,
  writePage,
  writeSnapshot,
} from './testing.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const region = 'us-east-1';
const bucket = 'retention-test';
const dir = makeTempDir('retention');
const hourMs = 3_600_000;

let server: ManagedProcess;
let s3: S3Client;
let clusterCount = 0;

beforeAll(async () => {
  server = await spawnProcess({
    name: 's3',
    entry: join(here, '../../embedded/s3-emulator.ts'),
    args: ['--data-dir', join(dir.path, 's3')],
    nodeFlags: ['--openssl-legacy-provider'],
    logFile: join(dir.path, 'logs', 's3.log'),
  });
  s3 = s3Client({
    region,
    endpoint: `http://127.0.0.1:${server.ready.port}`,
    env: {
      AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
    },
  });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.stop();
  dir.remove();
});

async function keysUnder(prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys.sort();
}

/** What a restore plans from: the archive as it is now. */
async function archiveListing(cluster: string) {
  const manifests = await listManifests(s3, bucket, cluster);
  const snapshots: ManifestSummary[] = manifests.map((m) => ({
    snapshotId: m.snapshotId,
    lsn: m.lsn,
    commitTimeMs: m.commitTimeMs,
    key: snapshotManifestKey(cluster, m.snapshotId),
  }));
  const chunks = (await keysUnder(logPrefix(cluster))).flatMap((k) => parseLogChunkKey(k) ?? []);
  const watermark = (await readWatermark({ s3, bucket, cluster }))?.value;
  return { manifests, snapshots, chunks, watermark };
}

async function plan(cluster: string, restoreTimeMs: number) {
  const l = await archiveListing(cluster);
  return planRestore({
    sourceCluster: cluster,
    request: { restoreTimeMs },
    snapshots: l.snapshots,
    chunks: l.chunks,
    watermark: l.watermark,
  });
}

async function exists(key: string): Promise<boolean> {
  try {
    await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch {
    return false;
  }
}

const at = (cluster: string): ArchiveTarget => ({ s3, bucket, cluster });

function deps(cluster: string, nowMs: number, extra: Partial<RetentionDeps> = {}): RetentionDeps {
  return { s3, bucket, cluster, now: () => nowMs, retentionDays: 3, listPageKeys: 4, ...extra };
}

describe('backup retention', () => {
  it('expires snapshots, log and pages outside the window and keeps every T in it restorable', async () => {
    const cluster = `r${++clusterCount}`;
    // The clock runs 2 h ahead of s3rver's, so objects written now are past the page grace period.
    const nowMs = Date.now() + 2 * hourMs;
    // Days 0..9 at now − 10.5 d … now − 1.5 d: the 3-day cutoff falls between day 7 and day 8.
    const days = await archiveDays(at(cluster), nowMs - 10.5 * dayMs, 10);
    const snap = (d: number) => `snap-day${d}`;
    await writeSnapshot(at(cluster), snap(1), days[1]!.lastCommit, ['A', 'B', 'C'], null);
    await writeSnapshot(at(cluster), snap(3), days[3]!.lastCommit, ['A', 'B', 'D'], snap(1));
    await writeSnapshot(at(cluster), snap(5), days[5]!.lastCommit, ['A', 'E', 'D'], snap(3));
    await writeSnapshot(at(cluster), snap(7), days[7]!.lastCommit, ['A', 'E', 'F'], snap(5));
    await writeSnapshot(at(cluster), snap(9), days[9]!.lastCommit, ['G', 'E', 'F'], snap(7));
    // An orphan page: a snapshot that failed before its manifest.
    await writePage(at(cluster), 'O');
    const before = await archiveListing(cluster);
    expect(before.chunks).toHaveLength(30);
    const cutoff = nowMs - 3 * dayMs;
    const latest = before.watermark!.commitTimeMs;
    const times = [
      cutoff,
      cutoff + 1,
      days[8]!.lastCommit.commitTimeMs - 3, // between two commits of day 8
      days[8]!.lastCommit.commitTimeMs,
      days[9]!.lastCommit.commitTimeMs - 1,
      days[9]!.lastCommit.commitTimeMs,
      latest,
    ];
    const plansBefore = await Promise.all(times.map((t) => plan(cluster, t)));

    const report = await expireBackups(deps(cluster, nowMs));
    expect(report.baseSnapshot).toBe(snap(7));
    expect(report.deleted).toEqual({ manifests: 3, chunks: 24, packs: 0, pages: 4 }); // B, C, D, O
    expect(report.kept).toEqual({ manifests: 2, chunks: 6, packs: 0, pages: 4 }); // A, E, F, G
    expect(report.retainFrom).toBe(new Date(cutoff).toISOString());
    expect(report.earliestRestorableTime).toBe(new Date(days[7]!.lastCommit.commitTimeMs).toISOString());
    expect(Date.parse(report.earliestRestorableTime!)).toBeLessThanOrEqual(cutoff);
    expect(report.latestRestorableTime).toBe(new Date(latest).toISOString());

    const after = await archiveListing(cluster);
    expect(after.manifests.map((m) => m.snapshotId)).toEqual([snap(7), snap(9)]);
    expect(after.chunks.every((c) => c.lastLsn > days[7]!.lastCommit.lsn)).toBe(true);
    expect(after.watermark).toEqual(before.watermark);
    // Every T in the window plans exactly as before, from objects that exist.
    for (const [i, t] of times.entries()) {
      const p = await plan(cluster, t);
      expect(p).toEqual(plansBefore[i]);
      for (const c of p.chunks) expect(await exists(c.key)).toBe(true);
      expect(p.snapshot && (await exists(p.snapshot.key))).toBe(true);
    }
    // The earliest reported time restores too; before it, nothing does.
    await expect(plan(cluster, Date.parse(report.earliestRestorableTime!))).resolves.toBeDefined();
    await expect(plan(cluster, days[6]!.lastCommit.commitTimeMs)).rejects.toThrow(/missing|no archived/);
    // Shared pages of the kept snapshots stay (A was stored by day 1's snapshot).
    for (const name of ['A', 'E', 'F', 'G'])
      expect(await exists(pageObjectKey(cluster, hashOf(name)))).toBe(true);
    for (const name of ['B', 'C', 'D', 'O'])
      expect(await exists(pageObjectKey(cluster, hashOf(name)))).toBe(false);
    expect(await exists(watermarkKey(cluster))).toBe(true);

    // `backup status` reports the same window.
    const status = await readBackupStatus({ cluster, region, bucket, s3, system: undefined }, nowMs);
    expect(status.earliestRestorableTime).toBe(report.earliestRestorableTime);
    expect(status.latestRestorableTime).toBe(report.latestRestorableTime);

    // Idempotent: a second run deletes nothing and reports the same window.
    const keysBefore = await keysUnder(clusterPrefix(cluster));
    const again = await expireBackups(deps(cluster, nowMs));
    expect(again.deleted).toEqual({ manifests: 0, chunks: 0, packs: 0, pages: 0 });
    expect(again.kept).toEqual(report.kept);
    expect(again.earliestRestorableTime).toBe(report.earliestRestorableTime);
    expect(await keysUnder(clusterPrefix(cluster))).toEqual(keysBefore);
  });

  it('keeps the whole log when there is no snapshot, and recent pages of a snapshot in progress', async () => {
    const cluster = `r${++clusterCount}`;
    const nowMs = Date.now();
    const days = await archiveDays(at(cluster), nowMs - 5.5 * dayMs, 5);
    // Pages of a snapshot still running: no manifest yet, written just now.
    await writePage(at(cluster), 'N');
    const keysBefore = await keysUnder(clusterPrefix(cluster));
    const report = await expireBackups(deps(cluster, nowMs, { retentionDays: 1 }));
    expect(report.baseSnapshot).toBeNull();
    expect(report.deleted).toEqual({ manifests: 0, chunks: 0, packs: 0, pages: 0 });
    expect(report.kept).toEqual({ manifests: 0, chunks: 15, packs: 0, pages: 1 });
    expect(report.notes.join('\n')).toMatch(/no snapshot yet: the whole log is kept/);
    expect(report.earliestRestorableTime).toBe(new Date(nowMs - 5.5 * dayMs + 1).toISOString());
    expect(await keysUnder(clusterPrefix(cluster))).toEqual(keysBefore);
    for (const t of [
      nowMs - 5.5 * dayMs + 1,
      days[2]!.lastCommit.commitTimeMs,
      days[4]!.lastCommit.commitTimeMs,
    ]) {
      await expect(plan(cluster, t)).resolves.toBeDefined();
    }
    const status = await readBackupStatus({ cluster, region, bucket, s3, system: undefined }, nowMs);
    expect(status.earliestRestorableTime).toBe(report.earliestRestorableTime);

    // A snapshot newer than the cutoff (day 4 is 1.5 days old; keep 2) is no base: nothing expires.
    await writeSnapshot(at(cluster), 'snap-recent', days[4]!.lastCommit, ['N'], null);
    const second = await expireBackups(deps(cluster, nowMs, { retentionDays: 2 }));
    expect(second.deleted).toEqual({ manifests: 0, chunks: 0, packs: 0, pages: 0 });
    expect(second.notes.join('\n')).toMatch(/no snapshot at or before/);
  });

  it('a copied snapshot (CopyDBClusterSnapshot) is never the base and never expires; its pages are kept', async () => {
    const cluster = `r${++clusterCount}`;
    const nowMs = Date.now();
    const days = await archiveDays(at(cluster), nowMs - 5.5 * dayMs, 5);
    await writeSnapshot(at(cluster), 'snap-day1', days[1]!.lastCommit, ['A'], null);
    // A copy from another region, newer than the region's own snapshot and older than the cutoff:
    // were it a base, snap-day1 and the log up to the copy's LSN would expire.
    const copy = await writeSnapshot(at(cluster), 'copy-day3', days[3]!.lastCommit, ['C'], null);
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: snapshotManifestKey(cluster, 'copy-day3'),
        Body: JSON.stringify({
          ...copy,
          copiedFrom: 'arn:aws:rds:us-west-2:000000000000:cluster-snapshot:x',
        }),
      }),
    );
    const report = await expireBackups(deps(cluster, nowMs, { retentionDays: 1, pageGraceMs: 0 }));
    expect(report.baseSnapshot).toBe('snap-day1');
    expect(report.deleted.manifests).toBe(0);
    expect(report.deleted.pages).toBe(0);
    expect(report.kept.manifests).toBe(2);
    expect(await exists(snapshotManifestKey(cluster, 'copy-day3'))).toBe(true);
    expect(await exists(snapshotManifestKey(cluster, 'snap-day1'))).toBe(true);
    expect(await exists(pageObjectKey(cluster, hashOf('C')))).toBe(true);
    // The earliest restorable time is the region's own snapshot's, not the copy's.
    expect(report.earliestRestorableTime).toBe(new Date(days[1]!.lastCommit.commitTimeMs).toISOString());
  });

  it("expires by the cluster's stored BackupRetentionPeriod when there is one, not the period given", async () => {
    const cluster = `r${++clusterCount}`;
    const nowMs = Date.now() + 2 * hourMs;
    // Days 0..7 at now − 8.5 d … now − 1.5 d; snapshots at days 1, 3 and 5.
    const days = await archiveDays(at(cluster), nowMs - 8.5 * dayMs, 8);
    await writeSnapshot(at(cluster), 'snap-1', days[1]!.lastCommit, ['S'], null);
    await writeSnapshot(at(cluster), 'snap-3', days[3]!.lastCommit, ['S'], 'snap-1');
    await writeSnapshot(at(cluster), 'snap-5', days[5]!.lastCommit, ['S'], 'snap-3');
    // 7 days stored (ModifyDBCluster), 3 given (BACKUP_RETENTION_DAYS): the base is day 1's
    // snapshot (at now − 7.5 d), not day 5's — only what is older than day 1 goes.
    await writeBackupRetentionSetting(s3, bucket, cluster, 7);
    const report = await expireBackups(deps(cluster, nowMs, { retentionDays: 3 }));
    expect(report).toMatchObject({
      retentionDays: 7,
      retentionSource: 'cluster setting',
      baseSnapshot: 'snap-1',
      retainFrom: new Date(nowMs - 7 * dayMs).toISOString(),
    });
    expect(report.deleted).toMatchObject({ manifests: 0, chunks: 6 });
    expect(report.notes.join('\n')).toMatch(/retention 7 days: the cluster's setting .* not the 3 given/);
    await expect(plan(cluster, days[2]!.lastCommit.commitTimeMs)).resolves.toBeDefined();
    // Set back to 1 day: the next run expires down to day 5's snapshot.
    await writeBackupRetentionSetting(s3, bucket, cluster, 1);
    const shorter = await expireBackups(deps(cluster, nowMs, { retentionDays: 3 }));
    expect(shorter).toMatchObject({ retentionDays: 1, baseSnapshot: 'snap-5' });
    expect(shorter.deleted).toMatchObject({ manifests: 2 });
    // Without a setting, the period given.
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: backupRetentionSettingKey(cluster) }));
    expect(await expireBackups(deps(cluster, nowMs, { retentionDays: 3 }))).toMatchObject({
      retentionDays: 3,
      retentionSource: 'default',
    });
  });

  it('removes a manifest written during expiry that names a page it deleted', async () => {
    const cluster = `r${++clusterCount}`;
    const nowMs = Date.now() + 2 * hourMs;
    const days = await archiveDays(at(cluster), nowMs - 4.5 * dayMs, 4);
    await writeSnapshot(at(cluster), 'snap-a', days[0]!.lastCommit, ['P', 'Q'], null);
    await writeSnapshot(at(cluster), 'snap-b', days[1]!.lastCommit, ['P', 'R'], 'snap-a');
    // A running snapshot re-stores Q's content and writes its manifest while expiry deletes Q.
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (!raced && command instanceof DeleteObjectCommand && command.input.Key?.includes('/pages/')) {
          raced = true;
          await writeSnapshot(at(cluster), 'snap-late', days[3]!.lastCommit, ['P', 'Q'], 'snap-b');
        }
        return s3.send(command as never);
      },
    } as unknown as S3Client;
    const report = await expireBackups(deps(cluster, nowMs, { s3: racing, retentionDays: 3 }));
    expect(raced).toBe(true);
    expect(report.baseSnapshot).toBe('snap-b');
    expect(report.notes.join('\n')).toMatch(/snap-late .*removed/);
    expect((await listManifests(s3, bucket, cluster)).map((m) => m.snapshotId)).toEqual(['snap-b']);
    await expect(plan(cluster, days[3]!.lastCommit.commitTimeMs)).resolves.toMatchObject({
      snapshot: { snapshotId: 'snap-b' },
    });
  });

  it('a copy (copiedFrom) written during expiry that names a pack it deleted is removed and noted as a lost copy', async () => {
    const cluster = `r${++clusterCount}`;
    const nowMs = Date.now() + 2 * hourMs;
    const days = await archiveDays(at(cluster), nowMs - 4.5 * dayMs, 4);
    await writePackedSnapshot(at(cluster), 'snap-a', days[0]!.lastCommit, [['P', 0]], null);
    await writePackedSnapshot(at(cluster), 'snap-b', days[1]!.lastCommit, [['P', 0]], 'snap-a');
    await writePack(at(cluster), 'Q'); // no manifest names it: expiry deletes it
    // A same-bucket CopyDBClusterSnapshot writes its manifest (naming Q) while expiry deletes Q.
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (!raced && command instanceof DeleteObjectCommand && command.input.Key?.includes('/packs/')) {
          raced = true;
          const copy = await writePackedSnapshot(
            at(cluster),
            'copy-late',
            days[3]!.lastCommit,
            [['Q', 1]],
            null,
          );
          await s3.send(
            new PutObjectCommand({
              Bucket: bucket,
              Key: snapshotManifestKey(cluster, 'copy-late'),
              Body: JSON.stringify({
                ...copy,
                copiedFrom: 'arn:aws:rds:us-west-2:000000000000:cluster-snapshot:x',
              }),
            }),
          );
        }
        return s3.send(command as never);
      },
    } as unknown as S3Client;
    const report = await expireBackups(deps(cluster, nowMs, { s3: racing, retentionDays: 3 }));
    expect(raced).toBe(true);
    const notes = report.notes.join('\n');
    expect(notes).toMatch(
      /copy copy-late \(CopyDBClusterSnapshot of arn:aws:rds:us-west-2:.*\) .*the copy is lost/,
    );
    expect(notes).not.toMatch(/copy-late.*the log covers it/);
    expect(await exists(snapshotManifestKey(cluster, 'copy-late'))).toBe(false);
  });

  it('deletes only the page packs no retained manifest uses, format 1 pages alike', async () => {
    const cluster = `r${++clusterCount}`;
    const nowMs = Date.now() + 2 * hourMs;
    const days = await archiveDays(at(cluster), nowMs - 6.5 * dayMs, 6);
    const snap = (d: number) => `snap-day${d}`;
    // A format 1 snapshot, then packed ones sharing packs: P1 is used from day 0 to day 4.
    await writeSnapshot(at(cluster), snap(0), days[0]!.lastCommit, ['A', 'B'], null);
    await writePackedSnapshot(
      at(cluster),
      snap(1),
      days[1]!.lastCommit,
      [
        ['P1', 0],
        ['P2', 1],
      ],
      snap(0),
    );
    await writePackedSnapshot(
      at(cluster),
      snap(2),
      days[2]!.lastCommit,
      [
        ['P1', 0],
        ['P3', 2],
      ],
      snap(1),
    );
    await writePackedSnapshot(
      at(cluster),
      snap(4),
      days[4]!.lastCommit,
      [
        ['P1', 0],
        ['P4', 3],
      ],
      snap(2),
    );
    await writePackedSnapshot(
      at(cluster),
      snap(5),
      days[5]!.lastCommit,
      [
        ['P5', 0],
        ['P4', 3],
      ],
      snap(4),
    );
    await writePack(at(cluster), 'O'); // a snapshot that failed before its manifest
    // Keep 3 days: the cutoff falls between day 2 and day 3, so day 2's snapshot is the base.
    const report = await expireBackups(deps(cluster, nowMs));
    expect(report.baseSnapshot).toBe(snap(2));
    expect(report.deleted).toMatchObject({ manifests: 2, packs: 2, pages: 2 }); // P2, O; A, B
    expect(report.kept).toMatchObject({ manifests: 3, packs: 4, pages: 0 }); // P1, P3, P4, P5
    for (const name of ['P1', 'P3', 'P4', 'P5'])
      expect(await exists(packObjectKey(cluster, hashOf(name))), name).toBe(true);
    for (const name of ['P2', 'O'])
      expect(await exists(packObjectKey(cluster, hashOf(name))), name).toBe(false);
    expect((await listManifests(s3, bucket, cluster)).map((m) => m.snapshotId)).toEqual([
      snap(2),
      snap(4),
      snap(5),
    ]);
    const again = await expireBackups(deps(cluster, nowMs));
    expect(again.deleted).toEqual({ manifests: 0, chunks: 0, packs: 0, pages: 0 });

    // A snapshot written during expiry that shares a pack expiry deletes is removed, as incomplete.
    await writePack(at(cluster), 'Q');
    let raced = false;
    const racing = {
      send: async (command: unknown) => {
        if (!raced && command instanceof DeleteObjectCommand && command.input.Key?.includes('/packs/')) {
          raced = true;
          await writePackedSnapshot(at(cluster), 'snap-late', days[5]!.lastCommit, [['Q', 1]], snap(5));
        }
        return s3.send(command as never);
      },
    } as unknown as S3Client;
    const late = await expireBackups(deps(cluster, nowMs, { s3: racing }));
    expect(raced).toBe(true);
    expect(late.notes.join('\n')).toMatch(/snap-late .*deleted pack/);
    expect((await listManifests(s3, bucket, cluster)).map((m) => m.snapshotId)).not.toContain('snap-late');
  });

  it('expires large binlog envelopes past the binlog retention and orphaned fragments after a week', async () => {
    const cluster = 'binlog-objects';
    const large = `${largeEnvelopesPrefix(cluster)}mysql-bin-changelog.000001/42-0.json`;
    const fragment = `${fragmentsPrefix(cluster)}40/0`;
    for (const key of [large, fragment])
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: 'x' }));
    const written = Date.now();
    // Inside the default binlog retention (24 h): both kept.
    const early = await expireBackups(deps(cluster, written + 2 * hourMs));
    expect(early.binlogObjects).toEqual({ deleted: 0, kept: 2 });
    // A retention of 1 h: the envelope goes, the fragment (a week's grace) stays.
    await writeBinlogRetention(s3, bucket, cluster, 1);
    const later = await expireBackups(deps(cluster, written + 2 * hourMs));
    expect(later.binlogObjects).toEqual({ deleted: 1, kept: 1 });
    expect([await exists(large), await exists(fragment)]).toEqual([false, true]);
    const week = await expireBackups(deps(cluster, written + 8 * dayMs));
    expect(week.binlogObjects).toEqual({ deleted: 1, kept: 0 });
    expect(await exists(fragment)).toBe(false);
  });

  it('refuses a retention outside 1 to 35 days', async () => {
    for (const bad of [0, 36, -1, 1.5, '0', '36', '7 days', 'abc', '1e1']) {
      expect(() => parseBackupRetentionDays(bad)).toThrow(/from 1 to 35/);
      await expect(expireBackups(deps('none', Date.now(), { retentionDays: bad }))).rejects.toThrow(
        /from 1 to 35/,
      );
    }
    expect(parseBackupRetentionDays(undefined)).toBe(1);
    expect(parseBackupRetentionDays('')).toBe(1);
    expect(parseBackupRetentionDays(' 35 ')).toBe(35);
    const resources = regionalResources(region, 'blue');
    expect(functionEnvironment(resources, 'blue', { backupRetentionDays: 7 })).toMatchObject({
      BACKUP_RETENTION_DAYS: '7',
    });
    expect(() => functionEnvironment(resources, 'blue', { backupRetentionDays: 40 })).toThrow(/from 1 to 35/);
    const env = { ...functionEnvironment(resources, 'blue'), AWS_REGION: region };
    expect(retentionConfigFromEnv(env).retentionDays).toBe(1);
    expect(() => retentionConfigFromEnv({ ...env, BACKUP_RETENTION_DAYS: '99' })).toThrow(
      /BACKUP_RETENTION_DAYS/,
    );
  });
});
