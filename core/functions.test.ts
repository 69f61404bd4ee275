// The one definition of function triggers: stream names follow the cluster, and the Kinesis settings
// are ones Lambda accepts.
import { describe, expect, it } from 'vitest';
import { functionDefinitions, functionEnvironment, kinesisTriggers, rateMs } from './functions.ts';
import { regionalResources } from './resources.ts';

describe('function definitions', () => {
  it('feeds the backup archiver, the binlog streamer and the global replicator from the cluster redo stream', () => {
    const resources = regionalResources('us-west-2', 'blue');
    const triggers = kinesisTriggers(resources);
    expect(triggers.map((t) => [t.definition.name, t.streamName])).toEqual([
      ['backup-archiver', 'blue-redo'],
      ['binlog-streamer', 'blue-redo'],
      ['global-replicator', 'blue-redo'],
    ]);
    expect(triggers[0]!.trigger).toMatchObject({
      startingPosition: 'TRIM_HORIZON',
      reportBatchItemFailures: true,
      bisectOnError: true,
    });
    // Bounded: a poison record goes to the on-failure destination; the writer heals archive gaps.
    expect(triggers[0]!.trigger.retryAttempts).toBe(3);
    expect(functionEnvironment(resources, 'blue')).toEqual({
      BACKUP_BUCKET: 'blue-backup-us-west-2',
      CLUSTER_NAME: 'blue',
      BINLOG_STREAM: 'blue-binlog',
    });
    // The streamer: no batching window (CDC lag), bounded retries like the archiver.
    expect(triggers[1]!.trigger).toMatchObject({
      batchSize: 100,
      maxBatchingWindowMs: 0,
      startingPosition: 'TRIM_HORIZON',
      bisectOnError: true,
      retryAttempts: 3,
      reportBatchItemFailures: true,
    });
    // The replicator: in order, never split and never set aside (a skipped batch is a hole).
    expect(triggers[2]!.trigger).toMatchObject({
      maxBatchingWindowMs: 0,
      bisectOnError: false,
      reportBatchItemFailures: true,
    });
    expect(triggers[2]!.trigger.retryAttempts).toBeUndefined();
  });

  it('schedules snapshots and routes restore requests by EventBridge rule', () => {
    expect(functionDefinitions.snapshot.triggers).toContainEqual({
      kind: 'schedule',
      expression: 'rate(1 hour)',
    });
    expect(functionDefinitions.restore.triggers).toEqual([
      { kind: 'event', source: 'borealis', detailType: 'Borealis Restore Requested' },
    ]);
  });
});

describe('rateMs', () => {
  it('reads EventBridge rate expressions and refuses anything else', () => {
    expect(rateMs('rate(1 hour)')).toBe(3_600_000);
    expect(rateMs('rate(5 minutes)')).toBe(300_000);
    expect(rateMs('rate(2 days)')).toBe(172_800_000);
    expect(() => rateMs('cron(0 * * * ? *)')).toThrow(/not a rate expression/);
    for (const def of Object.values(functionDefinitions)) {
      for (const t of def.triggers)
        if (t.kind === 'schedule') expect(rateMs(t.expression)).toBeGreaterThan(0);
    }
  });
});
