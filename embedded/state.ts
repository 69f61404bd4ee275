// The state dir (default .borealis/) is how the processes of one embedded system find each other:
// `npm start` writes what it started there, and the CLI in a second terminal reads it.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { isPidAlive } from '../core/process/pid.ts';
import type { EmulatorState } from './emulators.ts';

/** Re-exported: the launcher's modules and tests find it here. */
export { isPidAlive };

export const defaultStateDir = '.borealis';

export interface SystemState {
  /** PID of the `npm start` process that owns everything below. */
  launcherPid: number;
  startedAt: string;
  emulators: EmulatorState;
  /** The primary cluster, once its control plane runs (absent while emulators are starting). */
  cluster?: ClusterEntry;
}

/** How a second terminal reaches the running cluster: everything else comes from the control plane. */
export interface ClusterEntry {
  name: string;
  region: string;
  /** Base URL of the control plane's HTTP API (core/cluster/topology.ts: controlPlaneRoutes). */
  controlPlaneUrl: string;
  /** True once storage, writer, readers and proxy all serve. */
  ready: boolean;
  controlPlanePid?: number;
  proxyPid?: number;
}

export function stateDirPath(stateDir: string = defaultStateDir): string {
  return resolve(stateDir);
}

function stateFile(stateDir: string): string {
  return join(stateDirPath(stateDir), 'system.json');
}

export function writeSystemState(stateDir: string, state: SystemState): void {
  mkdirSync(stateDirPath(stateDir), { recursive: true });
  const file = stateFile(stateDir);
  // Rename makes the update atomic for a reader in another terminal.
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function removeSystemState(stateDir: string): void {
  rmSync(stateFile(stateDir), { force: true });
}

/** The running system's state, or undefined when none runs (a stale file is ignored). */
export function readSystemState(stateDir: string = defaultStateDir): SystemState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as SystemState;
  return isPidAlive(state.launcherPid) ? state : undefined;
}

/** A running cluster's entry, one file per cluster: how the CLI finds a restored cluster too. */
export interface RunningCluster extends ClusterEntry {
  launcherPid: number;
}

export function clusterDirPath(stateDir: string, name: string): string {
  return join(stateDirPath(stateDir), 'clusters', name);
}

function clusterEntryFile(stateDir: string, name: string): string {
  return join(clusterDirPath(stateDir, name), 'cluster.json');
}

export function writeClusterEntry(stateDir: string, entry: RunningCluster): void {
  const file = clusterEntryFile(stateDir, entry.name);
  mkdirSync(clusterDirPath(stateDir, entry.name), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(entry, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

export function removeClusterEntry(stateDir: string, name: string): void {
  rmSync(clusterEntryFile(stateDir, name), { force: true });
}

/** The cluster's entry if its launcher still runs (the primary's also comes from system.json). */
export function readClusterEntry(stateDir: string, name: string): RunningCluster | undefined {
  const file = clusterEntryFile(stateDir, name);
  if (existsSync(file)) {
    const entry = JSON.parse(readFileSync(file, 'utf8')) as RunningCluster;
    if (isPidAlive(entry.launcherPid)) return entry;
  }
  const system = readSystemState(stateDir);
  if (system?.cluster?.name === name) return { ...system.cluster, launcherPid: system.launcherPid };
  return undefined;
}

/** Where a control plane writes its URL as soon as it serves, before the cluster is ready. */
export function controlPlaneUrlFile(clusterDir: string): string {
  return join(clusterDir, 'control-plane.url');
}

/** SIGTERMs every other cluster's launcher under the state dir and waits (bounded) until they exit. */
export async function stopOtherClusters(stateDir: string, except: string): Promise<void> {
  const root = join(stateDirPath(stateDir), 'clusters');
  if (!existsSync(root)) return;
  const launchers = readdirSync(root)
    .filter((name) => name !== except)
    .map((name) => readClusterEntry(stateDir, name))
    .filter((e): e is RunningCluster => e !== undefined && e.name !== except)
    .map((e) => e.launcherPid);
  for (const pid of launchers) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  const deadline = Date.now() + 30_000;
  while (launchers.some(isPidAlive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}
