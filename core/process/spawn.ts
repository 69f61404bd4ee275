// Starting and stopping Borealis processes: emulators, storage nodes, writers, readers. Every child
// is tracked by PID, writes its output to a log file, announces readiness with a JSON line on stdout
// ({"ready":true,...}) and watches its parent. Used by `npm start`, the CLI, tests and benchmarks.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { parentPidVariable } from './parent-watch.ts';
import { activationLine, standbyFlag } from './standby.ts';

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
    if (this.running) await terminate(this.pid, this.exited, graceMs);
  }

  /** A crash as the real world makes it: SIGKILL, no cleanup in the process. */
  async kill(): Promise<void> {
    if (!this.running) return;
    signalPid(this.pid, 'SIGKILL');
    await this.exited;
  }
}

/** SIGTERM, then SIGKILL after graceMs; resolves once `exited` does. */
async function terminate(pid: number, exited: Promise<unknown>, graceMs: number): Promise<void> {
  signalPid(pid, 'SIGTERM');
  const timer = setTimeout(() => signalPid(pid, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

interface Started {
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  lines: ReturnType<typeof createInterface>;
  /** Where the child's output goes now (a standby's moves to its instance's log when activated). */
  log: { stream: WriteStream; file: string };
}

function startChild(options: SpawnOptions, stdin: 'ignore' | 'pipe'): Started {
  mkdirSync(dirname(options.logFile), { recursive: true });
  const log = { stream: createWriteStream(options.logFile, { flags: 'a' }), file: options.logFile };
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
    stdio: [stdin, 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  child.stderr!.pipe(log.stream, { end: false });
  const lines = createInterface({ input: child.stdout! });
  lines.on('line', (line) => log.stream.write(`${line}\n`));
  return { child, exited, lines, log };
}

/** Resolves with the first JSON line on stdout that has `key: true`; rejects on exit or timeout (then SIGKILL). */
function waitForLine(started: Started, name: string, key: string, timeoutMs: number): Promise<ReadyLine> {
  const { child, exited, lines, log } = started;
  return new Promise<ReadyLine>((resolve, reject) => {
    let settled = false;
    const finish = (error: Error | undefined, line?: ReadyLine) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      lines.off('line', onLine);
      if (error) reject(error);
      else resolve(line!);
    };
    const timer = setTimeout(() => {
      signalPid(child.pid!, 'SIGKILL');
      finish(new Error(`${name} did not become ${key} within ${timeoutMs} ms (log: ${log.file})`));
    }, timeoutMs);
    const onLine = (line: string) => {
      if (settled || !line.startsWith('{')) return;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed[key] === true) finish(undefined, parsed as ReadyLine);
      } catch {
        // An ordinary log line that happens to start with '{' but is not JSON.
      }
    };
    lines.on('line', onLine);
    void exited.then(({ code, signal }) =>
      finish(
        new Error(`${name} exited before it was ${key} (code ${code}, signal ${signal}; log: ${log.file})`),
      ),
    );
  });
}

export async function spawnProcess(options: SpawnOptions): Promise<ManagedProcess> {
  const started = startChild(options, 'ignore');
  const ready = await waitForLine(started, options.name, 'ready', options.readyTimeoutMs ?? 30_000);
  return new ManagedProcess(options.name, started.child, ready, started.exited);
}

/**
 * A warm standby of an instance entry (core/process/standby.ts, ADR 019): started with `--standby`
 * only; `loaded` resolves once it has loaded (rejects if it exits or hangs first); `activate` hands
 * it its real args and waits for its ready line, as spawnProcess would. Used at most once; `stop`
 * works at any point, loading or loaded.
 */
export class StandbyProcess {
  #activated = false;
  readonly started: Started;
  readonly loaded: Promise<void>;

  constructor(
    readonly name: string,
    options: Omit<SpawnOptions, 'name' | 'args' | 'readyTimeoutMs'> & { warmTimeoutMs?: number },
  ) {
    this.started = startChild({ ...options, name, args: [standbyFlag] }, 'pipe');
    // A standby that died before its activation line arrived: the write fails with EPIPE, and the
    // exit is what reports it ("exited before it was ready"), not an unhandled error in the launcher.
    this.started.child.stdin!.on('error', () => undefined);
    this.loaded = waitForLine(this.started, name, 'standby', options.warmTimeoutMs ?? 60_000).then(
      () => undefined,
    );
    this.loaded.catch(() => undefined); // awaited by whoever takes it; a failure is seen there
  }

  get running(): boolean {
    return this.started.child.exitCode === null && this.started.child.signalCode === null;
  }

  get pid(): number | undefined {
    return this.started.child.pid;
  }

  /** Becomes `name` with `args`, logging to `logFile` from now on; resolves at its ready line. */
  async activate(options: {
    name: string;
    args: string[];
    logFile: string;
    readyTimeoutMs?: number;
  }): Promise<ManagedProcess> {
    if (this.#activated) throw new Error(`${this.name}: a standby is activated once`);
    this.#activated = true;
    await this.loaded;
    if (!this.running) throw new Error(`${this.name} exited before its activation`);
    const { started } = this;
    mkdirSync(dirname(options.logFile), { recursive: true });
    const previous = started.log.stream;
    started.log.stream = createWriteStream(options.logFile, { flags: 'a' });
    started.log.file = options.logFile;
    started.child.stderr!.unpipe(previous);
    started.child.stderr!.pipe(started.log.stream, { end: false });
    previous.end();
    const ready = waitForLine(started, options.name, 'ready', options.readyTimeoutMs ?? 30_000);
    started.child.stdin!.end(activationLine(options.args));
    return new ManagedProcess(options.name, started.child, await ready, started.exited);
  }

  /** Goes away (SIGTERM, then SIGKILL after 3 s), loading, waiting or activated. */
  async stop(): Promise<void> {
    if (this.running) await terminate(this.started.child.pid!, this.started.exited, 3_000);
  }
}

/** The line a Borealis child prints once it serves requests. */
export function announceReady(details: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ready: true, ...details })}\n`);
}
