// The cross-region failover a user would write: an application commits continuously through the
// global writer endpoint (ADR 018), with the RDS Data client and with mysql2; `borealis kill --region
// us-east-1` SIGKILLs that region's whole cluster; `borealis global failover --to us-west-2
// --allow-data-loss` promotes the secondary at what it holds; the application's next writes, through
// the same endpoint with the same ARNs and account, succeed in us-west-2.
// Every row there is an acknowledged commit (or the one in flight at the kill), they
// form a prefix of the commits, and the acknowledged commits missing from it are above the promoted
// point. Bad input — an unknown region, no --allow-data-loss, a region that is already the primary —
// gets a clear error and changes nothing. Measured: RTO (kill → first acknowledged write in us-west-2).
// Backups go on in whichever region is the primary, and a point-in-time restore in either region has
// exactly that region's timeline: never the lost commits, though they were committed before the
// restore time.
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupStatus } from '../../cli/backup-view.ts';
import type { SnapshotCreated, SnapshotListEntry } from '../../cli/snapshot-view.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { GlobalStatus } from '../../core/global/status.ts';
import { readGlobalState } from '../../embedded/global.ts';
import { endpointClients, waitUntil, waitUntilQueryable } from '../harness/cluster.ts';
import { restoredRows } from '../harness/restore.ts';
import { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const loadMs = Number(process.env.BOREALIS_GLOBAL_FAILOVER_LOAD_MS ?? 6_000);

describe('global database: cross-region failover', () => {
  const dir = makeTempDir('global-failover');
  let system: TestSystem;
  let primary: Sql;
  let secondary: Sql;
  let secondaryReader: Sql;
  /** The application: the global writer endpoint, named with us-east-1's ARNs as `npm start` printed them. */
  let app: Sql;
  let appMysql: { host: string; port: number; user: string; password: string; database: string };
  let globalWriter: NonNullable<ReturnType<typeof readGlobalState>>['globalWriter'];

  beforeAll(async () => {
    system = await TestSystem.startGlobal(dir.path, 0);
    const primaryStatus = await system.status();
    primary = endpointClients(primaryStatus).writer;
    const state = readGlobalState(dir.path)!;
    globalWriter = state.globalWriter;
    app = new Sql({
      endpoint: globalWriter!.dataApi,
      resourceArn: primaryStatus.resourceArn,
      secretArn: primaryStatus.secretArn,
    });
    const [host, port] = globalWriter!.mysql.split(':');
    appMysql = { host: host!, port: Number(port), ...primaryStatus.mysql! };
    const status = (await (
      await fetch(`${state.secondaries[0]!.controlPlaneUrl}/status`)
    ).json()) as ClusterStatus;
    ({ writer: secondary, reader: secondaryReader } = endpointClients(status));
  }, 240_000);

  /** Until the CLI's default backups are `region`'s and restorable to `t` (a later commit archived). */
  const archivedPast = (region: string, t: number) =>
    waitUntil(
      async () => {
        const b = JSON.parse((await system.cli('backup', 'status', '--json')).stdout) as BackupStatus;
        return (
          b.region === region && b.latestRestorableTime !== null && Date.parse(b.latestRestorableTime) >= t
        );
      },
      60_000,
      `the ${region} archive past the restore time`,
    );

  afterAll(async () => {
    primary?.close();
    app?.close();
    secondary?.close();
    secondaryReader?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('kill --region us-east-1, failover --to us-west-2: writes go on there through the same global writer endpoint (Data API and mysql2); what is kept is a prefix of the acknowledged commits', async () => {
    await primary.exec('create table t (id integer primary key)');
    await primary.exec('create table m (id integer primary key, region text)');
    // mysql2 through the global writer endpoint reaches us-east-1's writer.
    const before = await mysql.createConnection(appMysql);
    await before.query("insert into m values (1, 'us-east-1')");
    await before.end();
    await waitUntilQueryable(
      secondaryReader,
      'select count(*) from t',
      30_000,
      'the table reached the secondary',
    );
    const acked = new Set<number>();
    let attempted = 0;
    let stop = false;
    const writer = (async () => {
      for (let k = 1; !stop; k++) {
        attempted = k;
        try {
          await app.exec('insert into t values (:k)', { k });
          acked.add(k);
        } catch {
          return; // the region is gone
        }
      }
    })();
    await new Promise((r) => setTimeout(r, loadMs));

    // Bad input first: each is refused and changes nothing.
    const unknown = await system.cliFails('global', 'failover', '--to', 'eu-west-1', '--allow-data-loss');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown region eu-west-1/);
    const noLoss = await system.cliFails('global', 'failover', '--to', 'us-west-2');
    expect(noLoss.code).toBe(2);
    expect(noLoss.stderr).toMatch(/--allow-data-loss/);
    const toPrimary = await system.cliFails('global', 'failover', '--to', 'us-east-1', '--allow-data-loss');
    expect(toPrimary.stderr).toMatch(/already the primary region/);
    // Backtrack is refused on both members, as on Aurora.
    const backtrackPrimary = await system.cliFails('backtrack', '--to', new Date().toISOString());
    expect(backtrackPrimary.code).toBe(1);
    expect(backtrackPrimary.stderr).toMatch(/Global Database member cannot be backtracked/);
    const backtrackSecondary = await fetch(
      `${readGlobalState(dir.path)!.secondaries[0]!.controlPlaneUrl}/backtrack`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ to: new Date().toISOString() }),
      },
    );
    expect(await backtrackSecondary.text()).toMatch(/Global Database member cannot be backtracked/);
    const statusBefore = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
    expect(statusBefore.globalWriterEndpoint).toBe(globalWriter!.dataApi);
    expect(statusBefore.globalWriterMysqlEndpoint).toBe(globalWriter!.mysql);
    expect(statusBefore.members.map((m) => [m.region, m.isWriter])).toEqual([
      ['us-east-1', true],
      ['us-west-2', false],
    ]);

    // The region outage.
    const killedAt = Date.now();
    const { killed } = JSON.parse((await system.cli('kill', '--region', 'us-east-1', '--json')).stdout) as {
      killed: Array<{ id: string; pid: number }>;
    };
    const killReturnedAt = Date.now();
    stop = true;
    await writer;
    // Control plane, proxy, the writer and six storage nodes; the region's S3 and Kinesis emulators,
    // its function runner and its RDS API.
    expect(killed.length).toBeGreaterThanOrEqual(12);
    expect(killed.filter((k) => k.id === 'emulator (us-east-1)')).toHaveLength(2);
    expect(killed.map((k) => k.id)).toContain('function-runner (us-east-1)');
    expect(killed.map((k) => k.id)).toContain('rds-api (us-east-1)');
    expect(acked.size).toBeGreaterThan(5);

    const report = JSON.parse(
      (await system.cli('global', 'failover', '--to', 'us-west-2', '--allow-data-loss', '--json')).stdout,
    ) as {
      from: string;
      to: string;
      promotedVdl: string;
      durationMs: number;
      oldPrimaryReachable: boolean;
      lostLsnRange: { above: string };
    };
    const failoverReturnedAt = Date.now();
    expect(report).toMatchObject({ from: 'us-east-1', to: 'us-west-2', oldPrimaryReachable: false });
    expect(report.lostLsnRange.above).toBe(report.promotedVdl);

    // The application's next write, through the same global writer endpoint with the same ARNs: it
    // lands in us-west-2.
    let firstAckAt = 0;
    await waitUntil(
      async () => {
        try {
          await app.exec('insert into t values (:k)', { k: 1_000_000 });
          firstAckAt = Date.now();
          return true;
        } catch {
          return false;
        }
      },
      120_000,
      'a write acknowledged in us-west-2',
    );
    const ids = (await secondary.rows('select id from t order by id')).map((r) => Number(r[0]));
    const kept = ids.filter((id) => id !== 1_000_000);
    const n = kept.length;
    // A prefix: exactly 1..n.
    expect(kept).toEqual(Array.from({ length: n }, (_, i) => i + 1));
    // Nothing that was never attempted; at most the one in flight at the kill was not acknowledged.
    expect(n).toBeLessThanOrEqual(attempted);
    for (const id of kept) if (!acked.has(id)) expect(id).toBe(attempted);
    const lost = [...acked].filter((k) => k > n);
    console.log(
      `global failover: ${acked.size} commits acknowledged in us-east-1, ${n} kept in us-west-2, ${lost.length} lost (RPO); promoted at VDL ${report.promotedVdl}; RTO (kill → first acknowledged write in us-west-2 through the global writer endpoint) ${firstAckAt - killedAt} ms, of which \`global failover\` returned after ${failoverReturnedAt - killedAt} ms (its promotion ${report.durationMs} ms)`,
    );

    // mysql2, reconnecting to the same global endpoint with the same account, writes in us-west-2 too.
    await waitUntil(
      async () => {
        try {
          const c = await mysql.createConnection(appMysql);
          try {
            await c.query("insert into m values (2, 'us-west-2')");
          } finally {
            await c.end().catch(() => undefined);
          }
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      'a mysql2 write acknowledged through the global writer endpoint',
    );
    expect(await secondary.rows('select region from m where id = 2')).toEqual([['us-west-2']]);
    const health = (await (await fetch(`${globalWriter!.httpUrl}/health`)).json()) as { primary: string };
    expect(health.primary).toBe('us-west-2');

    const after = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
    expect(after.members[0]).toMatchObject({ region: 'us-west-2', isWriter: true });
    // The same global writer endpoint as before the failover.
    expect(after.globalWriterEndpoint).toBe(globalWriter!.dataApi);
    expect(after.globalWriterMysqlEndpoint).toBe(globalWriter!.mysql);
    // A second failover to the region that is now the primary changes nothing.
    const again = await system.cliFails('global', 'failover', '--to', 'us-west-2', '--allow-data-loss');
    expect(again.stderr).toMatch(/already the primary region/);
    // A switchover needs every secondary in sync: us-east-1 is down.
    const outOfSync = await system.cliFails('global', 'switchover', '--to', 'us-east-1');
    expect(outOfSync.stderr).toMatch(/us-east-1 is out of sync/);
    expect(readGlobalState(dir.path)!.primary.region).toBe('us-west-2');

    // Backups go on in the new primary region: its bucket holds its own writer's log (republished
    // from LSN 0 at the promotion), and `backup`, `snapshot` and `restore` act there by default. A
    // restore there has us-west-2's timeline only: the lost commits are not in it, though us-east-1
    // committed them before the restore time.
    const westTime = Date.now();
    await app.exec('insert into t values (:k)', { k: 1_000_001 });
    await archivedPast('us-west-2', westTime);
    const westSnapshot = JSON.parse(
      (await system.cli('snapshot', 'create', '--json')).stdout,
    ) as SnapshotCreated;
    expect(westSnapshot.created).toBe(true);
    const westRows = await restoredRows(system, 'west-pitr', westTime, 'select id from t order by id');
    expect(westRows.map((r) => Number(r[0]))).toEqual([...kept, 1_000_000]);

    // The region comes back: it rejoins as a secondary of us-west-2, discarding — and naming — the
    // commits it made durable above the promoted point. Exactly the acknowledged commits us-west-2 does
    // not have, plus at most the one in flight at the kill (durable there, its answer never sent).
    const rejoin = JSON.parse(
      (await system.cli('global', 'rejoin', '--region', 'us-east-1', '--json')).stdout,
    ) as {
      discarded: {
        discardedAbove: string;
        lost: {
          transactions: number;
          lsnRange: { above: string; upTo: string };
          firstCommitTime: string | null;
          lastCommitTime: string | null;
        };
        archive: { movedChunks: number; watermarkAfter: string | null };
      };
    };
    expect(rejoin.discarded.discardedAbove).toBe(report.promotedVdl);
    const lostSet = rejoin.discarded.lost;
    expect(lostSet.lsnRange.above).toBe(report.promotedVdl);
    expect(lostSet.transactions - lost.length).toBeGreaterThanOrEqual(0);
    expect(lostSet.transactions - lost.length).toBeLessThanOrEqual(attempted === n ? 0 : 1);
    if (lostSet.transactions > 0) {
      // Committed before the SIGKILLs (which `borealis kill` sent between these two instants).
      expect(Date.parse(lostSet.lastCommitTime!)).toBeLessThanOrEqual(killReturnedAt);
      expect(BigInt(lostSet.lsnRange.upTo)).toBeGreaterThan(BigInt(report.promotedVdl));
    }
    // Its archive holds no chunk past the promoted point any more.
    if (rejoin.discarded.archive.watermarkAfter !== null)
      expect(BigInt(rejoin.discarded.archive.watermarkAfter)).toBeLessThanOrEqual(BigInt(report.promotedVdl));
    console.log(
      `global rejoin of us-east-1: ${lostSet.transactions} transactions discarded (acknowledged and lost: ${lost.length}), LSNs (${lostSet.lsnRange.above}, ${lostSet.lsnRange.upTo}], ${rejoin.discarded.archive.movedChunks} archive chunks set aside`,
    );
    await waitUntil(
      async () => {
        const g = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
        const east = g.members.find((m) => m.region === 'us-east-1');
        return east?.synchronizationStatus === 'connected' && east.replicationLagMs === 0;
      },
      60_000,
      'us-east-1 replicating us-west-2 and caught up',
    );

    // A switchover back loses nothing, and the lost commits do not come back: one timeline.
    const inWest = (await secondary.rows('select id from t order by id')).map((r) => Number(r[0]));
    const back = JSON.parse(
      (await system.cli('global', 'switchover', '--to', 'us-east-1', '--json')).stdout,
    ) as {
      to: string;
    };
    expect(back.to).toBe('us-east-1');
    await waitUntil(
      async () => {
        try {
          await app.exec('insert into t values (:k)', { k: 2_000_000 });
          return true;
        } catch {
          return false;
        }
      },
      60_000,
      'a write acknowledged in us-east-1 again',
    );
    const eastStatus = (await (
      await fetch(`${readGlobalState(dir.path)!.primary.controlPlaneUrl}/status`)
    ).json()) as ClusterStatus;
    expect(eastStatus.region).toBe('us-east-1');
    const inEast = (await endpointClients(eastStatus).writer.rows('select id from t order by id')).map((r) =>
      Number(r[0]),
    );
    expect(inEast).toEqual([...inWest, 2_000_000]);

    // us-east-1's backups go on from its cut archive (its writer republishes from there): a restore
    // from them has one timeline — us-west-2's commits, never the lost ones.
    const eastTime = Date.now();
    await app.exec('insert into t values (:k)', { k: 2_000_001 });
    await archivedPast('us-east-1', eastTime);
    const eastRows = await restoredRows(system, 'east-pitr', eastTime, 'select id from t order by id');
    expect(eastRows.map((r) => Number(r[0]))).toEqual([...inWest, 2_000_000]);
    // us-west-2's snapshots stay in its bucket, listed there.
    const westList = JSON.parse(
      (await system.cli('snapshot', 'list', '--region', 'us-west-2', '--json')).stdout,
    ) as { snapshots: SnapshotListEntry[] };
    expect(westList.snapshots.map((s) => s.snapshotId)).toContain(westSnapshot.snapshotId);
  }, 600_000);
});
