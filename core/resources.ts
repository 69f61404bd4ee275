// Names and sizes of every regional AWS resource Borealis uses. One definition, read by the
// embedded provisioner, the local function runner and the CDK stacks, so they can never drift.
import { BorealisError, ErrorCode } from './errors.ts';

export const defaultClusterName = 'borealis';
export const primaryRegion = 'us-east-1';
export const secondaryRegion = 'us-west-2';
export const embeddedRegions = [primaryRegion, secondaryRegion] as const;

export interface StreamDefinition {
  name: string;
  shardCount: number;
}

export interface RegionalResources {
  region: string;
  /** Continuous backup: log chunks, snapshots, manifests. */
  backupBucket: string;
  /** Durable redo batches, consumed by the backup archiver, binlog streamer and global replicator. */
  redoStream: StreamDefinition;
  /** Row-level change events (CDC) for downstream consumers. */
  binlogStream: StreamDefinition;
  /**
   * SQS queue of cluster provision requests (deployed mode): the restore function asks there for a
   * new cluster, `borealis up --aws` starts it (core/cluster/provision.ts).
   */
  provisionQueue: string;
}

const bucketNamePattern = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/**
 * Shards of the binlog stream: events are keyed by table and primary key, so per-row order holds on
 * any number. Set where the stream is created: `npm start -- --binlog-shards N` (or the variable
 * below, which `borealis up` passes on), `cdk deploy -c binlogShards=N`. An existing stream keeps its
 * shards.
 */
export const binlogShardCountDefault = 1;
export const binlogShardCountMax = 64;
export const binlogShardsVariable = 'BOREALIS_BINLOG_SHARDS';

/** A binlog shard count, 1..binlogShardCountMax; undefined or '' is the default. */
export function parseBinlogShardCount(value: string | number | undefined): number {
  if (value === undefined || value === '') return binlogShardCountDefault;
  const n = typeof value === 'number' ? value : /^\s*\d+\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1 || n > binlogShardCountMax) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `the binlog stream's shard count must be a whole number from 1 to ${binlogShardCountMax}, got '${value}'`,
      { retryable: false, context: { value: String(value) } },
    );
  }
  return n;
}

export interface ResourceOptions {
  /** Shards of the binlog stream (default binlogShardCountDefault). */
  binlogShardCount?: number;
}

export function regionalResources(
  region: string,
  clusterName: string = defaultClusterName,
  options: ResourceOptions = {},
): RegionalResources {
  const backupBucket = `${clusterName}-backup-${region}`;
  if (!bucketNamePattern.test(backupBucket)) {
    throw new Error(
      `cluster name '${clusterName}' gives an invalid S3 bucket name '${backupBucket}': use lower-case letters, digits and '-'`,
    );
  }
  return {
    region,
    backupBucket,
    redoStream: { name: `${clusterName}-redo`, shardCount: 1 },
    binlogStream: {
      name: `${clusterName}-binlog`,
      shardCount: parseBinlogShardCount(options.binlogShardCount),
    },
    provisionQueue: `${clusterName}-provision`,
  };
}

/** What a Data API client passes as resourceArn and secretArn for a cluster (embedded defaults). */
export function clusterArns(
  region: string,
  clusterName: string = defaultClusterName,
): { resourceArn: string; secretArn: string } {
  return {
    resourceArn: `arn:aws:rds:${region}:000000000000:cluster:${clusterName}`,
    secretArn: `arn:aws:secretsmanager:${region}:000000000000:secret:${clusterName}-admin`,
  };
}
