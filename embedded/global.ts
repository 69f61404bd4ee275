// The Global Database on one machine (`npm start -- --global`): the secondary cluster in another
// region (its own six storage nodes in R a/b/c, readers, a proxy for its reader endpoint, and the
// replica applier in its writer slot), the environment that points the primary region's
// global-replicator at it, and a small state file (<state dir>/global.json) through which
// `borealis global …` finds both members.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { functionEnv } from '../core/functions.ts';
import { secondaryRegion } from '../core/resources.ts';
import { volumePath } from '../services/control-plane/volume-setup.ts';
import { LocalCluster } from './cluster.ts';
import { isPidAlive, stateDirPath } from './state.ts';

export interface GlobalMember {
  region: string;
  cluster: string;
  controlPlaneUrl: string;
  /** The cluster's data dir (volume.json, nodes/, logs/, topology.json). */
  dir: string;
  /** Its control plane and proxy (the rest are the control plane's children): `kill --region`. */
  controlPlanePid: number;
  proxyPid: number;
  /**
   * How the launcher starts this region's cluster again as a secondary (`borealis global rejoin`):
   * its readers and control-plane flags (without the role flag; the port is the same one, so every
   * URL of its control plane stays valid).
   */
  restart?: { readers: number; controlPlaneArgs: string[] };
}

/**
 * A region left behind by an unplanned failover while it was down: when it rejoins, its volume
 * discards the commits above `aboveLsn` (the new primary's VDL at promotion) and names them.
 */
export interface PendingRejoin {
  region: string;
  aboveLsn: string;
  aboveCommitTimeMs: number;
  failoverAt: string;
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
  pendingRejoins?: PendingRejoin[];
  /**
   * The first LSN of the last promotion, in whichever region: the next promotion allocates at least
   * 2^40 above it (ADR 016), so no region's writer ever allocates what an earlier one may have.
   */
  lastPromotionStart?: string;
  /** Per region, its emulators' and function runner's pids (`kill --region` takes them too). */
  regionProcesses?: Record<string, { emulatorPids: number[]; functionRunnerPid: number; rdsApiPid?: number }>;
}

/** Where a region's clusters live: the primary region's in clusters/, others in regions/R/clusters/. */
export function regionTopologyDir(stateDir: string, region: string): string {
  return join(stateDirPath(stateDir), 'regions', region, 'clusters');
}

function globalStateFile(stateDir: string): string {
  return join(stateDirPath(stateDir), 'global.json');
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

export function writeGlobalState(stateDir: string, state: GlobalState): void {
  const file = globalStateFile(stateDir);
  mkdirSync(stateDirPath(stateDir), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** How long an update waits for another process's update of global.json (each takes microseconds). */
const globalStateLockWaitMs = 5_000;

/**
 * Read-modify-write of global.json under a lock file that every writer takes (the CLI's switchover,
 * failover and rejoin and the launcher's rejoin and restarts each change a different part of it:
 * without the lock one could write back what it read before the other's change). A lock left by a
 * process that died is taken over. `mutate` gets the current state and must not wait on anything.
 */
export function updateGlobalState(
  stateDir: string,
  mutate: (state: GlobalState) => GlobalState,
): GlobalState {
  const lock = `${globalStateFile(stateDir)}.lock`;
  const deadline = Date.now() + globalStateLockWaitMs;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: number;
      try {
        holder = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // released meanwhile
      }
      // A holder that died is taken over (one that has not written its pid yet is given the wait).
      if (Number.isInteger(holder) && holder > 0 && !isPidAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) {
        throw new Error(
          `global.json is locked by pid ${holder || 'unknown'} for over ${globalStateLockWaitMs} ms (${lock})`,
        );
      } else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
  try {
    const current = readGlobalState(stateDir);
    if (!current) throw new Error(`no global database state in ${globalStateFile(stateDir)}`);
    const next = mutate(current);
    writeGlobalState(stateDir, next);
    return next;
  } finally {
    rmSync(lock, { force: true });
  }
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
