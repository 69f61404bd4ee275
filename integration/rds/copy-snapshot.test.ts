// CopyDBClusterSnapshot across regions as a DR runbook calls it, on a system started with --global
// (us-east-1 primary, us-west-2 secondary, an RDS API in each): rows written, a manual snapshot taken
// and waited for in us-east-1, then copied by calling the us-west-2 API with the snapshot's ARN (the
// JS SDK presigns the source region's request itself) and waited for there. The copy lands in
// `borealis-backup-us-west-2`, the bucket the us-west-2 secondary archives into, under its own id;
// refused copies change nothing; us-west-2's restore function restores a new cluster from the copy,
// run in us-west-2 (available on that region's API), holding the rows.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CopyDBClusterSnapshotCommand,
  CreateDBClusterSnapshotCommand,
  DBClusterSnapshotAlreadyExistsFault,
  DBClusterSnapshotNotFoundFault,
  DescribeDBClusterSnapshotsCommand,
  DescribeDBClustersCommand,
  type RDSClient,
  RestoreDBClusterFromSnapshotCommand,
  waitUntilDBClusterAvailable,
  waitUntilDBClusterSnapshotAvailable,
} from '@aws-sdk/client-rds';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { readGlobalState } from '../../embedded/global.ts';
import { clusterDirPath, readClusterEntry } from '../../embedded/state.ts';
import { endpointClients } from '../harness/cluster.ts';
import { rdsClient } from '../harness/rds.ts';
import { stopCluster } from '../harness/restore.ts';
import type { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('CopyDBClusterSnapshot from us-east-1 into us-west-2 (a --global system)', () => {
  const dir = makeTempDir('rds-copy-snapshot');
  let system: TestSystem;
  let east: RDSClient;
  let west: RDSClient;
  let writer: Sql;
  let sourceArn: string;
  /** The Query bodies the us-west-2 client sent (to see what the SDK adds). */
  const westBodies: string[] = [];

  beforeAll(async () => {
    system = await TestSystem.startGlobal(dir.path, 0);
    const eastStatus = JSON.parse((await system.cli('status', '--json')).stdout) as ClusterStatus;
    const secondary = readGlobalState(dir.path)!.secondaries[0]!;
    expect(secondary.region).toBe('us-west-2');
    const westStatus = (await (await fetch(`${secondary.controlPlaneUrl}/status`)).json()) as ClusterStatus;
    expect(eastStatus.endpoints.rds).toBeDefined();
    expect(westStatus.endpoints.rds).toBeDefined();
    expect(westStatus.endpoints.rds).not.toBe(eastStatus.endpoints.rds);
    east = rdsClient(eastStatus.endpoints.rds!, 'us-east-1');
    west = rdsClient(westStatus.endpoints.rds!, 'us-west-2');
    west.middlewareStack.add(
      (next) => async (args) => {
        westBodies.push(String((args.request as { body?: unknown }).body ?? ''));
        return next(args);
      },
      { step: 'finalizeRequest', name: 'recordBodies' },
    );
    writer = endpointClients(eastStatus).writer;
  }, 400_000);

  afterAll(async () => {
    east?.destroy();
    west?.destroy();
    writer?.close();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 180_000);

  it('copies a us-east-1 snapshot by its ARN on the us-west-2 API: copying, then available there, manual, with its source ARN', async () => {
    await writer.exec('create table c (id integer primary key, v text)');
    await writer.exec("insert into c values (1, 'one'), (2, 'two')");
    await east.send(
      new CreateDBClusterSnapshotCommand({
        DBClusterIdentifier: 'borealis',
        DBClusterSnapshotIdentifier: 'dr-source',
      }),
    );
    await waitUntilDBClusterSnapshotAvailable(
      { client: east, minDelay: 1, maxDelay: 2, maxWaitTime: 180 },
      { DBClusterSnapshotIdentifier: 'dr-source' },
    );
    const source = (
      await east.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'dr-source' }))
    ).DBClusterSnapshots![0]!;
    sourceArn = source.DBClusterSnapshotArn!;
    expect(sourceArn).toBe('arn:aws:rds:us-east-1:000000000000:cluster-snapshot:dr-source');

    const started = performance.now();
    const copied = await west.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: sourceArn,
        TargetDBClusterSnapshotIdentifier: 'dr-copy',
        CopyTags: true,
      }),
    );
    // The SDK presigned a CopyDBClusterSnapshot request for the source region: accepted, not needed.
    expect(westBodies.at(-1)).toMatch(/PreSignedUrl=https%3A%2F%2Frds\.us-east-1\.amazonaws\.com/);
    expect(copied.DBClusterSnapshot).toMatchObject({
      DBClusterSnapshotIdentifier: 'dr-copy',
      DBClusterIdentifier: 'borealis',
      DBClusterSnapshotArn: 'arn:aws:rds:us-west-2:000000000000:cluster-snapshot:dr-copy',
      SourceDBClusterSnapshotArn: sourceArn,
      SnapshotType: 'manual',
      Status: 'copying',
    });
    const waited = await waitUntilDBClusterSnapshotAvailable(
      { client: west, minDelay: 1, maxDelay: 1, maxWaitTime: 180 },
      { DBClusterSnapshotIdentifier: 'dr-copy' },
    );
    expect(waited.state).toBe('SUCCESS');
    console.log(
      `CopyDBClusterSnapshot us-east-1 → us-west-2: available ${(performance.now() - started).toFixed(0)} ms after the call (${source.AllocatedStorage} GiB allocated)`,
    );
    const described = (
      await west.send(new DescribeDBClusterSnapshotsCommand({ DBClusterIdentifier: 'borealis' }))
    ).DBClusterSnapshots!;
    expect(described.filter((s) => s.DBClusterSnapshotIdentifier === 'dr-copy')).toEqual([
      expect.objectContaining({
        Status: 'available',
        PercentProgress: 100,
        SnapshotType: 'manual',
        SourceDBClusterSnapshotArn: sourceArn,
        SnapshotCreateTime: source.SnapshotCreateTime,
      }),
    ]);
    // The source is where it was, unchanged.
    const after = (
      await east.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'dr-source' }))
    ).DBClusterSnapshots![0]!;
    expect(after).toEqual(source);
  }, 400_000);

  it('refuses a copy onto an existing snapshot, and of one us-east-1 does not have, changing nothing in us-west-2', async () => {
    const before = await west.send(new DescribeDBClusterSnapshotsCommand({}));
    await expect(
      west.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: sourceArn,
          TargetDBClusterSnapshotIdentifier: 'dr-copy',
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterSnapshotAlreadyExistsFault);
    await expect(
      west.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: sourceArn.replace('dr-source', 'no-such-snapshot'),
          TargetDBClusterSnapshotIdentifier: 'dr-copy-2',
        }),
      ),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    expect(await west.send(new DescribeDBClusterSnapshotsCommand({}))).toEqual({
      ...before,
      $metadata: expect.anything(),
    });
  }, 60_000);

  it("RestoreDBClusterFromSnapshot on the us-west-2 API from the copy: us-west-2's restore function restores it from borealis-backup-us-west-2, the new cluster runs in us-west-2 (available there) and holds the rows", async () => {
    const started = performance.now();
    const restored = await west.send(
      new RestoreDBClusterFromSnapshotCommand({
        DBClusterIdentifier: 'from-copy',
        SnapshotIdentifier: 'dr-copy',
        Engine: 'aurora-mysql',
      }),
    );
    expect(restored.DBCluster?.Status).toBe('creating');
    try {
      // The cluster runs in us-west-2 (the restore was asked there): that region's API shows it
      // available, as a DR runbook waits for it.
      expect(
        (
          await waitUntilDBClusterAvailable(
            { client: west, minDelay: 1, maxDelay: 2, maxWaitTime: 300 },
            { DBClusterIdentifier: 'from-copy' },
          )
        ).state,
      ).toBe('SUCCESS');
      const described = (await west.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'from-copy' })))
        .DBClusters![0]!;
      expect(described.DBClusterArn).toMatch(/^arn:aws:rds:us-west-2:\d{12}:cluster:from-copy$/);
      await expect(
        east.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'from-copy' })),
      ).rejects.toMatchObject({ name: 'DBClusterNotFoundFault' });
      console.log(
        `restore from the copy in us-west-2: serving ${(performance.now() - started).toFixed(0)} ms after the call`,
      );
      const job = JSON.parse(
        readFileSync(join(clusterDirPath(dir.path, 'from-copy'), 'restore-job.json'), 'utf8'),
      ) as RestoreJob;
      expect(job).toMatchObject({
        region: 'us-west-2',
        bucket: 'borealis-backup-us-west-2',
        sourceCluster: 'borealis',
        snapshot: { snapshotId: 'dr-copy' },
        chunkKeys: [],
      });
      const entry = readClusterEntry(dir.path, 'from-copy')!;
      const status = (await (await fetch(`${entry.controlPlaneUrl}/status`)).json()) as ClusterStatus;
      const { writer: restoredWriter, reader } = endpointClients(status);
      try {
        expect(await restoredWriter.rows('select id, v from c order by id')).toEqual([
          [1, 'one'],
          [2, 'two'],
        ]);
      } finally {
        restoredWriter.close();
        reader.close();
      }
    } finally {
      await stopCluster(dir.path, 'from-copy');
    }
  }, 400_000);
});
