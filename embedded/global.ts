// The Global Database on one machine (`npm start -- --global`): the secondary cluster in another
// region (its own six storage nodes in R a/b/c, readers, a proxy for its reader endpoint, and the
// replica applier in its writer slot), the environment that points the primary region's
// global-replicator at it, and a small state file (<state dir>/global.json) through which
// `borealis global …` finds both members.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionEnv } from '../core/functions.ts';
import type { GlobalMember, GlobalState } from '../core/global/state-file.ts';
import * as stateFile from '../core/global/state-file.ts';
import { secondaryRegion } from '../core/resources.ts';
import { volumePath } from '../services/control-plane/volume-setup.ts';
import { LocalCluster } from './cluster.ts';
import { stateDirPath } from './state.ts';

export type {
  GlobalMember,
  GlobalState,
  GlobalWriterState,
  PendingRejoin,
} from '../core/global/state-file.ts';

/** Where a region's clusters live: the primary region's in clusters/, others in regions/R/clusters/. */
export function regionTopologyDir(stateDir: string, region: string): string {
  return join(stateDirPath(stateDir), 'regions', region, 'clusters');
}

/**
 * A region taken down by `borealis kill --region` (a file per region, written before the kill): the
 * launcher does not treat its processes' deaths as a failure of the system; a rejoin clears it.
 */
function regionDownFile(stateDir: string, region: string): string {
  return join(stateDirPath(stateDir), 'regions-down', region);
}

export function markRegionDown(stateDir: string, region: string): void {
  mkdirSync(join(stateDirPath(stateDir), 'regions-down'), { recursive: true });
  writeFileSync(regionDownFile(stateDir, region), `${new Date().toISOString()}\n`);
}

export function clearRegionDown(stateDir: string, region: string): void {
  rmSync(regionDownFile(stateDir, region), { force: true });
}

export function regionsDown(stateDir: string): Set<string> {
  const dir = join(stateDirPath(stateDir), 'regions-down');
  return new Set(existsSync(dir) ? readdirSync(dir) : []);
}

/** global.json of the system run from `stateDir` (core/global/state-file.ts, by the dir's path). */
export function writeGlobalState(stateDir: string, state: GlobalState): void {
  stateFile.writeGlobalState(stateDirPath(stateDir), state);
}

export function updateGlobalState(
  stateDir: string,
  mutate: (state: GlobalState) => GlobalState,
): GlobalState {
  return stateFile.updateGlobalState(stateDirPath(stateDir), mutate);
}

export function readGlobalState(stateDir: string): GlobalState | undefined {
  return stateFile.readGlobalState(stateDirPath(stateDir));
}

export function removeGlobalState(stateDir: string): void {
  stateFile.removeGlobalState(stateDirPath(stateDir));
}

/**
 * Starts the secondary cluster of `cluster` in `region`, with the primary's volume geometry (records
 * carry their PG: both volumes must map pages to PGs alike).
 */
export async function startSecondaryCluster(options: {
  stateDir: string;
  cluster: string;
  primaryDir: string;
  region?: string;
  readers: number;
  env: NodeJS.ProcessEnv;
  /** Flags for the control plane besides the geometry (the writer's, for after a promotion). */
  controlPlaneArgs?: string[];
}): Promise<{ cluster: LocalCluster; member: GlobalMember; replicatorEnv: Record<string, string> }> {
  const region = options.region ?? secondaryRegion;
  const topologyDir = regionTopologyDir(options.stateDir, region);
  const dir = join(topologyDir, options.cluster);
  const primaryVolume = JSON.parse(readFileSync(volumePath(options.primaryDir), 'utf8')) as {
    pageSizeBytes: number;
    pagesPerPg: number;
    placement: unknown[];
  };
  const geometry = [
    '--pg-count',
    String(primaryVolume.placement.length),
    '--pages-per-pg',
    String(primaryVolume.pagesPerPg),
    '--page-size',
    String(primaryVolume.pageSizeBytes),
    ...(options.controlPlaneArgs ?? []),
  ];
  const cluster = await LocalCluster.start({
    dir,
    name: options.cluster,
    region,
    readers: options.readers,
    env: options.env,
    // Its applier publishes nothing (its redo is the primary's, on the primary's stream); the writer
    // of a promotion publishes to this region's stream, for this region's backups and replicator.
    publishRedo: true,
    controlPlaneArgs: ['--global-secondary', ...geometry],
  });
  return {
    cluster,
    member: {
      region,
      cluster: options.cluster,
      controlPlaneUrl: cluster.controlPlaneUrl,
      dir,
      controlPlanePid: cluster.controlPlane.pid,
      proxyPid: cluster.proxy.pid,
      restart: {
        readers: options.readers,
        controlPlaneArgs: [...geometry, '--port', new URL(cluster.controlPlaneUrl).port],
      },
    },
    replicatorEnv: {
      [functionEnv.globalSecondaryRegion]: region,
      [functionEnv.globalSecondaryCluster]: options.cluster,
      [functionEnv.globalSecondaryTopologyDir]: topologyDir,
    },
  };
}

/**
 * Starts a member's cluster again as a secondary on its data (`borealis global rejoin`): same dir,
 * same control-plane port, the flags it was started with.
 */
export async function restartMemberAsSecondary(
  member: GlobalMember,
  env: NodeJS.ProcessEnv,
): Promise<LocalCluster> {
  if (!member.restart)
    throw new Error(`${member.region} was not started by this launcher: it cannot start it again`);
  return LocalCluster.start({
    dir: member.dir,
    name: member.cluster,
    region: member.region,
    readers: member.restart.readers,
    env,
    publishRedo: true,
    controlPlaneArgs: ['--global-secondary', ...member.restart.controlPlaneArgs],
  });
}
