// Creates a region's Borealis buckets and streams on whatever the client factory points at
// (emulators, LocalStack, AWS). Idempotent: safe on every `npm start` and in every test.
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
  ResourceInUseException,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { kinesisClient, s3Client } from '../core/aws/clients.ts';
import type { RegionalResources, StreamDefinition } from '../core/resources.ts';

const streamActiveTimeoutMs = 30_000;
const streamPollMs = 50;

export async function provisionRegion(resources: RegionalResources, env?: NodeJS.ProcessEnv): Promise<void> {
  const s3 = s3Client({ region: resources.region, env });
  const kinesis = kinesisClient({ region: resources.region, env });
  try {
    await ensureBucket(s3, resources.backupBucket);
    await Promise.all([
      ensureStream(kinesis, resources.redoStream),
      ensureStream(kinesis, resources.binlogStream),
    ]);
  } finally {
    s3.destroy();
    kinesis.destroy();
  }
}

async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (error) {
    const name = (error as Error).name;
    if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
  }
}

async function ensureStream(kinesis: KinesisClient, stream: StreamDefinition): Promise<void> {
  try {
    await kinesis.send(new CreateStreamCommand({ StreamName: stream.name, ShardCount: stream.shardCount }));
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  const deadline = Date.now() + streamActiveTimeoutMs;
  for (;;) {
    const summary = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream.name }));
    if (summary.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    if (Date.now() > deadline) {
      throw new Error(`stream ${stream.name} not ACTIVE after ${streamActiveTimeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, streamPollMs));
  }
}
