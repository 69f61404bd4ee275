// The chaos test a user writes against the RDS API, with @aws-sdk/client-rds pointed at the endpoint
// `npm start` prints (`endpoints.rds` of `borealis status --json`): describe the cluster and its
// instances, FailoverDBCluster to a reader while an application writes through the cluster
// endpoint, waitUntilDBClusterAvailable, then the new writer is the target and no acknowledged write
// is lost; a manual cluster snapshot created, waited for, listed and deleted. Errors as RDS names
// them, each changing nothing.
import {
  BacktrackDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  CreateDBInstanceCommand,
  DBClusterAlreadyExistsFault,
  DBClusterNotFoundFault,
  DBClusterSnapshotAlreadyExistsFault,
  DBClusterSnapshotNotFoundFault,
  DBInstanceAlreadyExistsFault,
  DBInstanceNotFoundFault,
  DeleteDBClusterSnapshotCommand,
  DeleteDBInstanceCommand,
  DescribeDBClusterBacktracksCommand,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  DescribeDBInstancesCommand,
  DescribeEventsCommand,
  FailoverDBClusterCommand,
  InvalidDBClusterStateFault,
  InvalidRestoreFault,
  ModifyDBClusterCommand,
  type RDSClient,
  RebootDBInstanceCommand,
  RestoreDBClusterFromSnapshotCommand,
  RestoreDBClusterToPointInTimeCommand,
  waitUntilDBClusterAvailable,
  waitUntilDBClusterSnapshotAvailable,
  waitUntilDBInstanceAvailable,
} from '@aws-sdk/client-rds';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupStatus } from '../../cli/backup-view.ts';
import type { SnapshotListEntry } from '../../cli/snapshot-view.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { WriteWorkload, waitUntil } from '../harness/cluster.ts';
import { startRdsSystem } from '../harness/rds.ts';
import { stopCluster } from '../harness/restore.ts';
import type { Sql } from '../harness/sql.ts';
import type { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('RDS API as chaos tests and runbooks call it', () => {
  const dir = makeTempDir('rds-api');
  let system: TestSystem;
  let rds: RDSClient;
  let rdsUrl: string;
  let writer: Sql;

  beforeAll(async () => {
    ({ system, rds, rdsUrl, writer } = await startRdsSystem(dir.path, 1));
    expect(rdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 240_000);

  afterAll(async () => {
    rds?.destroy();
    writer?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('describes the cluster, adds a reader with tier 0, fails over to it under writes, waits until available: the new reader is the writer and nothing acknowledged is lost', async () => {
    const { DBClusters } = await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' }));
    expect(DBClusters).toHaveLength(1);
    const cluster = DBClusters![0]!;
    expect(cluster).toMatchObject({
      DBClusterIdentifier: 'borealis',
      Status: 'available',
      Engine: 'aurora-mysql',
    });
    expect(cluster.DBClusterArn).toBe('arn:aws:rds:us-east-1:000000000000:cluster:borealis');
    const writerMember = cluster.DBClusterMembers!.find((m) => m.IsClusterWriter)!;
    const readerMember = cluster.DBClusterMembers!.find((m) => !m.IsClusterWriter)!;
    expect(cluster.DBClusterMembers).toHaveLength(2);
    expect(typeof readerMember.PromotionTier).toBe('number');
    const { DBInstances } = await rds.send(
      new DescribeDBInstancesCommand({ Filters: [{ Name: 'db-cluster-id', Values: ['borealis'] }] }),
    );
    expect(DBInstances!.map((i) => i.DBInstanceIdentifier).sort()).toEqual(
      [writerMember.DBInstanceIdentifier, readerMember.DBInstanceIdentifier].sort(),
    );
    expect(DBInstances!.every((i) => i.DBInstanceStatus === 'available' && (i.Endpoint?.Port ?? 0) > 0)).toBe(
      true,
    );

    // Errors, each changing nothing.
    await expect(
      rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'nope' })),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);
    await expect(
      rds.send(
        new FailoverDBClusterCommand({
          DBClusterIdentifier: 'borealis',
          TargetDBInstanceIdentifier: 'borealis-nope',
        }),
      ),
    ).rejects.toBeInstanceOf(DBInstanceNotFoundFault);
    await expect(rds.send(new DescribeDBClustersCommand({ MaxRecords: 5 }))).rejects.toMatchObject({
      name: 'InvalidParameterValue',
      $metadata: { httpStatusCode: 400 },
    });
    const raw = await fetch(rdsUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=DropEverything&Version=2014-10-31',
    });
    expect(raw.status).toBe(400);
    expect(await raw.text()).toMatch(/<Code>InvalidAction<\/Code>/);

    // A new reader with promotion tier 0, as a chaos test adds the instance it will fail over to.
    const created = await rds.send(
      new CreateDBInstanceCommand({
        DBInstanceIdentifier: 'chaos-reader',
        DBClusterIdentifier: 'borealis',
        Engine: 'aurora-mysql',
        DBInstanceClass: 'db.r6g.large',
        PromotionTier: 0,
      }),
    );
    expect(created.DBInstance).toMatchObject({
      DBInstanceIdentifier: 'chaos-reader',
      DBClusterIdentifier: 'borealis',
      DBInstanceStatus: 'creating',
      PromotionTier: 0,
    });
    const ready = await waitUntilDBInstanceAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 90 },
      { DBInstanceIdentifier: 'chaos-reader' },
    );
    expect(ready.state).toBe('SUCCESS');
    const withReader = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
      .DBClusters![0]!;
    expect(withReader.DBClusterMembers).toHaveLength(3);
    expect(withReader.DBClusterMembers!.find((m) => m.DBInstanceIdentifier === 'chaos-reader')).toMatchObject(
      {
        IsClusterWriter: false,
        PromotionTier: 0,
      },
    );
    // The same identifier again, in any cluster of the region: refused, nothing added.
    await expect(
      rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: 'chaos-reader',
          DBClusterIdentifier: 'borealis',
          Engine: 'aurora-mysql',
          DBInstanceClass: 'db.r6g.large',
        }),
      ),
    ).rejects.toBeInstanceOf(DBInstanceAlreadyExistsFault);
    await expect(
      rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: 'other-reader',
          DBClusterIdentifier: 'borealis',
          Engine: 'aurora-mysql',
          DBInstanceClass: 'db.r6g.large',
          PromotionTier: 16,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await expect(
      rds.send(
        new CreateDBInstanceCommand({
          DBInstanceIdentifier: 'other-reader',
          DBClusterIdentifier: 'nope',
          Engine: 'aurora-mysql',
          DBInstanceClass: 'db.r6g.large',
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);
    expect(
      (
        await rds.send(
          new DescribeDBInstancesCommand({ Filters: [{ Name: 'db-cluster-id', Values: ['borealis'] }] }),
        )
      ).DBInstances,
    ).toHaveLength(3);

    await writer.exec(WriteWorkload.createTableSql('w'));
    const workload = new WriteWorkload(writer, 'w', 2);
    await waitUntil(() => workload.acked().length >= 3, 30_000, 'writes acknowledged before the failover');
    const failoverAt = Date.now();
    const failover = await rds.send(
      new FailoverDBClusterCommand({
        DBClusterIdentifier: 'borealis',
        TargetDBInstanceIdentifier: 'chaos-reader',
      }),
    );
    expect(failover.DBCluster?.Status).toBe('failing-over');
    // A second one while it fails over is refused.
    await expect(
      rds.send(new FailoverDBClusterCommand({ DBClusterIdentifier: 'borealis' })),
    ).rejects.toBeInstanceOf(InvalidDBClusterStateFault);
    const waited = await waitUntilDBClusterAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
      { DBClusterIdentifier: 'borealis' },
    );
    expect(waited.state).toBe('SUCCESS');
    const availableAt = Date.now();
    console.log(
      `FailoverDBCluster → waitUntilDBClusterAvailable returned after ${availableAt - failoverAt} ms`,
    );
    // The application goes on writing, on the new writer, through the same cluster endpoint.
    await waitUntil(
      () => workload.acked().filter((o) => o.sentAt > availableAt).length >= 3,
      30_000,
      'writes acknowledged after the failover',
    );
    await workload.stop();

    const after = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
      .DBClusters![0]!;
    expect(after.Status).toBe('available');
    expect(after.DBClusterMembers!.find((m) => m.IsClusterWriter)?.DBInstanceIdentifier).toBe('chaos-reader');
    const errors = workload.outcomes.filter((o) => o.result !== 'acked');
    console.log(
      `FailoverDBCluster under writes: ${workload.acked().length} acknowledged, ${errors.length} not (${[...new Set(errors.map((e) => e.error))].slice(0, 3).join('; ')})`,
    );
    expect(workload.acked().some((o) => o.doneAt < failoverAt)).toBe(true);
    // The cluster's events say so, as Aurora's do.
    const { Events } = await rds.send(
      new DescribeEventsCommand({ SourceType: 'db-cluster', SourceIdentifier: 'borealis', Duration: 10 }),
    );
    expect(Events!.map((e) => e.Message)).toEqual([
      'Started cross AZ failover to DB instance: chaos-reader',
      'Completed failover to DB instance: chaos-reader',
    ]);
    expect(Events![0]!.Date!.getTime()).toBeGreaterThanOrEqual(failoverAt - 1_000);
    expect(await workload.verify(writer)).toEqual([]);
  }, 300_000);

  it('RebootDBInstance restarts a reader; DeleteDBInstance of the writer fails it over first and the cluster keeps serving', async () => {
    const instances = async () =>
      (JSON.parse((await system.cli('status', '--json')).stdout) as ClusterStatus).instances;
    const before = await instances();
    const reader = before.find((i) => i.role === 'reader' && i.state === 'running')!;
    const readerId = `borealis-${reader.id}`;
    // ForceFailover is for the writer; a reader with it is refused and nothing restarts.
    await expect(
      rds.send(new RebootDBInstanceCommand({ DBInstanceIdentifier: readerId, ForceFailover: true })),
    ).rejects.toMatchObject({ name: 'InvalidParameterCombination' });
    const rebooted = await rds.send(new RebootDBInstanceCommand({ DBInstanceIdentifier: readerId }));
    expect(rebooted.DBInstance?.DBInstanceIdentifier).toBe(readerId);
    expect(
      (
        await waitUntilDBInstanceAvailable(
          { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
          { DBInstanceIdentifier: readerId },
        )
      ).state,
    ).toBe('SUCCESS');
    const afterReboot = (await instances()).find((i) => i.id === reader.id)!;
    expect(afterReboot.incarnation).toBeGreaterThan(reader.incarnation);
    expect(afterReboot.pid).not.toBe(reader.pid);

    await expect(
      rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'borealis-nope' })),
    ).rejects.toBeInstanceOf(DBInstanceNotFoundFault);
    // chaos-reader is the writer since the failover: deleting it fails the cluster over first.
    const deleted = await rds.send(new DeleteDBInstanceCommand({ DBInstanceIdentifier: 'chaos-reader' }));
    expect(deleted.DBInstance).toMatchObject({
      DBInstanceIdentifier: 'chaos-reader',
      DBInstanceStatus: 'deleting',
    });
    await expect(
      rds.send(new DescribeDBInstancesCommand({ DBInstanceIdentifier: 'chaos-reader' })),
    ).rejects.toBeInstanceOf(DBInstanceNotFoundFault);
    const cluster = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
      .DBClusters![0]!;
    expect(cluster.DBClusterMembers!.map((m) => m.DBInstanceIdentifier).sort()).toEqual(
      before
        .filter((i) => i.id !== 'chaos-reader')
        .map((i) => `borealis-${i.id}`)
        .sort(),
    );
    expect(cluster.DBClusterMembers!.filter((m) => m.IsClusterWriter)).toHaveLength(1);
    expect(
      (
        await waitUntilDBClusterAvailable(
          { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
          { DBClusterIdentifier: 'borealis' },
        )
      ).state,
    ).toBe('SUCCESS');
    // The instance events RDS emits for them.
    const { Events } = await rds.send(
      new DescribeEventsCommand({
        SourceType: 'db-instance',
        Duration: 30,
        EventCategories: ['creation', 'deletion', 'availability'],
      }),
    );
    expect(Events!.map((e) => [e.SourceIdentifier, e.Message])).toEqual([
      ['chaos-reader', 'DB instance created'],
      [readerId, 'DB instance restarted'],
      ['chaos-reader', 'DB instance deleted'],
    ]);
    await writer.exec('insert into w(client, seq, at) values (8, 8, 8)');
    expect(await writer.rows('select count(*) from w where client = 8')).toEqual([[1]]);
  }, 180_000);

  it('CreateDBClusterSnapshot, waitUntilDBClusterSnapshotAvailable, DescribeDBClusterSnapshots, DeleteDBClusterSnapshot: the same snapshots `borealis snapshot` sees', async () => {
    await writer.exec('insert into w(client, seq, at) values (9, 9, 9)');
    const created = await rds.send(
      new CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: 'borealis',
        DBClusterSnapshotIdentifier: 'before-chaos',
      }),
    );
    expect(created.DBClusterSnapshot).toMatchObject({
      DBClusterSnapshotIdentifier: 'before-chaos',
      DBClusterIdentifier: 'borealis',
      SnapshotType: 'manual',
      Status: 'creating',
    });
    // Errors, each changing nothing.
    await expect(
      rds.send(
        new CreateDBClusterSnapshotCommand({
          DBClusterIdentifier: 'borealis',
          DBClusterSnapshotIdentifier: 'before-chaos',
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterSnapshotAlreadyExistsFault);
    await expect(
      rds.send(
        new CreateDBClusterSnapshotCommand({
          DBClusterIdentifier: 'borealis',
          DBClusterSnapshotIdentifier: 'bad--id',
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await expect(
      rds.send(
        new CreateDBClusterSnapshotCommand({ DBClusterIdentifier: 'nope', DBClusterSnapshotIdentifier: 'x' }),
      ),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);
    const waited = await waitUntilDBClusterSnapshotAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
      { DBClusterSnapshotIdentifier: 'before-chaos' },
    );
    expect(waited.state).toBe('SUCCESS');
    const { DBClusterSnapshots } = await rds.send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: 'borealis', SnapshotType: 'manual' }),
    );
    expect(DBClusterSnapshots!.map((s) => [s.DBClusterSnapshotIdentifier, s.Status])).toEqual([
      ['before-chaos', 'available'],
    ]);
    // The CLI lists the same snapshot in the cluster's backup bucket.
    const listed = JSON.parse((await system.cli('snapshot', 'list', '--json')).stdout) as {
      snapshots: SnapshotListEntry[];
    };
    expect(listed.snapshots.map((s) => s.snapshotId)).toContain('before-chaos');

    await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'before-chaos' }));
    await expect(
      rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'before-chaos' })),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    await expect(
      rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'before-chaos' })),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    const after = JSON.parse((await system.cli('snapshot', 'list', '--json')).stdout) as {
      snapshots: SnapshotListEntry[];
    };
    expect(after.snapshots.map((s) => s.snapshotId)).not.toContain('before-chaos');
  }, 180_000);

  /** Waits until `cluster` is available, reads `query` on its writer, then stops it. */
  async function restoredRows(cluster: string, query: string): Promise<unknown[][]> {
    const started = Date.now();
    try {
      const waited = await waitUntilDBClusterAvailable(
        { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 300 },
        { DBClusterIdentifier: cluster },
      );
      expect(waited.state).toBe('SUCCESS');
      console.log(`restore of ${cluster}: available ${Date.now() - started} ms after the call returned`);
      // As a user connects: the cluster endpoint RDS describes, with the cluster's account.
      const described = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: cluster })))
        .DBClusters![0]!;
      const connection = await mysql.createConnection({
        host: described.Endpoint!,
        port: described.Port!,
        user: described.MasterUsername!,
        password: 'borealis',
        database: described.DatabaseName!,
      });
      try {
        const [rows] = await connection.query({ sql: query, rowsAsArray: true });
        return rows as unknown[][];
      } finally {
        await connection.end();
      }
    } finally {
      await stopCluster(dir.path, cluster);
    }
  }

  it('RestoreDBClusterToPointInTime and RestoreDBClusterFromSnapshot: new clusters, creating then available, holding exactly what the source had', async () => {
    await writer.exec('create table r (id integer primary key)');
    await writer.exec('insert into r values (1)');
    const t = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await writer.exec('insert into r values (2)');
    await waitUntil(
      async () => {
        const b = JSON.parse((await system.cli('backup', 'status', '--json')).stdout) as BackupStatus;
        return b.latestRestorableTime !== null && Date.parse(b.latestRestorableTime) > t;
      },
      60_000,
      'the archive past the restore time',
    );
    // Errors, each changing nothing.
    await expect(
      rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: 'borealis',
          DBClusterIdentifier: 'borealis',
          UseLatestRestorableTime: true,
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterAlreadyExistsFault);
    await expect(
      rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: 'borealis',
          DBClusterIdentifier: 'later',
          RestoreToTime: new Date(Date.now() + 3_600_000),
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidRestoreFault);
    await expect(
      rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: 'borealis',
          DBClusterIdentifier: 'both',
          RestoreToTime: new Date(t),
          UseLatestRestorableTime: true,
        }),
      ),
    ).rejects.toMatchObject({ name: 'InvalidParameterCombination' });
    await expect(
      rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: 'nope',
          DBClusterIdentifier: 'x',
          UseLatestRestorableTime: true,
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);

    const pitr = await rds.send(
      new RestoreDBClusterToPointInTimeCommand({
        SourceDBClusterIdentifier: 'borealis',
        DBClusterIdentifier: 'Before-Two',
        RestoreToTime: new Date(t),
      }),
    );
    expect(pitr.DBCluster).toMatchObject({ DBClusterIdentifier: 'before-two', Status: 'creating' });
    // Asked twice: the name is taken from the call on.
    await expect(
      rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: 'borealis',
          DBClusterIdentifier: 'before-two',
          UseLatestRestorableTime: true,
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterAlreadyExistsFault);
    expect(await restoredRows('before-two', 'select id from r order by id')).toEqual([[1]]);

    await rds.send(
      new CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: 'borealis',
        DBClusterSnapshotIdentifier: 'both-rows',
      }),
    );
    await waitUntilDBClusterSnapshotAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
      { DBClusterSnapshotIdentifier: 'both-rows' },
    );
    await expect(
      rds.send(
        new RestoreDBClusterFromSnapshotCommand({
          DBClusterIdentifier: 'from-nothing',
          SnapshotIdentifier: 'no-such-snapshot',
          Engine: 'aurora-mysql',
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    const fromSnapshot = await rds.send(
      new RestoreDBClusterFromSnapshotCommand({
        DBClusterIdentifier: 'from-snap',
        SnapshotIdentifier: 'both-rows',
        Engine: 'aurora-mysql',
      }),
    );
    expect(fromSnapshot.DBCluster?.Status).toBe('creating');
    expect(await restoredRows('from-snap', 'select id from r order by id')).toEqual([[1], [2]]);
  }, 600_000);

  it('BacktrackDBCluster rewinds the cluster in place; DescribeDBClusterBacktracks lists it completed', async () => {
    const cluster = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
      .DBClusters![0]!;
    expect(cluster.BacktrackWindow).toBe(3600);
    await writer.exec('create table b (id integer primary key)');
    await writer.exec('insert into b values (1)');
    await new Promise((r) => setTimeout(r, 50));
    const t = new Date();
    await new Promise((r) => setTimeout(r, 50));
    await writer.exec('insert into b values (2)');
    // Errors, each changing nothing.
    await expect(
      rds.send(new BacktrackDBClusterCommand({ DBClusterIdentifier: 'nope', BacktrackTo: t })),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);
    await expect(
      rds.send(
        new BacktrackDBClusterCommand({
          DBClusterIdentifier: 'borealis',
          BacktrackTo: new Date(Date.now() + 3_600_000),
        }),
      ),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 400 } });
    expect(await writer.rows('select id from b order by id')).toEqual([[1], [2]]);

    // With binary logging on, as on Aurora, only with Force.
    await expect(
      rds.send(new BacktrackDBClusterCommand({ DBClusterIdentifier: 'borealis', BacktrackTo: t })),
    ).rejects.toMatchObject({
      name: 'InvalidParameterCombination',
      message: expect.stringMatching(/binlog_format/),
    });
    const backtrack = await rds.send(
      new BacktrackDBClusterCommand({ DBClusterIdentifier: 'borealis', BacktrackTo: t, Force: true }),
    );
    expect(backtrack).toMatchObject({ DBClusterIdentifier: 'borealis', Status: 'completed' });
    const { DBClusterBacktracks } = await rds.send(
      new DescribeDBClusterBacktracksCommand({
        DBClusterIdentifier: 'borealis',
        BacktrackIdentifier: backtrack.BacktrackIdentifier,
      }),
    );
    expect(DBClusterBacktracks!.map((b) => [b.BacktrackIdentifier, b.Status])).toEqual([
      [backtrack.BacktrackIdentifier, 'completed'],
    ]);
    await waitUntilDBClusterAvailable(
      { client: rds, minDelay: 1, maxDelay: 2, maxWaitTime: 60 },
      { DBClusterIdentifier: 'borealis' },
    );
    await waitUntil(
      () =>
        writer.rows('select id from b order by id').then(
          (rows) => JSON.stringify(rows) === '[[1]]',
          () => false,
        ),
      30_000,
      'the cluster shows what it showed at BacktrackTo',
    );
  }, 180_000);

  it('ModifyDBCluster BacktrackWindow: a new window the running writer takes at once; out of range refused, nothing changed', async () => {
    const before = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
      .DBClusters![0]!;
    expect(before.BacktrackWindow).toBeGreaterThan(0);
    const modified = await rds.send(
      new ModifyDBClusterCommand({
        DBClusterIdentifier: 'borealis',
        BacktrackWindow: 7200,
        ApplyImmediately: true,
      }),
    );
    expect(modified.DBCluster?.BacktrackWindow).toBe(7200);
    const described = (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' })))
      .DBClusters![0]!;
    expect(described.BacktrackWindow).toBe(7200);
    // The writer process itself runs with it now (its /health), not only the control plane's record.
    const status = JSON.parse((await system.cli('status', '--json')).stdout) as ClusterStatus;
    const writerSlot = status.instances.find((i) => i.id === status.writer)!;
    const health = (await (await fetch(`http://127.0.0.1:${writerSlot.httpPort}/health`)).json()) as {
      backtrackWindowSeconds: number;
    };
    expect(health.backtrackWindowSeconds).toBe(7200);
    await expect(
      rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'borealis', BacktrackWindow: 259_201 })),
    ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await expect(
      rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'nope', BacktrackWindow: 600 })),
    ).rejects.toBeInstanceOf(DBClusterNotFoundFault);
    expect(
      (await rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' }))).DBClusters![0]!
        .BacktrackWindow,
    ).toBe(7200);
  }, 60_000);
});
