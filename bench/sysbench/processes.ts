// Processes the benchmark starts itself (mariadbd, CLI commands): spawned with their output in a log
// file, tracked by PID, and killed by PID when the benchmark exits in any way (normal end, an
// exception, Ctrl-C). Cleanups that need more than a signal (`borealis down`) register here too.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';

export interface Started {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly running: () => boolean;
}

const tracked = new Set<number>();
const syncCleanups = new Map<string, () => void>();
const removals = new Set<string>();
let hooksInstalled = false;

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', cleanupNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      console.error(`\n${signal}: stopping everything the benchmark started`);
      cleanupNow();
      process.exit(130);
    });
  }
}

/** Synchronous last-resort cleanup: registered cleanups, then SIGKILL to every tracked PID. */
export function cleanupNow(): void {
  for (const [name, cleanup] of syncCleanups) {
    try {
      cleanup();
    } catch (error) {
      console.error(`cleanup ${name} failed: ${(error as Error).message}`);
    }
  }
  syncCleanups.clear();
  for (const pid of tracked) signal(pid, 'SIGKILL');
  tracked.clear();
  for (const path of removals) rmSync(path, { recursive: true, force: true });
  removals.clear();
}

/** A temp dir to remove if the benchmark exits early (after its processes are killed). */
export function removeOnExit(path: string): () => void {
  installHooks();
  removals.add(path);
  return () => removals.delete(path);
}

/** A synchronous cleanup to run if the benchmark exits before `unregister` is called. */
export function registerCleanup(name: string, cleanup: () => void): () => void {
  installHooks();
  syncCleanups.set(name, cleanup);
  return () => syncCleanups.delete(name);
}

/** Tracks a process started some other way (fork), so that an early exit kills it too. */
export function trackPid(pid: number): () => void {
  installHooks();
  tracked.add(pid);
  return () => tracked.delete(pid);
}

export function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

export function startProcess(
  command: string,
  args: string[],
  logFile: string,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Started {
  installHooks();
  const fd = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', fd, fd], cwd: options.cwd, env: options.env });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${command}: could not start`);
  const pid = child.pid;
  tracked.add(pid);
  let running = true;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, sig) => {
      running = false;
      tracked.delete(pid);
      resolve({ code, signal: sig });
    });
    child.once('error', () => {
      running = false;
      tracked.delete(pid);
      resolve({ code: null, signal: null });
    });
  });
  return { child, pid, exited, running: () => running };
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(started: Started, graceMs: number): Promise<void> {
  if (!started.running()) return;
  signal(started.pid, 'SIGTERM');
  const timer = setTimeout(() => signal(started.pid, 'SIGKILL'), graceMs);
  await started.exited;
  clearTimeout(timer);
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a command to completion (killed by PID after `timeoutMs`), capturing its output. */
export function runCommand(
  command: string,
  args: string[],
  timeoutMs: number,
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CommandResult> {
  installHooks();
  return new Promise((resolve) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    const pid = child.pid;
    if (pid !== undefined) tracked.add(pid);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const timer = setTimeout(() => {
      timedOut = true;
      if (pid !== undefined) signal(pid, 'SIGKILL');
    }, timeoutMs);
    const finish = (code: number | null) => {
      clearTimeout(timer);
      if (pid !== undefined) tracked.delete(pid);
      resolve({ code, stdout, stderr, timedOut });
    };
    child.once('close', (code) => finish(code));
    child.once('error', (error) => {
      stderr += String(error);
      finish(null);
    });
  });
}

/** Synchronous variant for exit-time cleanups. */
export function runCommandSync(
  command: string,
  args: string[],
  timeoutMs: number,
  cwd?: string,
): number | null {
  const result = spawnSync(command, args, {
    stdio: 'ignore',
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    cwd,
  });
  return result.status;
}
