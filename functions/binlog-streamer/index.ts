// Lambda entry of the binlog streamer: middy around the pure handler, dependencies from the
// environment (BACKUP_BUCKET, CLUSTER_NAME, BINLOG_STREAM, AWS_REGION; endpoints as
// core/aws/endpoints.ts resolves them). Built on the first invocation, so importing this module never
// fails.
import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { functionEnv } from '../../core/functions.ts';
import { type StreamerDeps, streamBinlog } from './handler.ts';

export function streamerDepsFromEnv(env: NodeJS.ProcessEnv): StreamerDeps {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`binlog-streamer: ${name} is not set`);
    return value;
  };
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') throw new Error('binlog-streamer: AWS_REGION is not set');
  return {
    s3: s3Client({ region, env }),
    kinesis: kinesisClient({ region, env }),
    bucket: required(functionEnv.backupBucket),
    cluster: required(functionEnv.clusterName),
    binlogStream: required(functionEnv.binlogStream),
  };
}

/** The middy handler over the given environment (the local runner passes its own). */
export function createHandler(env: NodeJS.ProcessEnv = process.env) {
  let deps: StreamerDeps | undefined;
  return middy<KinesisStreamEvent, KinesisStreamBatchResponse>(async (event: KinesisStreamEvent) => {
    deps ??= streamerDepsFromEnv(env);
    const { batchItemFailures } = await streamBinlog(event, deps);
    return { batchItemFailures };
  });
}

export const handler = createHandler();
