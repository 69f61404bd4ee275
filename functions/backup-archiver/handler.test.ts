// The backup archiver against a real s3rver (started here on a free port): chunks and watermark,
// idempotence, out-of-order and overlapping delivery, corrupt records (reported as batch item
// failures), S3 failures, long listings.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { KinesisStreamEvent } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../core/aws/clients.ts';
import {
  clusterPrefix,
  logChunkKey,
  logPrefix,
  parseLogChunkKey,
  type Watermark,
} from '../../core/backup/archive.ts';
import { addArchiveVoid } from '../../core/backup/archive-fence.ts';
import {
  decodeRedoBatch,
  encodeRedoBatch,
  headerOf,
  packRedoBatches,
  type RedoBatch,
} from '../../core/backup/redo-batch.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { toKinesisEventRecord } from '../../embedded/function-runner.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import {
  type ArchiverDeps,
  ArchiveTail,
  archiveRedoBatches,
  mergeIntoChunks,
  readWatermark,
  type SourceBatch,
} from './handler.ts';
import { syntheticLog } from './testing.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const region = 'us-east-1';
const bucket = 'archiver-test';
const dir = makeTempDir('archiver');

async function startS3(name: string): Promise<ManagedProcess> {
  return spawnProcess({
    name,
    entry: join(here, '../../embedded/s3-emulator.ts'),
    args: ['--data-dir', join(dir.path, name)],
    nodeFlags: ['--openssl-legacy-provider'],
    logFile: join(dir.path, 'logs', `${name}.log`),
  });
}

function clientFor(server: ManagedProcess): S3Client {
  return s3Client({
    region,
    endpoint: `http://127.0.0.1:${server.ready.port}`,
    env: {
      AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
    },
  });
}

let server: ManagedProcess;
let s3: S3Client;
let clusterCount = 0;

beforeAll(async () => {
  server = await startS3('s3');
  s3 = clientFor(server);
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  s3?.destroy();
  await server?.stop();
  dir.remove();
});

/** A fresh cluster (its own prefix in the shared bucket) per test. */
function newDeps(overrides: Partial<ArchiverDeps> = {}): ArchiverDeps {
  clusterCount++;
  return { s3, bucket, cluster: `c${clusterCount}`, now: () => 1_800_000_000_000, ...overrides };
}

let sequence = 49_600_000_000_000_000_000n;
function eventOf(batches: Array<RedoBatch | Buffer>): KinesisStreamEvent {
  return {
    Records: batches.map((b) => {
      sequence += 1n;
      return toKinesisEventRecord(
        {
          data: Buffer.isBuffer(b) ? b : encodeRedoBatch(b),
          sequenceNumber: sequence.toString(),
          partitionKey: 'cluster',
          arrivalMs: Date.now(),
        },
        { region, streamName: 'c-redo', shardId: 'shardId-000000000000', functionName: 'backup-archiver' },
      );
    }),
  };
}

async function listKeys(client: S3Client, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    keys.push(...(page.Contents ?? []).map((o) => o.Key!));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

async function getBytes(key: string): Promise<Buffer> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

async function watermarkOf(cluster: string): Promise<Watermark | undefined> {
  return (await readWatermark({ s3, bucket, cluster }))?.value;
}

/** Every object of a cluster: key → etag and body. */
async function snapshotArchive(cluster: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const key of await listKeys(s3, clusterPrefix(cluster))) {
    out.set(key, (await getBytes(key)).toString('base64'));
  }
  return out;
}

async function chunkRecords(cluster: string): Promise<bigint[]> {
  const lsns = new Set<bigint>();
  for (const key of await listKeys(s3, logPrefix(cluster))) {
    const batch = decodeRedoBatch(gunzipSync(await getBytes(key)));
    expect(parseLogChunkKey(key)).toMatchObject({
      prevLsn: batch.header.prevLsn,
      firstLsn: batch.header.firstLsn,
      lastLsn: batch.header.lastLsn,
    });
    for (const r of batch.records) lsns.add(r.lsn);
  }
  return [...lsns].sort((a, b) => (a < b ? -1 : 1));
}

const log = syntheticLog(120);
const lastCommit = log.commits.at(-1)!;
/** The whole log in ~1 KB batches, chained from 0. */
const batches = packRedoBatches(1n, 0n, log.records, 1_000);

describe('backup archiver', () => {
  it('archives a run of batches as one merged chunk and moves the watermark to its end', async () => {
    expect(batches.length).toBeGreaterThan(20);
    const deps = newDeps();
    const result = await archiveRedoBatches(eventOf(batches), deps);
    expect(result).toEqual({ batchItemFailures: [] });
    const keys = await listKeys(s3, logPrefix(deps.cluster));
    expect(keys).toHaveLength(1);
    expect(await chunkRecords(deps.cluster)).toEqual(log.records.map((r) => r.lsn));
    expect(await watermarkOf(deps.cluster)).toEqual({
      lsn: log.records.at(-1)!.lsn.toString(),
      commitLsn: lastCommit.lsn.toString(),
      commitTimeMs: lastCommit.commitTimeMs,
      updatedAt: new Date(1_800_000_000_000).toISOString(),
    });
  });

  it('archives consecutive events as consecutive chunks', async () => {
    const deps = newDeps();
    for (let i = 0; i < batches.length; i += 7) {
      expect(await archiveRedoBatches(eventOf(batches.slice(i, i + 7)), deps)).toEqual({
        batchItemFailures: [],
      });
      const end = batches[Math.min(i + 7, batches.length) - 1]!.records.at(-1)!.lsn;
      expect((await watermarkOf(deps.cluster))?.lsn).toBe(end.toString());
    }
    expect(await listKeys(s3, logPrefix(deps.cluster))).toHaveLength(Math.ceil(batches.length / 7));
    expect(await chunkRecords(deps.cluster)).toEqual(log.records.map((r) => r.lsn));
  });

  it('leaves the archive byte-identical when the same event comes twice', async () => {
    const deps = newDeps();
    const event = eventOf(batches.slice(0, 10));
    await archiveRedoBatches(event, deps);
    const first = await snapshotArchive(deps.cluster);
    expect(await archiveRedoBatches(event, { ...deps, now: () => 1_900_000_000_000 })).toEqual({
      batchItemFailures: [],
    });
    expect(await snapshotArchive(deps.cluster)).toEqual(first);
    // A later event, then the first one again (a late retry): nothing changes either.
    await archiveRedoBatches(eventOf(batches.slice(10, 20)), deps);
    const second = await snapshotArchive(deps.cluster);
    await archiveRedoBatches(event, { ...deps, now: () => 1_900_000_000_000 });
    expect(await snapshotArchive(deps.cluster)).toEqual(second);
  });

  it('moves the watermark only over the contiguous prefix, and catches up when a gap is filled', async () => {
    const deps = newDeps();
    const endOf = (i: number) => batches[i]!.records.at(-1)!.lsn.toString();
    const e1 = eventOf(batches.slice(0, 5));
    const e2 = eventOf(batches.slice(5, 10));
    const e3 = eventOf(batches.slice(10, 15));
    const e4 = eventOf(batches.slice(15, 20));
    await archiveRedoBatches(e3, deps);
    expect(await watermarkOf(deps.cluster)).toBeUndefined();
    await archiveRedoBatches(e1, deps);
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(endOf(4));
    await archiveRedoBatches(e4, deps);
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(endOf(4));
    await archiveRedoBatches(e2, deps);
    const w = await watermarkOf(deps.cluster);
    expect(w?.lsn).toBe(endOf(19));
    const commit = [...log.commits].reverse().find((c) => c.lsn <= BigInt(endOf(19)))!;
    expect(w).toMatchObject({ commitLsn: commit.lsn.toString(), commitTimeMs: commit.commitTimeMs });
  });

  it('keeps the watermark continuous over overlapping batches (a republish after failover)', async () => {
    const deps = newDeps();
    const records = log.records;
    const old = packRedoBatches(1n, 0n, records.slice(0, 100), 1_500);
    // The new writer read an older watermark (records[40]) and republishes from there in epoch 2.
    const republished = packRedoBatches(2n, records[40]!.lsn, records.slice(41), 1_500);
    await archiveRedoBatches(eventOf(old), deps);
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(records[99]!.lsn.toString());
    await archiveRedoBatches(eventOf(republished), deps);
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(records.at(-1)!.lsn.toString());
    expect(await chunkRecords(deps.cluster)).toEqual(records.map((r) => r.lsn));

    // Both in one event, interleaved and duplicated: merged into chunks that still chain.
    const deps2 = newDeps();
    const mixed = [...old.slice(0, 5), ...republished.slice(0, 3), ...old.slice(3), ...republished, old[0]!];
    expect(await archiveRedoBatches(eventOf(mixed), deps2)).toEqual({ batchItemFailures: [] });
    expect((await watermarkOf(deps2.cluster))?.lsn).toBe(records.at(-1)!.lsn.toString());
    expect(await chunkRecords(deps2.cluster)).toEqual(records.map((r) => r.lsn));
  });

  it('reports a corrupt record as a batch item failure, archives the valid ones around it, and stops the watermark at its gap', async () => {
    const deps = newDeps();
    const corrupt = Buffer.from(encodeRedoBatch(batches[3]!));
    corrupt[corrupt.length - 10]! ^= 0xff;
    const event = eventOf([
      ...batches.slice(0, 3),
      corrupt,
      Buffer.from('not a batch'),
      ...batches.slice(4, 8),
    ]);
    const poison = [event.Records[3]!, event.Records[4]!].map((r) => r.kinesis.sequenceNumber);
    expect(await archiveRedoBatches(event, deps)).toEqual({
      batchItemFailures: poison.map((itemIdentifier) => ({ itemIdentifier })),
    });
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[2]!.records.at(-1)!.lsn.toString());
    // Both runs of valid batches are stored: 0-2 below the gap, 4-7 above it.
    expect(await listKeys(s3, logPrefix(deps.cluster))).toHaveLength(2);
    const archived = await snapshotArchive(deps.cluster);

    // The mapping retries from the lowest failure: the same answer, and the archive is unchanged.
    const retry: KinesisStreamEvent = { Records: event.Records.slice(3) };
    expect(await archiveRedoBatches(retry, { ...deps, now: () => 1_900_000_000_000 })).toEqual({
      batchItemFailures: poison.map((itemIdentifier) => ({ itemIdentifier })),
    });
    expect(await snapshotArchive(deps.cluster)).toEqual(archived);

    // The writer republishes the missing batch (its archive watchdog): the watermark catches up.
    expect(await archiveRedoBatches(eventOf([batches[3]!]), deps)).toEqual({ batchItemFailures: [] });
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[7]!.records.at(-1)!.lsn.toString());
  });

  it('an event of nothing but a corrupt record reports it and writes nothing', async () => {
    const deps = newDeps();
    const event = eventOf([Buffer.from('BRLS garbage')]);
    expect(await archiveRedoBatches(event, deps)).toEqual({
      batchItemFailures: [{ itemIdentifier: event.Records[0]!.kinesis.sequenceNumber }],
    });
    expect(await listKeys(s3, clusterPrefix(deps.cluster))).toEqual([]);
  });

  it('reports every record as a batch item failure when S3 is down', async () => {
    const own = await startS3('s3-down');
    const client = clientFor(own);
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      await own.stop();
      const deps = newDeps({ s3: client });
      const event = eventOf(batches.slice(0, 4));
      const result = await archiveRedoBatches(event, deps);
      expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
        event.Records.map((r) => r.kinesis.sequenceNumber),
      );
    } finally {
      client.destroy();
    }
  });

  it('reports the records of a chunk whose write failed, keeps the others, and advances once retried', async () => {
    const deps = newDeps();
    const failing = clientFor(server);
    const failOnce = new Set<string>();
    // A transient PutObject failure, once, for the keys in failOnce.
    failing.middlewareStack.add(
      (next, context) => async (args) => {
        const key = (args as { input: { Key?: string } }).input.Key;
        if (context.commandName === 'PutObjectCommand' && key !== undefined && failOnce.delete(key)) {
          throw Object.assign(new Error('injected S3 failure'), { name: 'InternalError' });
        }
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      // Two chunks in one event: batches 0-4 and (after a dropped batch 5) 6-9.
      const event = eventOf([...batches.slice(0, 5), ...batches.slice(6, 10)]);
      const secondChunk = mergeIntoChunks(
        [...batches.slice(6, 10)].map((b, i) => ({
          index: i,
          batch: b,
          header: decodeRedoBatch(encodeRedoBatch(b)).header,
        })),
      )[0]!;
      const failKey = logChunkKey(deps.cluster, headerOf(secondChunk.batch));
      failOnce.add(failKey);
      const result = await archiveRedoBatches(event, { ...deps, s3: failing });
      expect(result.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
        event.Records.slice(5).map((r) => r.kinesis.sequenceNumber),
      );
      expect(await listKeys(s3, logPrefix(deps.cluster))).toHaveLength(1);
      expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[4]!.records.at(-1)!.lsn.toString());
      // Lambda retries from the lowest failed record; then the missing batch arrives.
      const retry: KinesisStreamEvent = { Records: event.Records.slice(5) };
      expect(await archiveRedoBatches(retry, { ...deps, s3: failing })).toEqual({ batchItemFailures: [] });
      await archiveRedoBatches(eventOf([batches[5]!]), deps);
      expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[9]!.records.at(-1)!.lsn.toString());
    } finally {
      failing.destroy();
    }
  });

  it('plans over a chunk listing longer than one ListObjectsV2 page', async () => {
    const deps = newDeps({ listPageKeys: 7 });
    // 60 one-record chunks (objects are only listed here, so their bodies do not matter).
    const small = packRedoBatches(1n, 0n, syntheticLog(60, { pagesPerTxn: 0 }).records, 200);
    expect(small).toHaveLength(60);
    const keys = small.map((b) => logChunkKey(deps.cluster, headerOf(b)));
    await Promise.all(
      keys.slice(0, -1).map((Key) => s3.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'x' }))),
    );
    // The last batch arrives through the archiver: the chain runs from 0 over all 60 chunks.
    await archiveRedoBatches(eventOf([small.at(-1)!]), deps);
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(small.at(-1)!.records.at(-1)!.lsn.toString());
  });

  it('concurrent invocations never move the watermark past a gap, and the next one heals any regression', async () => {
    const deps = newDeps();
    const events = [0, 1, 2, 3, 4, 5].map((i) => eventOf(batches.slice(i * 4, i * 4 + 4)));
    // Event 3 is held back: a gap.
    await Promise.all(events.filter((_, i) => i !== 3).map((e) => archiveRedoBatches(e, deps)));
    const gapEnd = batches[11]!.records.at(-1)!.lsn;
    const w = await watermarkOf(deps.cluster);
    expect(BigInt(w?.lsn ?? '0')).toBeLessThanOrEqual(gapEnd);
    await archiveRedoBatches(events[3]!, deps);
    expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[23]!.records.at(-1)!.lsn.toString());
  });
});

describe('backup archiver: listing only when it can find something (ArchiveTail)', () => {
  /** A client on the shared server that counts the archive listings it sends. */
  function countingClient(): { client: S3Client; listings: () => number } {
    const client = clientFor(server);
    let listings = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'ListObjectsV2Command') listings++;
        return next(args);
      },
      { step: 'initialize' },
    );
    return { client, listings: () => listings };
  }

  it('lists at a cold start, then not while events arrive in order', async () => {
    const { client, listings } = countingClient();
    try {
      const deps = newDeps({ s3: client, tail: new ArchiveTail() });
      const counts: number[] = [];
      for (let i = 0; i < 28; i += 7) {
        const before = listings();
        expect(await archiveRedoBatches(eventOf(batches.slice(i, i + 7)), deps)).toEqual({
          batchItemFailures: [],
        });
        counts.push(listings() - before);
        expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[i + 6]!.records.at(-1)!.lsn.toString());
      }
      expect(counts).toEqual([1, 0, 0, 0]);
      // A replay of an archived event changes nothing and lists nothing.
      await archiveRedoBatches(eventOf(batches.slice(0, 7)), deps);
      expect(listings()).toBe(1);
      expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[27]!.records.at(-1)!.lsn.toString());
    } finally {
      client.destroy();
    }
  });

  it('lists after a gap until a listing finds nothing stranded, and catches up when the gap is filled', async () => {
    const { client, listings } = countingClient();
    try {
      const deps = newDeps({ s3: client, tail: new ArchiveTail() });
      const endOf = (i: number) => batches[i]!.records.at(-1)!.lsn.toString();
      const counts: number[] = [];
      const archive = async (from: number, to: number) => {
        const before = listings();
        await archiveRedoBatches(eventOf(batches.slice(from, to)), deps);
        counts.push(listings() - before);
        return (await watermarkOf(deps.cluster))?.lsn;
      };
      expect(await archive(0, 5)).toBe(endOf(4)); // cold: lists
      expect(await archive(10, 15)).toBe(endOf(4)); // a gap: lists, finds its own chunk stranded
      expect(deps.tail!.strandedChunksPossible).toBe(true);
      // The gap filled exactly to its end: the chain goes on over the stranded chunk (a listing).
      expect(await archive(5, 10)).toBe(endOf(14));
      expect(deps.tail!.strandedChunksPossible).toBe(false);
      expect(await archive(15, 20)).toBe(endOf(19)); // in order again: no listing
      expect(counts).toEqual([1, 1, 1, 0]);
      expect(await chunkRecords(deps.cluster)).toEqual(
        log.records.filter((r) => r.lsn <= BigInt(endOf(19))).map((r) => r.lsn),
      );
    } finally {
      client.destroy();
    }
  });

  it('a corrupt record at the end of an event: the next event does not chain, so it lists', async () => {
    const { client, listings } = countingClient();
    try {
      const deps = newDeps({ s3: client, tail: new ArchiveTail() });
      await archiveRedoBatches(eventOf(batches.slice(0, 2)), deps);
      const corrupt = Buffer.from(encodeRedoBatch(batches[3]!));
      corrupt[corrupt.length - 10]! ^= 0xff;
      // The event's good batches continue the watermark to their end: no listing for this one.
      let before = listings();
      await archiveRedoBatches(eventOf([batches[2]!, corrupt]), deps);
      expect(listings() - before).toBe(0);
      before = listings();
      await archiveRedoBatches(eventOf(batches.slice(4, 8)), deps);
      expect(listings() - before).toBe(1);
      expect(deps.tail!.strandedChunksPossible).toBe(true);
      expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[2]!.records.at(-1)!.lsn.toString());
      // The writer republishes the missing batch: the watermark catches up over the stranded chunk.
      await archiveRedoBatches(eventOf([batches[3]!]), deps);
      expect((await watermarkOf(deps.cluster))?.lsn).toBe(batches[7]!.records.at(-1)!.lsn.toString());
    } finally {
      client.destroy();
    }
  });
});

describe('mergeIntoChunks', () => {
  const sourcesOf = (list: RedoBatch[]): SourceBatch[] =>
    list.map((batch, index) => ({ index, batch, header: decodeRedoBatch(encodeRedoBatch(batch)).header }));

  it('cuts at the size limit and at an epoch change, each chunk chained to the previous one', () => {
    const firstTen = batches.slice(0, 10);
    const split = firstTen.reduce((n, b) => n + b.records.length, 0);
    const list = [
      ...firstTen,
      ...packRedoBatches(2n, log.records[split - 1]!.lsn, log.records.slice(split), 1_500),
    ];
    const chunks = mergeIntoChunks(sourcesOf(list), 6_000);
    expect(chunks.length).toBeGreaterThan(3);
    let prev = 0n;
    for (const c of chunks) {
      expect(c.batch.prevLsn).toBe(prev);
      expect(c.bytes).toBeLessThanOrEqual(6_000);
      expect(encodeRedoBatch(c.batch).length).toBe(c.bytes);
      prev = c.batch.records.at(-1)!.lsn;
    }
    const firstOfEpoch2 = chunks.findIndex((c) => c.batch.epoch === 2n);
    expect(chunks.slice(0, firstOfEpoch2).every((c) => c.batch.epoch === 1n)).toBe(true);
    expect(chunks[firstOfEpoch2]!.batch.records[0]!.lsn).toBe(log.records[split]!.lsn);
    expect(chunks.flatMap((c) => c.batch.records.map((r) => r.lsn))).toEqual(log.records.map((r) => r.lsn));
  });

  it('never merges batches of two backtrack timelines, nor drops one inside the other', () => {
    // Timeline 0: the log up to record 30; a backtrack to record 10 voids the rest; timeline 1 goes on
    // above it from where the archive was (a voided LSN, 20), and a late batch of timeline 0 (records
    // 21–30) arrives after it in the same event.
    const old = packRedoBatches(1n, 0n, log.records.slice(0, 20), 1_000_000);
    const late = packRedoBatches(1n, log.records[19]!.lsn, log.records.slice(20, 30), 1_000_000);
    const next = packRedoBatches(2n, log.records[19]!.lsn, log.records.slice(30, 40), 1_000_000, 1);
    const chunks = mergeIntoChunks(sourcesOf([...old, ...next, ...late]));
    expect(chunks.map((c) => [c.batch.timeline ?? 0, c.batch.prevLsn, c.batch.records.at(-1)!.lsn])).toEqual([
      [0, 0n, log.records[29]!.lsn],
      [1, log.records[19]!.lsn, log.records[39]!.lsn],
    ]);
    expect(decodeRedoBatch(encodeRedoBatch(chunks[1]!.batch)).header.timeline).toBe(1);
  });

  it("drops what an archive fence voids: the old writer's backlog above the point, and a chunk it stored before the fence, never enter the chain; the timeline that continued does", async () => {
    const deps = newDeps();
    // The promoted point: a commit inside a batch (so that batch is cut, not dropped whole).
    const point = log.commits[60]!.lsn;
    const at = batches.findIndex((b) => b.records.at(-1)!.lsn > point);
    expect(batches[at]!.records[0]!.lsn).toBeLessThan(point);
    await archiveRedoBatches(eventOf(batches.slice(0, at - 1)), deps);
    // Stored before the fence, behind a gap (batch at - 1 is missing): it waits above the watermark.
    await archiveRedoBatches(eventOf([batches[at]!]), deps);
    const gap = 1n << 40n;
    await addArchiveVoid(s3, bucket, deps.cluster, { aboveLsn: point, belowLsn: point + gap });
    // The backlog: its predecessors arrive, and the rest of the old writer's log.
    expect(await archiveRedoBatches(eventOf(batches.slice(at - 1)), deps)).toEqual({ batchItemFailures: [] });
    expect(await watermarkOf(deps.cluster)).toMatchObject({
      lsn: point.toString(),
      commitLsn: point.toString(),
      commitTimeMs: log.commits[60]!.commitTimeMs,
    });
    // Only the stranded chunk holds records above the point: it reaches further than the backlog's
    // chunk cut at the point, yet it is not a link.
    const above = (await chunkRecords(deps.cluster)).filter((lsn) => lsn > point);
    expect(above).toEqual(batches[at]!.records.map((r) => r.lsn).filter((lsn) => lsn > point));
    // The new timeline's log, republished from the point: it chains, past the stranded chunk.
    const next = syntheticLog(10, { startLsn: point + gap, startTimeMs: 1_750_000_000_000 });
    await archiveRedoBatches(eventOf(packRedoBatches(2n, point, next.records, 1_000)), deps);
    expect(await watermarkOf(deps.cluster)).toMatchObject({
      lsn: next.records.at(-1)!.lsn.toString(),
      commitLsn: next.commits.at(-1)!.lsn.toString(),
    });
  });
});
