// Against a real LocalStack (endpoint.ts: LOCALSTACK_ENDPOINT or `npm run localstack -- start`): `borealis up
// --aws` on deployed resources. The resources are created here with the SDK (not CDK: the lead's
// deploy suite covers the stacks) for a cluster of this test's own name: the KMS-encrypted backup
// bucket, the redo stream, the topology parameter and the provision queue. Shown, in order:
// `up --aws` refuses with one line while they are missing and starts nothing; with them it starts,
// the control plane publishes the topology to SSM with a writer, a write through the proxy works and
// its redo reaches the stream; the snapshot handler finds the cluster through SSM alone; a restore
// asked through the queue provisioner (the restore handler in-process, against LocalStack's SQS and
// SSM) is started by the running `up --aws` and answers the restored rows; destroy removes it.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
} from '@aws-sdk/client-kinesis';
import { DescribeDBClustersCommand, RDSClient } from '@aws-sdk/client-rds';
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectsCommand,
  ListObjectsV2Command,
  PutBucketEncryptionCommand,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, DeleteQueueCommand } from '@aws-sdk/client-sqs';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import type { EventBridgeEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client, sqsClient, ssmClient } from '../../core/aws/clients.ts';
import { decodeRedoBatchHeader } from '../../core/backup/redo-batch.ts';
import { consistentPointRoute, decodeConsistentPoint } from '../../core/cluster/consistent-point.ts';
import { decodeProvisionStatus, provisionStatusParameterName } from '../../core/cluster/provision.ts';
import type { ClusterStatus, Topology } from '../../core/cluster/topology.ts';
import {
  parsePublishedTopology,
  ssmTopologyReader,
  topologyParameterName,
} from '../../core/cluster/topology-store.ts';
import { eventDetailTypes, functionEnv } from '../../core/functions.ts';
import { regionalResources } from '../../core/resources.ts';
import { isPidAlive, type SystemState } from '../../embedded/state.ts';
import {
  handleRestoreRequested,
  type RestoreCompletedDetail,
  type RestoreFailedDetail,
} from '../../functions/restore/handler.ts';
import { QueueProvisioner } from '../../functions/restore/queue-provisioner.ts';
import { createHandler as createSnapshotHandler } from '../../functions/snapshot/index.ts';
import { localStackDir } from '../../tools/localstack/localstack.ts';
import { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { localStackCredentials, localStackTarget, requireLocalStack, until } from './endpoint.ts';

const localStack = localStackTarget();
if (localStack.skipReason) console.log(`integration/localstack/up-aws: skipped — ${localStack.skipReason}`);
const endpoint = localStack.endpoint;

const bin = fileURLToPath(new URL('../../bin/borealis.js', import.meta.url));
const region = 'us-east-1';
/** Its own cluster name, so a stack the lead deployed (cluster `borealis`) is never touched. */
const cluster = `upaws-${Date.now().toString(36)}`;
const target = `${cluster}-r`;
const resources = regionalResources(region, cluster);
/** Six storage nodes, a writer, the proxy on a loaded 2-core machine. */
const upTimeoutMs = 240_000;
const restoreTimeoutMs = 300_000;

function run(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [bin, ...args], { env, timeout: timeoutMs }, (error, stdout, stderr) => {
      resolve({
        code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
        stdout,
        stderr,
      });
    });
  });
}

describe.skipIf(localStack.skipReason !== undefined)('borealis up --aws on LocalStack', () => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_REGION: region,
    BOREALIS_DEBUG: '',
  };
  const s3 = s3Client({ region, env });
  const kinesis = kinesisClient({ region, env });
  const ssm = ssmClient({ region, env });
  const sqs = sqsClient({ region, env });
  const dir = makeTempDir('up-aws');
  const stateDir = join(dir.path, 'state');
  const upArgs = [
    'up',
    '--aws',
    '--detach',
    '--cluster',
    cluster,
    '--state-dir',
    stateDir,
    '--readers',
    '0',
    '--pg-count',
    '2',
    '--pages-per-pg',
    '1024',
    '--timeout-ms',
    String(upTimeoutMs),
  ];
  let queueUrl = '';
  let topology: Topology | undefined;
  let writer: Sql | undefined;
  let snapshotId = '';
  /** Every process `up --aws` started for its cluster (launcher, control plane, proxy, instances, nodes). */
  const pids: number[] = [];

  afterAll(async () => {
    await run(['down', '--state-dir', stateDir], env, 60_000);
    // Whatever `down` left (it should leave nothing): the launcher by its pid.
    const systemFile = join(stateDir, 'system.json');
    if (existsSync(systemFile)) {
      const pid = (JSON.parse(readFileSync(systemFile, 'utf8')) as { launcherPid: number }).launcherPid;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    const listed = await s3
      .send(new ListObjectsV2Command({ Bucket: resources.backupBucket }))
      .catch(() => undefined);
    const keys = (listed?.Contents ?? []).map((o) => ({ Key: o.Key! }));
    if (keys.length > 0)
      await s3.send(new DeleteObjectsCommand({ Bucket: resources.backupBucket, Delete: { Objects: keys } }));
    await s3.send(new DeleteBucketCommand({ Bucket: resources.backupBucket })).catch(() => {});
    await kinesis.send(new DeleteStreamCommand({ StreamName: resources.redoStream.name })).catch(() => {});
    for (const name of [
      topologyParameterName(cluster),
      topologyParameterName(target),
      provisionStatusParameterName(target),
    ]) {
      await ssm.send(new DeleteParameterCommand({ Name: name })).catch(() => {});
    }
    if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    writer?.client.destroy();
    for (const client of [s3, kinesis, ssm, sqs]) client.destroy();
    dir.remove();
  }, 120_000);

  it('refuses with one line while the deployed resources are missing, and starts nothing', async () => {
    const out = await run(upArgs, env, 60_000);
    expect(out.code).toBe(1);
    expect(out.stderr).toBe(
      `borealis: bucket ${resources.backupBucket} not found at ${endpoint}: deploy first (npm run deploy:local)\n`,
    );
    expect(existsSync(join(stateDir, 'system.json'))).toBe(false);
  }, 90_000);

  describe('with the resources deployed', () => {
    beforeAll(async () => {
      requireLocalStack(localStack);
      await s3.send(new CreateBucketCommand({ Bucket: resources.backupBucket }));
      // SSE-KMS by default, as the stack's bucket: nothing that writes to it names a key.
      await s3.send(
        new PutBucketEncryptionCommand({
          Bucket: resources.backupBucket,
          ServerSideEncryptionConfiguration: {
            Rules: [
              { ApplyServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true },
            ],
          },
        }),
      );
      await kinesis.send(new CreateStreamCommand({ StreamName: resources.redoStream.name, ShardCount: 1 }));
      await until('the redo stream to be ACTIVE', 60_000, async () => {
        const d = await kinesis.send(new DescribeStreamCommand({ StreamName: resources.redoStream.name }));
        return d.StreamDescription?.StreamStatus === 'ACTIVE' ? true : undefined;
      });
      await ssm.send(
        new PutParameterCommand({
          Name: topologyParameterName(cluster),
          Type: 'String',
          Value: JSON.stringify({ cluster, version: 0, writer: null, readers: [] }),
        }),
      );
      queueUrl = (await sqs.send(new CreateQueueCommand({ QueueName: resources.provisionQueue }))).QueueUrl!;
    }, 120_000);

    it(
      'starts, and the control plane publishes the topology to SSM with a writer',
      async () => {
        const out = await run(upArgs, env, upTimeoutMs + 30_000);
        expect(out.stderr).toBe('');
        expect(out.code).toBe(0);
        expect(out.stdout).toMatch(new RegExp(`^borealis: cluster ${cluster} \\(${region}\\) is ready`));
        topology = await until('a writer in the SSM topology', 30_000, async () => {
          const value = (await ssm.send(new GetParameterCommand({ Name: topologyParameterName(cluster) })))
            .Parameter?.Value;
          const t = parsePublishedTopology(value ?? '', 'ssm');
          return t.writer && t.endpoints?.writer ? t : undefined;
        });
        expect(topology.cluster).toBe(cluster);
        expect(topology.writer!.httpUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(topology.controlPlaneUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect(topology.volumeUrl).toBe(`${topology.controlPlaneUrl}/volume`);
        expect(topology.endpoints!.writer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        // The state dir works as with `npm start`: `status` finds the cluster there.
        const status = await run(['status', '--json', '--state-dir', stateDir], env, 60_000);
        expect(status.code).toBe(0);
        const parsed = JSON.parse(status.stdout) as ClusterStatus;
        expect(parsed).toMatchObject({ cluster, writer: topology.writer!.id });
        const system = JSON.parse(readFileSync(join(stateDir, 'system.json'), 'utf8')) as SystemState;
        pids.push(
          system.launcherPid,
          system.cluster!.controlPlanePid!,
          system.cluster!.proxyPid!,
          ...parsed.instances.map((i) => i.pid!),
          ...parsed.storageNodes.map((n) => n.pid!),
        );
      },
      upTimeoutMs + 60_000,
    );

    it('a write through the proxy commits, and its redo reaches the deployed stream', async () => {
      expect(topology).toBeDefined();
      writer = new Sql({
        endpoint: topology!.endpoints!.writer!,
        resourceArn: topology!.resourceArn,
        secretArn: topology!.secretArn,
      });
      await writer.exec('create table t(id integer primary key, v text)');
      for (let i = 1; i <= 5; i++)
        await writer.exec('insert into t(id, v) values (:id, :v)', { id: i, v: `row-${i}` });
      const rows = await writer.exec('select count(*) as n from t');
      expect(rows.records?.[0]?.[0]?.longValue).toBe(5);
      // The newest durable commit, from the writer's side port as the topology names it.
      const point = decodeConsistentPoint(
        await (await fetch(new URL(consistentPointRoute, topology!.writer!.httpUrl!))).json(),
      );
      const shardId = (
        await kinesis.send(new DescribeStreamCommand({ StreamName: resources.redoStream.name }))
      ).StreamDescription!.Shards![0]!.ShardId!;
      let iterator = (
        await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: resources.redoStream.name,
            ShardId: shardId,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        )
      ).ShardIterator;
      let published = 0n;
      await until('redo up to the last commit in the stream', 60_000, async () => {
        const out = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
        iterator = out.NextShardIterator;
        for (const record of out.Records ?? []) {
          expect(record.PartitionKey).toBe(cluster);
          const header = decodeRedoBatchHeader(record.Data!);
          if (header.lastCommitLsn > published) published = header.lastCommitLsn;
        }
        return published >= point.lsn ? true : undefined;
      });
      expect(published).toBeGreaterThanOrEqual(point.lsn);
    }, 120_000);

    it('@aws-sdk/client-rds through AWS_ENDPOINT_URL_RDS and `aws rds --endpoint-url` reach Borealis; every other service stays LocalStack', async () => {
      expect(topology).toBeDefined();
      const status = JSON.parse(
        (await run(['status', '--json', '--state-dir', stateDir], env, 60_000)).stdout,
      ) as ClusterStatus;
      const rdsUrl = status.endpoints.rds!;
      expect(rdsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const rdsEnv = { ...env, AWS_ENDPOINT_URL_RDS: rdsUrl };
      // The JavaScript SDK takes the endpoint from the environment alone, as a user's code does.
      const saved = process.env.AWS_ENDPOINT_URL_RDS;
      process.env.AWS_ENDPOINT_URL_RDS = rdsUrl;
      const rds = new RDSClient({ region, credentials: localStackCredentials });
      try {
        const { DBClusters } = await rds.send(
          new DescribeDBClustersCommand({ DBClusterIdentifier: cluster }),
        );
        expect(DBClusters?.[0]).toMatchObject({
          DBClusterIdentifier: cluster,
          Status: 'available',
          Engine: 'aurora-mysql',
        });
      } finally {
        rds.destroy();
        if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_RDS;
        else process.env.AWS_ENDPOINT_URL_RDS = saved;
      }
      // The aws CLI from PyPI (in LocalStack's venv), unchanged, with --endpoint-url: awscli 1.x sends
      // `rds` in us-east-1 to rds.amazonaws.com unless told (its SSL common-name override runs before
      // AWS_ENDPOINT_URL_RDS is read); awscli 2 is not on PyPI.
      const aws = join(localStackDir(), 'venv', 'bin', 'aws');
      expect(existsSync(aws), `${aws} (awscli is in tools/localstack/requirements.txt)`).toBe(true);
      const cli = (args: string[]) =>
        new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
          execFile(
            aws,
            [...args, '--region', region, '--output', 'json'],
            { env: rdsEnv, timeout: 60_000 },
            (error, stdout, stderr) =>
              resolve({
                code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1,
                stdout,
                stderr,
              }),
          );
        });
      const rdsCli = (args: string[]) => cli(['rds', ...args, '--endpoint-url', rdsUrl]);
      const described = await rdsCli(['describe-db-clusters', '--db-cluster-identifier', cluster]);
      expect(described.stderr).toBe('');
      const shown = JSON.parse(described.stdout) as {
        DBClusters: { DBClusterIdentifier: string; DBClusterMembers: unknown[] }[];
      };
      expect(shown.DBClusters.map((c) => c.DBClusterIdentifier)).toEqual([cluster]);
      expect(shown.DBClusters[0]!.DBClusterMembers).toHaveLength(1);
      // RDS's wire codes, as botocore matches them.
      const missing = await rdsCli(['describe-db-instances', '--db-instance-identifier', 'nope']);
      expect(missing.code).not.toBe(0);
      expect(missing.stderr).toMatch(/\(DBInstanceNotFound\)/);
      // Everything else still goes to LocalStack (AWS_ENDPOINT_URL): the deployed backup bucket is there.
      const bucket = await cli(['s3api', 'head-bucket', '--bucket', resources.backupBucket]);
      expect(bucket.code, bucket.stderr).toBe(0);
    }, 180_000);

    it('the snapshot handler finds the cluster through SSM alone and writes to the KMS bucket', async () => {
      snapshotId = `upaws-${Date.now()}`;
      const handler = createSnapshotHandler({
        ...env,
        [functionEnv.clusterName]: cluster,
        [functionEnv.backupBucket]: resources.backupBucket,
      });
      const result = await handler(
        {
          source: 'borealis',
          'detail-type': eventDetailTypes.snapshotRequested,
          detail: { cluster, snapshotId },
        } as never,
        { getRemainingTimeInMillis: () => 900_000 } as never,
      );
      expect(result).toMatchObject({ snapshotId, created: true });
      expect((result as { pageCount: number }).pageCount).toBeGreaterThan(0);
    }, 120_000);

    it(
      'a restore through the provision queue brings up a new cluster with the rows, and destroy removes it',
      async () => {
        const provisioner = new QueueProvisioner({
          sqs,
          ssm,
          queueUrl,
          readTopology: ssmTopologyReader(ssm),
          createTimeoutMs: restoreTimeoutMs,
        });
        const emitted: Array<[string, RestoreCompletedDetail | RestoreFailedDetail]> = [];
        const event = {
          'detail-type': eventDetailTypes.restoreRequested,
          source: 'borealis',
          detail: {
            requestId: `req-${Date.now()}`,
            sourceCluster: cluster,
            targetCluster: target,
            snapshotId,
          },
        } as unknown as EventBridgeEvent<string, unknown>;
        const result = await handleRestoreRequested(event, {
          s3,
          bucket: resources.backupBucket,
          region,
          provisioner,
          emit: async (type, detail) => {
            emitted.push([type, detail]);
          },
        });
        expect(emitted.map(([type]) => type)).toEqual([eventDetailTypes.restoreCompleted]);
        const completed = result as RestoreCompletedDetail;
        expect(completed.targetCluster).toBe(target);
        const status = decodeProvisionStatus(
          (await ssm.send(new GetParameterCommand({ Name: provisionStatusParameterName(target) }))).Parameter!
            .Value!,
        );
        expect(status.state).toBe('ready');
        const restored = new Sql({
          endpoint: completed.endpoints.writer!,
          resourceArn: completed.resourceArn,
          secretArn: completed.secretArn,
        });
        try {
          const rows = await restored.exec('select id, v from t order by id');
          expect(rows.records?.map((r) => [r[0]?.longValue, r[1]?.stringValue])).toEqual(
            [1, 2, 3, 4, 5].map((i) => [i, `row-${i}`]),
          );
        } finally {
          restored.client.destroy();
        }

        await provisioner.destroy(target);
        await expect(
          ssm.send(new GetParameterCommand({ Name: topologyParameterName(target) })),
        ).rejects.toMatchObject({ name: 'ParameterNotFound' });
        expect(existsSync(join(stateDir, 'clusters', target))).toBe(false);
      },
      restoreTimeoutMs + 120_000,
    );

    it('`borealis down --cluster NAME` stops the system it runs as, every process of it', async () => {
      expect(pids.length).toBe(3 + 1 + 6);
      const out = await run(['down', '--cluster', cluster, '--state-dir', stateDir], env, 90_000);
      expect(out.code).toBe(0);
      expect(out.stdout).toMatch(/^borealis: stopped the system in /);
      expect(pids.filter(isPidAlive)).toEqual([]);
      expect(existsSync(join(stateDir, 'system.json'))).toBe(false);
    }, 120_000);
  });
});
