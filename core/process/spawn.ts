// Starting and stopping Borealis processes: emulators, storage nodes, writers, readers. Every child
// is tracked by PID, writes its output to a log file, announces readiness with a JSON line on stdout
// ({"ready":true,...}) and watches its parent. Used by `npm start`, the CLI, tests and benchmarks.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { parentPidVariable } from './parent-watch.ts';

// Resolved from this file, not the working directory: `npm start` run from elsewhere must still work.
const tsxLoader = import.meta.resolve('tsx');

export interface SpawnOptions {
  name: string;
  /** A .ts entry (run through tsx) or .js/.cjs file. */
  entry: string;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Extra flags for node itself, e.g. --openssl-legacy-provider. */
  nodeFlags?: string[];
  logFile: string;
  readyTimeoutMs?: number;
  /**
   * A command that execs node in another context, e.g. ['ip', 'netns', 'exec', NS] (tests in network
   * namespaces). It must exec, not fork: the pid tracked is the launcher's, which becomes node's.
   */
  launcher?: string[];
}

export interface ReadyLine {
  ready: true;
  [key: string]: unknown;
}

export class ManagedProcess {
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
    readonly ready: ReadyLine,
    exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>,
  ) {
    this.exited = exited.then((info) => {
      this.exitInfo = info;
      return info;
    });
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.name}: process has no pid`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** SIGTERM, then SIGKILL after graceMs. Resolves when the process is gone. */
  async stop(graceMs = 3_000): Promise<void> {
    if (!this.running) return;
    signalPid(this.pid, 'SIGTERM');
    const timer = setTimeout(() => signalPid(this.pid, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** A crash as the real world makes it: SIGKILL, no cleanup in the process. */
  async kill(): Promise<void> {
    if (!this.running) return;
    signalPid(this.pid, 'SIGKILL');
    await this.exited;
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

export async function spawnProcess(options: SpawnOptions): Promise<ManagedProcess> {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  const tsFlags = options.entry.endsWith('.ts') ? ['--import', tsxLoader] : [];
  // e.g. BOREALIS_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles every child (NODE_OPTIONS may not).
  const extraFlags = (process.env.BOREALIS_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const nodeArgs = [
    ...(options.nodeFlags ?? []),
    ...extraFlags,
    ...tsFlags,
    options.entry,
    ...(options.args ?? []),
  ];
  const [command, ...launcherArgs] = [...(options.launcher ?? []), process.execPath];
  const child = spawn(command!, [...launcherArgs, ...nodeArgs], {
    env: { ...process.env, ...options.env, [parentPidVariable]: String(process.pid) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.stderr!.pipe(log, { end: false });
  const timeoutMs = options.readyTimeoutMs ?? 30_000;
  const ready = await new Promise<ReadyLine>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    let settled = false;
    const finish = (error: Error | undefined, line?: ReadyLine) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) reject(error);
      else resolve(line!);
    };
    const timer = setTimeout(() => {
      signalPid(child.pid!, 'SIGKILL');
      finish(
        new Error(`${options.name} did not become ready within ${timeoutMs} ms (log: ${options.logFile})`),
      );
    }, timeoutMs);
    lines.on('line', (line) => {
      log.write(`${line}\n`);
      if (settled || !line.startsWith('{')) return;
      try {
        const parsed = JSON.parse(line) as Partial<ReadyLine>;
        if (parsed.ready === true) finish(undefined, parsed as ReadyLine);
      } catch {
        // An ordinary log line that happens to start with '{' but is not JSON.
      }
    });
    void exited.then(({ code, signal }) =>
      finish(
        new Error(
          `${options.name} exited before it was ready (code ${code}, signal ${signal}; log: ${options.logFile})`,
        ),
      ),
    );
  });
  return new ManagedProcess(options.name, child, ready, exited);
}

/** The line a Borealis child prints once it serves requests. */
export function announceReady(details: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ready: true, ...details })}\n`);
}
