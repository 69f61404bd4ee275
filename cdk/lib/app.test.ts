import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { buildApp } from './app.ts';

const options = { clusterName: 'borealis', primaryRegion: 'us-east-1', secondaryRegion: 'us-west-2' };

describe('Borealis CDK app', () => {
  const stacks = buildApp(new App(), options);

  for (const [role, region] of [
    ['primary', 'us-east-1'],
    ['secondary', 'us-west-2'],
  ] as const) {
    const template = Template.fromStack(stacks[role]);

    it(`${role}: backup bucket is KMS-encrypted, private, retained`, () => {
      template.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: `borealis-backup-${region}`,
        BucketEncryption: {
          ServerSideEncryptionConfiguration: [
            Match.objectLike({
              ServerSideEncryptionByDefault: Match.objectLike({ SSEAlgorithm: 'aws:kms' }),
            }),
          ],
        },
        PublicAccessBlockConfiguration: {
          BlockPublicAcls: true,
          BlockPublicPolicy: true,
          IgnorePublicAcls: true,
          RestrictPublicBuckets: true,
        },
      });
      template.hasResource('AWS::S3::Bucket', { DeletionPolicy: 'Retain' });
    });

    it(`${role}: redo and binlog streams are encrypted`, () => {
      template.resourceCountIs('AWS::Kinesis::Stream', 2);
      for (const name of ['borealis-redo', 'borealis-binlog']) {
        template.hasResourceProperties('AWS::Kinesis::Stream', {
          Name: name,
          ShardCount: 1,
          StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
        });
      }
    });
  }

  it('rejects the same region twice', () => {
    expect(() => buildApp(new App(), { ...options, secondaryRegion: 'us-east-1' })).toThrow(
      'primary and secondary region must differ (both are us-east-1)',
    );
  });
});
