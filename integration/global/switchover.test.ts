// A planned Global Database switchover under load, as a DR drill runs it: an application commits
// continuously through the global writer endpoint; `borealis global switchover --to us-west-2` waits
// until the secondary holds every commit, fences the primary (its writer stops, a replica applier opens
// its volume under a new epoch) and promotes the secondary; the old primary becomes a secondary that
// replicates from the new one. Zero acknowledged commits may be lost, nothing present may be a commit
// never attempted, writes fail only during the switch, the old primary cannot take a write afterwards,
// and backups go on in the new primary region (its archiver, its bucket). Then a switchover back loses
// nothing either. Bad input — an unknown region, the primary itself, a member out of sync (its applier
// stopped with SIGSTOP), a failover while the switchover runs — is refused and changes nothing.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readWatermark } from '../../core/backup/s3-archive.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { GlobalStatus } from '../../core/global/status.ts';
import { regionalResources } from '../../core/resources.ts';
import { readGlobalState } from '../../embedded/global.ts';
import { stateDirPath } from '../../embedded/state.ts';
import { endpointClients, waitUntil, waitUntilQueryable } from '../harness/cluster.ts';
import { clusterStatus, writeContinuously } from '../harness/global.ts';
import { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

function writerPid(status: ClusterStatus): number {
  const writer = status.instances.find((i) => i.role === 'writer' && i.state === 'running');
  if (!writer?.pid) throw new Error(`${status.region} has no running writer slot`);
  return writer.pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface SwitchoverReport {
  from: string;
  to: string;
  vdl: string;
  durationMs: number;
  demoteMs: number;
  catchUpMs: number;
  promoteMs: number;
}

describe('global database: switchover', () => {
  const dir = makeTempDir('global-switchover');
  let system: TestSystem;
  let app: Sql;

  beforeAll(async () => {
    system = await TestSystem.startGlobal(dir.path, 1);
    const primaryStatus = await system.status();
    app = new Sql({
      endpoint: readGlobalState(dir.path)!.globalWriter!.dataApi,
      resourceArn: primaryStatus.resourceArn,
      secretArn: primaryStatus.secretArn,
    });
  }, 240_000);

  afterAll(async () => {
    app?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('switchover --to us-west-2 under load and back: no acknowledged commit lost, the old primary fenced, backups in the new primary region', async () => {
    const state = readGlobalState(dir.path)!;
    const east = state.primary;
    const west = state.secondaries[0]!;
    await app.exec('create table t (id integer primary key)');
    const westReader = endpointClients(await clusterStatus(west.controlPlaneUrl)).reader;
    await waitUntilQueryable(westReader, 'select count(*) from t', 30_000, 'the table reached the secondary');

    // Bad input, each refused with nothing changed.
    expect((await system.cliFails('global', 'switchover', '--to', 'eu-west-1')).stderr).toMatch(
      /unknown region eu-west-1/,
    );
    expect((await system.cliFails('global', 'switchover', '--to', 'us-east-1')).stderr).toMatch(
      /already the primary region/,
    );
    // A secondary whose applier does not answer is out of sync.
    const westApplier = writerPid(await clusterStatus(west.controlPlaneUrl));
    process.kill(westApplier, 'SIGSTOP');
    try {
      const outOfSync = await system.cliFails('global', 'switchover', '--to', 'us-west-2');
      expect(outOfSync.code).toBe(1);
      expect(outOfSync.stderr).toMatch(/us-west-2 is out of sync/);
    } finally {
      // The control plane may have replaced the stalled applier meanwhile (restarted in place).
      if (alive(westApplier)) process.kill(westApplier, 'SIGCONT');
    }
    await waitUntil(
      async () => {
        const s = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
        return s.members[1]?.synchronizationStatus === 'connected';
      },
      60_000,
      'us-west-2 in sync again',
    );
    expect(readGlobalState(dir.path)!.primary.region).toBe('us-east-1');
    expect((await clusterStatus(east.controlPlaneUrl)).writer).not.toBeNull();

    const load = writeContinuously(app);
    await new Promise((r) => setTimeout(r, 3_000));
    const eastWriterPid = writerPid(await clusterStatus(east.controlPlaneUrl));
    const eastEpoch = (await clusterStatus(east.controlPlaneUrl)).epoch;
    const lock = join(stateDirPath(dir.path), 'global-failover.lock');
    const switchStarted = Date.now();
    const switchover = system.cli('global', 'switchover', '--to', 'us-west-2', '--json');
    // A failover while the switchover runs is refused.
    await waitUntil(async () => existsSync(lock), 30_000, 'the switchover took its lock');
    const during = await system.cliFails('global', 'failover', '--to', 'us-west-2', '--allow-data-loss');
    expect(during.stderr).toMatch(/already in progress/);
    const report = JSON.parse((await switchover).stdout) as SwitchoverReport;
    const switchEnded = Date.now();
    expect(report).toMatchObject({ from: 'us-east-1', to: 'us-west-2' });
    // The application goes on in us-west-2 through the same endpoint.
    const ackedBefore = load.acked.size;
    await waitUntil(async () => load.acked.size > ackedBefore + 20, 60_000, 'commits in us-west-2');
    await load.stop();

    const westStatus = await clusterStatus(west.controlPlaneUrl);
    const westWriter = endpointClients(westStatus).writer;
    const ids = new Set((await westWriter.rows('select id from t')).map((r) => Number(r[0])));
    const lost = [...load.acked].filter((k) => !ids.has(k));
    expect(lost).toEqual([]);
    for (const id of ids) expect(id).toBeLessThanOrEqual(load.attempted);
    // Writes failed only while the switch ran (the global writer endpoint holds them while no region
    // is the primary; a request cut in flight may fail).
    for (const at of load.failedAt) {
      const why = `a write failed at ${at}, the switchover ran ${switchStarted}–${switchEnded}: ${load.errors.join('; ')}`;
      expect(at, why).toBeGreaterThanOrEqual(switchStarted);
      expect(at, why).toBeLessThanOrEqual(switchEnded + 1_000);
    }
    console.log(
      `global switchover us-east-1 → us-west-2 under load: ${load.acked.size} acknowledged, 0 lost, ${load.failedAt.length} failed attempts (${[...new Set(load.errors)].join('; ')}); switchover ${report.durationMs} ms (demote ${report.demoteMs}, catch-up ${report.catchUpMs}, promote ${report.promoteMs})`,
    );

    // The old primary is fenced: its writer process is gone, its volume is under a newer epoch, and
    // its cluster endpoint refuses writes.
    expect(alive(eastWriterPid)).toBe(false);
    const eastStatus = await clusterStatus(east.controlPlaneUrl);
    expect(BigInt(eastStatus.epoch)).toBeGreaterThan(BigInt(eastEpoch));
    const eastEndpoint = endpointClients(eastStatus).writer;
    await expect(eastEndpoint.exec('insert into t values (-1)')).rejects.toThrow(/read-only secondary/);
    const status = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
    expect(status.members.map((m) => [m.region, m.isWriter])).toEqual([
      ['us-west-2', true],
      ['us-east-1', false],
    ]);
    // us-east-1 replicates us-west-2 now: its reader sees every row.
    const eastReader = endpointClients(eastStatus).reader;
    await waitUntil(
      async () => Number((await eastReader.rows('select count(*) from t'))[0]![0]) === ids.size,
      60_000,
      'us-east-1 caught up with us-west-2',
    );
    // Continuous backup runs in us-west-2: its archiver archives the new primary's redo in its bucket.
    const s3 = system.s3('us-west-2');
    const westWriterVdl = BigInt(westStatus.vdl ?? 0);
    await waitUntil(
      async () => {
        const w = await readWatermark(s3, regionalResources('us-west-2').backupBucket, 'borealis');
        return w !== undefined && BigInt(w.value.lsn) >= westWriterVdl;
      },
      60_000,
      'the us-west-2 archive watermark reached the new primary VDL',
    );
    s3.destroy();

    // And back, under load: nothing lost either.
    const back = writeContinuously(app);
    await new Promise((r) => setTimeout(r, 2_000));
    const backReport = JSON.parse(
      (await system.cli('global', 'switchover', '--to', 'us-east-1', '--json')).stdout,
    ) as SwitchoverReport;
    expect(backReport).toMatchObject({ from: 'us-west-2', to: 'us-east-1' });
    const ackedBack = back.acked.size;
    await waitUntil(async () => back.acked.size > ackedBack + 20, 60_000, 'commits in us-east-1 again');
    await back.stop();
    const eastWriter = endpointClients(await clusterStatus(east.controlPlaneUrl)).writer;
    const rows = (await eastWriter.rows('select id from t')).map((r) => Number(r[0]));
    const present = new Set(rows);
    expect([...back.acked].filter((k) => !present.has(k))).toEqual([]);
    // The first run's commits are all still there too.
    expect([...load.acked].filter((k) => !present.has(k))).toEqual([]);
    expect(readGlobalState(dir.path)!.primary.region).toBe('us-east-1');
    console.log(`global switchover back us-west-2 → us-east-1: ${backReport.durationMs} ms, 0 lost`);
  }, 420_000);

  it('an unplanned failover while the old primary answers fences it at once: it rejoins as a secondary and the lost set is exactly what us-west-2 lacks', async () => {
    const state = readGlobalState(dir.path)!;
    expect(state.primary.region).toBe('us-east-1');
    const east = state.primary;
    const west = state.secondaries[0]!;
    await app.exec('create table u (id integer primary key)');
    const westReader = endpointClients(await clusterStatus(west.controlPlaneUrl)).reader;
    await waitUntilQueryable(westReader, 'select count(*) from u', 30_000, 'the table reached the secondary');
    const load = writeContinuously(app, 'u');
    await new Promise((r) => setTimeout(r, 3_000));
    const report = JSON.parse(
      (await system.cli('global', 'failover', '--to', 'us-west-2', '--allow-data-loss', '--json')).stdout,
    ) as {
      oldPrimaryReachable: boolean;
      oldPrimaryFenced: boolean;
      promotedVdl: string;
      lost: { transactions: number; lsnRange: { above: string; upTo: string } };
    };
    expect(report, JSON.stringify(report)).toMatchObject({
      oldPrimaryReachable: true,
      oldPrimaryFenced: true,
    });
    const ackedAtFailover = load.acked.size;
    await waitUntil(async () => load.acked.size > ackedAtFailover + 20, 60_000, 'commits in us-west-2');
    await load.stop();

    const westWriter = endpointClients(await clusterStatus(west.controlPlaneUrl)).writer;
    const inWest = new Set((await westWriter.rows('select id from u')).map((r) => Number(r[0])));
    const ackedLost = [...load.acked].filter((k) => !inWest.has(k));
    // The lost set counts every commit us-east-1 made durable above the promoted point: the
    // acknowledged ones us-west-2 lacks, and at most the one whose answer the endpoint cut.
    expect(report.lost.lsnRange.above).toBe(report.promotedVdl);
    const why = `lost set ${report.lost.transactions}, acknowledged and lost ${ackedLost.join(',')}; errors: ${load.errors.join('; ')}`;
    expect(report.lost.transactions - ackedLost.length, why).toBeGreaterThanOrEqual(0);
    expect(report.lost.transactions - ackedLost.length, why).toBeLessThanOrEqual(1);
    console.log(
      `global failover with us-east-1 reachable: ${load.acked.size} acknowledged, ${ackedLost.length} of them lost, lost set ${report.lost.transactions} transactions in (${report.lost.lsnRange.above}, ${report.lost.lsnRange.upTo}]`,
    );
    // us-east-1 is a secondary now: it refuses writes and its reader shows exactly us-west-2's rows.
    const eastStatus = await clusterStatus(east.controlPlaneUrl);
    await expect(endpointClients(eastStatus).writer.exec('insert into u values (-1)')).rejects.toThrow(
      /read-only secondary/,
    );
    const eastReader = endpointClients(eastStatus).reader;
    await waitUntil(
      async () => {
        try {
          const ids = (await eastReader.rows('select id from u order by id')).map((r) => Number(r[0]));
          return ids.length === inWest.size && ids.every((id) => inWest.has(id));
        } catch {
          return false;
        }
      },
      60_000,
      "us-east-1's reader shows exactly us-west-2's rows",
    );
  }, 300_000);
});
