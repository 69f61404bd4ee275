// The region's events gathered (events.ts) and answered by DescribeEvents through RdsApi, driven by
// @aws-sdk/client-rds: a fake control plane over HTTP (GET /status with a failover and a finished
// restore, GET /backtracks), the backup bucket's manifest listing stubbed at the S3 client, snapshots
// started and restores failed as the API saw them; a source that does not answer costs only its own
// events.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DescribeEventsCommand, RDSClient } from '@aws-sdk/client-rds';
import type { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { sampleStatus } from '../../cli/testing.ts';
import type { DbClusterBacktrack } from '../../core/backtrack/request.ts';
import { snapshotManifestKey } from '../../core/backup/archive.ts';
import type { ClusterStatus, Topology } from '../../core/cluster/topology.ts';
import type { RestoreFailure } from '../../core/rds/events.ts';
import { RdsApi } from './api.ts';
import type { ClusterDirectory } from './clusters.ts';
import { RegionEvents } from './events.ts';
import type { ClusterRestores } from './restores.ts';
import type { ClusterSnapshots } from './snapshots.ts';
import { serveRdsApi } from './testing.ts';

const t0 = Date.parse('2026-12-03T12:00:00.000Z');
const at = (s: number) => new Date(t0 + s * 1_000);
const automatedId = 'snap-20261203T115000000Z-00000000000000000042';

describe('DescribeEvents over the region’s events', () => {
  let controlPlane: Server;
  let controlPlaneUrl: string;
  let api: Server;
  let rds: RDSClient;
  let backtracksAnswer: { status: number; body: unknown };
  let listing: () => Promise<unknown>;
  const warnings: unknown[] = [];

  const status: ClusterStatus = {
    ...sampleStatus(),
    failovers: [
      {
        at: at(-50).toISOString(),
        kind: 'planned',
        from: 'instance-1',
        to: 'instance-2',
        reason: 'asked',
        durationMs: 1_000,
        epoch: '4',
      },
    ],
    restore: {
      requestId: 'r-1',
      sourceCluster: 'prod',
      phase: 'done',
      done: 1,
      total: 1,
      restoreTime: at(-3_600).toISOString(),
      restoredToCommitTime: at(-3_601).toISOString(),
      bytes: 1,
      startedAt: at(-70).toISOString(),
      finishedAt: at(-60).toISOString(),
    },
  };
  const backtracks: DbClusterBacktrack[] = [
    {
      BacktrackIdentifier: 'backtrack-1',
      BacktrackTo: at(-600).toISOString(),
      BacktrackedFrom: at(-40).toISOString(),
      BacktrackRequestCreationTime: at(-40).toISOString(),
      Status: 'completed',
      EndTime: at(-38).toISOString(),
    },
  ];

  const directory: ClusterDirectory = {
    names: async () => ['borealis'],
    read: async (cluster) => {
      if (cluster !== 'borealis')
        throw Object.assign(new Error(`no cluster '${cluster}'`), { notFound: true });
      return { cluster, controlPlaneUrl } as Topology;
    },
  };
  const s3 = {
    send: async (command: ListObjectsV2Command) => {
      expect(command.input).toMatchObject({ Bucket: 'borealis-backup-us-east-1' });
      return listing();
    },
  } as unknown as S3Client;
  const snapshots = {
    startedHere: () => [
      { cluster: 'borealis', id: 'mine', startedAt: at(-30) },
      // Stored, and known here to the millisecond: S3 lists it a whole second earlier, before its start.
      { cluster: 'borealis', id: 'exact', startedAt: at(-14.5), createdAt: at(-14.2) },
      { cluster: 'other', id: 'theirs', startedAt: at(-30) },
    ],
  } as unknown as ClusterSnapshots;
  const failures: RestoreFailure[] = [
    { target: 'broken', source: status, reason: 'no snapshot named x', at: at(-20) },
  ];
  const restores = {
    sweep: () => undefined,
    creating: () => [],
    failures: () => failures,
  } as unknown as ClusterRestores;

  beforeAll(async () => {
    controlPlane = createServer((req, res) => {
      const [code, body] =
        req.url === '/status'
          ? [200, status]
          : req.url === '/backtracks'
            ? [backtracksAnswer.status, backtracksAnswer.body]
            : [404, { error: 'NotFound', message: req.url }];
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => controlPlane.listen(0, '127.0.0.1', resolve));
    controlPlaneUrl = `http://127.0.0.1:${(controlPlane.address() as AddressInfo).port}`;
    api = createServer();
    await new Promise<void>((resolve) => api.listen(0, '127.0.0.1', resolve));
    const logger = pino({ level: 'silent' });
    serveRdsApi(
      api,
      new RdsApi({
        region: 'us-east-1',
        directory,
        logger,
        snapshots,
        restores,
        events: new RegionEvents({
          region: 'us-east-1',
          s3,
          directory,
          snapshots,
          restores,
          logger: { ...logger, warn: (fields: unknown) => warnings.push(fields) } as unknown as typeof logger,
        }),
      }),
    );
    rds = new RDSClient({
      endpoint: `http://127.0.0.1:${(api.address() as AddressInfo).port}`,
      region: 'us-east-1',
      credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    rds?.destroy();
    await new Promise((resolve) => api.close(resolve));
    await new Promise((resolve) => controlPlane.close(resolve));
  });
  beforeEach(() => {
    warnings.length = 0;
    backtracksAnswer = { status: 200, body: { backtracks } };
    listing = async () => ({
      IsTruncated: false,
      Contents: [
        { Key: snapshotManifestKey('borealis', 'mine'), LastModified: at(-25) },
        { Key: snapshotManifestKey('borealis', automatedId), LastModified: at(-10) },
        { Key: snapshotManifestKey('borealis', 'exact'), LastModified: at(-15) },
        // Not a manifest: a pack under the snapshots folder.
        {
          Key: `${snapshotManifestKey('borealis', 'mine').replace('.json', '')}/pack-1.bin`,
          LastModified: at(-25),
        },
      ],
    });
  });

  const describeEvents = async (input: ConstructorParameters<typeof DescribeEventsCommand>[0]) =>
    (
      (await rds.send(new DescribeEventsCommand({ StartTime: at(-3_600), EndTime: at(0), ...input })))
        .Events ?? []
    ).map((e) => [e.SourceType, e.SourceIdentifier, e.Message, e.Date?.toISOString()]);

  it('lists the failover, the restore that created the cluster, its backtrack and the failed restore on db-cluster, oldest first', async () => {
    expect(await describeEvents({ SourceType: 'db-cluster' })).toEqual([
      ['db-cluster', 'borealis', 'DB cluster created', at(-60).toISOString()],
      [
        'db-cluster',
        'borealis',
        `Restored from DB cluster prod to borealis at point in time ${at(-3_600).toISOString()}`,
        at(-60).toISOString(),
      ],
      [
        'db-cluster',
        'borealis',
        'Started cross AZ failover to DB instance: borealis-instance-2',
        at(-51).toISOString(),
      ],
      [
        'db-cluster',
        'borealis',
        'Completed failover to DB instance: borealis-instance-2',
        at(-50).toISOString(),
      ],
      [
        'db-cluster',
        'borealis',
        `Backtrack to ${at(-600).toISOString()} started (backtrack-1)`,
        at(-40).toISOString(),
      ],
      [
        'db-cluster',
        'borealis',
        `Backtrack to ${at(-600).toISOString()} completed (backtrack-1)`,
        at(-38).toISOString(),
      ],
      [
        'db-cluster',
        'broken',
        'Restore of DB cluster broken from borealis failed: no snapshot named x',
        at(-20).toISOString(),
      ],
    ]);
  });

  it('lists the snapshots started here and stored in the bucket (not another cluster’s) on db-cluster-snapshot, manual and automated; one started here dated by its manifest’s own time', async () => {
    expect(await describeEvents({ SourceType: 'db-cluster-snapshot' })).toEqual([
      ['db-cluster-snapshot', 'mine', 'Creating manual cluster snapshot', at(-30).toISOString()],
      ['db-cluster-snapshot', 'mine', 'Manual cluster snapshot created', at(-25).toISOString()],
      ['db-cluster-snapshot', 'exact', 'Creating manual cluster snapshot', at(-14.5).toISOString()],
      ['db-cluster-snapshot', 'exact', 'Manual cluster snapshot created', at(-14.2).toISOString()],
      [
        'db-cluster-snapshot',
        `rds:${automatedId}`,
        'Automated cluster snapshot created',
        at(-10).toISOString(),
      ],
    ]);
    expect(
      await describeEvents({ SourceType: 'db-cluster-snapshot', SourceIdentifier: `rds:${automatedId}` }),
    ).toHaveLength(1);
    expect(
      await describeEvents({ SourceType: 'db-cluster-snapshot', EventCategories: ['failover'] }),
    ).toEqual([]);
  });

  it('a control plane with no backtrack history this time and a bucket not made yet cost only their own events', async () => {
    backtracksAnswer = { status: 500, body: { error: 'Internal', message: 'boom' } };
    listing = async () => {
      throw Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket' });
    };
    const events = await describeEvents({});
    expect(events.map((e) => e[2])).toEqual([
      'DB cluster created',
      `Restored from DB cluster prod to borealis at point in time ${at(-3_600).toISOString()}`,
      'Started cross AZ failover to DB instance: borealis-instance-2',
      'Completed failover to DB instance: borealis-instance-2',
      'The user requested a failover of the DB cluster.',
      'Creating manual cluster snapshot',
      'Restore of DB cluster broken from borealis failed: no snapshot named x',
      'Creating manual cluster snapshot',
    ]);
    // The missing bucket is no news (no snapshot taken yet); the control plane's refusal is.
    expect(warnings).toEqual([
      expect.objectContaining({ cluster: 'borealis', err: 'GET /backtracks answered 500' }),
    ]);
  });
});
