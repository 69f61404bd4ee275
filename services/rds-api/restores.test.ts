// The restores the restore function reports failed, as the RDS API keeps them for their events: each
// once, with its target, source and reason; the newest restoreFailuresKept.
import type { S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { sampleStatus } from '../../cli/testing.ts';
import type { BusEvent } from '../../core/events/file-bus.ts';
import { ClusterRestores, type RestoreBus, restoreFailuresKept } from './restores.ts';

describe('ClusterRestores failures', () => {
  it('a restore the function reports failed is kept once, with its reason; the newest restoreFailuresKept only', async () => {
    const put: BusEvent[] = [];
    const failed = new Set<string>();
    const bus: RestoreBus = {
      put: async (event) => {
        put.push(event);
      },
      failure: (requestId) => (failed.has(requestId) ? `no snapshot for ${requestId}` : undefined),
    };
    const restores = new ClusterRestores({
      region: 'us-east-1',
      s3: {} as S3Client,
      bus,
      logger: pino({ level: 'silent' }),
    });
    const source = sampleStatus();
    const requestOf = (target: string) =>
      (
        put.find((e) => (e.detail as { targetCluster: string }).targetCluster === target)!.detail as {
          requestId: string;
        }
      ).requestId;

    await restores.start(source, 'r-0', { snapshotId: 's' });
    restores.sweep(new Set());
    expect(restores.failures()).toEqual([]);
    failed.add(requestOf('r-0'));
    restores.sweep(new Set());
    restores.sweep(new Set());
    expect(restores.failures()).toEqual([
      { target: 'r-0', source, reason: `no snapshot for ${requestOf('r-0')}`, at: expect.any(Date) },
    ]);
    expect(restores.creating()).toEqual([]);

    for (let i = 1; i <= restoreFailuresKept + 4; i++) {
      await restores.start(source, `r-${i}`, { restoreTime: new Date() });
      failed.add(requestOf(`r-${i}`));
      restores.sweep(new Set());
    }
    const kept = restores.failures().map((f) => f.target);
    expect(kept).toHaveLength(restoreFailuresKept);
    expect(kept[0]).toBe('r-5');
    expect(kept.at(-1)).toBe(`r-${restoreFailuresKept + 4}`);
  });
});
