import { describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../cluster/topology.ts';
import {
  backtrackEvents,
  clusterEvents,
  eventBridgeEvent,
  eventBridgeEventId,
  eventKey,
  type RdsEvent,
  restoreFailureEvents,
  selectEvents,
  snapshotEvents,
} from './events.ts';

const status = {
  cluster: 'c',
  region: 'us-east-1',
  resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:c',
  instances: [],
  failovers: [
    {
      at: '2026-12-03T10:00:01.000Z',
      kind: 'planned',
      from: 'instance-1',
      to: 'instance-2',
      reason: 'asked',
      durationMs: 500,
      epoch: '3',
    },
    {
      at: '2026-12-03T11:00:00.000Z',
      kind: 'restart',
      from: 'instance-2',
      to: 'instance-2',
      reason: 'x',
      durationMs: 10,
      epoch: '4',
    },
    {
      at: '2026-12-03T12:00:00.000Z',
      kind: 'unplanned',
      from: 'instance-2',
      to: 'instance-1',
      reason: 'no health for 1 s',
      durationMs: 800,
      epoch: '5',
    },
  ],
} as unknown as ClusterStatus;

describe('RDS events from the control plane', () => {
  it('each failover is a started and a completed cluster event and an instance event; a restart in place none', () => {
    const events = clusterEvents(status);
    expect(
      events.filter((e) => e.sourceType === 'db-cluster').map((e) => [e.date.toISOString(), e.message]),
    ).toEqual([
      ['2026-12-03T10:00:00.500Z', 'Started cross AZ failover to DB instance: c-instance-2'],
      ['2026-12-03T10:00:01.000Z', 'Completed failover to DB instance: c-instance-2'],
      ['2026-12-03T11:59:59.200Z', 'Started cross AZ failover to DB instance: c-instance-1'],
      ['2026-12-03T12:00:00.000Z', 'Completed failover to DB instance: c-instance-1'],
    ]);
    expect(
      events.find((e) => e.sourceType === 'db-instance' && e.sourceIdentifier === 'c-instance-1')?.sourceArn,
    ).toBe('arn:aws:rds:us-east-1:000000000000:db:c-instance-1');
  });

  it('an instance created, rebooted and deleted through the API is the instance event RDS emits', () => {
    const events = clusterEvents({
      ...status,
      failovers: [],
      instanceEvents: [
        { at: '2026-12-03T13:00:00.000Z', action: 'created', instance: 'r1', rdsIdentifier: 'r1' },
        {
          at: '2026-12-03T13:01:00.000Z',
          action: 'rebooted',
          instance: 'instance-2',
          rdsIdentifier: 'c-instance-2',
        },
        { at: '2026-12-03T13:02:00.000Z', action: 'deleted', instance: 'r1', rdsIdentifier: 'r1' },
      ],
    });
    expect(events.map((e) => [e.sourceIdentifier, e.sourceType, e.message, e.categories])).toEqual([
      ['r1', 'db-instance', 'DB instance created', ['creation']],
      ['c-instance-2', 'db-instance', 'DB instance restarted', ['availability']],
      ['r1', 'db-instance', 'DB instance deleted', ['deletion']],
    ]);
    expect(events[0]!.sourceArn).toBe('arn:aws:rds:us-east-1:000000000000:db:r1');
  });

  it('selects by source, type, time window and category, oldest first', () => {
    const events = clusterEvents(status);
    const window = selectEvents(events, {
      sourceType: 'db-cluster',
      startTime: new Date('2026-12-03T11:30:00Z'),
      endTime: new Date('2026-12-03T12:30:00Z'),
    });
    expect(window.map((e) => e.message)).toEqual([
      'Started cross AZ failover to DB instance: c-instance-1',
      'Completed failover to DB instance: c-instance-1',
    ]);
    expect(selectEvents(events, { sourceIdentifier: 'c-instance-2' })).toHaveLength(1);
    expect(selectEvents(events, { categories: ['backup'] })).toEqual([]);
  });

  it('a failover between instances of one AZ starts as a same AZ failover (RDS-EVENT-0072), else cross AZ (0073); completed is 0071', () => {
    const instance = (id: string, az: string) => ({ id, az }) as ClusterStatus['instances'][number];
    const sameAz = clusterEvents({
      ...status,
      instances: [instance('instance-1', 'us-east-1a'), instance('instance-2', 'us-east-1a')],
    }).filter((e) => e.sourceType === 'db-cluster');
    expect(sameAz.map((e) => [e.message, e.eventId])).toEqual([
      ['Started same AZ failover to DB instance: c-instance-2', 'RDS-EVENT-0072'],
      ['Completed failover to DB instance: c-instance-2', 'RDS-EVENT-0071'],
      ['Started same AZ failover to DB instance: c-instance-1', 'RDS-EVENT-0072'],
      ['Completed failover to DB instance: c-instance-1', 'RDS-EVENT-0071'],
    ]);
    const crossAz = clusterEvents({
      ...status,
      instances: [instance('instance-1', 'us-east-1a'), instance('instance-2', 'us-east-1b')],
    }).filter((e) => e.sourceType === 'db-cluster');
    expect(crossAz.map((e) => e.eventId)).toEqual([
      'RDS-EVENT-0073',
      'RDS-EVENT-0071',
      'RDS-EVENT-0073',
      'RDS-EVENT-0071',
    ]);
    // The instance's own failover event has no documented ID.
    expect(
      clusterEvents(status)
        .filter((e) => e.sourceType === 'db-instance')
        .map((e) => e.eventId),
    ).toEqual([undefined, undefined]);
  });

  it('instance events carry their RDS event IDs (0005 created, 0006 restarted, 0003 deleted)', () => {
    const events = clusterEvents({
      ...status,
      failovers: [],
      instanceEvents: [
        { at: '2026-12-03T13:00:00.000Z', action: 'created', instance: 'r1', rdsIdentifier: 'r1' },
        { at: '2026-12-03T13:01:00.000Z', action: 'rebooted', instance: 'r1', rdsIdentifier: 'r1' },
        { at: '2026-12-03T13:02:00.000Z', action: 'deleted', instance: 'r1', rdsIdentifier: 'r1' },
      ],
    });
    expect(events.map((e) => e.eventId)).toEqual(['RDS-EVENT-0005', 'RDS-EVENT-0006', 'RDS-EVENT-0003']);
  });

  const restoreProgress = {
    requestId: 'r',
    sourceCluster: 'src',
    done: 10,
    total: 10,
    restoreTime: '2026-12-03T09:00:00.000Z',
    restoredToCommitTime: '2026-12-03T08:59:59.000Z',
    bytes: 1,
    startedAt: '2026-12-03T10:00:00.000Z',
    finishedAt: '2026-12-03T10:00:05.000Z',
  } as const;

  it('a cluster restored to a point in time: "DB cluster created" (RDS-EVENT-0170) and the restoration from its source, when the volume was loaded', () => {
    const events = clusterEvents({
      ...status,
      failovers: [],
      restore: { ...restoreProgress, phase: 'done' },
    });
    expect(events).toEqual([
      {
        sourceIdentifier: 'c',
        sourceType: 'db-cluster',
        sourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:c',
        message: 'DB cluster created',
        categories: ['creation'],
        date: new Date('2026-12-03T10:00:05.000Z'),
        eventId: 'RDS-EVENT-0170',
      },
      {
        sourceIdentifier: 'c',
        sourceType: 'db-cluster',
        sourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:c',
        message: 'Restored from DB cluster src to c at point in time 2026-12-03T09:00:00.000Z',
        categories: ['restoration'],
        date: new Date('2026-12-03T10:00:05.000Z'),
      },
    ]);
  });

  it('a cluster restored from a snapshot names the snapshot as RDS does (automated ones rds:); a restore still running, or done before its end was kept, has no events', () => {
    const fromSnapshot = clusterEvents(
      {
        ...status,
        failovers: [],
        restore: { ...restoreProgress, phase: 'done', snapshotId: 'snap-x' },
      },
      { snapshotIdentifier: (id) => `rds:${id}` },
    );
    expect(fromSnapshot.map((e) => [e.message, e.eventId])).toEqual([
      ['DB cluster created', 'RDS-EVENT-0170'],
      ['Restored from snapshot rds:snap-x', undefined],
    ]);
    for (const phase of ['downloading', 'loading', 'failed'] as const) {
      expect(clusterEvents({ ...status, failovers: [], restore: { ...restoreProgress, phase } })).toEqual([]);
    }
    const { finishedAt: _, ...older } = restoreProgress;
    expect(clusterEvents({ ...status, failovers: [], restore: { ...older, phase: 'done' } })).toEqual([]);
  });

  it('backtracks: started when asked; completed, or failed with its reason, when it ended; a running one, or one ended before its end was kept, only started', () => {
    const b = {
      BacktrackTo: '2026-12-03T09:00:00.000Z',
      BacktrackRequestCreationTime: '2026-12-03T10:00:00.000Z',
    };
    const events = backtrackEvents(status, [
      { ...b, BacktrackIdentifier: 'b-1', Status: 'completed', EndTime: '2026-12-03T10:00:02.000Z' },
      {
        ...b,
        BacktrackIdentifier: 'b-2',
        Status: 'failed',
        StatusReason: 'no quorum',
        EndTime: '2026-12-03T10:00:03.000Z',
      },
      { ...b, BacktrackIdentifier: 'b-3', Status: 'applying' },
      { ...b, BacktrackIdentifier: 'b-4', Status: 'completed' },
    ]);
    expect(events.map((e) => [e.date.toISOString(), e.message, e.categories, e.eventId])).toEqual([
      [
        '2026-12-03T10:00:00.000Z',
        'Backtrack to 2026-12-03T09:00:00.000Z started (b-1)',
        ['backtrack'],
        undefined,
      ],
      [
        '2026-12-03T10:00:02.000Z',
        'Backtrack to 2026-12-03T09:00:00.000Z completed (b-1)',
        ['backtrack'],
        undefined,
      ],
      [
        '2026-12-03T10:00:00.000Z',
        'Backtrack to 2026-12-03T09:00:00.000Z started (b-2)',
        ['backtrack'],
        undefined,
      ],
      [
        '2026-12-03T10:00:03.000Z',
        'Backtrack to 2026-12-03T09:00:00.000Z failed (b-2): no quorum',
        ['backtrack', 'failure'],
        undefined,
      ],
      [
        '2026-12-03T10:00:00.000Z',
        'Backtrack to 2026-12-03T09:00:00.000Z started (b-3)',
        ['backtrack'],
        undefined,
      ],
      [
        '2026-12-03T10:00:00.000Z',
        'Backtrack to 2026-12-03T09:00:00.000Z started (b-4)',
        ['backtrack'],
        undefined,
      ],
    ]);
    expect(new Set(events.map((e) => `${e.sourceType} ${e.sourceIdentifier} ${e.sourceArn}`))).toEqual(
      new Set(['db-cluster c arn:aws:rds:us-east-1:000000000000:cluster:c']),
    );
  });

  it('snapshots: manual creating (0074) and created (0075); automated (0168, 0169) named rds:<id>; each on the snapshot, category backup', () => {
    const events = snapshotEvents(status, [
      {
        id: 'mine',
        type: 'manual',
        startedAt: new Date('2026-12-03T10:00:00.000Z'),
        createdAt: new Date('2026-12-03T10:00:04.000Z'),
      },
      { id: 'snap-1', type: 'automated', createdAt: new Date('2026-12-03T11:00:00.000Z') },
      { id: 'snap-2', type: 'automated', startedAt: new Date('2026-12-03T12:00:00.000Z') },
      { id: 'being-taken', type: 'manual', startedAt: new Date('2026-12-03T12:30:00.000Z') },
    ]);
    expect(events.map((e) => [e.sourceIdentifier, e.message, e.eventId, e.date.toISOString()])).toEqual([
      ['mine', 'Creating manual cluster snapshot', 'RDS-EVENT-0074', '2026-12-03T10:00:00.000Z'],
      ['mine', 'Manual cluster snapshot created', 'RDS-EVENT-0075', '2026-12-03T10:00:04.000Z'],
      ['rds:snap-1', 'Automated cluster snapshot created', 'RDS-EVENT-0169', '2026-12-03T11:00:00.000Z'],
      ['rds:snap-2', 'Creating automated cluster snapshot', 'RDS-EVENT-0168', '2026-12-03T12:00:00.000Z'],
      ['being-taken', 'Creating manual cluster snapshot', 'RDS-EVENT-0074', '2026-12-03T12:30:00.000Z'],
    ]);
    expect(
      events.every((e) => e.sourceType === 'db-cluster-snapshot' && e.categories.join() === 'backup'),
    ).toBe(true);
    expect(events[2]!.sourceArn).toBe('arn:aws:rds:us-east-1:000000000000:cluster-snapshot:rds:snap-1');
    expect(
      selectEvents(events, { sourceType: 'db-cluster-snapshot', sourceIdentifier: 'mine' }),
    ).toHaveLength(2);
  });

  it('a failed restore is a failure event on the cluster it was to create, in the source account', () => {
    expect(
      restoreFailureEvents([
        {
          target: 'new',
          source: {
            cluster: 'src',
            region: 'us-west-2',
            resourceArn: 'arn:aws:rds:us-west-2:123:cluster:src',
          },
          reason: 'no snapshot',
          at: new Date('2026-12-03T10:00:00.000Z'),
        },
      ]),
    ).toEqual([
      {
        sourceIdentifier: 'new',
        sourceType: 'db-cluster',
        sourceArn: 'arn:aws:rds:us-west-2:123:cluster:new',
        message: 'Restore of DB cluster new from src failed: no snapshot',
        categories: ['failure'],
        date: new Date('2026-12-03T10:00:00.000Z'),
      },
    ]);
  });

  it('an event on EventBridge: source aws.rds, the detail-type and detail SourceType of its source, EventID only where RDS documents one', () => {
    const base: RdsEvent = {
      sourceIdentifier: 'c',
      sourceType: 'db-cluster',
      sourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:c',
      message: 'Completed failover to DB instance: c-instance-1',
      categories: ['failover'],
      date: new Date('2026-12-03T12:00:00.000Z'),
      eventId: 'RDS-EVENT-0071',
    };
    const put = eventBridgeEvent(base);
    expect(put).toEqual({
      id: eventBridgeEventId(base),
      source: 'aws.rds',
      detailType: 'RDS DB Cluster Event',
      time: base.date,
      resources: [base.sourceArn],
      detail: {
        EventCategories: ['failover'],
        SourceType: 'CLUSTER',
        SourceArn: base.sourceArn,
        Date: '2026-12-03T12:00:00.000Z',
        Message: base.message,
        SourceIdentifier: 'c',
        EventID: 'RDS-EVENT-0071',
      },
    });
    expect(put.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const instance = eventBridgeEvent({ ...base, sourceType: 'db-instance', eventId: undefined });
    expect([instance.detailType, instance.detail.SourceType, 'EventID' in instance.detail]).toEqual([
      'RDS DB Instance Event',
      'DB_INSTANCE',
      false,
    ]);
    const snapshot = eventBridgeEvent({ ...base, sourceType: 'db-cluster-snapshot' });
    expect([snapshot.detailType, snapshot.detail.SourceType]).toEqual([
      'RDS DB Cluster Snapshot Event',
      'CLUSTER_SNAPSHOT',
    ]);
  });

  it('an event derived again has the same key and id; another source, time or message another', () => {
    const e: RdsEvent = {
      sourceIdentifier: 'c',
      sourceType: 'db-cluster',
      sourceArn: 'arn',
      message: 'm',
      categories: ['x'],
      date: new Date('2026-12-03T12:00:00.000Z'),
    };
    expect(eventKey({ ...e, date: new Date(e.date) })).toBe(eventKey(e));
    expect(eventBridgeEventId({ ...e, categories: ['y'] })).toBe(eventBridgeEventId(e));
    const others = [
      { ...e, sourceIdentifier: 'd' },
      { ...e, sourceType: 'db-instance' as const },
      { ...e, date: new Date('2026-12-03T12:00:00.001Z') },
      { ...e, message: 'n' },
    ];
    expect(new Set([e, ...others].map(eventBridgeEventId)).size).toBe(5);
  });

  it("a cluster snapshot's event keeps its id whichever way its date was derived (manifest time or S3's whole second)", () => {
    const e: RdsEvent = {
      sourceIdentifier: 'nightly',
      sourceType: 'db-cluster-snapshot',
      sourceArn: 'arn',
      message: 'Manual cluster snapshot created',
      categories: ['backup'],
      date: new Date('2026-12-03T12:00:00.734Z'),
    };
    expect(eventBridgeEventId({ ...e, date: new Date('2026-12-03T12:00:00.000Z') })).toBe(
      eventBridgeEventId(e),
    );
    expect(eventBridgeEventId({ ...e, message: 'Creating manual cluster snapshot' })).not.toBe(
      eventBridgeEventId(e),
    );
    expect(eventBridgeEventId({ ...e, sourceIdentifier: 'weekly' })).not.toBe(eventBridgeEventId(e));
  });
});
