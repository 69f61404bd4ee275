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
  /**
   * A Global Database across the two regions (default off): each region's global-replicator targets
   * the cluster in the other region. Off, the replicators have nothing to do — on, the primary's
   * waits (retries) until the secondary's replica applier is published, as a secondary must start
   * with its primary (ADR 016).
   */
  globalDatabase?: boolean;
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
    // With a Global Database each region's global-replicator targets the other: the primary's carries
    // its redo to the secondary, after a switchover or failover the secondary's carries it back.
    primary: new RegionStack(app, 'Primary', {
      stackName: stackName('primary'),
      region: options.primaryRegion,
      ...(options.globalDatabase && { globalPeerRegion: options.secondaryRegion }),
      ...common,
    }),
    secondary: new RegionStack(app, 'Secondary', {
      stackName: stackName('secondary'),
      region: options.secondaryRegion,
      ...(options.globalDatabase && { globalPeerRegion: options.primaryRegion }),
      ...common,
    }),
  };
}
