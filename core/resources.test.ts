import { describe, expect, it } from 'vitest';
import { parseBinlogShardCount, regionalResources } from './resources.ts';

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

  it('takes the binlog stream’s shard count, 1–64, and refuses anything else', () => {
    expect(regionalResources('us-east-1', 'blue', { binlogShardCount: 8 }).binlogStream).toEqual({
      name: 'blue-binlog',
      shardCount: 8,
    });
    expect(parseBinlogShardCount(undefined)).toBe(1);
    expect(parseBinlogShardCount(' 64 ')).toBe(64);
    for (const bad of ['0', '65', '2.5', 'four', -1])
      expect(() => parseBinlogShardCount(bad)).toThrow(/1 to 64/);
  });
});
