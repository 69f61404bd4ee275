// The LocalStack suite: both region stacks deployed with `npm run deploy:local` to a real LocalStack
// (host mode, no Docker: tools/localstack), a cluster started with `borealis up --aws` against it,
// and the deployed functions doing their work through LocalStack's own triggers — run by the
// borealis-host Lambda executor as real `node` processes of the bundled handlers:
// - backup-archiver: Kinesis mapping on the deployed redo stream → log chunks and the watermark in
//   the deployed, KMS-encrypted bucket, gap-free up to the last acknowledged commit;
// - snapshot: an EventBridge request → a manifest whose page hashes match the volume's pages;
// - snapshot-export: an EventBridge request → Parquet of that snapshot that DuckDB reads back;
// - restore: an EventBridge request → the queue provisioner → a new cluster started by the
//   `up --aws` process, answering the restored rows;
// - backup-retention: invoked as its schedule rule would, keeping the window restorable;
// - a malformed record on the redo stream: the archiver reports it, the mapping retries, and the poison record
//   lands in the on-failure queue (LocalStack cuts the batch at a batch item failure rather than
//   bisecting) while the archive goes on;
// then a second deploy changes nothing and `npm run destroy:local` removes both stacks.
// Outside CI it is skipped without a LocalStack (endpoint.ts says how to start one); in CI, never.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  GetTemplateCommand,
  ListStackResourcesCommand,
} from '@aws-sdk/client-cloudformation';
import {
  DeleteRuleCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  RemoveTargetsCommand,
} from '@aws-sdk/client-eventbridge';
import { PutRecordCommand } from '@aws-sdk/client-kinesis';
import {
  GetFunctionConfigurationCommand,
  InvokeCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
} from '@aws-sdk/client-lambda';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventBridgeClient, kinesisClient, s3Client, ssmClient } from '../../core/aws/clients.ts';
import {
  type ChunkInfo,
  logPrefix,
  parseLogChunkKey,
  planLogChain,
  type SnapshotManifest,
  snapshotManifestKey,
  type Watermark,
  watermarkKey,
} from '../../core/backup/archive.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { borealisEventSource, eventDetailTypes, functionDefinitions } from '../../core/functions.ts';
import {
  defaultClusterName,
  primaryRegion,
  regionalResources,
  secondaryRegion,
} from '../../core/resources.ts';
import { validateVolumeConfig } from '../../core/volume.ts';
import { storagePageReader } from '../../functions/snapshot/source.ts';
import { type ExportTask, taskKey } from '../../functions/snapshot-export/task.ts';
import { downloadPrefix, duckdbRows } from '../../functions/snapshot-export/testing.ts';
import { borealis } from '../cli/run.ts';
import { endpointClients } from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';
import {
  localStackCredentials,
  localStackEnv,
  localStackTarget,
  requireLocalStack,
  until,
} from './endpoint.ts';

const target = localStackTarget();
if (target.skipReason) console.log(`integration/localstack/deploy: skipped — ${target.skipReason}`);

const run = promisify(execFile);
const cluster = defaultClusterName;
const region = primaryRegion;
const resources = regionalResources(region, cluster);
/** cdklocal synth (bundling every function twice) plus CloudFormation in LocalStack, two stacks. */
const deployTimeoutMs = 10 * 60_000;
/** The executor starts a function's process on its first invocation; the archiver waits 1 s to batch. */
const functionTimeoutMs = 120_000;

describe.skipIf(target.skipReason !== undefined)(
  'Borealis on LocalStack: deploy, up --aws, functions, destroy',
  () => {
    const endpoint = target.endpoint ?? '';
    const env = localStackEnv(endpoint, region);
    const credentials = localStackCredentials;
    const s3 = s3Client({ region, env });
    const ssm = ssmClient({ region, env });
    const events = eventBridgeClient({ region, env });
    const kinesis = kinesisClient({ region, env });
    const sqs = new SQSClient({ region, endpoint, credentials });
    const lambda = new LambdaClient({ region, endpoint, credentials });
    const cloudFormation = (r: string) => new CloudFormationClient({ region: r, endpoint, credentials });
    const dir = makeTempDir('localstack-suite');
    const stateDir = `${dir.path}/state`;
    const timings: Record<string, number> = {};
    const restoredCluster = `${cluster}-restored`;
    let status: ClusterStatus | undefined;
    let lastAckedVdl = 0n;
    let lastAckedAtMs = 0;
    /** Commit time of the last acknowledged commit, as archived: the latest restorable time. */
    let lastCommitTimeMs = 0;
    let snapshotId: string | undefined;
    /** The restore function answers on EventBridge: a rule of the test's own sends answers to a queue. */
    const answersRule = `${cluster}-localstack-suite-restore-answers`;
    let answersQueueUrl: string | undefined;

    const cli = (args: string[], timeoutMs = 180_000) =>
      borealis([...args, '--state-dir', stateDir], { timeoutMs, env });
    const deploy = async (script: 'deploy:local' | 'destroy:local') => {
      const started = Date.now();
      const out = await run('npm', ['run', '-s', script], {
        env,
        timeout: deployTimeoutMs,
        maxBuffer: 64 << 20,
      }).catch((error: { stdout?: string; stderr?: string }) => {
        throw new Error(`npm run ${script} failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
      });
      return { output: `${out.stdout}${out.stderr}`, ms: Date.now() - started };
    };

    beforeAll(async () => {
      requireLocalStack(target);
      const { ms } = await deploy('deploy:local');
      timings.deployMs = ms;
    }, deployTimeoutMs + 60_000);

    afterAll(async () => {
      await events.send(new RemoveTargetsCommand({ Rule: answersRule, Ids: ['queue'] })).catch(() => {});
      await events.send(new DeleteRuleCommand({ Name: answersRule })).catch(() => {});
      if (answersQueueUrl)
        await sqs.send(new DeleteQueueCommand({ QueueUrl: answersQueueUrl })).catch(() => {});
      await cli(['down', '--cluster', restoredCluster]).catch(() => undefined);
      await cli(['down']).catch(() => undefined);
      for (const client of [s3, ssm, events, kinesis, sqs, lambda]) client.destroy();
      console.log(`integration/localstack/deploy timings: ${JSON.stringify(timings)}`);
      dir.remove();
    }, 120_000);

    it('deploys both region stacks: every function active, the archiver mapped as core/functions.ts says', async () => {
      for (const [r, name] of [
        [region, 'borealis-primary'],
        [secondaryRegion, 'borealis-secondary'],
      ] as const) {
        const client = cloudFormation(r);
        const out = await client.send(new DescribeStacksCommand({ StackName: name }));
        expect(out.Stacks?.[0]?.StackStatus, name).toMatch(/^(CREATE|UPDATE)_COMPLETE$/);
        client.destroy();
      }
      for (const definition of Object.values(functionDefinitions)) {
        const config = await lambda.send(
          new GetFunctionConfigurationCommand({ FunctionName: `${cluster}-${definition.name}` }),
        );
        expect(config.State, definition.name).toBe('Active');
        expect(config.Runtime).toBe('nodejs22.x');
      }
      const trigger = functionDefinitions['backup-archiver'].triggers.find((t) => t.kind === 'kinesis')!;
      const mappings = await lambda.send(
        new ListEventSourceMappingsCommand({ FunctionName: `${cluster}-backup-archiver` }),
      );
      expect(mappings.EventSourceMappings).toHaveLength(1);
      expect(mappings.EventSourceMappings![0]).toMatchObject({
        BatchSize: trigger.batchSize,
        MaximumBatchingWindowInSeconds: trigger.maxBatchingWindowMs / 1000,
        BisectBatchOnFunctionError: trigger.bisectOnError,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        MaximumRetryAttempts: trigger.retryAttempts ?? -1,
      });
      // The deployed bucket is declared SSE-KMS with the stack's own key. LocalStack 4.13's
      // CloudFormation never applies BucketEncryption (GetBucketEncryption answers AES256 there), so the
      // deployed template is what can be checked here; on AWS the bucket itself enforces it.
      const template = await cloudFormation(region).send(
        new GetTemplateCommand({ StackName: 'borealis-primary' }),
      );
      const declared = Object.values(
        JSON.parse(template.TemplateBody!).Resources as Record<
          string,
          { Type: string; Properties: Record<string, unknown> }
        >,
      ).find((r) => r.Type === 'AWS::S3::Bucket' && r.Properties.BucketName === resources.backupBucket);
      expect(declared?.Properties.BucketEncryption).toMatchObject({
        ServerSideEncryptionConfiguration: [
          { ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms', KMSMasterKeyID: expect.anything() } },
        ],
      });
    });

    it(
      'a second deploy changes nothing',
      async () => {
        const before = await lambda.send(
          new GetFunctionConfigurationCommand({ FunctionName: `${cluster}-backup-archiver` }),
        );
        const { output, ms } = await deploy('deploy:local');
        timings.redeployMs = ms;
        expect(output).toMatch(/Primary \(borealis-primary\) \(no changes\)/);
        expect(output).toMatch(/Secondary \(borealis-secondary\) \(no changes\)/);
        const after = await lambda.send(
          new GetFunctionConfigurationCommand({ FunctionName: `${cluster}-backup-archiver` }),
        );
        expect(after.CodeSha256).toBe(before.CodeSha256);
        expect(after.LastModified).toBe(before.LastModified);
      },
      deployTimeoutMs,
    );

    it('`borealis up --aws` runs the cluster against LocalStack and publishes its topology to SSM', async () => {
      const started = Date.now();
      const up = await cli([
        'up',
        '--aws',
        '--detach',
        '--json',
        '--readers',
        '1',
        '--pg-count',
        '2',
        '--pages-per-pg',
        '2048',
      ]);
      expect(up.code, `${up.stdout}\n${up.stderr}`).toBe(0);
      timings.upMs = Date.now() - started;
      const out = await cli(['status', '--json']);
      status = JSON.parse(out.stdout) as ClusterStatus;
      expect(status.writer).not.toBeNull();
      const topology = await until('a writer in the SSM topology', 30_000, async () => {
        const p = await ssm.send(new GetParameterCommand({ Name: `/borealis/${cluster}/topology` }));
        const parsed = JSON.parse(p.Parameter?.Value ?? '{}') as { writer?: { id: string } | null };
        return parsed.writer ? parsed : undefined;
      });
      expect(topology.writer!.id).toBe(status.writer);
    }, 240_000);

    it(
      'writes through the proxy reach the deployed bucket as a gap-free log up to the last acknowledged commit',
      async () => {
        const { writer } = endpointClients(status!);
        await writer.exec('create table t(id integer primary key, v text)');
        for (let i = 0; i < 20; i++) await writer.exec('insert into t(v) values (:v)', { v: `row-${i}` });
        lastAckedAtMs = Date.now();
        const afterWrites = JSON.parse((await cli(['status', '--json'])).stdout) as ClusterStatus;
        lastAckedVdl = BigInt(afterWrites.vdl!);
        const started = Date.now();
        const watermark = await until(
          'the watermark past the last acknowledged commit',
          functionTimeoutMs,
          async () => {
            const object = await s3.send(
              new GetObjectCommand({ Bucket: resources.backupBucket, Key: watermarkKey(cluster) }),
            );
            const w = JSON.parse(await object.Body!.transformToString()) as Watermark;
            return BigInt(w.lsn) >= lastAckedVdl ? w : undefined;
          },
        );
        timings.archiveLagMs = Date.now() - started;
        expect(BigInt(watermark.commitLsn)).toBeGreaterThanOrEqual(lastAckedVdl);
        expect(watermark.commitTimeMs).toBeLessThanOrEqual(lastAckedAtMs);
        lastCommitTimeMs = watermark.commitTimeMs;
        // Every chunk's key carries its LSN range; from LSN 0 they chain without a gap to the watermark.
        const listed = await s3.send(
          new ListObjectsV2Command({ Bucket: resources.backupBucket, Prefix: logPrefix(cluster) }),
        );
        const chunks = (listed.Contents ?? [])
          .map((o) => parseLogChunkKey(o.Key!))
          .filter((c): c is ChunkInfo => !!c);
        expect(chunks.length).toBeGreaterThan(0);
        const chain = planLogChain(chunks, 0n);
        expect(chain.endLsn).toBeGreaterThanOrEqual(lastAckedVdl);
        expect(chain.endLsn).toBe(BigInt(watermark.lsn));
        expect(chain.chunks[0]!.prevLsn).toBe(0n);
      },
      functionTimeoutMs + 60_000,
    );

    it(
      'a snapshot requested on EventBridge leaves a manifest whose pages are the volume’s pages at its LSN',
      async () => {
        snapshotId = `localstack-${Date.now()}`;
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
        const started = Date.now();
        const manifest = await until('the snapshot manifest', functionTimeoutMs, async () => {
          const object = await s3.send(
            new GetObjectCommand({
              Bucket: resources.backupBucket,
              Key: snapshotManifestKey(cluster, snapshotId!),
            }),
          );
          return JSON.parse(await object.Body!.transformToString()) as SnapshotManifest;
        });
        timings.snapshotMs = Date.now() - started;
        expect(BigInt(manifest.lsn)).toBeGreaterThanOrEqual(lastAckedVdl);
        expect(manifest.pageCount).toBeGreaterThan(1);
        // The cluster's own pages at the manifest's LSN, read from storage as the volume config says.
        const published = await ssm.send(new GetParameterCommand({ Name: `/borealis/${cluster}/topology` }));
        const { volumeUrl } = JSON.parse(published.Parameter!.Value!) as { volumeUrl?: string };
        expect(volumeUrl, 'the published topology names the volume').toBeDefined();
        const volumeJson = (await (await fetch(volumeUrl!)).json()) as Parameters<
          typeof validateVolumeConfig
        >[0];
        const reader = storagePageReader(validateVolumeConfig(volumeJson));
        try {
          for (let pageNo = 1; pageNo <= manifest.pageCount; pageNo++) {
            const bytes = await reader.fetchPage(pageNo, BigInt(manifest.lsn));
            expect(createHash('sha256').update(bytes).digest('hex'), `page ${pageNo}`).toBe(
              manifest.pages[pageNo - 1],
            );
          }
        } finally {
          reader.close();
        }
      },
      functionTimeoutMs + 60_000,
    );

    it(
      'an export requested on EventBridge writes the snapshot’s tables as Parquet that DuckDB reads back',
      async () => {
        const exportTaskIdentifier = `localstack-export-${Date.now()}`;
        const put = await events.send(
          new PutEventsCommand({
            Entries: [
              {
                Source: borealisEventSource,
                DetailType: eventDetailTypes.exportRequested,
                Detail: JSON.stringify({ exportTaskIdentifier, cluster, snapshotIdentifier: snapshotId }),
              },
            ],
          }),
        );
        expect(put.FailedEntryCount ?? 0).toBe(0);
        const started = Date.now();
        const task = await until('the export task COMPLETE', functionTimeoutMs, async () => {
          const object = await s3.send(
            new GetObjectCommand({ Bucket: resources.backupBucket, Key: taskKey(exportTaskIdentifier) }),
          );
          const t = JSON.parse(await object.Body!.transformToString()) as ExportTask;
          if (t.Status === 'FAILED') throw new Error(`export FAILED: ${t.FailureCause}`);
          return t.Status === 'COMPLETE' ? t : undefined;
        });
        timings.exportMs = Date.now() - started;
        expect(task.ExportedRowCount).toBe(20);
        const local = `${dir.path}/export`;
        await downloadPrefix(s3, resources.backupBucket, `exports/${exportTaskIdentifier}/`, local);
        const parquet = await duckdbRows(
          `${local}/exports/${exportTaskIdentifier}/${cluster}/${cluster}.t/1/*.parquet`,
          'id',
        );
        expect(parquet.rows).toEqual(Array.from({ length: 20 }, (_, i) => [BigInt(i + 1), `row-${i}`]));
      },
      functionTimeoutMs + 30_000,
    );

    it(
      'a restore requested on EventBridge brings up a new cluster that answers the restored rows',
      async () => {
        const queue = await sqs.send(new CreateQueueCommand({ QueueName: answersRule }));
        answersQueueUrl = queue.QueueUrl!;
        const attributes = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: answersQueueUrl, AttributeNames: ['QueueArn'] }),
        );
        await events.send(
          new PutRuleCommand({
            Name: answersRule,
            EventPattern: JSON.stringify({
              source: [borealisEventSource],
              'detail-type': [eventDetailTypes.restoreCompleted, eventDetailTypes.restoreFailed],
            }),
          }),
        );
        await events.send(
          new PutTargetsCommand({
            Rule: answersRule,
            Targets: [{ Id: 'queue', Arn: attributes.Attributes!.QueueArn! }],
          }),
        );
        const requestId = `localstack-${Date.now()}`;
        const put = await events.send(
          new PutEventsCommand({
            Entries: [
              {
                Source: borealisEventSource,
                DetailType: eventDetailTypes.restoreRequested,
                Detail: JSON.stringify({
                  requestId,
                  sourceCluster: cluster,
                  targetCluster: restoredCluster,
                  restoreTime: new Date(lastCommitTimeMs).toISOString(),
                }),
              },
            ],
          }),
        );
        expect(put.FailedEntryCount ?? 0).toBe(0);
        const started = Date.now();
        const answer = await until('the restore function’s answer', 5 * 60_000, async () => {
          const out = await sqs.send(
            new ReceiveMessageCommand({
              QueueUrl: answersQueueUrl,
              WaitTimeSeconds: 5,
              MaxNumberOfMessages: 10,
            }),
          );
          for (const message of out.Messages ?? []) {
            const event = JSON.parse(message.Body ?? '{}') as {
              'detail-type': string;
              detail: { requestId: string };
            };
            if (event.detail?.requestId === requestId) return event;
          }
          return undefined;
        });
        expect(answer, JSON.stringify(answer)).toMatchObject({
          'detail-type': eventDetailTypes.restoreCompleted,
        });
        const restored = await until('the restored cluster serving', 60_000, async () => {
          const out = await cli(['status', '--json', '--cluster', restoredCluster]);
          if (out.code !== 0) return undefined;
          const s = JSON.parse(out.stdout) as ClusterStatus;
          return s.writer && s.endpoints.writer && s.restore?.phase === 'done' ? s : undefined;
        });
        timings.restoreMs = Date.now() - started;
        const { writer } = endpointClients(restored);
        const rows = await writer.rows('select id, v from t order by id');
        expect(rows).toEqual(Array.from({ length: 20 }, (_, i) => [i + 1, `row-${i}`]));
      },
      5 * 60_000 + 60_000,
    );

    it('backup-retention, invoked as its schedule rule does, keeps the window restorable', async () => {
      const out = await lambda.send(
        new InvokeCommand({
          FunctionName: `${cluster}-backup-retention`,
          Payload: Buffer.from(
            JSON.stringify({ 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} }),
          ),
        }),
      );
      expect(out.FunctionError, Buffer.from(out.Payload ?? []).toString()).toBeUndefined();
      const result = JSON.parse(Buffer.from(out.Payload!).toString()) as {
        earliestRestorableTime: string | null;
        latestRestorableTime: string | null;
        deleted: Record<string, number>;
      };
      // Everything here is younger than the one-day window: nothing may go, and all of it is restorable.
      expect(result.deleted).toEqual({ manifests: 0, chunks: 0, packs: 0, pages: 0 });
      expect(Date.parse(result.latestRestorableTime!)).toBeGreaterThanOrEqual(lastCommitTimeMs);
      expect(Date.parse(result.earliestRestorableTime!)).toBeLessThanOrEqual(lastAckedAtMs);
    });

    it(
      'a malformed record on the redo stream is reported, retried, set aside alone in the on-failure queue; the archive goes on',
      async () => {
        const stack = await cloudFormation(region).send(
          new ListStackResourcesCommand({ StackName: 'borealis-primary' }),
        );
        const queueResource = stack.StackResourceSummaries?.find(
          (r) => r.ResourceType === 'AWS::SQS::Queue' && r.LogicalResourceId?.includes('backuparchiver'),
        );
        expect(queueResource, 'the archiver mapping’s on-failure queue').toBeDefined();
        const queueUrl = queueResource!.PhysicalResourceId!.startsWith('http')
          ? queueResource!.PhysicalResourceId!
          : (await sqs.send(new GetQueueUrlCommand({ QueueName: queueResource!.PhysicalResourceId! })))
              .QueueUrl!;
        const poison = await kinesis.send(
          new PutRecordCommand({
            StreamName: resources.redoStream.name,
            PartitionKey: cluster,
            Data: Buffer.from('not a redo batch'),
          }),
        );
        const started = Date.now();
        const message = await until(
          'the poison record in the on-failure queue',
          functionTimeoutMs,
          async () => {
            const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, WaitTimeSeconds: 5 }));
            return out.Messages?.[0];
          },
        );
        timings.poisonToQueueMs = Date.now() - started;
        const body = JSON.parse(message.Body!) as {
          requestContext?: { condition?: string; approximateInvokeCount?: number };
          KinesisBatchInfo?: { startSequenceNumber: string; endSequenceNumber: string; batchSize: number };
        };
        // The batch item failure names the poison record: the mapping retried from it (LocalStack cuts
        // the batch there; it does not bisect) until the retries ran out, then set it aside — alone,
        // since nothing else was written meanwhile.
        expect(body.requestContext?.condition).toBe('RetryAttemptsExhausted');
        expect(body.KinesisBatchInfo).toMatchObject({
          startSequenceNumber: poison.SequenceNumber,
          endSequenceNumber: poison.SequenceNumber,
          batchSize: 1,
        });
        // The shard moved past it: a commit after the poison record is archived.
        const { writer } = endpointClients(status!);
        await writer.exec('insert into t(v) values (:v)', { v: 'after-the-poison' });
        const afterPoison = JSON.parse((await cli(['status', '--json'])).stdout) as ClusterStatus;
        await until('the watermark past the write after the poison record', functionTimeoutMs, async () => {
          const object = await s3.send(
            new GetObjectCommand({ Bucket: resources.backupBucket, Key: watermarkKey(cluster) }),
          );
          const w = JSON.parse(await object.Body!.transformToString()) as Watermark;
          return BigInt(w.lsn) >= BigInt(afterPoison.vdl!) ? w : undefined;
        });
      },
      2 * functionTimeoutMs + 30_000,
    );

    it(
      '`npm run destroy:local` removes both stacks',
      async () => {
        await cli(['down', '--cluster', restoredCluster]);
        await cli(['down']);
        const { ms } = await deploy('destroy:local');
        timings.destroyMs = ms;
        for (const [r, name] of [
          [region, 'borealis-primary'],
          [secondaryRegion, 'borealis-secondary'],
        ] as const) {
          const client = cloudFormation(r);
          const out = await client
            .send(new DescribeStacksCommand({ StackName: name }))
            .catch((error: Error) => ({ Stacks: [], error }));
          const stackStatus = out.Stacks?.[0]?.StackStatus;
          expect(
            stackStatus === undefined || stackStatus === 'DELETE_COMPLETE',
            `${name}: ${stackStatus}`,
          ).toBe(true);
          client.destroy();
        }
      },
      deployTimeoutMs,
    );
  },
);
