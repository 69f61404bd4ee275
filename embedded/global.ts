// The Global Database on one machine (`npm start -- --global`): the secondary cluster in another
// region (its own six storage nodes in R a/b/c, readers, a proxy for its reader endpoint, and the
// replica applier in its writer slot), the environment that points the primary region's
// global-replicator at it, and a small state file (<state dir>/global.json) through which
// `borealis global …` finds both members.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { functionEnv } from '../core/functions.ts';
import { secondaryRegion } from '../core/resources.ts';
import { volumePath } from '../services/control-plane/volume-setup.ts';
import { LocalCluster } from './cluster.ts';
import { stateDirPath } from './state.ts';

export interface GlobalMember {
  region: string;
  cluster: string;
  controlPlaneUrl: string;
  /** The cluster's data dir (volume.json, nodes/, logs/, topology.json). */
  dir: string;
  /** Its control plane and proxy (the rest are the control plane's children): `kill --region`. */
  controlPlanePid: number;
  proxyPid: number;
}

/** The global writer endpoint (services/global-endpoint): it belongs to no region. */
export interface GlobalWriterState {
  /** Its Data API URL (`globalWriterEndpoint`). */
  dataApi: string;
  /** Its MySQL `host:port` (`globalWriterMysqlEndpoint`). */
  mysql: string;
  /** Its /health and /metrics. */
  httpUrl: string;
  globalClusterArn: string;
  pid: number;
}

/** <state dir>/global.json: the members of the running Global Database (primary first). */
export interface GlobalState {
  primary: GlobalMember;
  secondaries: GlobalMember[];
  globalWriter?: GlobalWriterState;
}

/** Where a region's clusters live: the primary region's in clusters/, others in regions/R/clusters/. */
export function regionTopologyDir(stateDir: string, region: string): string {
  return join(stateDirPath(stateDir), 'regions', region, 'clusters');
}

function globalStateFile(stateDir: string): string {
  return join(stateDirPath(stateDir), 'global.json');
}

export function writeGlobalState(stateDir: string, state: GlobalState): void {
  const file = globalStateFile(stateDir);
  mkdirSync(stateDirPath(stateDir), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function readGlobalState(stateDir: string): GlobalState | undefined {
  const file = globalStateFile(stateDir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as GlobalState;
}

export function removeGlobalState(stateDir: string): void {
  rmSync(globalStateFile(stateDir), { force: true });
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
}): Promise<{ cluster: LocalCluster; member: GlobalMember; replicatorEnv: Record<string, string> }> {
  const region = options.region ?? secondaryRegion;
  const topologyDir = regionTopologyDir(options.stateDir, region);
  const dir = join(topologyDir, options.cluster);
  const primaryVolume = JSON.parse(readFileSync(volumePath(options.primaryDir), 'utf8')) as {
    pageSizeBytes: number;
    pagesPerPg: number;
    placement: unknown[];
  };
  const cluster = await LocalCluster.start({
    dir,
    name: options.cluster,
    region,
    readers: options.readers,
    env: options.env,
    // A secondary publishes nothing: its redo is the primary's, already on the primary's stream.
    publishRedo: false,
    controlPlaneArgs: [
      '--global-secondary',
      '--pg-count',
      String(primaryVolume.placement.length),
      '--pages-per-pg',
      String(primaryVolume.pagesPerPg),
      '--page-size',
      String(primaryVolume.pageSizeBytes),
    ],
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
    },
    replicatorEnv: {
      [functionEnv.globalSecondaryRegion]: region,
      [functionEnv.globalSecondaryCluster]: options.cluster,
      [functionEnv.globalSecondaryTopologyDir]: topologyDir,
    },
  };
}
