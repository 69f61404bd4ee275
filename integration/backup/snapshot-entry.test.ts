// The snapshot function's Lambda entry (functions/snapshot/index.ts) in embedded mode, as the local
// function runner calls it: it finds the cluster through the topology its control plane persists
// (BOREALIS_TOPOLOGY_DIR/<cluster>/topology.json → volumeUrl, writer.httpUrl) — no state dir, no
// embedded/ import — and writes a snapshot of the running cluster to the S3 emulator. A cluster that
// published nothing is a clear error. (The same entry against SSM: integration/localstack/up-aws.test.ts.)
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../core/aws/clients.ts';
import { embeddedEndpointVariable } from '../../core/aws/endpoints.ts';
import { topologyDirVariable } from '../../core/cluster/topology-store.ts';
import { eventDetailTypes, functionEnv } from '../../core/functions.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { listManifests } from '../../functions/snapshot/catalog.ts';
import { createHandler } from '../../functions/snapshot/index.ts';
import { endpointClients, startTestCluster } from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const s3Entry = fileURLToPath(new URL('../../embedded/s3-emulator.ts', import.meta.url));
const cluster = 'borealis';
const bucket = 'borealis-backup-us-east-1';
const lambdaContext = { getRemainingTimeInMillis: () => 900_000 } as never;

describe('snapshot entry in embedded mode', () => {
  const dir = makeTempDir('snapshot-entry');
  const clustersDir = join(dir.path, 'clusters');
  let s3server: ManagedProcess | undefined;
  let system: LocalCluster | undefined;
  let s3: S3Client;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    [s3server, system] = await Promise.all([
      spawnProcess({
        name: 's3',
        entry: s3Entry,
        args: ['--data-dir', join(dir.path, 's3')],
        nodeFlags: ['--openssl-legacy-provider'],
        logFile: join(dir.path, 'logs', 's3.log'),
      }),
      // The cluster's dir is where the embedded launcher puts it: <state-dir>/clusters/<name>.
      startTestCluster({ dir: join(clustersDir, cluster), readers: 0 }),
    ]);
    env = {
      AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
      AWS_REGION: 'us-east-1',
      [embeddedEndpointVariable('s3', 'us-east-1')]: `http://127.0.0.1:${s3server.ready.port}`,
      [topologyDirVariable]: clustersDir,
      [functionEnv.clusterName]: cluster,
      [functionEnv.backupBucket]: bucket,
    };
    s3 = s3Client({ region: 'us-east-1', env });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 240_000);

  afterAll(async () => {
    s3?.destroy();
    await system?.stop();
    await s3server?.stop();
    dir.remove();
  }, 60_000);

  it('finds the running cluster through its persisted topology and writes its snapshot', async () => {
    const { writer } = endpointClients(await system!.status());
    await writer.exec('create table t(id integer primary key, v text)');
    await writer.exec("insert into t(v) values ('a'), ('b')");
    writer.client.destroy();
    const handler = createHandler(env);
    const result = await handler(
      {
        source: 'borealis',
        'detail-type': eventDetailTypes.snapshotRequested,
        detail: { cluster, snapshotId: 'entry-1' },
      } as never,
      lambdaContext,
    );
    expect(result).toMatchObject({ snapshotId: 'entry-1', created: true, changedPagesFrom: 'full' });
    expect((await listManifests(s3, bucket, cluster)).map((m) => m.snapshotId)).toEqual(['entry-1']);
  }, 120_000);

  it('a cluster that published no topology there is a clear error', async () => {
    const handler = createHandler(env);
    await expect(
      handler(
        {
          source: 'borealis',
          'detail-type': eventDetailTypes.snapshotRequested,
          detail: { cluster: 'nowhere' },
        } as never,
        lambdaContext,
      ),
    ).rejects.toThrow(
      `no cluster 'nowhere': ${join(clustersDir, 'nowhere', 'topology.json')} does not exist`,
    );
  });
});
