// `borealis down`: stop the system that runs from a state dir — SIGTERM its launcher (which stops
// every process it started), SIGKILL after a grace period — and say what was stopped.
import type { Command } from 'commander';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { isPidAlive, removeSystemState, type SystemState, stateDirPath } from '../embedded/state.ts';
import { getStatus, readRunningSystem } from './control-plane.ts';
import { CliError } from './errors.ts';
import type { CommandContext } from './io.ts';
import { addStateDirOption, integerFlag, type StateDirOptions } from './options.ts';

/** How long the launcher has to stop everything after SIGTERM before it gets SIGKILL. */
export const graceMsDefault = 30_000;
/** After SIGKILL of the launcher: how long until it must be gone. */
const killWaitMs = 5_000;
/** How long the launcher's children have to follow it (they watch their parent every 500 ms). */
const childrenWaitMs = 5_000;
/** How long `down` asks the control plane what runs, before stopping without knowing. */
const statusTimeoutMs = 2_000;
const pollIntervalMs = 100;

export interface DownOptions extends StateDirOptions {
  graceMs: number;
}

/** Every pid the system reported: emulators, instances and storage nodes (the launcher excluded). */
export function systemPids(state: SystemState, status: ClusterStatus | undefined): number[] {
  const pids = [
    ...(state.emulators?.pids ?? []),
    state.cluster?.controlPlanePid,
    state.cluster?.proxyPid,
    ...(status?.instances ?? []).map((i) => i.pid),
    ...(status?.storageNodes ?? []).map((n) => n.pid),
  ];
  return [
    ...new Set(pids.filter((pid): pid is number => typeof pid === 'number' && pid !== state.launcherPid)),
  ];
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

export async function runDown(options: DownOptions, ctx: CommandContext): Promise<void> {
  const state = readRunningSystem(options.stateDir);
  if (state === undefined) {
    ctx.io.out(`borealis: nothing runs from ${stateDirPath(options.stateDir)}\n`);
    return;
  }
  // Best effort: what runs, to report it and to check that it is gone afterwards.
  let status: ClusterStatus | undefined;
  if (state.cluster?.controlPlaneUrl) {
    status = await getStatus({ url: state.cluster.controlPlaneUrl }, statusTimeoutMs).catch(() => undefined);
  }
  const pid = state.launcherPid;
  signal(pid, 'SIGTERM');
  let killed = false;
  if ((await waitUntilGone([pid], options.graceMs)).length > 0) {
    killed = true;
    signal(pid, 'SIGKILL');
    if ((await waitUntilGone([pid], killWaitMs)).length > 0) {
      throw new CliError(`the launcher (pid ${pid}) is still alive after SIGKILL`);
    }
  }
  // A launcher that was SIGKILLed could not remove its system.json.
  if (killed) removeSystemState(options.stateDir);
  const left = await waitUntilGone(systemPids(state, status), childrenWaitMs);
  ctx.io.out(formatStopped(options.stateDir, state, status, killed, options.graceMs));
  if (left.length > 0) {
    throw new CliError(
      `the launcher is gone but ${left.length} of its processes still run after ${childrenWaitMs} ms: pid ${left.join(', ')}`,
    );
  }
}

export function registerDown(program: Command, ctx: CommandContext): void {
  const command = program
    .command('down')
    .description('stop the system running from the state dir (SIGTERM, then SIGKILL after a grace period)')
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
Exits 1 if a process of the system is still alive afterwards.`,
    );
  addStateDirOption(command).action(async (options: DownOptions) => {
    await runDown(options, ctx);
  });
}
