// The RDS API's backup fields over an in-memory backup bucket, a fake writer /health and a fake clock:
// BackupRetentionPeriod from the setting or the default; LatestRestorableTime advancing on an idle
// cluster through commit horizons (checked at most every interval, one PUT each), never going back
// while a commit is on its way to the archive, and never taken from a writer the topology does not
// name, during a failover, or across an archive cut; EarliestRestorableTime from the log's start.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sampleStatus } from '../../cli/testing.ts';
import { logChunkKey, watermarkKey } from '../../core/backup/archive.ts';
import { archiveFenceKey } from '../../core/backup/archive-fence.ts';
import { commitHorizonKey, writerClockSkewMsMax } from '../../core/backup/commit-horizon.ts';
import type { Topology } from '../../core/cluster/topology.ts';
import { type MemoryS3, memoryS3 } from '../../functions/snapshot/testing.ts';
import { ClusterBackupSettings, horizonCheckIntervalMs } from './backup-settings.ts';

const region = 'us-east-1';
const cluster = 'borealis';
const t0 = Date.parse('2026-12-02T10:00:00.000Z');

let writer: Server;
let writerUrl = '';
let health: Record<string, unknown> = {};

beforeAll(async () => {
  writer = createServer((_req, res) => {
    res.writeHead(health.healthy === true ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(health));
  });
  await new Promise<void>((resolve) => writer.listen(0, '127.0.0.1', resolve));
  writerUrl = `http://127.0.0.1:${(writer.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => writer.close(() => resolve())));

describe('ClusterBackupSettings', () => {
  let s3: MemoryS3;
  let nowMs: number;
  let topology: Partial<Topology>;
  let settings: ClusterBackupSettings;
  const status = sampleStatus();

  const put = (key: string, value: unknown) => s3.objects.set(key, Buffer.from(JSON.stringify(value)));
  /** The archive: one chunk from LSN 0 (first commit at t0), the watermark at `lsn` with `commitTimeMs`. */
  const archive = (lsn: number, commitTimeMs: number) => {
    const key = logChunkKey(cluster, {
      epoch: 3n,
      prevLsn: 0n,
      firstLsn: 1n,
      lastLsn: BigInt(lsn),
      lastCommitLsn: BigInt(lsn),
      firstCommitTimeMs: t0,
      lastCommitTimeMs: commitTimeMs,
      commitCount: 2,
      recordCount: lsn,
      timeline: 0,
    });
    s3.objects.set(key, new Uint8Array(1));
    put(watermarkKey(cluster), { lsn: String(lsn), commitLsn: String(lsn), commitTimeMs, updatedAt: '' });
  };
  const latest = async () => (await settings.extras(status)).latestRestorableTime?.getTime();
  const horizonPuts = () => s3.puts.filter((k) => k === commitHorizonKey(cluster)).length;

  beforeEach(() => {
    s3 = memoryS3();
    nowMs = t0 + 60_000;
    topology = {
      cluster,
      epoch: '3',
      failoverInProgress: false,
      writer: { id: 'instance-2', endpoint: '', redo: '', incarnation: 1, httpUrl: writerUrl },
    };
    health = {
      healthy: true,
      role: 'writer',
      id: 'instance-2',
      epoch: '3',
      latestCommit: '12',
      vdl: '12',
      redoStream: { mode: 'live' },
    };
    settings = new ClusterBackupSettings({
      region,
      s3: s3.client,
      readTopology: async () => topology as Topology,
      logger: pino({ level: 'silent' }),
      retentionDaysDefault: '3',
      clock: () => nowMs,
    });
  });

  it('BackupRetentionPeriod: the default until a setting is stored; a bad default stops the service', async () => {
    expect((await settings.extras(status)).backupRetentionPeriod).toBe(3);
    await settings.setRetentionDays(cluster, 7);
    expect((await settings.extras(status)).backupRetentionPeriod).toBe(7);
    expect(s3.objects.has(`clusters/${cluster}/backup-retention.json`)).toBe(true);
    await expect(settings.setRetentionDays(cluster, 36)).rejects.toThrow(/from 1 to 35/);
    expect((await settings.extras(status)).backupRetentionPeriod).toBe(7);
    expect(
      () =>
        new ClusterBackupSettings({
          region,
          s3: s3.client,
          readTopology: async () => topology as Topology,
          logger: pino({ level: 'silent' }),
          retentionDaysDefault: '90',
        }),
    ).toThrow(/from 1 to 35, got '90'/);
  });

  it('no restorable window before a commit is archived', async () => {
    const extras = await settings.extras(status);
    expect(extras.latestRestorableTime).toBeUndefined();
    expect(extras.earliestRestorableTime).toBeUndefined();
  });

  it('on an idle cluster LatestRestorableTime advances, one check and one PUT per interval', async () => {
    archive(12, t0 + 1_000);
    const first = await settings.extras(status);
    expect(first.earliestRestorableTime?.getTime()).toBe(t0);
    expect(first.latestRestorableTime?.getTime()).toBe(nowMs - writerClockSkewMsMax - 1);
    expect(horizonPuts()).toBe(1);
    // Within the interval: no new check, the same time.
    const before = nowMs;
    nowMs += horizonCheckIntervalMs - 1;
    expect(await latest()).toBe(before - writerClockSkewMsMax - 1);
    expect(horizonPuts()).toBe(1);
    nowMs += 1;
    expect(await latest()).toBe(nowMs - writerClockSkewMsMax - 1);
    expect(horizonPuts()).toBe(2);
  });

  it('a commit on its way to the archive: the time reported stays until the archive has it', async () => {
    archive(12, t0 + 1_000);
    const idle = await latest();
    // A commit at LSN 20 is shipped; the archive still ends at 12.
    health = { ...health, latestCommit: '20', vdl: '20' };
    nowMs += horizonCheckIntervalMs;
    expect(await latest()).toBe(idle);
    nowMs += horizonCheckIntervalMs;
    expect(await latest()).toBe(idle);
    // Archived: the newest horizon holds.
    archive(20, nowMs - 3_000);
    expect(await latest()).toBe(nowMs - writerClockSkewMsMax - 1);
  });

  it.each([
    [
      'a writer the topology does not name',
      () => {
        health = { ...health, id: 'instance-1' };
      },
    ],
    [
      'an older epoch',
      () => {
        health = { ...health, epoch: '2' };
      },
    ],
    [
      'a fenced writer',
      () => {
        health = { ...health, healthy: false };
      },
    ],
    [
      'a writer whose redo publisher is not live yet',
      () => {
        health = { ...health, redoStream: { mode: 'watermark' } };
      },
    ],
    [
      'a failover in progress',
      () => {
        topology = { ...topology, failoverInProgress: true };
      },
    ],
    [
      'no writer',
      () => {
        topology = { ...topology, writer: null };
      },
    ],
    [
      'a writer that does not answer',
      () => {
        topology = { ...topology, writer: { ...topology.writer!, httpUrl: 'http://127.0.0.1:1' } };
      },
    ],
  ])('no horizon from %s: the last archived commit', async (_what, spoil) => {
    archive(12, t0 + 1_000);
    spoil();
    const extras = await settings.extras(status);
    expect(extras.latestRestorableTime?.getTime()).toBe(t0 + 1_000);
    expect(extras.backupRetentionPeriod).toBe(3);
    expect(horizonPuts()).toBe(0);
  });

  it('after a backtrack, not until a commit of the new timeline is archived', async () => {
    archive(12, t0 + 1_000);
    put(`clusters/${cluster}/backtracks/00001.json`, {
      seq: 1,
      epoch: '4',
      appliedAtMs: t0 + 30_000,
      targetLsn: '8',
      targetTimeMs: t0 + 500,
      fromLsn: '15',
    });
    expect(await latest()).toBe(t0 + 1_000);
    // The first commit after it (LSN 16) archived: the horizon counts again.
    health = { ...health, latestCommit: '16', vdl: '16' };
    archive(16, nowMs - 2_000);
    nowMs += horizonCheckIntervalMs;
    expect(await latest()).toBe(nowMs - writerClockSkewMsMax - 1);
  });

  it('a horizon document that does not parse counts as none, and the next check replaces it', async () => {
    archive(12, t0 + 1_000);
    s3.objects.set(commitHorizonKey(cluster), Buffer.from('{"horizons": [{'));
    expect(await latest()).toBe(nowMs - writerClockSkewMsMax - 1);
    expect(
      JSON.parse(Buffer.from(s3.objects.get(commitHorizonKey(cluster))!).toString()).horizons,
    ).toHaveLength(1);
  });

  it('an archive cut (a new void in the fence) voids the horizons checked before it', async () => {
    archive(12, t0 + 1_000);
    expect(await latest()).toBe(nowMs - writerClockSkewMsMax - 1);
    put(archiveFenceKey(cluster), { voids: [{ aboveLsn: '10', belowLsn: '1099511627786' }] });
    // Seen at once, before the next check is due.
    nowMs += 1_000;
    expect(await latest()).toBe(t0 + 1_000);
    // The next check is taken under the new fence.
    nowMs += horizonCheckIntervalMs;
    expect(await latest()).toBe(nowMs - writerClockSkewMsMax - 1);
  });
});
