// Runs only against a real LocalStack (LOCALSTACK_ENDPOINT=http://127.0.0.1:4566): deploys both
// region stacks with cdklocal (npm run deploy:local, compute=external), runs the cluster's processes
// here pointed at LocalStack — the control plane registers the topology in the deployed SSM
// parameter, the writer publishes redo to the deployed stream — writes through it, and checks what
// the deployed functions leave in S3: log chunks and the watermark (backup archiver, Kinesis
// mapping), a snapshot manifest (snapshot, EventBridge rule), then a restore requested on
// EventBridge answering Completed.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import {
  DeleteRuleCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventBridgeClient, s3Client, ssmClient } from '../../core/aws/clients.ts';
import { logPrefix, snapshotManifestKey, watermarkKey } from '../../core/backup/archive.ts';
import type { Topology } from '../../core/cluster/topology.ts';
import { borealisEventSource, eventDetailTypes } from '../../core/functions.ts';
import { defaultClusterName, primaryRegion, regionalResources } from '../../core/resources.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import type { RestoreRequestedDetail } from '../../functions/restore/handler.ts';
import { topologyParameterName } from '../../services/control-plane/topology-publisher.ts';
import { endpointClients, startTestCluster } from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const endpoint = process.env.LOCALSTACK_ENDPOINT;
if (!endpoint) {
  console.log(
    'integration/localstack/deploy: skipped — set LOCALSTACK_ENDPOINT to a running LocalStack to deploy the CDK app and run these',
  );
}

const run = promisify(execFile);
const cluster = defaultClusterName;
const region = primaryRegion;
const resources = regionalResources(region, cluster);
/** cdklocal synth (bundling 4 functions) plus CloudFormation in LocalStack, for two stacks. */
const deployTimeoutMs = 20 * 60_000;
/** A Lambda in LocalStack starts its container on the first invocation: allow for it. */
const functionTimeoutMs = 5 * 60_000;
const pollIntervalMs = 2_000;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, pollIntervalMs));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(lastError ?? 'no result')}`);
}

describe.skipIf(!endpoint)('CDK app on LocalStack (compute=external)', () => {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: process.env.AWS_ENDPOINT_URL_S3 ?? endpoint,
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    AWS_REGION: region,
  };
  const s3 = s3Client({ region, env });
  const ssm = ssmClient({ region, env });
  const events = eventBridgeClient({ region, env });
  const sqs = new SQSClient({
    region,
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  });
  const dir = makeTempDir('localstack-deploy');
  const resultsName = `${cluster}-localstack-test-restore-results`;
  let system: LocalCluster | undefined;
  let queueUrl: string | undefined;

  beforeAll(async () => {
    const { stdout, stderr } = await run('sh', ['cdk/bin/deploy-local.sh'], {
      env,
      timeout: deployTimeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    }).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`npm run deploy:local failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
    });
    expect(`${stdout}${stderr}`).toMatch(/Primary/);
    system = await startTestCluster({ dir: dir.path, readers: 1, env });
  }, deployTimeoutMs + 240_000);

  afterAll(async () => {
    await system?.stop();
    await events.send(new RemoveTargetsCommand({ Rule: resultsName, Ids: ['queue'] })).catch(() => {});
    await events.send(new DeleteRuleCommand({ Name: resultsName })).catch(() => {});
    if (queueUrl) await sqs.send(new DeleteQueueCommand({ QueueUrl: queueUrl })).catch(() => {});
    for (const client of [s3, ssm, events, sqs]) client.destroy();
    dir.remove();
  }, 60_000);

  it('the control plane registers the cluster in the deployed topology parameter', async () => {
    const topology = await until('a writer in the SSM topology', 60_000, async () => {
      const out = await ssm.send(new GetParameterCommand({ Name: topologyParameterName(cluster) }));
      const parsed = JSON.parse(out.Parameter?.Value ?? '{}') as Topology;
      return parsed.writer ? parsed : undefined;
    });
    expect(topology.version).toBeGreaterThan(0);
  });

  it(
    'writes reach S3 as log chunks and a watermark through the deployed archiver',
    async () => {
      const status = await system!.status();
      const { writer } = endpointClients(status);
      await writer.exec('create table t(id integer primary key, v text)');
      for (let i = 0; i < 20; i++) await writer.exec('insert into t(v) values (:v)', { v: `row-${i}` });
      const chunks = await until('log chunks in the backup bucket', functionTimeoutMs, async () => {
        const out = await s3.send(
          new ListObjectsV2Command({ Bucket: resources.backupBucket, Prefix: logPrefix(cluster) }),
        );
        return (out.KeyCount ?? 0) > 0 ? out.Contents : undefined;
      });
      expect(chunks!.length).toBeGreaterThan(0);
      const watermark = await s3.send(
        new GetObjectCommand({ Bucket: resources.backupBucket, Key: watermarkKey(cluster) }),
      );
      expect(JSON.parse(await watermark.Body!.transformToString())).toBeTypeOf('object');
    },
    functionTimeoutMs + 60_000,
  );

  it(
    'a snapshot requested on EventBridge writes its manifest',
    async () => {
      const snapshotId = `localstack-${Date.now()}`;
      const put = await events.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: borealisEventSource,
              DetailType: eventDetailTypes.snapshotRequested,
              Detail: JSON.stringify({ cluster, snapshotId }),
            },
          ],
        }),
      );
      expect(put.FailedEntryCount ?? 0).toBe(0);
      await until('the snapshot manifest', functionTimeoutMs, async () => {
        await s3.send(
          new HeadObjectCommand({
            Bucket: resources.backupBucket,
            Key: snapshotManifestKey(cluster, snapshotId),
          }),
        );
        return true;
      });
    },
    functionTimeoutMs + 30_000,
  );

  it(
    'a restore requested on EventBridge completes',
    async () => {
      // The restore answers on EventBridge: a rule of the test's own sends the answers to a queue.
      const queue = await sqs.send(new CreateQueueCommand({ QueueName: resultsName }));
      queueUrl = queue.QueueUrl!;
      const attributes = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['QueueArn'] }),
      );
      const queueArn = attributes.Attributes!.QueueArn!;
      await sqs.send(
        new SetQueueAttributesCommand({
          QueueUrl: queueUrl,
          Attributes: {
            Policy: JSON.stringify({
              Version: '2012-10-17',
              Statement: [
                {
                  Effect: 'Allow',
                  Principal: { Service: 'events.amazonaws.com' },
                  Action: 'sqs:SendMessage',
                  Resource: queueArn,
                },
              ],
            }),
          },
        }),
      );
      await events.send(
        new PutRuleCommand({
          Name: resultsName,
          EventPattern: JSON.stringify({
            source: [borealisEventSource],
            'detail-type': [eventDetailTypes.restoreCompleted, eventDetailTypes.restoreFailed],
          }),
        }),
      );
      await events.send(
        new PutTargetsCommand({ Rule: resultsName, Targets: [{ Id: 'queue', Arn: queueArn }] }),
      );

      const detail: RestoreRequestedDetail = {
        requestId: `localstack-${Date.now()}`,
        sourceCluster: cluster,
        targetCluster: `${cluster}-restored`,
        restoreTime: new Date().toISOString(),
      };
      await events.send(
        new PutEventsCommand({
          Entries: [
            {
              Source: borealisEventSource,
              DetailType: eventDetailTypes.restoreRequested,
              Detail: JSON.stringify(detail),
            },
          ],
        }),
      );
      const answer = await until('the restore answer', functionTimeoutMs, async () => {
        const out = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 10, MaxNumberOfMessages: 10 }),
        );
        for (const message of out.Messages ?? []) {
          const event = JSON.parse(message.Body ?? '{}') as {
            'detail-type': string;
            detail: { requestId: string };
          };
          if (event.detail?.requestId === detail.requestId) return event;
        }
        return undefined;
      });
      expect(answer, JSON.stringify(answer)).toMatchObject({
        'detail-type': eventDetailTypes.restoreCompleted,
      });
    },
    functionTimeoutMs + 60_000,
  );
});
