// The Lambda entry: middy around the handler, configuration from the environment, failing clearly
// (at the first invocation, not at import) when a variable is missing.
import { describe, expect, it } from 'vitest';
import { archiverDepsFromEnv, createHandler } from './index.ts';

const lambdaContext = {} as Parameters<ReturnType<typeof createHandler>>[1];

describe('backup-archiver entry', () => {
  it('reads bucket, cluster and region from the environment', () => {
    const deps = archiverDepsFromEnv({ BACKUP_BUCKET: 'b', CLUSTER_NAME: 'c', AWS_REGION: 'us-west-2' });
    expect(deps).toMatchObject({ bucket: 'b', cluster: 'c' });
    deps.s3.destroy();
  });

  it('fails the invocation with the missing variable named', async () => {
    const handler = createHandler({ CLUSTER_NAME: 'c', AWS_REGION: 'us-east-1' });
    await expect(handler({ Records: [] }, lambdaContext)).rejects.toThrow(/BACKUP_BUCKET is not set/);
    await expect(
      createHandler({ BACKUP_BUCKET: 'b', CLUSTER_NAME: 'c' })({ Records: [] }, lambdaContext),
    ).rejects.toThrow(/AWS_REGION is not set/);
  });

  it('answers an empty event with no failures', async () => {
    const handler = createHandler({ BACKUP_BUCKET: 'b', CLUSTER_NAME: 'c', AWS_REGION: 'us-east-1' });
    expect(await handler({ Records: [] }, lambdaContext)).toEqual({ batchItemFailures: [] });
  });
});
