// `borealis down`: stop the system that runs from a state dir — SIGTERM its launcher (which stops
// every process it started, and the clusters running beside it), SIGKILL after a grace period — and
// say what was stopped. `down --cluster NAME` stops only that cluster's launcher; the system stays up.
import type { Command } from 'commander';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import {
  type ClusterEntry,
  isPidAlive,
  type RunningCluster,
  removeClusterEntry,
  removeSystemState,
  type SystemState,
  stateDirPath,
} from '../embedded/state.ts';
import { getStatus, readRunningCluster, readRunningSystem } from './control-plane.ts';
import { CliError } from './errors.ts';
import type { CommandContext } from './io.ts';
import {
  addClusterOption,
  addStateDirOption,
  type ClusterOptions,
  integerFlag,
  isPrimaryCluster,
  type StateDirOptions,
} from './options.ts';

/** How long the launcher has to stop everything after SIGTERM before it gets SIGKILL. */
export const graceMsDefault = 30_000;
/** After SIGKILL of the launcher: how long until it must be gone. */
const killWaitMs = 5_000;
/** How long the launcher's children have to follow it (they watch their parent every 500 ms). */
const childrenWaitMs = 5_000;
/** How long `down` asks the control plane what runs, before stopping without knowing. */
const statusTimeoutMs = 2_000;
const pollIntervalMs = 100;

export interface DownOptions extends StateDirOptions, Partial<ClusterOptions> {
  graceMs: number;
}

/** Every pid the system reported: emulators, instances and storage nodes (the launcher excluded). */
export function systemPids(state: SystemState, status: ClusterStatus | undefined): number[] {
  return withoutLauncher(state.launcherPid, [
    ...(state.emulators?.pids ?? []),
    ...clusterPids(state.cluster, status),
  ]);
}

/** Every pid of one cluster: control plane, proxy, instances and storage nodes (the launcher excluded). */
export function runningClusterPids(entry: RunningCluster, status: ClusterStatus | undefined): number[] {
  return withoutLauncher(entry.launcherPid, clusterPids(entry, status));
}

function clusterPids(
  entry: ClusterEntry | undefined,
  status: ClusterStatus | undefined,
): (number | null | undefined)[] {
  return [
    entry?.controlPlanePid,
    entry?.proxyPid,
    ...(status?.instances ?? []).map((i) => i.pid),
    ...(status?.storageNodes ?? []).map((n) => n.pid),
  ];
}

function withoutLauncher(launcherPid: number, pids: readonly (number | null | undefined)[]): number[] {
  return [...new Set(pids.filter((pid): pid is number => typeof pid === 'number' && pid !== launcherPid))];
}

export function formatStopped(
  stateDir: string,
  state: SystemState,
  status: ClusterStatus | undefined,
  killed: boolean,
  graceMs: number,
): string {
  const how = killed ? `; it did not stop within ${graceMs} ms and was SIGKILLed` : '';
  const lines = [
    `borealis: stopped the system in ${stateDirPath(stateDir)} (launcher pid ${state.launcherPid}${how})`,
  ];
  if (status !== undefined) {
    lines.push(
      `  cluster ${status.cluster}: ${status.instances.length} instances, ${status.storageNodes.length} storage nodes`,
    );
  } else if (state.cluster !== undefined) {
    lines.push(`  cluster ${state.cluster.name}`);
  }
  const emulators = state.emulators?.pids?.length ?? 0;
  if (emulators > 0) lines.push(`  emulators: ${emulators} processes`);
  return `${lines.join('\n')}\n`;
}

export function formatClusterStopped(
  stateDir: string,
  entry: RunningCluster,
  status: ClusterStatus | undefined,
  killed: boolean,
  graceMs: number,
): string {
  const how = killed ? `; it did not stop within ${graceMs} ms and was SIGKILLed` : '';
  const lines = [
    `borealis: stopped cluster ${entry.name} in ${stateDirPath(stateDir)} (launcher pid ${entry.launcherPid}${how}); the system still runs`,
  ];
  if (status !== undefined) {
    lines.push(`  ${status.instances.length} instances, ${status.storageNodes.length} storage nodes`);
  }
  return `${lines.join('\n')}\n`;
}

async function waitUntilGone(pids: readonly number[], timeoutMs: number): Promise<number[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const alive = pids.filter(isPidAlive);
    if (alive.length === 0 || Date.now() >= deadline) return alive;
    await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EPERM')
      throw new CliError(`not allowed to signal the launcher (pid ${pid}): it runs as another user`);
    if (code !== 'ESRCH') throw error;
  }
}

/**
 * SIGTERM a launcher, wait up to `graceMs`, then SIGKILL; true when it had to be SIGKILLed. Either
 * way it is gone on return, or this throws.
 */
async function stopLauncher(pid: number, graceMs: number): Promise<boolean> {
  signal(pid, 'SIGTERM');
  if ((await waitUntilGone([pid], graceMs)).length === 0) return false;
  signal(pid, 'SIGKILL');
  if ((await waitUntilGone([pid], killWaitMs)).length > 0) {
    throw new CliError(`the launcher (pid ${pid}) is still alive after SIGKILL`);
  }
  return true;
}

async function bestEffortStatus(url: string | undefined): Promise<ClusterStatus | undefined> {
  if (!url) return undefined;
  return getStatus({ url }, statusTimeoutMs).catch(() => undefined);
}

function stillRunning(left: readonly number[]): CliError {
  return new CliError(
    `the launcher is gone but ${left.length} of its processes still run after ${childrenWaitMs} ms: pid ${left.join(', ')}`,
  );
}

/** `down --cluster NAME`: stop that cluster's launcher (and so its processes) only. */
export async function runDownCluster(
  options: DownOptions & ClusterOptions,
  ctx: CommandContext,
): Promise<void> {
  const entry = readRunningCluster(options.stateDir, options.cluster);
  if (entry === undefined) {
    ctx.io.out(
      `borealis: cluster ${options.cluster} is not running from ${stateDirPath(options.stateDir)}\n`,
    );
    return;
  }
  const status = await bestEffortStatus(entry.controlPlaneUrl);
  const killed = await stopLauncher(entry.launcherPid, options.graceMs);
  // A launcher that was SIGKILLed could not remove its cluster.json.
  if (killed) removeClusterEntry(options.stateDir, options.cluster);
  const left = await waitUntilGone(runningClusterPids(entry, status), childrenWaitMs);
  ctx.io.out(formatClusterStopped(options.stateDir, entry, status, killed, options.graceMs));
  if (left.length > 0) throw stillRunning(left);
}

export async function runDown(options: DownOptions, ctx: CommandContext): Promise<void> {
  // The system's own cluster (`up --aws --cluster NAME` runs NAME as the system) stops the system.
  const ownCluster = (name: string) => readRunningSystem(options.stateDir)?.cluster?.name === name;
  if (options.cluster !== undefined && !isPrimaryCluster(options.cluster) && !ownCluster(options.cluster)) {
    await runDownCluster({ ...options, cluster: options.cluster }, ctx);
    return;
  }
  const state = readRunningSystem(options.stateDir);
  if (state === undefined) {
    ctx.io.out(`borealis: nothing runs from ${stateDirPath(options.stateDir)}\n`);
    return;
  }
  // Best effort: what runs, to report it and to check that it is gone afterwards.
  const status = await bestEffortStatus(state.cluster?.controlPlaneUrl);
  const killed = await stopLauncher(state.launcherPid, options.graceMs);
  // A launcher that was SIGKILLed could not remove its system.json.
  if (killed) removeSystemState(options.stateDir);
  const left = await waitUntilGone(systemPids(state, status), childrenWaitMs);
  ctx.io.out(formatStopped(options.stateDir, state, status, killed, options.graceMs));
  if (left.length > 0) throw stillRunning(left);
}

export function registerDown(program: Command, ctx: CommandContext): void {
  const command = program
    .command('down')
    .description(
      'stop the system running from the state dir (SIGTERM, then SIGKILL after a grace period), or one cluster',
    )
    .option(
      '--grace-ms <ms>',
      'how long the launcher has to stop everything before SIGKILL',
      integerFlag(0),
      graceMsDefault,
    )
    .addHelpText(
      'after',
      `
When nothing runs from the state dir, \`down\` says so and exits 0, so scripts can always call it.
Exits 1 if a process of the system is still alive afterwards.
Stopping the system also stops the clusters running beside it; \`down --cluster NAME\` stops only
that cluster (e.g. a restored one) and leaves the system up. Its data stays: \`borealis up --cluster NAME\`.`,
    );
  const clusterHelp = 'stop only this cluster, leaving the system up (the primary: the whole system)';
  addStateDirOption(addClusterOption(command, clusterHelp)).action(async (options: DownOptions) => {
    await runDown(options, ctx);
  });
}
