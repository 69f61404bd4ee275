// Lambda entry of the backup archiver: middy around the pure handler, dependencies from the
// environment (BACKUP_BUCKET, CLUSTER_NAME, AWS_REGION; endpoints as core/aws/endpoints.ts resolves
// them). Built on the first invocation, so importing this module never fails.
import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { s3Client } from '../../core/aws/clients.ts';
import { functionEnv } from '../../core/functions.ts';
import { type ArchiverDeps, ArchiveTail, archiveRedoBatches } from './handler.ts';

export function archiverDepsFromEnv(env: NodeJS.ProcessEnv): ArchiverDeps {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`backup-archiver: ${name} is not set`);
    return value;
  };
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (region === undefined || region === '') throw new Error('backup-archiver: AWS_REGION is not set');
  return {
    s3: s3Client({ region, env }),
    bucket: required(functionEnv.backupBucket),
    cluster: required(functionEnv.clusterName),
    // Kept while the container is warm: lets an in-order stream skip the archive listing.
    tail: new ArchiveTail(),
  };
}

/** The middy handler over the given environment (the local runner passes its own). */
export function createHandler(env: NodeJS.ProcessEnv = process.env) {
  let deps: ArchiverDeps | undefined;
  return middy<KinesisStreamEvent, KinesisStreamBatchResponse>(async (event: KinesisStreamEvent) => {
    deps ??= archiverDepsFromEnv(env);
    return archiveRedoBatches(event, deps);
  });
}

export const handler = createHandler();
