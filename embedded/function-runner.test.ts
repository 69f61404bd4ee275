// The local function runner against real kinesalite and s3rver processes: redo batches put on the
// stream reach the archiver as Lambda-shaped events, are archived within the trigger's batching
// window (a second) and a poll, and a
// restarted runner resumes from its checkpoint; batchItemFailures and thrown errors are retried
// from the right record, bisected, and finally set aside to the on-failure folder — a malformed
// record on the redo stream among them, while the records around it are archived.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type KinesisClient,
  type _Record as KinesisRecord,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import type { Context, KinesisStreamEvent } from 'aws-lambda';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../core/aws/clients.ts';
import type { Watermark } from '../core/backup/archive.ts';
import { encodeRedoBatch, packRedoBatches, type RedoBatch } from '../core/backup/redo-batch.ts';
import { functionDefinitions, type KinesisTrigger } from '../core/functions.ts';
import { spawnProcess } from '../core/process/spawn.ts';
import { regionalResources } from '../core/resources.ts';
import { readWatermark } from '../functions/backup-archiver/handler.ts';
import { syntheticLog } from '../functions/backup-archiver/testing.ts';
import { makeTempDir } from '../integration/harness/temp.ts';
import { Emulators } from './emulators.ts';
import {
  FunctionRunner,
  type KinesisFunction,
  kinesisFunctionsFor,
  type OnFailureEntry,
  PendingBatch,
} from './function-runner.ts';
import { provisionRegion } from './provision.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const region = 'us-east-1';
const cluster = 'runner';
const resources = regionalResources(region, cluster);
const logger = pino({ level: 'silent' });
const dir = makeTempDir('function-runner');
let emulators: Emulators;
let kinesis: KinesisClient;
let s3: S3Client;

beforeAll(async () => {
  emulators = await Emulators.start({ regions: [region], dataDir: join(dir.path, 'aws') });
  await provisionRegion(resources, emulators.env());
  kinesis = kinesisClient({ region, env: emulators.env() });
  s3 = s3Client({ region, env: emulators.env() });
});
afterAll(async () => {
  kinesis?.destroy();
  s3?.destroy();
  await emulators?.stop();
  dir.remove();
});

async function putBatches(stream: string, batches: Array<RedoBatch | Buffer>): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < batches.length; i += 500) {
    const put = await kinesis.send(
      new PutRecordsCommand({
        StreamName: stream,
        Records: batches.slice(i, i + 500).map((b) => ({
          Data: Buffer.isBuffer(b) ? b : encodeRedoBatch(b),
          PartitionKey: cluster,
        })),
      }),
    );
    expect(put.FailedRecordCount).toBe(0);
    out.push(...(put.Records ?? []).map((r) => r.SequenceNumber!));
  }
  return out;
}

/** Read as the archiver reads it (s3rver can serve a torn body while an overwrite is in flight). */
async function watermark(name = cluster, bucket = resources.backupBucket): Promise<Watermark | undefined> {
  return (await readWatermark({ s3, bucket, cluster: name }))?.value;
}

async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
): Promise<number> {
  const started = Date.now();
  while (!(await check())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
  return Date.now() - started;
}

const log = syntheticLog(400);
const batches = packRedoBatches(1n, 0n, log.records, 2_000);
const endOf = (i: number) => batches[i]!.records.at(-1)!.lsn.toString();

describe('function runner: backup archiver on the redo stream', () => {
  it('archives what the writer puts, and a restarted runner resumes after its checkpoint', async () => {
    const stateDir = join(dir.path, 'state');
    const seen: string[] = [];
    const events: KinesisStreamEvent[] = [];
    const functions = (): KinesisFunction[] =>
      kinesisFunctionsFor(resources, cluster, emulators.env())
        .filter((fn) => fn.name === 'backup-archiver')
        .map((fn) => ({
          ...fn,
          handler: async (event, context) => {
            events.push(event);
            seen.push(...event.Records.map((r) => r.kinesis.sequenceNumber));
            return fn.handler(event, context);
          },
        }));
    expect(functions().map((f) => [f.name, f.streamName])).toEqual([['backup-archiver', `${cluster}-redo`]]);

    const half = Math.floor(batches.length / 2);
    const first = await putBatches(resources.redoStream.name, batches.slice(0, half));
    let runner = new FunctionRunner({ region, stateDir, kinesis, functions: functions(), logger });
    await runner.start();
    const firstMs = await waitFor(
      'the first half archived',
      async () => (await watermark())?.lsn === endOf(half - 1),
    );
    expect(firstMs).toBeLessThan(5_000);
    await runner.stop();
    expect(seen).toEqual(first);

    // The exact Lambda event shape.
    const record = events[0]!.Records[0]!;
    expect(record).toMatchObject({
      eventSource: 'aws:kinesis',
      eventName: 'aws:kinesis:record',
      eventVersion: '1.0',
      awsRegion: region,
      eventSourceARN: `arn:aws:kinesis:${region}:000000000000:stream/${cluster}-redo`,
      eventID: `shardId-000000000000:${first[0]}`,
      kinesis: { kinesisSchemaVersion: '1.0', partitionKey: cluster, sequenceNumber: first[0] },
    });
    expect(Buffer.from(record.kinesis.data, 'base64')).toEqual(encodeRedoBatch(batches[0]!));
    expect(record.kinesis.approximateArrivalTimestamp).toBeGreaterThan(Date.now() / 1000 - 60);
    const trigger = functionDefinitions['backup-archiver'].triggers[0] as KinesisTrigger;
    expect(Math.max(...events.map((e) => e.Records.length))).toBeLessThanOrEqual(trigger.batchSize);

    const checkpoint = join(
      stateDir,
      'functions',
      region,
      'checkpoints',
      'backup-archiver',
      `${cluster}-redo`,
    );
    expect(JSON.parse(readFileSync(join(checkpoint, 'shardId-000000000000.json'), 'utf8'))).toMatchObject({
      sequenceNumber: first.at(-1),
    });

    // Restart: only the new records are delivered.
    seen.length = 0;
    const second = await putBatches(resources.redoStream.name, batches.slice(half));
    runner = new FunctionRunner({ region, stateDir, kinesis, functions: functions(), logger });
    await runner.start();
    await waitFor(
      'the second half archived',
      async () => (await watermark())?.lsn === endOf(batches.length - 1),
    );
    expect(seen).toEqual(second);
    // Put → restorable: one more transaction is in the watermark within the batching window, give or
    // take the idle poll (the window runs from the record's arrival) and one invocation.
    const lastLsn = log.records.at(-1)!.lsn;
    const more = syntheticLog(1, { startLsn: lastLsn, startTimeMs: log.commits.at(-1)!.commitTimeMs });
    await putBatches(resources.redoStream.name, [{ epoch: 1n, prevLsn: lastLsn, records: more.records }]);
    const lagMs = await waitFor(
      'one more commit',
      async () => (await watermark())?.lsn === more.commits[0]!.lsn.toString(),
    );
    expect(lagMs).toBeLessThan(trigger.maxBatchingWindowMs + 1_000);
    await runner.stop();
    expect(await watermark()).toMatchObject({
      commitLsn: more.commits[0]!.lsn.toString(),
      commitTimeMs: more.commits[0]!.commitTimeMs,
    });
  });

  it('runs as a process: --help, then archives the stream until stopped', async () => {
    const entry = join(here, 'function-runner-main.ts');
    const help = execFileSync(process.execPath, ['--import', 'tsx', entry, '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/usage: function-runner/);
    const clusterName = 'proc';
    const procResources = regionalResources(region, clusterName);
    await provisionRegion(procResources, emulators.env());
    const stateDir = join(dir.path, 'state-proc');
    const child = await spawnProcess({
      name: 'function-runner',
      entry,
      args: ['--state-dir', stateDir, '--region', region, '--cluster', clusterName],
      env: { ...emulators.env(), BOREALIS_LOG_LEVEL: 'warn' },
      logFile: join(dir.path, 'logs', 'function-runner.log'),
    });
    try {
      expect(child.ready).toMatchObject({
        service: 'function-runner',
        // No secondary region: the global replicator is not run.
        functions: [
          'backup-archiver',
          'binlog-streamer',
          'restore',
          'snapshot',
          'snapshot-export',
          'backup-retention',
        ],
      });
      await putBatches(procResources.redoStream.name, batches.slice(0, 10));
      await waitFor(
        'the process archived the batches',
        async () => (await watermark(clusterName, procResources.backupBucket))?.lsn === endOf(9),
      );
    } finally {
      await child.stop();
    }
    expect(child.running).toBe(false);
  });
});

describe('PendingBatch (the batching window)', () => {
  const record = (bytes: number, arrivedAt?: number): KinesisRecord => ({
    Data: new Uint8Array(bytes),
    SequenceNumber: '1',
    PartitionKey: 'k',
    ...(arrivedAt === undefined ? {} : { ApproximateArrivalTimestamp: new Date(arrivedAt) }),
  });

  it('goes when the window has run since the first record arrived on the stream', () => {
    const batch = new PendingBatch({ batchSize: 100, maxBatchingWindowMs: 1_000 });
    expect(batch.ready(0)).toBe(false);
    // Read 300 ms after it arrived: 700 ms of window left, not 1,000.
    batch.add([record(10, 10_000)], 10_300);
    expect(batch.windowLeftMs(10_300)).toBe(700);
    batch.add([record(10, 10_500)], 10_600);
    expect(batch.ready(10_999)).toBe(false);
    expect(batch.ready(11_000)).toBe(true);
    // A clock behind the stream's: the window runs from the read.
    const skewed = new PendingBatch({ batchSize: 100, maxBatchingWindowMs: 1_000 });
    skewed.add([record(10, 50_000)], 20_000);
    expect(skewed.windowLeftMs(20_000)).toBe(1_000);
  });

  it('goes at once when full: batchSize records or an event payload', () => {
    const bySize = new PendingBatch({ batchSize: 3, maxBatchingWindowMs: 60_000 });
    bySize.add([record(1), record(1)], 0);
    expect(bySize.room()).toBe(1);
    expect(bySize.ready(0)).toBe(false);
    bySize.add([record(1)], 0);
    expect(bySize.full).toBe(true);
    expect(bySize.ready(0)).toBe(true);
    const byBytes = new PendingBatch({ batchSize: 100, maxBatchingWindowMs: 60_000 }, 10_000);
    byBytes.add([record(4_000)], 0);
    expect(byBytes.ready(0)).toBe(false);
    byBytes.add([record(4_000)], 0);
    expect(byBytes.ready(0)).toBe(true);
  });

  it('with no window, goes as soon as it holds a record', () => {
    const batch = new PendingBatch({ batchSize: 100, maxBatchingWindowMs: 0 });
    batch.add([], 0);
    expect(batch.ready(0)).toBe(false);
    batch.add([record(1, 5)], 5);
    expect(batch.ready(5)).toBe(true);
  });
});

describe('function runner: Lambda retry semantics', () => {
  const streamFunction = (
    name: string,
    handler: KinesisFunction['handler'],
    trigger: Partial<KinesisTrigger> = {},
  ): KinesisFunction => ({
    name,
    streamName: resources.binlogStream.name,
    timeoutSeconds: 5,
    memoryMb: 128,
    trigger: {
      kind: 'kinesis',
      stream: 'binlogStream',
      batchSize: 100,
      maxBatchingWindowMs: 0,
      startingPosition: 'TRIM_HORIZON',
      bisectOnError: false,
      retryAttempts: 3,
      reportBatchItemFailures: true,
      ...trigger,
    },
    handler,
  });
  let sequenceNumbers: string[] = [];

  beforeAll(async () => {
    sequenceNumbers = await putBatches(resources.binlogStream.name, batches.slice(0, 6));
  });

  it('retries from the lowest failed record, then checkpoints past the batch', async () => {
    const calls: string[][] = [];
    let failuresLeft = 2;
    const fn = streamFunction('partial', async (event) => {
      const seqs = event.Records.map((r) => r.kinesis.sequenceNumber);
      calls.push(seqs);
      if (failuresLeft > 0 && seqs.includes(sequenceNumbers[3]!)) {
        failuresLeft--;
        return {
          batchItemFailures: [
            { itemIdentifier: sequenceNumbers[4]! },
            { itemIdentifier: sequenceNumbers[3]! },
          ],
        };
      }
      return { batchItemFailures: [] };
    });
    const stateDir = join(dir.path, 'state-partial');
    const runner = new FunctionRunner({
      region,
      stateDir,
      kinesis,
      functions: [fn],
      logger,
      pollIntervalMs: 50,
    });
    await runner.start();
    await waitFor('three invocations', () => calls.length >= 3);
    await runner.stop();
    expect(calls.slice(0, 3)).toEqual([sequenceNumbers, sequenceNumbers.slice(3), sequenceNumbers.slice(3)]);
    expect(calls.length).toBe(3);
    expect(readdirSync(stateDir, { recursive: true }).some((p) => String(p).includes('on-failure'))).toBe(
      false,
    );
  });

  it('sets a batch that keeps failing aside to the on-failure folder after retryAttempts, bisecting thrown errors', async () => {
    const calls: number[] = [];
    const fn = streamFunction(
      'always-throws',
      async (event) => {
        calls.push(event.Records.length);
        if (event.Records.some((r) => r.kinesis.sequenceNumber === sequenceNumbers[5]))
          throw new Error('poison');
        return { batchItemFailures: [] };
      },
      { bisectOnError: true, retryAttempts: 1 },
    );
    const stateDir = join(dir.path, 'state-throws');
    const runner = new FunctionRunner({
      region,
      stateDir,
      kinesis,
      functions: [fn],
      logger,
      pollIntervalMs: 50,
    });
    await runner.start();
    const onFailure = runner.onFailureDir(fn);
    expect(onFailure).toBe(
      join(stateDir, 'functions', region, 'on-failure', 'always-throws', resources.binlogStream.name),
    );
    await waitFor(
      'the poison record set aside',
      () => existsSync(onFailure) && readdirSync(onFailure).length > 0,
    );
    await runner.stop();
    // 6 → 3 + 3 → (3 ok) 2 + 1 → (2 ok) then the poison record alone: once and one retry.
    expect(calls).toEqual([6, 3, 3, 2, 1, 1]);
    const [file] = readdirSync(onFailure);
    const entry = JSON.parse(readFileSync(join(onFailure, file!), 'utf8')) as OnFailureEntry;
    expect(entry).toMatchObject({
      requestContext: { condition: 'RetryAttemptsExhausted', approximateInvokeCount: 2 },
      responseContext: { functionError: 'Unhandled' },
      KinesisBatchInfo: {
        startSequenceNumber: sequenceNumbers[5],
        endSequenceNumber: sequenceNumbers[5],
        batchSize: 1,
      },
      reason: 'poison',
    });
    const checkpointFile = runner.checkpointFile(fn, 'shardId-000000000000');
    expect(JSON.parse(readFileSync(checkpointFile, 'utf8')).sequenceNumber).toBe(sequenceNumbers[5]);
  });

  it('keeps the on-failure folder bounded: the oldest entries go', async () => {
    const fn = streamFunction(
      'fails-everything',
      async () => {
        throw new Error('down');
      },
      { bisectOnError: true, retryAttempts: 0 },
    );
    const stateDir = join(dir.path, 'state-bounded');
    const runner = new FunctionRunner({
      region,
      stateDir,
      kinesis,
      functions: [fn],
      logger,
      pollIntervalMs: 50,
      onFailureEntriesMax: 2,
    });
    await runner.start();
    const checkpointFile = runner.checkpointFile(fn, 'shardId-000000000000');
    await waitFor(
      'every record set aside',
      () =>
        existsSync(checkpointFile) &&
        JSON.parse(readFileSync(checkpointFile, 'utf8')).sequenceNumber === sequenceNumbers.at(-1),
    );
    await runner.stop();
    const entries = readdirSync(runner.onFailureDir(fn))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(runner.onFailureDir(fn), f), 'utf8')) as OnFailureEntry);
    // Bisected to single records, each set aside; only the two newest are kept.
    expect(entries.map((e) => e.KinesisBatchInfo.startSequenceNumber)).toEqual(sequenceNumbers.slice(-2));
  });
});

describe('function runner: a malformed record on the redo stream (the real archiver and trigger)', () => {
  it('isolates it by bisection and sets it aside after the trigger’s retries; the records around it are archived', async () => {
    const name = 'poison';
    const poisonResources = regionalResources(region, name);
    await provisionRegion(poisonResources, emulators.env());
    const trigger = functionDefinitions['backup-archiver'].triggers[0] as KinesisTrigger;
    expect(trigger).toMatchObject({ bisectOnError: true, reportBatchItemFailures: true, retryAttempts: 3 });
    const malformed = Buffer.from('not a redo batch');
    const calls: string[][] = [];
    const [archiver] = kinesisFunctionsFor(poisonResources, name, emulators.env()).map((fn) => ({
      ...fn,
      handler: async (event: KinesisStreamEvent, context: Context) => {
        calls.push(event.Records.map((r) => r.kinesis.sequenceNumber));
        return fn.handler(event, context);
      },
    }));
    const sequence = await putBatches(poisonResources.redoStream.name, [
      ...batches.slice(0, 5),
      malformed,
      ...batches.slice(5, 10),
    ]);
    const poison = sequence[5]!;
    const stateDir = join(dir.path, 'state-poison');
    const runner = new FunctionRunner({ region, stateDir, kinesis, functions: [archiver!], logger });
    await runner.start();
    const onFailure = runner.onFailureDir(archiver!);
    await waitFor(
      'the poison record set aside',
      () => existsSync(onFailure) && readdirSync(onFailure).length > 0,
    );
    await waitFor(
      'the records after it archived',
      async () => (await watermark(name, poisonResources.backupBucket))?.lsn === endOf(9),
    );
    // The archiver stored them on the first invocation already; the runner is done once it has
    // checkpointed past them too.
    const checkpointFile = runner.checkpointFile(archiver!, 'shardId-000000000000');
    await waitFor(
      'the shard checkpointed past every record',
      () =>
        existsSync(checkpointFile) &&
        JSON.parse(readFileSync(checkpointFile, 'utf8')).sequenceNumber === sequence.at(-1),
    );
    await runner.stop();
    const files = readdirSync(onFailure);
    expect(files).toHaveLength(1);
    const entry = JSON.parse(readFileSync(join(onFailure, files[0]!), 'utf8')) as OnFailureEntry;
    expect(entry).toMatchObject({
      requestContext: {
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: trigger.retryAttempts! + 1,
        functionArn: `arn:aws:lambda:${region}:000000000000:function:backup-archiver`,
      },
      responseContext: { statusCode: 200, functionError: null },
      version: '1.0',
      KinesisBatchInfo: {
        shardId: 'shardId-000000000000',
        startSequenceNumber: poison,
        endSequenceNumber: poison,
        batchSize: 1,
        streamArn: `arn:aws:kinesis:${region}:000000000000:stream/${name}-redo`,
      },
      reason: `1 batch item failure(s) from ${poison}`,
    });
    expect(Buffer.from(entry.payload!.Records[0]!.kinesis.data, 'base64')).toEqual(malformed);
    // The poison record alone: the first try and the trigger's retries, no more.
    expect(calls.filter((c) => c.length === 1 && c[0] === poison)).toHaveLength(trigger.retryAttempts! + 1);
    // Every record was handed to the archiver.
    expect(new Set(calls.flat())).toEqual(new Set(sequence));
  });
});
