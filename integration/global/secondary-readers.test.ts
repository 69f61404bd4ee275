// The Global Database's secondary region as `npm start -- --global` runs it: a primary in us-east-1,
// the global-replicator function carrying its redo batches to the replica applier of the secondary
// cluster in us-west-2, and a reader there. Under a primary write load (each transaction inserts row
// k and sets the one-row counter to k), every read on the secondary's reader endpoint must show a
// consistent prefix of the primary's commits — counter = count = max id, never moving back — and
// the replication lag (commit acknowledged in us-east-1 → visible to a reader in us-west-2) is
// measured. Half-way, the replica applier is SIGKILLed: the secondary's control plane starts it again
// (in another instance slot) and it resumes from its durable position — the replicator's retries and
// redeliveries must neither skip nor duplicate a commit. `borealis global status --json` names both
// members, and the secondary refuses writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { GlobalStatus } from '../../core/global/status.ts';
import { readGlobalState } from '../../embedded/global.ts';
import { endpointClients, percentile, waitUntil, waitUntilQueryable } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const loadMs = Number(process.env.BOREALIS_GLOBAL_LOAD_MS ?? 15_000);

describe('global database: secondary readers', () => {
  const dir = makeTempDir('global-secondary');
  let system: TestSystem;
  let primary: Sql;
  let secondaryWriter: Sql;
  let secondaryReader: Sql;
  let secondaryControlPlane: string;

  beforeAll(async () => {
    system = await TestSystem.startGlobal(dir.path, 0);
    primary = endpointClients(await system.status()).writer;
    const state = readGlobalState(dir.path)!;
    secondaryControlPlane = state.secondaries[0]!.controlPlaneUrl;
    const secondaryStatus = (await (
      await fetch(`${state.secondaries[0]!.controlPlaneUrl}/status`)
    ).json()) as ClusterStatus;
    ({ writer: secondaryWriter, reader: secondaryReader } = endpointClients(secondaryStatus));
  }, 240_000);

  afterAll(async () => {
    primary?.close();
    secondaryWriter?.close();
    secondaryReader?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('every read on the secondary is a consistent prefix of the primary commits, across a kill -9 of the applier; lag measured', async () => {
    await primary.exec('create table t (id integer primary key, v integer not null)');
    await primary.exec('create table c (one integer primary key, n integer not null)');
    await primary.exec('insert into c values (1, 0)');
    const ackedAt: number[] = [0];
    let acked = 0;
    let writing = true;
    const writer = (async () => {
      const stopAt = Date.now() + loadMs;
      for (let k = 1; Date.now() < stopAt; k++) {
        const tx = await primary.begin();
        await primary.exec('insert into t values (:k, :k)', { k }, { transactionId: tx });
        await primary.exec('update c set n = :k where one = 1', { k }, { transactionId: tx });
        await primary.commit(tx);
        ackedAt[k] = Date.now();
        acked = k;
      }
      writing = false;
    })();

    const lagMs: number[] = [];
    /** Samples seen before the applier was killed: the steady state. */
    const steadyLagMs: number[] = [];
    let killedAt: number | undefined;
    let seen = 0;
    let reads = 0;
    const check = async () => {
      const [row] = await secondaryReader.rows(
        'select (select n from c where one = 1), (select count(*) from t), (select coalesce(max(id), 0) from t), (select coalesce(sum(id), 0) from t)',
      );
      const [n, count, max, sum] = (row ?? [0, 0, 0, 0]).map(Number) as [number, number, number, number];
      const now = Date.now();
      reads++;
      // One read point: the counter and the rows agree, and the rows are exactly 1..n.
      expect({ count, max, sum }).toEqual({ count: n, max: n, sum: (n * (n + 1)) / 2 });
      expect(n, 'the secondary never moves back').toBeGreaterThanOrEqual(seen);
      expect(n, 'nothing the primary has not committed').toBeLessThanOrEqual(acked + 1);
      for (let k = seen + 1; k <= n; k++) {
        const at = ackedAt[k];
        if (at === undefined) continue;
        lagMs.push(Math.max(0, now - at));
        if (killedAt === undefined) steadyLagMs.push(Math.max(0, now - at));
      }
      seen = n;
    };
    // The table may not have reached the secondary yet: wait for the schema, then read as fast as we can.
    await waitUntilQueryable(secondaryReader, 'select n from c', 30_000, 'the schema reached the secondary');
    const writeStart = Date.now();
    while (writing) {
      await check();
      if (killedAt === undefined && Date.now() - writeStart > loadMs / 2) {
        const response = await fetch(`${secondaryControlPlane}/kill`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ writer: true }),
        });
        expect(response.status).toBe(200);
        const { killed } = (await response.json()) as { killed: Array<{ id: string; pid: number }> };
        expect(killed).toHaveLength(1);
        killedAt = Date.now();
      }
    }
    await writer;
    expect(killedAt, 'the applier was killed during the load').toBeDefined();
    await waitUntil(
      async () => {
        await check();
        return seen === acked;
      },
      30_000,
      'the secondary caught up with every acknowledged commit',
    );
    expect(acked).toBeGreaterThan(10);
    expect(reads).toBeGreaterThan(20);
    console.log(
      `global: ${acked} commits, ${reads} secondary reads; replication lag (ack in us-east-1 → visible on a us-west-2 reader) before the applier kill: p50 ${percentile(steadyLagMs, 50)} ms, p99 ${percentile(steadyLagMs, 99)} ms over ${steadyLagMs.length} samples; whole run incl. the kill: p50 ${percentile(lagMs, 50)} ms, p99 ${percentile(lagMs, 99)} ms, max ${Math.max(...lagMs)} ms`,
    );

    // Caught up: global status names both members and reports no lag.
    const { stdout } = await system.cli('global', 'status', '--json');
    const status = JSON.parse(stdout) as GlobalStatus;
    // The global writer endpoint (ADR 018), not the primary's own cluster endpoint.
    expect(status.globalWriterEndpoint).toBe(readGlobalState(dir.path)!.globalWriter!.dataApi);
    expect(status.globalWriterEndpoint).not.toBe((await system.status()).endpoints.writer);
    expect(status.members.map((m) => [m.region, m.isWriter])).toEqual([
      ['us-east-1', true],
      ['us-west-2', false],
    ]);
    const second = status.members[1]!;
    expect(second.synchronizationStatus).toBe('connected');
    expect(second.replicationLagMs).toBe(0);
    expect(second.dataTransferBytes).toBeGreaterThan(0);
    expect(second.resourceArn).toBe('arn:aws:rds:us-west-2:000000000000:cluster:borealis');
    expect(second.readerEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(second.vdl).toBe(status.members[0]!.vdl);
    console.log(
      `global: AuroraGlobalDBDataTransferBytes ${second.dataTransferBytes} since the applier restarted`,
    );
  }, 180_000);

  it('the secondary refuses writes with a clear error and changes nothing', async () => {
    const before = await secondaryReader.rows('select count(*) from t');
    await expect(secondaryWriter.exec('insert into t values (-1, -1)')).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringMatching(/read-only secondary of a global database/),
    });
    expect(await secondaryReader.rows('select count(*) from t')).toEqual(before);
    expect(await primary.rows('select count(*) from t where id = -1')).toEqual([[0]]);
  });
});
