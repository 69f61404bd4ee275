// Wires the stacks from validated options; shared by cdk/bin/app.ts and the assertion tests.
import type { App } from 'aws-cdk-lib';
import { parseBackupRetentionDays } from '../../core/functions.ts';
import { parseBinlogShardCount } from '../../core/resources.ts';
import { type ComputeMode, computeModes, RegionStack } from './stacks/region-stack.ts';

export interface BorealisAppOptions {
  clusterName: string;
  primaryRegion: string;
  secondaryRegion: string;
  /** Default 'external'. */
  compute?: ComputeMode;
  /** BACKUP_RETENTION_DAYS of the functions (1–35); unset: the functions' default. */
  backupRetentionDays?: number | string;
  /** Shards of each region's binlog stream (1–64); unset: core/resources.ts's default. */
  binlogShards?: number | string;
}

export function buildApp(
  app: App,
  options: BorealisAppOptions,
): { primary: RegionStack; secondary: RegionStack } {
  if (options.primaryRegion === options.secondaryRegion) {
    throw new Error(`primary and secondary region must differ (both are ${options.primaryRegion})`);
  }
  const compute = options.compute ?? 'external';
  if (!computeModes.includes(compute)) {
    throw new Error(`compute must be one of ${computeModes.join(', ')}, got '${compute}'`);
  }
  const retention =
    options.backupRetentionDays === undefined || options.backupRetentionDays === ''
      ? {}
      : { backupRetentionDays: parseBackupRetentionDays(options.backupRetentionDays) };
  const binlogShardCount = parseBinlogShardCount(options.binlogShards);
  const stackName = (role: string) => `${options.clusterName}-${role}`;
  const common = { clusterName: options.clusterName, compute, binlogShardCount, ...retention };
  return {
    primary: new RegionStack(app, 'Primary', {
      stackName: stackName('primary'),
      region: options.primaryRegion,
      ...common,
    }),
    secondary: new RegionStack(app, 'Secondary', {
      stackName: stackName('secondary'),
      region: options.secondaryRegion,
      ...common,
    }),
  };
}
