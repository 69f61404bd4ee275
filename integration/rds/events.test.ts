// RDS events as a user sees them: with @aws-sdk/client-rds pointed at the endpoint `npm start`
// prints, a manual cluster snapshot and a backtrack show up in DescribeEvents with RDS's messages,
// a cluster restored from that snapshot is created ("DB cluster created", restored from the snapshot),
// and on the region's event bus (the embedded file bus's `service/` box, where the function runner
// never delivers from) as the `aws.rds` events RDS puts on EventBridge.
import {
  BacktrackDBClusterCommand,
  CreateDBClusterSnapshotCommand,
  DescribeEventsCommand,
  RestoreDBClusterFromSnapshotCommand,
  type SourceType,
  waitUntilDBClusterSnapshotAvailable,
} from '@aws-sdk/client-rds';
import { describe, expect, it } from 'vitest';
import { listFileEvents } from '../../core/events/file-bus.ts';
import { regionBusDir } from '../../embedded/local-events.ts';
import { waitUntil } from '../harness/cluster.ts';
import { useRdsSystem } from '../harness/rds.ts';
import { stopCluster } from '../harness/restore.ts';

describe('RDS events: DescribeEvents and the region’s event bus', () => {
  const f = useRdsSystem('rds-events', 0);
  const since = new Date(Date.now() - 60_000);

  const messages = async (sourceType: SourceType, sourceIdentifier: string) =>
    (
      (
        await f.rds.send(
          new DescribeEventsCommand({
            SourceType: sourceType,
            SourceIdentifier: sourceIdentifier,
            StartTime: since,
          }),
        )
      ).Events ?? []
    ).map((e) => e.Message);
  const onBus = () =>
    listFileEvents(regionBusDir(f.system.stateDir, 'us-east-1'), 'service').map((e) => e.event);

  it('a manual cluster snapshot: creating and created in DescribeEvents, and RDS-EVENT-0075 on the bus', async () => {
    await f.writer.exec('create table s (id integer primary key)');
    await f.writer.exec('insert into s values (1)');
    await f.rds.send(
      new CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: 'borealis',
        DBClusterSnapshotIdentifier: 'ev-snap',
      }),
    );
    await waitUntilDBClusterSnapshotAvailable(
      { client: f.rds, minDelay: 1, maxDelay: 2, maxWaitTime: 120 },
      { DBClusterSnapshotIdentifier: 'ev-snap' },
    );
    expect(await messages('db-cluster-snapshot', 'ev-snap')).toEqual([
      'Creating manual cluster snapshot',
      'Manual cluster snapshot created',
    ]);
    // The publisher's next round (every 5 s) puts it.
    await waitUntil(
      () => onBus().some((e) => (e.detail as { EventID?: string }).EventID === 'RDS-EVENT-0075'),
      30_000,
      'the snapshot created event on the bus',
    );
    const created = onBus().filter((e) => (e.detail as { EventID?: string }).EventID === 'RDS-EVENT-0075');
    expect(created).toHaveLength(1);
    expect(created[0]).toMatchObject({
      source: 'aws.rds',
      'detail-type': 'RDS DB Cluster Snapshot Event',
      region: 'us-east-1',
      resources: ['arn:aws:rds:us-east-1:000000000000:cluster-snapshot:ev-snap'],
      detail: {
        EventCategories: ['backup'],
        SourceType: 'CLUSTER_SNAPSHOT',
        SourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster-snapshot:ev-snap',
        Message: 'Manual cluster snapshot created',
        SourceIdentifier: 'ev-snap',
        EventID: 'RDS-EVENT-0075',
      },
    });
  }, 240_000);

  it('a backtrack: started and completed in DescribeEvents and as RDS DB Cluster Events on the bus', async () => {
    await f.writer.exec('insert into s values (2)');
    await new Promise((r) => setTimeout(r, 50)); // two commits apart in time, not a wait for a state
    const t = new Date();
    await new Promise((r) => setTimeout(r, 50));
    await f.writer.exec('insert into s values (3)');
    const backtrack = await f.rds.send(
      new BacktrackDBClusterCommand({ DBClusterIdentifier: 'borealis', BacktrackTo: t, Force: true }),
    );
    expect(backtrack.Status).toBe('completed');
    const id = backtrack.BacktrackIdentifier!;
    const to = backtrack.BacktrackTo!.toISOString();
    const expected = [`Backtrack to ${to} started (${id})`, `Backtrack to ${to} completed (${id})`];
    expect((await messages('db-cluster', 'borealis')).filter((m) => m?.includes(id))).toEqual(expected);
    await waitUntil(
      () =>
        onBus().filter(
          (e) =>
            e['detail-type'] === 'RDS DB Cluster Event' &&
            expected.includes((e.detail as { Message: string }).Message),
        ).length === 2,
      30_000,
      'both backtrack events on the bus',
    );
    // Each event once, however many rounds ran: the snapshot's was put many rounds (5 s each) ago.
    const ids = onBus().map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(
      onBus().filter((e) => (e.detail as { SourceIdentifier: string }).SourceIdentifier === 'ev-snap'),
    ).toHaveLength(2);
  }, 180_000);

  it('a cluster restored from the snapshot: "DB cluster created" (RDS-EVENT-0170) and "Restored from snapshot" on it, and on the bus', async () => {
    await f.rds.send(
      new RestoreDBClusterFromSnapshotCommand({
        DBClusterIdentifier: 'ev-restored',
        SnapshotIdentifier: 'ev-snap',
        Engine: 'aurora-mysql',
      }),
    );
    try {
      const expected = ['DB cluster created', 'Restored from snapshot ev-snap'];
      await waitUntil(
        async () =>
          JSON.stringify(await messages('db-cluster', 'ev-restored').catch(() => [])) ===
          JSON.stringify(expected),
        300_000,
        'the restored cluster’s events in DescribeEvents',
      );
      await waitUntil(
        () =>
          onBus().some(
            (e) =>
              (e.detail as { SourceIdentifier: string; EventID?: string }).SourceIdentifier ===
                'ev-restored' && (e.detail as { EventID?: string }).EventID === 'RDS-EVENT-0170',
          ),
        30_000,
        'the restored cluster’s created event on the bus',
      );
    } finally {
      await stopCluster(f.system.stateDir, 'ev-restored');
    }
  }, 420_000);
});
