// The cross-region failover a user would write: an application commits continuously in us-east-1;
// `borealis kill --region us-east-1` SIGKILLs that region's whole cluster; `borealis global failover
// --to us-west-2 --allow-data-loss` promotes the secondary at what it holds; the next writes succeed
// in us-west-2. Every row there is an acknowledged commit (or the one in flight at the kill), they
// form a prefix of the commits, and the acknowledged commits missing from it are above the promoted
// point. Bad input — an unknown region, no --allow-data-loss, a region that is already the primary —
// gets a clear error and changes nothing. Measured: RTO (kill → first acknowledged write in us-west-2).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { GlobalStatus } from '../../core/global/status.ts';
import { readGlobalState } from '../../embedded/global.ts';
import { endpointClients, waitUntil } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const loadMs = Number(process.env.BOREALIS_GLOBAL_FAILOVER_LOAD_MS ?? 6_000);

async function cliFails(system: TestSystem, ...args: string[]): Promise<{ code: number; stderr: string }> {
  try {
    await system.cli(...args);
  } catch (error) {
    const e = error as { code: number; stderr: string };
    return { code: e.code, stderr: e.stderr };
  }
  throw new Error(`borealis ${args.join(' ')} succeeded`);
}

describe('global database: cross-region failover', () => {
  const dir = makeTempDir('global-failover');
  let system: TestSystem;
  let primary: Sql;
  let secondary: Sql;
  let secondaryReader: Sql;

  beforeAll(async () => {
    system = await TestSystem.start(dir.path, [
      '--readers',
      '0',
      '--global',
      '--secondary-readers',
      '1',
      '--pg-count',
      '2',
      '--pages-per-pg',
      '4096',
    ]);
    primary = endpointClients(await system.status()).writer;
    const state = readGlobalState(dir.path)!;
    const status = (await (
      await fetch(`${state.secondaries[0]!.controlPlaneUrl}/status`)
    ).json()) as ClusterStatus;
    ({ writer: secondary, reader: secondaryReader } = endpointClients(status));
  }, 240_000);

  afterAll(async () => {
    primary?.close();
    secondary?.close();
    secondaryReader?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('kill --region us-east-1, failover --to us-west-2: writes go on there; what is kept is a prefix of the acknowledged commits', async () => {
    await primary.exec('create table t (id integer primary key)');
    await waitUntil(
      async () => {
        try {
          await secondaryReader.rows('select count(*) from t');
          return true;
        } catch {
          return false;
        }
      },
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
          await primary.exec('insert into t values (:k)', { k });
          acked.add(k);
        } catch {
          return; // the region is gone
        }
      }
    })();
    await new Promise((r) => setTimeout(r, loadMs));

    // Bad input first: each is refused and changes nothing.
    const unknown = await cliFails(system, 'global', 'failover', '--to', 'eu-west-1', '--allow-data-loss');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/unknown region eu-west-1/);
    const noLoss = await cliFails(system, 'global', 'failover', '--to', 'us-west-2');
    expect(noLoss.code).toBe(2);
    expect(noLoss.stderr).toMatch(/--allow-data-loss/);
    const toPrimary = await cliFails(system, 'global', 'failover', '--to', 'us-east-1', '--allow-data-loss');
    expect(toPrimary.stderr).toMatch(/already the primary region/);
    // Backtrack is refused on both members, as on Aurora.
    const backtrackPrimary = await cliFails(system, 'backtrack', '--to', new Date().toISOString());
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
    const before = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
    expect(before.members.map((m) => [m.region, m.isWriter])).toEqual([
      ['us-east-1', true],
      ['us-west-2', false],
    ]);

    // The region outage.
    const killedAt = Date.now();
    const { killed } = JSON.parse((await system.cli('kill', '--region', 'us-east-1', '--json')).stdout) as {
      killed: Array<{ id: string; pid: number }>;
    };
    stop = true;
    await writer;
    // Control plane, proxy, the writer and six storage nodes.
    expect(killed.length).toBeGreaterThanOrEqual(9);
    expect(acked.size).toBeGreaterThan(5);

    const report = JSON.parse(
      (await system.cli('global', 'failover', '--to', 'us-west-2', '--allow-data-loss', '--json')).stdout,
    ) as {
      from: string;
      to: string;
      promotedVdl: string;
      oldPrimaryReachable: boolean;
      lostLsnRange: { above: string };
    };
    expect(report).toMatchObject({ from: 'us-east-1', to: 'us-west-2', oldPrimaryReachable: false });
    expect(report.lostLsnRange.above).toBe(report.promotedVdl);

    // The application's next write, in us-west-2 (its cluster endpoint: no global writer endpoint yet).
    let firstAckAt = 0;
    await waitUntil(
      async () => {
        try {
          await secondary.exec('insert into t values (:k)', { k: 1_000_000 });
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
      `global failover: ${acked.size} commits acknowledged in us-east-1, ${n} kept in us-west-2, ${lost.length} lost (RPO); promoted at VDL ${report.promotedVdl}; RTO (kill → first acknowledged write in us-west-2) ${firstAckAt - killedAt} ms`,
    );

    const after = JSON.parse((await system.cli('global', 'status', '--json')).stdout) as GlobalStatus;
    expect(after.members[0]).toMatchObject({ region: 'us-west-2', isWriter: true });
    // A second failover to the region that is now the primary changes nothing.
    const again = await cliFails(system, 'global', 'failover', '--to', 'us-west-2', '--allow-data-loss');
    expect(again.stderr).toMatch(/already the primary region/);
  }, 300_000);
});
