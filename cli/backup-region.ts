// Which region's backups a backup command acts on. A Global Database keeps them per region, each
// region archiving its own writer's log (docs/global.md): the region is --region, else the current
// primary's (a switchover or failover moves it), else the running cluster's. Loads no AWS client, so
// `borealis restore` (which only puts an event on the region's bus) can use it too.
import { primaryRegion } from '../core/resources.ts';
import { readGlobalState } from '../embedded/global.ts';
import { type SystemState, stateDirPath } from '../embedded/state.ts';
import { readRunningSystem } from './control-plane.ts';
import { CliError } from './errors.ts';

export interface BackupRegion {
  region: string;
  /** The running system, when one runs from the state dir. */
  system: SystemState | undefined;
  /** The cluster in that region when it is a Global Database member: its control plane and dir. */
  member?: { controlPlaneUrl: string; clusterDir: string };
}

export function backupRegion(options: { stateDir: string; cluster: string; region?: string }): BackupRegion {
  const system = readRunningSystem(options.stateDir);
  const running = system?.cluster?.name === options.cluster ? system.cluster : undefined;
  const global = system ? readGlobalState(options.stateDir) : undefined;
  const members = global?.primary.cluster === options.cluster ? [global.primary, ...global.secondaries] : [];
  const region = options.region ?? members[0]?.region ?? running?.region ?? primaryRegion;
  if (system && !system.emulators.regions.some((r) => r.region === region)) {
    throw new CliError(
      `region ${region} does not run in the system at ${stateDirPath(options.stateDir)} (its regions: ${system.emulators.regions.map((r) => r.region).join(', ')})`,
    );
  }
  const member = members.find((m) => m.region === region);
  return {
    region,
    system,
    ...(member && { member: { controlPlaneUrl: member.controlPlaneUrl, clusterDir: member.dir } }),
  };
}
