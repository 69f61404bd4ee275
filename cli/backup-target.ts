// Where a cluster's backup lives, for `borealis backup …` and `borealis snapshot …`: the region's
// backup bucket through the shared S3 client, pointed at the running system's emulator (system.json)
// or, with no system running, at whatever the environment names (AWS_ENDPOINT_URL, LocalStack, AWS).
// With a Global Database each region keeps its own backups (its writer's log, docs/global.md): the
// region is --region, else the current primary's, which a switchover or failover moves.
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../core/aws/clients.ts';
import { regionalResources } from '../core/resources.ts';
import { emulatorEnv } from '../embedded/emulators.ts';
import { type SystemState, stateDirPath } from '../embedded/state.ts';
import { backupRegion } from './backup-region.ts';
import { CliError } from './errors.ts';

export interface ClusterOption {
  cluster: string;
  /** The region whose backups to use (default: the cluster's, or a Global Database's primary). */
  region?: string;
}

export interface BackupTarget {
  cluster: string;
  region: string;
  bucket: string;
  s3: S3Client;
  /** The running system, when one runs from the state dir. */
  system: SystemState | undefined;
  /** The cluster in that region when it is a Global Database member: its control plane and dir. */
  member?: { controlPlaneUrl: string; clusterDir: string };
}

export function backupTarget(options: { stateDir: string; cluster: string; region?: string }): BackupTarget {
  const { region, system, member } = backupRegion(options);
  let env: NodeJS.ProcessEnv;
  if (system) env = { ...process.env, ...emulatorEnv(system.emulators) };
  else if (process.env.AWS_ENDPOINT_URL || process.env.AWS_ENDPOINT_URL_S3) env = process.env;
  else {
    throw new CliError(
      `no system is running from ${stateDirPath(options.stateDir)} (start one with \`npm start\`) and AWS_ENDPOINT_URL is not set`,
    );
  }
  let bucket: string;
  try {
    bucket = regionalResources(region, options.cluster).backupBucket;
  } catch (error) {
    throw new CliError((error as Error).message);
  }
  return {
    cluster: options.cluster,
    region,
    bucket,
    s3: s3Client({ region, env }),
    system,
    ...(member && { member }),
  };
}

/** The running cluster's control plane and data dir (a snapshot reads its volume.json). */
export function runningCluster(
  target: BackupTarget,
  stateDir: string,
): { controlPlaneUrl: string; clusterDir: string } {
  const entry = target.system?.cluster;
  if (!target.system)
    throw new CliError(`no system is running from ${stateDirPath(stateDir)} (start one with \`npm start\`)`);
  if (target.member) return target.member;
  if (entry?.name !== target.cluster || typeof entry.controlPlaneUrl !== 'string') {
    throw new CliError(
      `cluster '${target.cluster}' does not run from ${stateDirPath(stateDir)}${entry ? ` (it runs '${entry.name}')` : ''}`,
    );
  }
  return {
    controlPlaneUrl: entry.controlPlaneUrl,
    clusterDir: join(stateDirPath(stateDir), 'clusters', entry.name),
  };
}

/** S3 errors as one line that names the bucket (a missing bucket is the common case). */
export function backupStoreError(error: unknown, target: Pick<BackupTarget, 'bucket' | 'cluster'>): unknown {
  const name = (error as Error | undefined)?.name;
  if (name === 'NoSuchBucket') {
    return new CliError(`the backup bucket ${target.bucket} of cluster '${target.cluster}' does not exist`, {
      cause: error,
    });
  }
  return error;
}
