// A Global Database DR drill written as users write it, with @aws-sdk/client-rds against each
// region's RDS API: DescribeGlobalClusters shows both members; SwitchoverGlobalCluster moves the
// primary to us-west-2 while an application commits through the global writer endpoint (answered at
// once with the global cluster switching-over, then available with us-west-2 the writer, nothing
// acknowledged lost); FailoverGlobalCluster with AllowDataLoss moves it back (unplanned: at what
// us-east-1 holds, here everything, as the drill lets replication catch up first). Bad input — an
// unknown global cluster, a target outside it, the primary itself, AllowDataLoss with Switchover, a
// second change while one runs — is the RDS error and changes nothing.
import {
  DescribeDBClustersCommand,
  DescribeGlobalClustersCommand,
  FailoverGlobalClusterCommand,
  type GlobalCluster,
  type RDSClient,
  SwitchoverGlobalClusterCommand,
} from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readGlobalState } from '../../embedded/global.ts';
import { endpointClients, waitUntil, waitUntilQueryable } from '../harness/cluster.ts';
import { clusterStatus, writeContinuously } from '../harness/global.ts';
import { rdsClient } from '../harness/rds.ts';
import { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

async function rdsError(promise: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return { name: (error as Error).name, message: (error as Error).message };
  }
  throw new Error('the call succeeded');
}

describe('RDS API: global clusters', () => {
  const dir = makeTempDir('rds-global');
  let system: TestSystem;
  let east: RDSClient;
  let west: RDSClient;
  let app: Sql;

  beforeAll(async () => {
    system = await TestSystem.startGlobal(dir.path, 1);
    const state = readGlobalState(dir.path)!;
    const eastStatus = await clusterStatus(state.primary.controlPlaneUrl);
    const westStatus = await clusterStatus(state.secondaries[0]!.controlPlaneUrl);
    east = rdsClient(eastStatus.endpoints.rds!, 'us-east-1');
    west = rdsClient(westStatus.endpoints.rds!, 'us-west-2');
    app = new Sql({
      endpoint: state.globalWriter!.dataApi,
      resourceArn: eastStatus.resourceArn,
      secretArn: eastStatus.secretArn,
    });
  }, 240_000);

  afterAll(async () => {
    app?.close();
    east?.destroy();
    west?.destroy();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  async function globalCluster(client: RDSClient): Promise<GlobalCluster> {
    const out = await client.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'borealis' }));
    expect(out.GlobalClusters).toHaveLength(1);
    return out.GlobalClusters![0]!;
  }

  const writerRegion = (g: GlobalCluster) =>
    g.GlobalClusterMembers?.find((m) => m.IsWriter)?.DBClusterArn?.split(':')[3];

  it('DescribeGlobalClusters in either region; SwitchoverGlobalCluster under load loses nothing; FailoverGlobalCluster(AllowDataLoss) moves it back; bad input changes nothing', async () => {
    const state = readGlobalState(dir.path)!;
    const eastArn = (await clusterStatus(state.primary.controlPlaneUrl)).resourceArn;
    const westArn = (await clusterStatus(state.secondaries[0]!.controlPlaneUrl)).resourceArn;

    // Both regions' APIs describe the one global cluster: us-east-1 the writer, us-west-2 replicating.
    await waitUntil(
      async () =>
        (await globalCluster(west)).GlobalClusterMembers?.find((m) => !m.IsWriter)?.SynchronizationStatus ===
        'connected',
      60_000,
      'us-west-2 connected',
    );
    const before = await globalCluster(east);
    expect(before).toMatchObject({
      GlobalClusterIdentifier: 'borealis',
      GlobalClusterArn: state.globalWriter!.globalClusterArn,
      Status: 'available',
      Engine: 'aurora-mysql',
    });
    expect(before.FailoverState).toBeUndefined();
    expect(before.GlobalClusterMembers).toEqual([
      {
        DBClusterArn: eastArn,
        Readers: [westArn],
        IsWriter: true,
        GlobalWriteForwardingStatus: 'disabled',
      },
      {
        DBClusterArn: westArn,
        Readers: [],
        IsWriter: false,
        GlobalWriteForwardingStatus: 'disabled',
        SynchronizationStatus: 'connected',
      },
    ]);
    expect((await east.send(new DescribeGlobalClustersCommand({}))).GlobalClusters).toHaveLength(1);
    for (const client of [east, west]) {
      const cluster = (await client.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
        .DBClusters![0]!;
      expect(cluster).toMatchObject({
        GlobalClusterIdentifier: 'borealis',
        GlobalWriteForwardingStatus: 'disabled',
      });
    }

    // Bad input: each the RDS error, nothing changed.
    expect(
      await rdsError(east.send(new DescribeGlobalClustersCommand({ GlobalClusterIdentifier: 'nope' }))),
    ).toMatchObject({ name: 'GlobalClusterNotFoundFault' });
    expect(
      await rdsError(
        east.send(
          new SwitchoverGlobalClusterCommand({
            GlobalClusterIdentifier: 'borealis',
            TargetDbClusterIdentifier: 'arn:aws:rds:eu-west-1:000000000000:cluster:borealis',
          }),
        ),
      ),
    ).toMatchObject({ name: 'DBClusterNotFoundFault' });
    expect(
      await rdsError(
        east.send(
          new SwitchoverGlobalClusterCommand({
            GlobalClusterIdentifier: 'borealis',
            TargetDbClusterIdentifier: eastArn,
          }),
        ),
      ),
    ).toMatchObject({
      name: 'InvalidGlobalClusterStateFault',
      message: expect.stringMatching(/already the primary/),
    });
    expect(
      await rdsError(
        east.send(
          new FailoverGlobalClusterCommand({
            GlobalClusterIdentifier: 'borealis',
            TargetDbClusterIdentifier: westArn,
            AllowDataLoss: true,
            Switchover: true,
          }),
        ),
      ),
    ).toMatchObject({ name: 'InvalidParameterCombination' });
    expect(writerRegion(await globalCluster(east))).toBe('us-east-1');
    expect(readGlobalState(dir.path)!.primary.region).toBe('us-east-1');

    // The switchover, under load.
    await app.exec('create table t (id integer primary key)');
    const westReader = endpointClients(await clusterStatus(state.secondaries[0]!.controlPlaneUrl)).reader;
    await waitUntilQueryable(westReader, 'select count(*) from t', 30_000, 'the table reached the secondary');
    const load = writeContinuously(app);
    await waitUntil(async () => load.acked.size >= 20, 30_000, '20 commits in us-east-1');
    const switching = await east.send(
      new SwitchoverGlobalClusterCommand({
        GlobalClusterIdentifier: 'borealis',
        TargetDbClusterIdentifier: westArn,
      }),
    );
    expect(switching.GlobalCluster).toMatchObject({
      Status: 'switching-over',
      FailoverState: { FromDbClusterArn: eastArn, ToDbClusterArn: westArn, IsDataLossAllowed: false },
    });
    // A second change while it runs, from the other region's API: refused.
    expect(
      await rdsError(
        west.send(
          new FailoverGlobalClusterCommand({
            GlobalClusterIdentifier: 'borealis',
            TargetDbClusterIdentifier: westArn,
            AllowDataLoss: true,
          }),
        ),
      ),
    ).toMatchObject({
      name: 'InvalidGlobalClusterStateFault',
      message: expect.stringMatching(/in progress/),
    });
    const switchStarted = Date.now();
    await waitUntil(
      async () => {
        const g = await globalCluster(west);
        return g.Status === 'available' && writerRegion(g) === 'us-west-2';
      },
      180_000,
      'the global cluster available with us-west-2 the writer',
    );
    const switchMs = Date.now() - switchStarted;
    const ackedAtSwitch = load.acked.size;
    await waitUntil(async () => load.acked.size > ackedAtSwitch + 20, 60_000, 'commits in us-west-2');
    await load.stop();
    const westWriter = endpointClients(await clusterStatus(state.secondaries[0]!.controlPlaneUrl)).writer;
    const inWest = new Set((await westWriter.rows('select id from t')).map((r) => Number(r[0])));
    expect([...load.acked].filter((k) => !inWest.has(k))).toEqual([]);
    for (const id of inWest) expect(id).toBeLessThanOrEqual(load.attempted);
    expect((await globalCluster(east)).GlobalClusterMembers?.map((m) => m.DBClusterArn)).toEqual([
      westArn,
      eastArn,
    ]);

    // The failover back, once us-east-1 holds what us-west-2 has (a drill that loses nothing).
    const eastReader = endpointClients(await clusterStatus(state.primary.controlPlaneUrl)).reader;
    await waitUntil(
      async () => Number((await eastReader.rows('select count(*) from t'))[0]![0]) === inWest.size,
      60_000,
      'us-east-1 caught up with us-west-2',
    );
    const failing = await west.send(
      new FailoverGlobalClusterCommand({
        GlobalClusterIdentifier: 'borealis',
        TargetDbClusterIdentifier: eastArn,
        AllowDataLoss: true,
      }),
    );
    expect(failing.GlobalCluster).toMatchObject({
      Status: 'failing-over',
      FailoverState: { FromDbClusterArn: westArn, ToDbClusterArn: eastArn, IsDataLossAllowed: true },
    });
    await waitUntil(
      async () => {
        const g = await globalCluster(east);
        return g.Status === 'available' && writerRegion(g) === 'us-east-1';
      },
      180_000,
      'the global cluster available with us-east-1 the writer',
    );
    expect(readGlobalState(dir.path)!.primary.region).toBe('us-east-1');
    const eastWriter = endpointClients(await clusterStatus(state.primary.controlPlaneUrl)).writer;
    const inEast = new Set((await eastWriter.rows('select id from t')).map((r) => Number(r[0])));
    expect([...inWest].filter((k) => !inEast.has(k))).toEqual([]);
    await eastWriter.exec('insert into t values (:k)', { k: -1 });
    console.log(
      `SwitchoverGlobalCluster under load: ${load.acked.size} acknowledged, 0 lost, available after ${switchMs} ms; FailoverGlobalCluster back: us-east-1 writes`,
    );
  }, 600_000);
});
