// The state dir (default .borealis/) is how the processes of one embedded system find each other:
// `npm start` writes what it started there, and the CLI in a second terminal reads it.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { EmulatorState } from './emulators.ts';

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

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The running system's state, or undefined when none runs (a stale file is ignored). */
export function readSystemState(stateDir: string = defaultStateDir): SystemState | undefined {
  const file = stateFile(stateDir);
  if (!existsSync(file)) return undefined;
  const state = JSON.parse(readFileSync(file, 'utf8')) as SystemState;
  return isPidAlive(state.launcherPid) ? state : undefined;
}
