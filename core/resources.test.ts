import { describe, expect, it } from 'vitest';
import { regionalResources } from './resources.ts';

describe('regionalResources', () => {
  it('names the default cluster resources per region', () => {
    expect(regionalResources('us-west-2')).toEqual({
      region: 'us-west-2',
      backupBucket: 'borealis-backup-us-west-2',
      redoStream: { name: 'borealis-redo', shardCount: 1 },
      binlogStream: { name: 'borealis-binlog', shardCount: 1 },
      provisionQueue: 'borealis-provision',
    });
  });

  it('rejects a cluster name that cannot make a bucket name', () => {
    expect(() => regionalResources('us-east-1', 'Bad_Name')).toThrow(/invalid S3 bucket name/);
  });
});
