// `npm run localstack -- install|start|stop|status`: LocalStack without Docker, for the deploy path
// (`npm run deploy:local`) and the LocalStack test suite. Installs localstack-core (pinned, with
// every runtime dependency, tools/localstack/requirements.txt) and the borealis-host Lambda
// executor (tools/localstack/executor) into a virtual environment under .localstack/, once; starts
// LocalStack's runtime in host mode on a free loopback port, waits for /_localstack/health, and
// stops it — with every process it started (kinesis-mock) — by process group. Why this version
// and this interpreter: docs/adr/010-localstack-without-docker.md.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts } from '../../core/process/ports.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const toolDir = fileURLToPath(new URL('./', import.meta.url));
const requirementsFile = join(toolDir, 'requirements.txt');
const executorDir = join(toolDir, 'executor');
/** CPython minor version LocalStack 4.13 needs (its package API uses `threading.Lock | None`). */
const pythonMinor = '3.13';
const healthTimeoutMs = 120_000;
const stopGraceMs = 10_000;
/** Services the Borealis stacks and tests use: each must be up before `start` returns. */
const requiredServices = [
  's3',
  'kinesis',
  'lambda',
  'cloudformation',
  'ssm',
  'sqs',
  'events',
  'kms',
  'iam',
  'sts',
];

const usage = `usage: npm run localstack -- <command> [--json]

LocalStack (localstack-core 4.13.1, host mode, no Docker) for \`npm run deploy:local\` and the
LocalStack tests. Everything lives in .localstack/ (BOREALIS_LOCALSTACK_DIR to change it).

commands:
  install   create .localstack/venv (Python ${pythonMinor}) with LocalStack and the borealis-host
            Lambda executor (runs each Node.js function as a host process); cached: a second
            install changes nothing unless tools/localstack/ changed
  start     install if needed, start LocalStack on a free 127.0.0.1 port (--port N to choose),
            wait until healthy, print its endpoint (AWS_ENDPOINT_URL) and exit; it keeps running
  stop      stop it and every process it started
  status    running or not, endpoint, pid (exit 1 when not running)

options:
  --port N  start: the gateway port (default: a free one)
  --json    print one JSON object instead of text
  --help    this text`;

export interface LocalStackState {
  pid: number;
  port: number;
  endpoint: string;
  startedAt: string;
  logFile: string;
}

export function localStackDir(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.BOREALIS_LOCALSTACK_DIR || join(repoRoot, '.localstack'));
}

const paths = (dir: string) => ({
  venv: join(dir, 'venv'),
  python: join(dir, 'venv', 'bin', 'python'),
  marker: join(dir, 'venv', '.borealis-install'),
  state: join(dir, 'state.json'),
  data: join(dir, 'data'),
  log: join(dir, 'localstack.log'),
});

/** A fingerprint of what the venv is built from: a change reinstalls. */
function installFingerprint(): string {
  const hash = createHash('sha256').update(readFileSync(requirementsFile));
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name.localeCompare(b.name),
    )) {
      if (entry.name === '__pycache__' || entry.name.endsWith('.egg-info') || entry.name === 'build')
        continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else hash.update(entry.name).update(readFileSync(path));
    }
  };
  walk(executorDir);
  return hash.digest('hex');
}

/** A CPython 3.13: python3.13 on PATH if it runs, else pyenv's; a clear error otherwise. */
export function findPython(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [env.BOREALIS_LOCALSTACK_PYTHON, `python${pythonMinor}`];
  const pyenvRoot = env.PYENV_ROOT || join(env.HOME || '/root', '.pyenv');
  const versions = join(pyenvRoot, 'versions');
  if (existsSync(versions)) {
    for (const v of readdirSync(versions)
      .filter((v) => v.startsWith(`${pythonMinor}.`))
      .sort()
      .reverse()) {
      candidates.push(join(versions, v, 'bin', `python${pythonMinor}`));
    }
  }
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      const version = execFileSync(candidate, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
      }).trim();
      if (version === pythonMinor) return candidate;
    } catch {
      // not this one
    }
  }
  throw new Error(
    `LocalStack 4.13 needs Python ${pythonMinor}: none found (python${pythonMinor} on PATH, pyenv under ${versions}, or BOREALIS_LOCALSTACK_PYTHON)`,
  );
}

function run(command: string, args: string[], what: string): void {
  try {
    execFileSync(command, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', maxBuffer: 64 << 20 });
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    const tail = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${what} failed: ${tail || e.message}`);
  }
}

/** Creates or refreshes the venv; returns whether anything was installed. */
export function install(dir = localStackDir(), log: (line: string) => void = () => {}): boolean {
  const p = paths(dir);
  const fingerprint = installFingerprint();
  if (existsSync(p.marker) && readFileSync(p.marker, 'utf8') === fingerprint && existsSync(p.python))
    return false;
  mkdirSync(dir, { recursive: true });
  if (!existsSync(p.python)) {
    const python = findPython();
    log(`creating ${p.venv} with ${python}`);
    run(python, ['-m', 'venv', p.venv], 'creating the LocalStack virtual environment');
  }
  log('installing localstack-core and its pinned dependencies (about a minute)');
  run(
    p.python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirementsFile],
    'pip install -r tools/localstack/requirements.txt',
  );
  log('installing the borealis-host Lambda executor');
  // Built from a copy: pip would otherwise leave build/ and *.egg-info in the source tree.
  const build = join(dir, 'executor-build');
  rmSync(build, { recursive: true, force: true });
  // Sources only: a build/ left by a manual `pip install` would be packaged instead of them.
  cpSync(executorDir, build, {
    recursive: true,
    filter: (source) => !/(^|\/)(build|__pycache__|[^/]*\.egg-info)$/.test(source),
  });
  run(
    p.python,
    [
      '-m',
      'pip',
      'install',
      '--quiet',
      '--disable-pip-version-check',
      '--force-reinstall',
      '--no-deps',
      build,
    ],
    'pip install tools/localstack/executor',
  );
  rmSync(build, { recursive: true, force: true });
  writeFileSync(p.marker, fingerprint);
  return true;
}

export function readState(dir = localStackDir()): LocalStackState | undefined {
  const file = paths(dir).state;
  if (!existsSync(file)) return undefined;
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as LocalStackState;
    return isAlive(state.pid) ? state : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

interface Health {
  services?: Record<string, string>;
  version?: string;
}

async function health(endpoint: string): Promise<Health | undefined> {
  try {
    const response = await fetch(`${endpoint}/_localstack/health`, { signal: AbortSignal.timeout(2_000) });
    return response.ok ? ((await response.json()) as Health) : undefined;
  } catch {
    return undefined;
  }
}

/** The environment LocalStack runs with: host mode, loopback only, offline, our Lambda executor. */
export function localStackEnvironment(
  dir: string,
  port: number,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // A caller's AWS endpoint settings are for clients, not for LocalStack itself.
  for (const name of Object.keys(env)) if (name.startsWith('AWS_ENDPOINT_URL')) delete env[name];
  return {
    ...env,
    GATEWAY_LISTEN: `127.0.0.1:${port}`,
    // LocalStack takes any container for its own and then keeps state in /var/lib/localstack and
    // /tmp/localstack, shared by every instance on the machine (kinesis-mock reloads streams from
    // there): this is host mode, with everything under FILESYSTEM_ROOT.
    OVERRIDE_IN_DOCKER: '0',
    // The default (twisted) server binds every interface whatever GATEWAY_LISTEN says.
    GATEWAY_SERVER: 'hypercorn',
    FILESYSTEM_ROOT: paths(dir).data,
    SKIP_SSL_CERT_DOWNLOAD: '1',
    DISABLE_EVENTS: '1',
    DNS_ADDRESS: '0',
    KINESIS_MOCK_PROVIDER_ENGINE: 'node',
    LAMBDA_RUNTIME_EXECUTOR: 'borealis-host',
    BOREALIS_LAMBDA_NODE: process.execPath,
    // The executor's Lambda processes share this machine with the cluster: keep idle ones short.
    LAMBDA_KEEPALIVE_MS: '60000',
    EAGER_SERVICE_LOADING: '0',
    LS_LOG: base.LS_LOG ?? 'info',
  };
}

export async function start(
  options: { port?: number; log?: (line: string) => void } = {},
): Promise<LocalStackState> {
  const dir = localStackDir();
  const log = options.log ?? (() => {});
  const running = readState(dir);
  if (running) return running;
  install(dir, log);
  const p = paths(dir);
  // Without PERSISTENCE every start is a new, empty AWS — but kinesis-mock reloads its streams from
  // LocalStack's state folder if one is left there: clear it (installed packages under var/ stay).
  rmSync(join(p.data, 'tmp'), { recursive: true, force: true });
  mkdirSync(p.data, { recursive: true });
  const port = options.port ?? (await freePorts(1))[0]!;
  const out = openSync(p.log, 'a');
  let child: ChildProcess;
  try {
    // Its own process group (detached), so `stop` ends kinesis-mock and function processes too.
    child = spawn(p.python, ['-m', 'localstack.runtime.main'], {
      cwd: dir,
      env: localStackEnvironment(dir, port),
      detached: true,
      stdio: ['ignore', out, out],
    });
  } finally {
    closeSync(out);
  }
  child.unref();
  const endpoint = `http://127.0.0.1:${port}`;
  const state: LocalStackState = {
    pid: child.pid!,
    port,
    endpoint,
    startedAt: new Date().toISOString(),
    logFile: p.log,
  };
  writeFileSync(p.state, `${JSON.stringify(state, null, 2)}\n`);
  log(`started LocalStack (pid ${state.pid}) on ${endpoint}; waiting for it to be healthy`);
  const deadline = Date.now() + healthTimeoutMs;
  for (;;) {
    if (!isAlive(state.pid)) {
      rmSync(p.state, { force: true });
      throw new Error(`LocalStack exited during startup: ${logTail(p.log)}`);
    }
    const h = await health(endpoint);
    const missing = requiredServices.filter(
      (s) => !['available', 'running'].includes(h?.services?.[s] ?? ''),
    );
    if (h && missing.length === 0) return state;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `LocalStack was not healthy after ${healthTimeoutMs / 1000} s (missing: ${missing.join(', ')}): ${logTail(p.log)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 300));
  }
}

function logTail(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-8).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Stops the process group LocalStack leads; returns the pid it stopped, if any. */
export async function stop(): Promise<number | undefined> {
  const dir = localStackDir();
  const p = paths(dir);
  const state = readState(dir);
  rmSync(p.state, { force: true });
  if (!state) return undefined;
  const signalGroup = (signal: NodeJS.Signals) => {
    try {
      process.kill(-state.pid, signal);
    } catch {
      // already gone
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + stopGraceMs;
  while (isAlive(state.pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  // kinesis-mock may ignore SIGTERM (STACK.md); whatever is left of the group goes now.
  signalGroup('SIGKILL');
  return state.pid;
}

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const portIndex = argv.indexOf('--port');
  const port = portIndex >= 0 ? Number(argv[portIndex + 1]) : undefined;
  const command = argv.find((a, i) => !a.startsWith('--') && argv[i - 1] !== '--port');
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    return 0;
  }
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65_535)) {
    console.error(`localstack: --port must be a port number, got '${argv[portIndex + 1] ?? ''}'`);
    return 2;
  }
  const say = (text: string, object: Record<string, unknown>) =>
    console.log(json ? JSON.stringify(object) : text);
  const progress = (line: string) => {
    if (!json) console.error(`localstack: ${line}`);
  };
  switch (command) {
    case 'install': {
      const changed = install(localStackDir(), progress);
      say(changed ? 'localstack: installed' : 'localstack: already installed', { installed: true, changed });
      return 0;
    }
    case 'start': {
      const t0 = Date.now();
      const state = await start({ ...(port === undefined ? {} : { port }), log: progress });
      say(
        `localstack: running at ${state.endpoint} (pid ${state.pid}, ${Date.now() - t0} ms)\nexport AWS_ENDPOINT_URL=${state.endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test`,
        { ...state, running: true },
      );
      return 0;
    }
    case 'stop': {
      const pid = await stop();
      say(pid === undefined ? 'localstack: not running' : `localstack: stopped (pid ${pid})`, {
        stopped: pid !== undefined,
        pid: pid ?? null,
      });
      return 0;
    }
    case 'status': {
      const state = readState();
      if (!state) {
        say('localstack: not running', { running: false });
        return 1;
      }
      const h = await health(state.endpoint);
      say(
        `localstack: running at ${state.endpoint} (pid ${state.pid}, ${h ? `healthy, ${h.version}` : 'not answering'})`,
        { ...state, running: true, healthy: h !== undefined, version: h?.version ?? null },
      );
      return 0;
    }
    default:
      console.error(
        `localstack: ${command ? `unknown command '${command}'` : 'a command is required'}\n\n${usage}`,
      );
      return 2;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: Error) => {
      console.error(`localstack: ${error.message}`);
      process.exit(1);
    },
  );
}
