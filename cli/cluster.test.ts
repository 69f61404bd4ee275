// `--cluster NAME` on every command: the primary cluster from system.json, any other (a restored
// one) from <state-dir>/clusters/NAME/cluster.json; `up`/`down --cluster` for one cluster only.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clusterDirPath, isPidAlive, writeClusterEntry, writeSystemState } from '../embedded/state.ts';
import { makeTempDir } from '../integration/harness/temp.ts';
import { clusterNotRunningMessage, findControlPlane } from './control-plane.ts';
import { CliError } from './errors.ts';
import { runCli } from './program.ts';
import { memoryIo, sampleStatus } from './testing.ts';
import { formatReady, launcherArgs, launcherLogPath, refuseToStart } from './up.ts';

/** Above Linux's pid_max: never alive. */
const deadPid = 2 ** 22 + 12345;

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

let dir: { path: string; remove: () => void };
beforeEach(() => {
  dir = makeTempDir('cli-cluster');
});
afterEach(() => dir.remove());

function writeSystem(launcherPid: number, controlPlaneUrl = 'http://127.0.0.1:1'): void {
  writeSystemState(dir.path, {
    launcherPid,
    startedAt: new Date().toISOString(),
    emulators: { regions: [], pids: [] },
    cluster: { name: 'borealis', region: 'us-east-1', controlPlaneUrl, ready: true },
  });
}

function writeCluster(name: string, launcherPid: number, controlPlaneUrl = 'http://127.0.0.1:2'): void {
  writeClusterEntry(dir.path, { name, region: 'us-east-1', controlPlaneUrl, ready: true, launcherPid });
}

it('every command that acts on a cluster takes --cluster <name>', async () => {
  const commands = ['up', 'down', 'status', 'kill', 'start', 'failover', 'sql', 'restore'];
  for (const command of [...commands.map((c) => [c]), ['snapshot', 'create'], ['snapshot', 'list']]) {
    const { code, stdout } = await run(...command, '--help');
    expect(code, command.join(' ')).toBe(0);
    expect(stdout, command.join(' ')).toContain('--cluster <name>');
  }
});

describe('findControlPlane(stateDir, cluster)', () => {
  it('finds the primary in system.json and another cluster in its cluster.json', () => {
    writeSystem(process.pid, 'http://127.0.0.1:1');
    writeCluster('r1', process.pid, 'http://127.0.0.1:2');
    expect(findControlPlane(dir.path)).toMatchObject({ url: 'http://127.0.0.1:1', stateDir: dir.path });
    expect(findControlPlane(dir.path, 'borealis').url).toBe('http://127.0.0.1:1');
    expect(findControlPlane(dir.path, 'r1')).toEqual({
      stateDir: dir.path,
      launcherPid: process.pid,
      url: 'http://127.0.0.1:2',
      cluster: { name: 'r1', region: 'us-east-1', controlPlaneUrl: 'http://127.0.0.1:2', ready: true },
    });
  });

  it('names the cluster that does not run, and how to get it', () => {
    writeSystem(process.pid);
    const message = `no cluster 'r1' is running from ${dir.path} (restore one with \`borealis restore … --as r1\`, or run it again with \`borealis up --cluster r1\`)`;
    expect(clusterNotRunningMessage(dir.path, 'r1')).toBe(message);
    expect(() => findControlPlane(dir.path, 'r1')).toThrow(new CliError(message));
    writeCluster('r1', deadPid);
    expect(() => findControlPlane(dir.path, 'r1')).toThrow(new CliError(message));
  });

  it('an unreadable cluster.json is one line naming the file', () => {
    mkdirSync(clusterDirPath(dir.path, 'r1'), { recursive: true });
    writeFileSync(join(clusterDirPath(dir.path, 'r1'), 'cluster.json'), '{not json');
    expect(() => findControlPlane(dir.path, 'r1')).toThrow(
      new RegExp(`^cannot read ${join(dir.path, 'clusters', 'r1', 'cluster.json')}: `),
    );
  });
});

describe('--cluster on status, kill, start, failover, sql', () => {
  const requests: { method: string; url: string; body: string }[] = [];
  let server: Server;
  let url: string;
  beforeEach(async () => {
    requests.length = 0;
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        requests.push({ method: req.method!, url: req.url!, body });
        res.setHeader('content-type', 'application/json');
        if (req.url === '/status') res.end(JSON.stringify(sampleStatus({ cluster: 'r1' })));
        else if (req.url === '/kill') res.end(JSON.stringify({ killed: [{ id: 'instance-2', pid: 4102 }] }));
        else if (req.url === '/start') res.end(JSON.stringify({ started: 'sn-3' }));
        else res.end(JSON.stringify(sampleStatus().failovers[0]));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("reaches the named cluster's control plane, not the primary's", async () => {
    // The primary's control plane does not answer: every request below goes to r1's.
    writeSystem(process.pid, 'http://127.0.0.1:1');
    writeCluster('r1', process.pid, url);
    const status = await run('status', '--cluster', 'r1', '--json', '--state-dir', dir.path);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).cluster).toBe('r1');
    expect(await run('kill', '--writer', '--cluster', 'r1', '--state-dir', dir.path)).toEqual({
      code: 0,
      stdout: 'killed instance-2 (pid 4102) with SIGKILL\n',
      stderr: '',
    });
    expect((await run('start', '--node', 'sn-3', '--cluster', 'r1', '--state-dir', dir.path)).stdout).toBe(
      'started sn-3\n',
    );
    const failover = await run(
      'failover',
      '--target',
      'instance-2',
      '--cluster',
      'r1',
      '--state-dir',
      dir.path,
    );
    expect(failover.code).toBe(0);
    expect(failover.stdout).toMatch(/^failover: instance-1 → instance-2/);
    expect(requests.map((r) => `${r.method} ${r.url} ${r.body}`)).toEqual([
      'GET /status ',
      'POST /kill {"writer":true}',
      'POST /start {"node":"sn-3"}',
      'POST /failover {"target":"instance-2"}',
    ]);
  });

  it.each([
    ['status'],
    ['kill', '--writer'],
    ['start', '--instance', 'instance-1'],
    ['failover'],
    ['sql', 'SELECT 1'],
  ])('%s --cluster r1 when r1 does not run: one line, exit 1', async (...args) => {
    writeSystem(process.pid, url);
    expect(await run(...args, '--cluster', 'r1', '--state-dir', dir.path)).toEqual({
      code: 1,
      stdout: '',
      stderr: `borealis: ${clusterNotRunningMessage(dir.path, 'r1')}\n`,
    });
    expect(requests).toEqual([]);
  });

  it('a cluster name that is not one is a usage error', async () => {
    expect(await run('status', '--cluster', '../x', '--state-dir', dir.path)).toEqual({
      code: 2,
      stdout: '',
      stderr:
        "borealis: option '--cluster <name>' argument '../x' is invalid. must be a lower-case letter, then up to 40 of a-z, 0-9 and '-'; see `borealis status --help`\n",
    });
  });
});

describe('up --cluster', () => {
  it('passes --cluster to the launcher only for a cluster other than the primary', () => {
    expect(launcherArgs({ stateDir: '/s', cluster: 'r1' }).slice(3)).toEqual([
      '--state-dir',
      '/s',
      '--cluster',
      'r1',
    ]);
    expect(launcherArgs({ stateDir: '/s', cluster: 'borealis' }).slice(3)).toEqual(['--state-dir', '/s']);
    expect(launcherLogPath('/s', 'r1')).toBe('/s/clusters/r1/logs/launcher.log');
    expect(launcherLogPath('/s', 'borealis')).toBe('/s/logs/launcher.log');
  });

  it('says how to stop the cluster it started', () => {
    const summary = { launcherPid: 7, stateDir: '/s', controlPlane: 'http://x', log: '/l' };
    expect(formatReady(summary, sampleStatus({ cluster: 'r1' }))).toContain(
      '  stop it with     borealis down --cluster r1 --state-dir /s\n',
    );
  });

  it('needs the system running', async () => {
    expect(await run('up', '--cluster', 'r1', '--detach', '--state-dir', dir.path)).toEqual({
      code: 1,
      stdout: '',
      stderr: `borealis: cluster 'r1' runs beside the system, and none runs from ${dir.path}; start it first with \`borealis up --detach --state-dir ${dir.path}\`\n`,
    });
  });

  it('needs a cluster dir with a volume: restore one first', async () => {
    writeSystem(process.pid);
    const { code, stderr } = await run('up', '--cluster', 'r1', '--detach', '--state-dir', dir.path);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `borealis: no cluster 'r1' in ${dir.path}: restore one first with \`borealis restore (--to-time ISO | --snapshot ID) --as r1 --state-dir ${dir.path}\`\n`,
    );
    // A dir without volume.json (a restore that never got that far) is no cluster either.
    mkdirSync(join(clusterDirPath(dir.path, 'r1'), 'logs'), { recursive: true });
    expect((await run('up', '--cluster', 'r1', '--state-dir', dir.path)).stderr).toBe(stderr);
  });

  it('refuses a cluster that already runs, and accepts one with a volume', () => {
    writeSystem(process.pid);
    mkdirSync(clusterDirPath(dir.path, 'r1'), { recursive: true });
    writeFileSync(join(clusterDirPath(dir.path, 'r1'), 'volume.json'), '{}');
    expect(() => refuseToStart(dir.path, 'r1')).not.toThrow();
    writeCluster('r1', process.pid);
    expect(() => refuseToStart(dir.path, 'r1')).toThrow(
      new CliError(
        `cluster 'r1' already runs from ${dir.path} (launcher pid ${process.pid}); stop it with \`borealis down --cluster r1 --state-dir ${dir.path}\``,
      ),
    );
  });

  it('plain up still refuses when the system runs', () => {
    writeSystem(process.pid);
    expect(() => refuseToStart(dir.path, 'borealis')).toThrow(/^a system already runs from /);
  });
});

describe('down --cluster', () => {
  const started: ChildProcess[] = [];
  afterAll(() => {
    for (const child of started.splice(0))
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });

  /** A process standing in for a launcher; resolves once its signal handlers are set. */
  async function fakeLauncher(ignoreSigterm: boolean): Promise<ChildProcess> {
    const code = `${ignoreSigterm ? "process.on('SIGTERM', () => {});" : ''} console.log('up'); setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
    started.push(child);
    await new Promise((resolve) => child.stdout!.once('data', resolve));
    return child;
  }

  async function exited(child: ChildProcess): Promise<void> {
    if (child.exitCode === null && child.signalCode === null) await new Promise((r) => child.once('exit', r));
  }

  it('stops only that cluster; the system stays up', async () => {
    const system = await fakeLauncher(false);
    const r1 = await fakeLauncher(false);
    writeSystem(system.pid!);
    writeCluster('r1', r1.pid!);
    expect(await run('down', '--cluster', 'r1', '--state-dir', dir.path)).toEqual({
      code: 0,
      stdout: `borealis: stopped cluster r1 in ${dir.path} (launcher pid ${r1.pid}); the system still runs\n`,
      stderr: '',
    });
    await exited(r1);
    expect(r1.signalCode).toBe('SIGTERM');
    expect(isPidAlive(system.pid!)).toBe(true);
  });

  it('SIGKILLs a cluster launcher that ignores SIGTERM and removes its cluster.json', async () => {
    const r1 = await fakeLauncher(true);
    writeCluster('r1', r1.pid!);
    const { code, stdout } = await run(
      'down',
      '--cluster',
      'r1',
      '--grace-ms',
      '200',
      '--state-dir',
      dir.path,
    );
    expect(code).toBe(0);
    expect(stdout).toBe(
      `borealis: stopped cluster r1 in ${dir.path} (launcher pid ${r1.pid}; it did not stop within 200 ms and was SIGKILLed); the system still runs\n`,
    );
    await exited(r1);
    expect(r1.signalCode).toBe('SIGKILL');
    expect(existsSync(join(clusterDirPath(dir.path, 'r1'), 'cluster.json'))).toBe(false);
  });

  it('says so when the cluster does not run, and succeeds', async () => {
    expect(await run('down', '--cluster', 'r1', '--state-dir', dir.path)).toEqual({
      code: 0,
      stdout: `borealis: cluster r1 is not running from ${dir.path}\n`,
      stderr: '',
    });
  });
});
