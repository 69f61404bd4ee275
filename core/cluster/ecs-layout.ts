// compute=ecs as both sides see it: the CDK construct that defines the task definitions and services
// (cdk/lib/constructs/ecs-compute.ts) and the control plane's ECS fleet that runs tasks from them
// (services/control-plane/ecs-fleet.ts). Ports, the container's name and command line, and the
// environment variables through which CDK tells the control plane what to run — one definition, so
// the two cannot drift apart.
import { assert } from '../assert.ts';

/** Every task has its own network interface (awsvpc), so ports are fixed, the same in every task. */
export const ecsPorts = {
  storage: 7100,
  storageHttp: 7101,
  dataApi: 8080,
  redo: 8081,
  instanceHttp: 8082,
  controlPlane: 8090,
  proxyWriter: 8070,
  proxyReader: 8071,
  proxyHttp: 8072,
} as const;

/** The one container of every Borealis task definition (what RunTask overrides name). */
export const ecsContainerName = 'main';

/** Where a task's command writes the volume config it gets in BOREALIS_VOLUME_CONFIG. */
export const ecsVolumeConfigVariable = 'BOREALIS_VOLUME_CONFIG';
export const ecsVolumeConfigFile = '/tmp/volume.json';
/** Storage nodes' durable volume (EFS access point) is mounted here. */
export const ecsDataDir = '/data';

/** The environment CDK gives the control plane's task; ecs-fleet-env.ts reads it. */
export const ecsFleetVariables = {
  /** The ECS cluster (name or ARN). */
  cluster: 'BOREALIS_ECS_CLUSTER',
  writerTaskDefinition: 'BOREALIS_ECS_WRITER_TASK_DEFINITION',
  readerTaskDefinition: 'BOREALIS_ECS_READER_TASK_DEFINITION',
  /** JSON: {"us-east-1a": ["subnet-…"], …} — instances run in their AZ's private subnets. */
  subnets: 'BOREALIS_ECS_SUBNETS',
  /** Comma-separated security group ids for instance tasks. */
  securityGroups: 'BOREALIS_ECS_SECURITY_GROUPS',
  /** JSON: {"n1": "<service name>", …} — one ECS service per storage node. */
  storageServices: 'BOREALIS_ECS_STORAGE_SERVICES',
} as const;

/** Flags every Borealis task passes: listen on the task's interface. */
export const ecsBindFlags = ['--bind-address', '0.0.0.0'];

/**
 * The shell expression a task uses to advertise its own private IP (awsvpc: the task's ENI), read
 * from the ECS container metadata endpoint (v4), which every Fargate task has.
 */
export const ecsSelfAddress = `"$(node -e 'fetch(process.env.ECS_CONTAINER_METADATA_URI_V4).then((r) => r.json()).then((c) => console.log(c.Networks[0].IPv4Addresses[0]))')"`;

/**
 * A container command: write the volume config from the environment (processes that read one), then
 * exec the service with its flags (each single-quoted), bound to the task's interface and advertising
 * `advertise` — a Cloud Map name, or 'self': the task's own private IP (instances, run by RunTask).
 */
export function ecsContainerCommand(
  entry: string,
  flags: readonly string[],
  options: { advertise: 'self' | string; volumeConfig?: boolean },
): string[] {
  for (const flag of [...flags, entry, options.advertise]) {
    assert(!flag.includes("'"), () => `an ECS command flag may not contain a quote: ${flag}`);
  }
  const withVolume = options.volumeConfig ?? true;
  const advertise = options.advertise === 'self' ? ecsSelfAddress : `'${options.advertise}'`;
  const parts = [
    ...(withVolume ? [`printf '%s' "$${ecsVolumeConfigVariable}" > ${ecsVolumeConfigFile} &&`] : []),
    `exec node --import tsx ${entry}`,
    ...(withVolume ? [`--volume-config ${ecsVolumeConfigFile}`] : []),
    ...ecsBindFlags,
    `--advertise-address ${advertise}`,
    ...flags.map((f) => `'${f}'`),
  ];
  return ['sh', '-c', parts.join(' ')];
}
