// The embedded AWS through the shared client factory: the launcher starts and stops cleanly, S3 and
// Kinesis round-trip, and the two regions' emulators are really separate.
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListStreamsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../core/aws/clients.ts';
import { Emulators } from '../embedded/emulators.ts';
import { isPidAlive } from '../embedded/state.ts';
import { makeTempDir } from './harness/temp.ts';

const regions = ['us-east-1', 'us-west-2'] as const;

describe('emulator launcher', () => {
  it('starts and stops cleanly twice in a row on free ports', async () => {
    const dir = makeTempDir('emu-twice');
    try {
      const seenPorts = new Set<string>();
      for (let round = 0; round < 2; round++) {
        const emulators = await Emulators.start({ regions, dataDir: dir.path });
        const endpoints = regions.map((r) => emulators.endpoints(r));
        for (const e of endpoints) {
          expect(e.s3).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
          expect(e.kinesis).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        }
        const urls = endpoints.flatMap((e) => [e.s3, e.kinesis]);
        expect(new Set(urls).size).toBe(4);
        for (const u of urls) seenPorts.add(`${round}:${u}`);
        const pids = emulators.state.pids;
        expect(pids).toHaveLength(4);
        expect(pids.every(isPidAlive)).toBe(true);
        // Each server answers before start() returns.
        const s3 = s3Client({ region: 'us-east-1', env: emulators.env() });
        await s3.send(new CreateBucketCommand({ Bucket: `round-${round}` }));
        s3.destroy();
        await emulators.stop();
        expect(pids.some(isPidAlive)).toBe(false);
      }
      expect(seenPorts.size).toBe(8);
    } finally {
      dir.remove();
    }
  });
});

describe('shared client factory against the emulators', () => {
  const dir = makeTempDir('emu-clients');
  let emulators: Emulators;

  beforeAll(async () => {
    emulators = await Emulators.start({ regions, dataDir: dir.path });
  });
  afterAll(async () => {
    await emulators?.stop();
    dir.remove();
  });

  it('S3 put, get and list with continuation', async () => {
    const s3 = s3Client({ region: 'us-east-1', env: emulators.env() });
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'listing' }));
      const keys = Array.from({ length: 7 }, (_, i) => `log/${String(i).padStart(4, '0')}`);
      for (const key of keys) {
        await s3.send(new PutObjectCommand({ Bucket: 'listing', Key: key, Body: `body of ${key}` }));
      }
      const got = await s3.send(new GetObjectCommand({ Bucket: 'listing', Key: 'log/0003' }));
      expect(await got.Body!.transformToString()).toBe('body of log/0003');

      const listed: string[] = [];
      let token: string | undefined;
      let pages = 0;
      do {
        const page = await s3.send(
          new ListObjectsV2Command({
            Bucket: 'listing',
            Prefix: 'log/',
            MaxKeys: 3,
            ContinuationToken: token,
          }),
        );
        listed.push(...(page.Contents ?? []).map((o) => o.Key!));
        token = page.NextContinuationToken;
        pages++;
      } while (token);
      expect(pages).toBe(3);
      expect(listed).toEqual(keys);
    } finally {
      s3.destroy();
    }
  });

  it('Kinesis put and get round-trip, in order', async () => {
    const kinesis = kinesisClient({ region: 'us-east-1', env: emulators.env() });
    try {
      await kinesis.send(new CreateStreamCommand({ StreamName: 'round-trip', ShardCount: 1 }));
      await waitActive(kinesis, 'round-trip');
      const payloads = Array.from({ length: 20 }, (_, i) =>
        Buffer.from(`record ${i} ${'x'.repeat(i * 1000)}`),
      );
      const put = await kinesis.send(
        new PutRecordsCommand({
          StreamName: 'round-trip',
          Records: payloads.map((Data) => ({ Data, PartitionKey: 'pk' })),
        }),
      );
      expect(put.FailedRecordCount).toBe(0);
      const iterator = await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: 'round-trip',
          ShardId: 'shardId-000000000000',
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const records = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator! }));
      expect((records.Records ?? []).map((r) => Buffer.from(r.Data!).toString())).toEqual(
        payloads.map((p) => p.toString()),
      );
    } finally {
      kinesis.destroy();
    }
  });

  it("keeps the two regions' streams and buckets apart", async () => {
    const east = kinesisClient({ region: 'us-east-1', env: emulators.env() });
    const west = kinesisClient({ region: 'us-west-2', env: emulators.env() });
    const eastS3 = s3Client({ region: 'us-east-1', env: emulators.env() });
    const westS3 = s3Client({ region: 'us-west-2', env: emulators.env() });
    try {
      await east.send(new CreateStreamCommand({ StreamName: 'east-only', ShardCount: 1 }));
      await waitActive(east, 'east-only');
      expect((await east.send(new ListStreamsCommand({}))).StreamNames).toContain('east-only');
      expect((await west.send(new ListStreamsCommand({}))).StreamNames ?? []).not.toContain('east-only');

      await eastS3.send(new CreateBucketCommand({ Bucket: 'east-bucket' }));
      await expect(
        westS3.send(new PutObjectCommand({ Bucket: 'east-bucket', Key: 'k', Body: 'v' })),
      ).rejects.toMatchObject({ name: 'NoSuchBucket' });
    } finally {
      for (const c of [east, west, eastS3, westS3]) c.destroy();
    }
  });
});

async function waitActive(kinesis: ReturnType<typeof kinesisClient>, name: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`stream ${name} never became ACTIVE`);
}
