import { describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../cluster/topology.ts';
import { clusterEvents, selectEvents } from './events.ts';

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
});
