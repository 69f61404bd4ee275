// Against a real LocalStack (endpoint.ts: LOCALSTACK_ENDPOINT or `npm run localstack -- start`): the
// same provisioning and listing code as the embedded default, pointed at LocalStack instead.
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { regionalResources } from '../../core/resources.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import { localStackTarget, requireLocalStack } from './endpoint.ts';

const target = localStackTarget();
if (target.skipReason) console.log(`integration/localstack/resources: skipped — ${target.skipReason}`);

describe.skipIf(target.skipReason !== undefined)('LocalStack', () => {
  it('provisions and lists a region through the shared client factory', async () => {
    const endpoint = requireLocalStack(target);
    const env = {
      ...process.env,
      AWS_ENDPOINT_URL: endpoint,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    };
    const resources = regionalResources('us-east-1', 'borealis-ci');
    await provisionRegion(resources, env);
    const s3 = s3Client({ region: 'us-east-1', env });
    const kinesis = kinesisClient({ region: 'us-east-1', env });
    try {
      await s3.send(new HeadBucketCommand({ Bucket: resources.backupBucket }));
      const streams = await kinesis.send(new ListStreamsCommand({}));
      expect(streams.StreamNames).toEqual(expect.arrayContaining([resources.redoStream.name]));
    } finally {
      s3.destroy();
      kinesis.destroy();
    }
  });
});
