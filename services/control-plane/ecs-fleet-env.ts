// `control-plane --fleet ecs`: the ECS fleet configured from the environment CDK gives the control
// plane's task (core/cluster/ecs-layout.ts names the variables), and the volume config from
// BOREALIS_VOLUME_CONFIG (the Cloud Map names of the storage nodes, computed at synth). A missing or
// malformed variable is one clear error before anything starts.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { ecsClient } from '../../core/aws/clients.ts';
import { ecsFleetVariables, ecsVolumeConfigVariable } from '../../core/cluster/ecs-layout.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { type StorageNodeAddress, type VolumeConfig, validateVolumeConfig } from '../../core/volume.ts';
import { EcsFleet, type EcsFleetOptions } from './ecs-fleet.ts';
import type { ExitListener } from './fleet.ts';
import { HealthProber } from './health-probe.ts';
import { volumePath } from './volume-setup.ts';

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `--fleet ecs needs the environment variable ${name}`);
  }
  return value;
}

function json<T>(env: Env, name: string, check: (v: unknown) => v is T, shape: string): T {
  let value: unknown;
  try {
    value = JSON.parse(required(env, name));
  } catch (error) {
    if (error instanceof BorealisError) throw error;
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `${name} is not JSON (${(error as Error).message})`);
  }
  if (!check(value)) throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `${name} must be ${shape}`);
  return value;
}

const isRecordOf =
  <T>(item: (v: unknown) => v is T) =>
  (v: unknown): v is Record<string, T> =>
    typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every(item);
const isString = (v: unknown): v is string => typeof v === 'string' && v !== '';
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.every(isString);

/** Pure: the ECS fleet's settings from the environment (everything but the client and callbacks). */
export function ecsFleetSettings(env: Env) {
  return {
    ecsCluster: required(env, ecsFleetVariables.cluster),
    taskDefinitions: {
      writer: required(env, ecsFleetVariables.writerTaskDefinition),
      reader: required(env, ecsFleetVariables.readerTaskDefinition),
    },
    subnets: json(env, ecsFleetVariables.subnets, isRecordOf(isStringList), '{"<az>": ["subnet-…"], …}'),
    securityGroups: required(env, ecsFleetVariables.securityGroups)
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    storageServices: json(
      env,
      ecsFleetVariables.storageServices,
      isRecordOf(isString),
      '{"n1": "<service>", …}',
    ),
  };
}

/** A configuration error is one line on stderr and exit code 2, as a bad flag is (core/process/flags.ts). */
function orExit<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    console.error(`control-plane: ${(error as Error).message}${cause ? `: ${cause.message}` : ''}`);
    process.exit(2);
  }
}

/** The volume config the deployment computed, written to DIR/volume.json for the record. */
export function ecsVolumeFromEnv(env: Env, dir: string): VolumeConfig {
  return orExit(() => ecsVolume(env, dir));
}

function ecsVolume(env: Env, dir: string): VolumeConfig {
  const volume = validateVolumeConfig(
    json(
      env,
      ecsVolumeConfigVariable,
      (v): v is VolumeConfig => typeof v === 'object' && v !== null && !Array.isArray(v),
      'a volume config (JSON object)',
    ),
  );
  mkdirSync(dir, { recursive: true });
  const path = volumePath(dir);
  writeFileSync(`${path}.tmp`, `${JSON.stringify(volume, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return volume;
}

export function ecsFleetFromEnv(
  env: Env,
  options: {
    region: string;
    cluster: string;
    logger: Logger;
    onExit: ExitListener;
    instanceArgs: string[];
    writerArgs: () => string[];
  } & Partial<Pick<EcsFleetOptions, 'pollIntervalMs' | 'startTimeoutMs'>>,
  nodes: readonly StorageNodeAddress[],
  instances: readonly { id: string; az: string; tier: number }[],
): EcsFleet {
  const settings = orExit(() => ecsFleetSettings(env));
  const prober = new HealthProber();
  return new EcsFleet(
    {
      ...settings,
      ecs: ecsClient({ region: options.region }),
      probe: (host, port, timeoutMs) => prober.probe(port, timeoutMs, host),
      ...options,
    },
    nodes,
    instances,
  );
}
