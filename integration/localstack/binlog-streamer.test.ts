// The binlog streamer deployed to a real LocalStack (endpoint.ts: LOCALSTACK_ENDPOINT or `npm run
// localstack -- start`): the primary region's stack of a cluster of this test's own name is deployed
// with cdklocal (the same app as `npm run deploy:local`, so the lead's `borealis` stacks are never
// touched), then, through LocalStack's own Kinesis event source mapping and the borealis-host Lambda
// executor running the bundled handler:
// - the mapping is what core/functions.ts defines (batch 100, no batching window, bisect, retries,
//   batch item failures) and the function knows its binlog stream;
// - a redo batch holding RowImages records, put on the deployed redo stream, yields exactly the
//   envelopes on the deployed binlog stream, keyed by table and primary key — a change too large for
//   one record among them (fragments joined through the deployed bucket, the envelope over 1 MiB
//   stored there and referenced from the stream);
// - a malformed record on the redo stream lands in the streamer mapping's on-failure queue.
// Then the stack is destroyed. Outside CI it is skipped without a LocalStack; in CI, never.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { CloudFormationClient, ListStackResourcesCommand } from '@aws-sdk/client-cloudformation';
import { PutRecordsCommand } from '@aws-sdk/client-kinesis';
import {
  GetFunctionConfigurationCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
} from '@aws-sdk/client-lambda';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { encodeRedoBatch, packRedoBatches, type RedoBatch } from '../../core/backup/redo-batch.ts';
import {
  type BinlogEvent,
  eventsOfRecord,
  kinesisPartitionKey,
  MemoryFragmentStore,
  type RowEnvelope,
} from '../../core/binlog/events.ts';
import type { BinlogTable } from '../../core/binlog/row-images.ts';
import { functionDefinitions, functionEnv, type KinesisTrigger } from '../../core/functions.ts';
import { primaryRegion, regionalResources } from '../../core/resources.ts';
import { largeEnvelopeKey } from '../../functions/binlog-streamer/handler.ts';
import {
  readStream,
  rowImagesLog,
  type StreamRecord,
  type TestTxn,
} from '../../functions/binlog-streamer/testing.ts';
import { makeTempDir } from '../harness/temp.ts';
import {
  localStackCredentials,
  localStackEnv,
  localStackTarget,
  requireLocalStack,
  until,
} from './endpoint.ts';

const target = localStackTarget();
if (target.skipReason) console.log(`integration/localstack/binlog-streamer: skipped — ${target.skipReason}`);

const run = promisify(execFile);
const region = primaryRegion;
/** Its own cluster (and so stack, bucket and stream names). */
const cluster = `binlog-${Date.now().toString(36)}`;
const resources = regionalResources(region, cluster);
const functionName = `${cluster}-binlog-streamer`;
/** cdklocal synth (bundling every function) plus CloudFormation in LocalStack, one stack. */
const deployTimeoutMs = 10 * 60_000;
/** The executor starts the function's process on its first invocation. */
const functionTimeoutMs = 120_000;

describe.skipIf(target.skipReason !== undefined)('the binlog streamer deployed on LocalStack', () => {
  const endpoint = target.endpoint ?? '';
  const env = localStackEnv(endpoint, region);
  const credentials = localStackCredentials;
  const kinesis = kinesisClient({ region, env });
  const s3 = s3Client({ region, env });
  const lambda = new LambdaClient({ region, endpoint, credentials });
  const sqs = new SQSClient({ region, endpoint, credentials });
  const cloudFormation = new CloudFormationClient({ region, endpoint, credentials });
  const timings: Record<string, number> = {};
  let deployed = false;

  // Its own synth folder: the deploy test may be synthing to cdk.out at the same time (the CDK CLI
  // refuses a second synth into one folder).
  const cdkOut = makeTempDir('binlog-streamer-cdk-out');

  /** cdklocal on the CDK app, for this test's cluster (the primary region's stack only). */
  const cdk = async (args: string[]) => {
    const out = await run(
      'npx',
      ['cdklocal', ...args, '-c', `borealis:clusterName=${cluster}`, '--output', cdkOut.path, '--no-notices'],
      { env, timeout: deployTimeoutMs, maxBuffer: 64 << 20 },
    ).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`cdklocal ${args.join(' ')} failed:\n${error.stdout ?? ''}\n${error.stderr ?? ''}`);
    });
    return `${out.stdout}${out.stderr}`;
  };

  beforeAll(async () => {
    requireLocalStack(target);
    const started = Date.now();
    await cdk(['bootstrap']);
    await cdk(['deploy', 'Primary', '--require-approval', 'never']);
    deployed = true;
    timings.deployMs = Date.now() - started;
  }, 2 * deployTimeoutMs);

  afterAll(async () => {
    const started = Date.now();
    if (deployed) await cdk(['destroy', 'Primary', '--force']).catch((e: Error) => console.log(e.message));
    timings.destroyMs = Date.now() - started;
    cdkOut.remove();
    for (const client of [kinesis, s3, lambda, sqs, cloudFormation]) client.destroy();
    console.log(`integration/localstack/binlog-streamer timings: ${JSON.stringify(timings)}`);
  }, deployTimeoutMs);

  it('maps the deployed function to the redo stream as core/functions.ts defines it', async () => {
    const trigger = functionDefinitions['binlog-streamer'].triggers[0] as KinesisTrigger;
    const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: functionName }));
    expect(config.State).toBe('Active');
    expect(config.Environment?.Variables?.[functionEnv.binlogStream]).toBe(resources.binlogStream.name);
    const mappings = await lambda.send(new ListEventSourceMappingsCommand({ FunctionName: functionName }));
    expect(mappings.EventSourceMappings).toHaveLength(1);
    expect(mappings.EventSourceMappings![0]).toMatchObject({
      EventSourceArn: expect.stringContaining(`:stream/${resources.redoStream.name}`),
      BatchSize: trigger.batchSize,
      MaximumBatchingWindowInSeconds: 0,
      BisectBatchOnFunctionError: true,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      MaximumRetryAttempts: trigger.retryAttempts,
    });
  });

  it(
    'a redo batch of RowImages records on the deployed redo stream yields the envelopes on the deployed binlog stream',
    async () => {
      const users: BinlogTable = { name: 'users', columns: ['id', 'name', 'photo'], primaryKey: [0] };
      const notes: BinlogTable = { name: 'notes', columns: ['body'], primaryKey: [] };
      const txns: TestTxn[] = [
        {
          txnId: 1n,
          commitTimeMs: Date.now() - 1000,
          captured: {
            tables: [users, notes],
            changes: [
              {
                kind: 'ddl',
                sql: 'create table users(id integer primary key, name, photo)',
                tableName: 'users',
                tableOrdinal: 1,
              },
              {
                kind: 'row',
                table: 0,
                op: 'c',
                rowid: 1n,
                before: null,
                after: [1n, 'ann', null],
                tableOrdinal: 2,
              },
              { kind: 'row', table: 1, op: 'c', rowid: 9n, before: null, after: ['hi'], tableOrdinal: 1 },
            ],
          },
        },
        {
          txnId: 2n,
          commitTimeMs: Date.now() - 900,
          captured: {
            tables: [users, notes],
            changes: [
              // A primary-key update (a delete and a create) and a row too large for one record.
              {
                kind: 'row',
                table: 0,
                op: 'u',
                rowid: 2n,
                before: [1n, 'ann', null],
                after: [2n, 'ann', null],
                tableOrdinal: 1,
              },
              {
                kind: 'row',
                table: 0,
                op: 'c',
                rowid: 3n,
                before: null,
                after: [3n, 'big', new Uint8Array(800_000).fill(7)],
                tableOrdinal: 2,
              },
              { kind: 'row', table: 1, op: 'd', rowid: 9n, before: ['hi'], after: null, tableOrdinal: 1 },
            ],
          },
        },
      ];
      const batches = packRedoBatches(4n, 0n, rowImagesLog(txns), 600_000);
      expect(batches.length).toBeGreaterThan(1); // the large row's fragments need more than one batch
      const expected = await expectedEvents(batches);
      expect(expected).toHaveLength(7);
      const put = await kinesis.send(
        new PutRecordsCommand({
          StreamName: resources.redoStream.name,
          Records: batches.map((b) => ({ Data: encodeRedoBatch(b), PartitionKey: cluster })),
        }),
      );
      expect(put.FailedRecordCount ?? 0).toBe(0);
      const started = Date.now();
      const onStream = await until('the events on the binlog stream', functionTimeoutMs, async () => {
        const records = await readStream(kinesis, resources.binlogStream.name);
        return records.length >= expected.length ? records : undefined;
      });
      timings.firstEventsMs = Date.now() - started;
      const withoutTs = (json: object) => JSON.stringify({ ...json, ts_ms: 0 });
      const large = expected[5]!;
      const largeKey = largeEnvelopeKey(cluster, large.position);
      const referenced = (onStream[5]!.json as unknown as RowEnvelope).external!;
      expect(onStream.map((r: StreamRecord) => withoutTs(r.json))).toEqual(
        expected.map((e) =>
          withoutTs(
            e === large
              ? {
                  ...e.envelope,
                  before: null,
                  after: null,
                  // The stored envelope's size (its ts_ms is the emitting time): checked against S3 below.
                  external: { bucket: resources.backupBucket, key: largeKey, bytes: referenced.bytes },
                }
              : e.envelope,
          ),
        ),
      );
      expect(onStream.map((r) => r.partitionKey)).toEqual(
        expected.map((e) => kinesisPartitionKey(e.partitionKey)),
      );
      expect(onStream.map((r) => (r.json as { op?: string }).op ?? 'ddl')).toEqual([
        'ddl',
        'c',
        'c',
        'd',
        'c',
        'c',
        'd',
      ]);
      // The large envelope, whole, in the deployed bucket.
      const object = await s3.send(new GetObjectCommand({ Bucket: resources.backupBucket, Key: largeKey }));
      const storedText = await object.Body!.transformToString();
      expect(Buffer.byteLength(storedText)).toBe(referenced.bytes);
      expect(referenced.bytes).toBeGreaterThan(1024 * 1024);
      const stored = JSON.parse(storedText) as RowEnvelope;
      expect(withoutTs(stored)).toBe(withoutTs(large.envelope));
      expect(stored.after!.photo).toBe(Buffer.alloc(800_000, 7).toString('base64'));
    },
    functionTimeoutMs + 60_000,
  );

  it(
    'a malformed record on the redo stream lands in the streamer mapping’s on-failure queue',
    async () => {
      const stack = await cloudFormation.send(
        new ListStackResourcesCommand({ StackName: `${cluster}-primary` }),
      );
      const queueResource = stack.StackResourceSummaries?.find(
        (r) => r.ResourceType === 'AWS::SQS::Queue' && r.LogicalResourceId?.includes('binlogstreamer'),
      );
      expect(queueResource, 'the streamer mapping’s on-failure queue').toBeDefined();
      const queueUrl = queueResource!.PhysicalResourceId!.startsWith('http')
        ? queueResource!.PhysicalResourceId!
        : (await sqs.send(new GetQueueUrlCommand({ QueueName: queueResource!.PhysicalResourceId! })))
            .QueueUrl!;
      const poison = await kinesis.send(
        new PutRecordsCommand({
          StreamName: resources.redoStream.name,
          Records: [{ Data: Buffer.from('not a redo batch'), PartitionKey: cluster }],
        }),
      );
      const sequenceNumber = poison.Records![0]!.SequenceNumber!;
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
        requestContext?: { condition?: string };
        KinesisBatchInfo?: { startSequenceNumber: string; endSequenceNumber: string };
      };
      expect(body.requestContext?.condition).toBe('RetryAttemptsExhausted');
      expect(body.KinesisBatchInfo).toMatchObject({
        startSequenceNumber: sequenceNumber,
        endSequenceNumber: sequenceNumber,
      });
    },
    functionTimeoutMs + 30_000,
  );
});

/** What the streamer should put: every record's events, fragments joined in memory. */
async function expectedEvents(batches: RedoBatch[]): Promise<BinlogEvent[]> {
  const store = new MemoryFragmentStore();
  const out: BinlogEvent[] = [];
  for (const b of batches) {
    const ctx = { cluster, serverId: Number(b.epoch), nowMs: () => 0 };
    for (const r of b.records) out.push(...(await eventsOfRecord(r, ctx, store)));
  }
  return out;
}
