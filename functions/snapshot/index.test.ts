import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeConsistentPoint, encodeConsistentPoint } from '../../core/cluster/consistent-point.ts';
import { createHandler, parseSnapshotEvent } from './index.ts';

describe('snapshot events', () => {
  it('takes a scheduled event for CLUSTER_NAME', () => {
    const event = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
    expect(parseSnapshotEvent(event, { CLUSTER_NAME: 'prod' })).toEqual({
      cluster: 'prod',
      request: { scheduled: true },
    });
    expect(parseSnapshotEvent(event, {})).toEqual({ cluster: 'borealis', request: { scheduled: true } });
  });

  it('takes an on-demand request with an optional id', () => {
    const event = (detail: unknown) => ({
      source: 'borealis',
      'detail-type': 'Borealis Snapshot Requested',
      detail,
    });
    expect(parseSnapshotEvent(event({ cluster: 'c1' }), {})).toEqual({ cluster: 'c1', request: {} });
    expect(parseSnapshotEvent(event({ cluster: 'c1', snapshotId: 'nightly-3' }), {})).toEqual({
      cluster: 'c1',
      request: { snapshotId: 'nightly-3' },
    });
    expect(() => parseSnapshotEvent(event({}), {})).toThrow(/detail.cluster/);
    expect(() => parseSnapshotEvent(event({ cluster: 'c', snapshotId: 'a/b' }), {})).toThrow(/snapshotId/);
    expect(() =>
      parseSnapshotEvent({ source: 'x', 'detail-type': 'Borealis Snapshot Requested' }, {}),
    ).toThrow(/expected/);
    expect(() => parseSnapshotEvent(null, {})).toThrow(/not an object/);
  });

  it('round-trips the writer consistent point document', () => {
    const point = { lsn: 2n ** 63n, commitTimeMs: 17, pgTails: new Map([[3, 99n]]) };
    const doc = encodeConsistentPoint(point, 4n);
    expect(doc).toEqual({ lsn: '9223372036854775808', commitTimeMs: 17, pgTails: { '3': '99' }, epoch: '4' });
    expect(decodeConsistentPoint(JSON.parse(JSON.stringify(doc)))).toEqual(point);
    expect(() => decodeConsistentPoint({ ...doc, lsn: 5 })).toThrow(/lsn/);
    expect(() => decodeConsistentPoint({ ...doc, pgTails: { x: '1' } })).toThrow(/tail/);
  });

  it('skips a scheduled snapshot of a Global Database secondary, and only then', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'borealis-snapshot-topology-'));
    try {
      const publish = (globalRole: string | undefined) => {
        mkdirSync(join(dir, 'g'), { recursive: true });
        writeFileSync(
          join(dir, 'g', 'topology.json'),
          JSON.stringify({
            version: 3,
            cluster: 'g',
            region: 'us-west-2',
            epoch: '2',
            writer: null,
            readers: [],
            failoverInProgress: false,
            resourceArn: 'arn:aws:rds:us-west-2:000000000000:cluster:g',
            secretArn: 'arn:aws:secretsmanager:us-west-2:000000000000:secret:g',
            updatedAt: new Date().toISOString(),
            ...(globalRole === undefined ? {} : { globalRole }),
          }),
        );
      };
      const handler = createHandler({
        BOREALIS_TOPOLOGY_DIR: dir,
        CLUSTER_NAME: 'g',
        AWS_REGION: 'us-west-2',
      });
      const scheduled = { source: 'aws.events', 'detail-type': 'Scheduled Event', detail: {} };
      publish('secondary');
      expect(await handler(scheduled as never, {} as never)).toEqual({
        skipped: 'global-secondary',
        cluster: 'g',
      });
      // A primary (or no Global Database) is snapshotted: with no volume published it fails saying so.
      for (const role of ['primary', undefined]) {
        publish(role);
        await expect(handler(scheduled as never, {} as never)).rejects.toThrow(
          /has not published its volume/,
        );
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
