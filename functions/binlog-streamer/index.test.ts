// The Lambda entry: configuration from the environment, failing clearly (at the first invocation, not
// at import) when a variable is missing; and the function as the local runner wires it from its one
// definition (core/functions.ts): redo batches put on the redo stream come out as events on the
// binlog stream.
import { join } from 'node:path';
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient } from '../../core/aws/clients.ts';
import { encodeRedoBatch, packRedoBatches } from '../../core/backup/redo-batch.ts';
import { envelopeJson, eventsOfRecord, MemoryFragmentStore } from '../../core/binlog/events.ts';
import { functionDefinitions, functionEnvironment } from '../../core/functions.ts';
import { regionalResources } from '../../core/resources.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { FunctionRunner, kinesisFunctionsFor } from '../../embedded/function-runner.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { createHandler, streamerDepsFromEnv } from './index.ts';
import { readStream, rowImagesLog } from './testing.ts';

const lambdaContext = {} as Parameters<ReturnType<typeof createHandler>>[1];

describe('binlog-streamer entry', () => {
  it('reads bucket, cluster, binlog stream and region from the environment', () => {
    const env = { ...functionEnvironment(regionalResources('us-west-2', 'c'), 'c'), AWS_REGION: 'us-west-2' };
    const deps = streamerDepsFromEnv(env);
    expect(deps).toMatchObject({ bucket: 'c-backup-us-west-2', cluster: 'c', binlogStream: 'c-binlog' });
    deps.s3.destroy();
    deps.kinesis.destroy();
  });

  it('fails the invocation with the missing variable named', async () => {
    const env = { BACKUP_BUCKET: 'b', CLUSTER_NAME: 'c', AWS_REGION: 'us-east-1' };
    await expect(createHandler(env)({ Records: [] }, lambdaContext)).rejects.toThrow(
      /BINLOG_STREAM is not set/,
    );
    const { AWS_REGION: _, ...noRegion } = { ...env, BINLOG_STREAM: 's' };
    await expect(createHandler(noRegion)({ Records: [] }, lambdaContext)).rejects.toThrow(
      /AWS_REGION is not set/,
    );
  });

  it('answers an empty event with no failures', async () => {
    const handler = createHandler({
      BACKUP_BUCKET: 'b',
      CLUSTER_NAME: 'c',
      BINLOG_STREAM: 's',
      AWS_REGION: 'us-east-1',
    });
    expect(await handler({ Records: [] }, lambdaContext)).toEqual({ batchItemFailures: [] });
  });
});

describe('binlog-streamer in the local function runner', () => {
  const region = 'us-east-1';
  const cluster = 'runner-binlog';
  const resources = regionalResources(region, cluster);
  const dir = makeTempDir('binlog-runner');
  let emulators: Emulators;
  let kinesis: KinesisClient;

  beforeAll(async () => {
    emulators = await Emulators.start({ regions: [region], dataDir: join(dir.path, 'aws') });
    await provisionRegion(resources, emulators.env());
    kinesis = kinesisClient({ region, env: emulators.env() });
  });
  afterAll(async () => {
    kinesis?.destroy();
    await emulators?.stop();
    dir.remove();
  });

  it('runs from its definition: redo batches on the redo stream become events on the binlog stream', async () => {
    const [streamer] = kinesisFunctionsFor(resources, cluster, emulators.env()).filter(
      (fn) => fn.name === 'binlog-streamer',
    );
    expect(streamer).toMatchObject({
      streamName: resources.redoStream.name,
      trigger: functionDefinitions['binlog-streamer'].triggers[0],
      timeoutSeconds: functionDefinitions['binlog-streamer'].timeoutSeconds,
    });
    const records = rowImagesLog(
      Array.from({ length: 30 }, (_, t) => ({
        txnId: BigInt(t + 1),
        commitTimeMs: 1_700_000_000_000 + t,
        captured: {
          tables: [{ name: 't', columns: ['id', 'v'], primaryKey: [0] }],
          changes: [
            {
              kind: 'row',
              table: 0,
              op: 'c',
              rowid: BigInt(t),
              before: null,
              after: [BigInt(t), 'v'],
              tableOrdinal: 1,
            },
          ],
        },
      })),
    );
    const batches = packRedoBatches(2n, 0n, records, 1_000);
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: resources.redoStream.name,
        Records: batches.map((b) => ({ Data: encodeRedoBatch(b), PartitionKey: cluster })),
      }),
    );
    const runner = new FunctionRunner({
      region,
      stateDir: join(dir.path, 'state'),
      kinesis,
      functions: [streamer!],
      logger: pino({ level: 'silent' }),
    });
    await runner.start();
    try {
      const deadline = Date.now() + 20_000;
      let onStream = await readStream(kinesis, resources.binlogStream.name);
      while (onStream.length < 30 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        onStream = await readStream(kinesis, resources.binlogStream.name);
      }
      const store = new MemoryFragmentStore();
      const expected: string[] = [];
      for (const r of records) {
        for (const e of await eventsOfRecord(r, { cluster, serverId: 2, nowMs: () => 0 }, store)) {
          expected.push(envelopeJson({ ...e.envelope, ts_ms: 0 }));
        }
      }
      expect(onStream.map((r) => JSON.stringify({ ...r.json, ts_ms: 0 }))).toEqual(expected);
    } finally {
      await runner.stop();
    }
  });
});
