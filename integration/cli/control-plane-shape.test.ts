// The real `borealis` command against an in-test server shaped like the control plane (GET /status,
// POST /kill, /start, /failover) and a real Data API edge (core/data-api/server.ts) behind a stub
// engine: the JSON contract passes through unchanged, and ControlPlaneError / Data API errors become
// one line. A few cases run the real process (bin/borealis.js); the rest run the same program
// in-process (runCli), which is much cheaper on a shared machine. The end-to-end test against a
// running cluster lives with the cluster's own tests.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/program.ts';
import { memoryIo, sampleStatus } from '../../cli/testing.ts';
import type { ClusterStatus, ControlPlaneError, FailoverEvent } from '../../core/cluster/topology.ts';
import { type DataApiServer, startDataApiServer } from '../../core/data-api/server.ts';
import type { DataApiExecutor, StatementRequest, StatementResult } from '../../core/data-api/types.ts';
import { writeSystemState } from '../../embedded/state.ts';
import { makeTempDir } from '../harness/temp.ts';
import { borealis, type CliRun, oneErrorLine } from './run.ts';

/** Answers like the writer's engine: a table `t`, inserts that generate ids, SQLite's error for others. */
const executor: DataApiExecutor = {
  async executeStatement(req: StatementRequest): Promise<StatementResult> {
    if (/^select/i.test(req.sql) && req.sql.includes(' t')) {
      return {
        columns: [
          { name: 'id', declaredType: 'INTEGER' },
          { name: 'name', declaredType: 'TEXT' },
          { name: 'note' },
        ],
        rows: [
          [1n, 'ada', null],
          [2n, '日本', 'x'],
        ],
        numberOfRecordsUpdated: 0,
      };
    }
    if (req.sql === 'SLOW') {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return { columns: [], rows: [], numberOfRecordsUpdated: 0 };
    }
    if (/^insert/i.test(req.sql))
      return { columns: [], rows: [], numberOfRecordsUpdated: 1, generatedFields: [42n] };
    throw Object.assign(new Error('no such table: missing'), { dataApiName: 'DatabaseErrorException' });
  },
  batchExecuteStatement: () => Promise.reject(new Error('not used')),
  beginTransaction: () => Promise.reject(new Error('not used')),
  commitTransaction: () => Promise.reject(new Error('not used')),
  rollbackTransaction: () => Promise.reject(new Error('not used')),
};

const failoverEvent: FailoverEvent = {
  at: '2025-01-01T00:00:02.000Z',
  kind: 'planned',
  from: 'instance-1',
  to: 'instance-2',
  reason: 'borealis failover',
  durationMs: 812,
  epoch: '4',
};

const requests: { method: string; url: string; body: unknown }[] = [];
let status: ClusterStatus;
let controlPlane: Server;
let dataApi: DataApiServer;
let dir: { path: string; remove: () => void };
let unreachableDir: { path: string; remove: () => void };

function reply(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

function fail(res: ServerResponse, code: number, body: ControlPlaneError): void {
  reply(res, code, body);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  let text = '';
  for await (const chunk of req) text += chunk;
  const body = text === '' ? undefined : (JSON.parse(text) as Record<string, unknown>);
  requests.push({ method: req.method ?? '', url: req.url ?? '', body });
  if (req.method === 'GET' && req.url === '/status') return reply(res, 200, status);
  if (req.method === 'POST' && req.url === '/kill') {
    if (body?.node === 'n9') return fail(res, 404, { error: 'NotFound', message: 'no storage node n9' });
    return reply(res, 200, { killed: [{ id: 'instance-2', pid: 4102 }] });
  }
  if (req.method === 'POST' && req.url === '/start') {
    return fail(res, 409, { error: 'Conflict', message: 'storage node sn-1 is already running' });
  }
  if (req.method === 'POST' && req.url === '/failover') return reply(res, 200, failoverEvent);
  return fail(res, 404, { error: 'NotFound', message: `no route ${req.method} ${req.url}` });
}

function systemState(controlPlaneUrl: string) {
  return {
    launcherPid: process.pid, // alive for as long as the test runs
    startedAt: new Date().toISOString(),
    emulators: { regions: [], pids: [] },
    cluster: { name: 'borealis', region: 'us-east-1', controlPlaneUrl, ready: true },
  };
}

beforeAll(async () => {
  const base = sampleStatus();
  dataApi = await startDataApiServer({
    port: 0,
    executor,
    resourceArn: base.resourceArn,
    secretArn: base.secretArn,
  });
  const dataApiUrl = `http://127.0.0.1:${dataApi.port}`;
  status = sampleStatus({ endpoints: { writer: dataApiUrl, reader: null } });
  controlPlane = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => controlPlane.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(controlPlane.address() as AddressInfo).port}`;
  dir = makeTempDir('cli-cp');
  writeSystemState(dir.path, systemState(url));
  // A control plane that is gone: a port that was free a moment ago.
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise((resolve) => probe.close(resolve));
  unreachableDir = makeTempDir('cli-cp-gone');
  writeSystemState(unreachableDir.path, systemState(`http://127.0.0.1:${closedPort}`));
});

afterAll(async () => {
  await new Promise((resolve) => controlPlane?.close(resolve));
  await dataApi?.close();
  dir?.remove();
  unreachableDir?.remove();
});

/** The real process. */
const cli = (...args: string[]) => borealis([...args, '--state-dir', dir.path]);

/** The same program in this process. */
async function inProcess(...args: string[]): Promise<CliRun> {
  const io = memoryIo();
  const code = await runCli([...args, '--state-dir', dir.path], io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe.concurrent('against a control-plane-shaped server', () => {
  it('status --json prints the ClusterStatus document unchanged', async () => {
    const run = await cli('status', '--json');
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual(status);
  });

  it('status prints the readable view', async () => {
    const run = await inProcess('status');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('cluster     borealis (us-east-1)\n');
    expect(run.stdout).toMatch(
      /\n {2}instance-2 {2}writer {5}1 {2}us-east-1b {2}running {2}yes {6}4102 {7}0\n/,
    );
    expect(run.stdout).toContain('  sn-1  us-east-1a  yes      4200      4  0-2:5120 3:4999\n');
  });

  it('kill --node n9: the ControlPlaneError message is the one line, exit 1', async () => {
    const run = await cli('kill', '--node', 'n9');
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(oneErrorLine(run)).toBe('borealis: no storage node n9');
    expect(requests).toContainEqual({ method: 'POST', url: '/kill', body: { node: 'n9' } });
  });

  it('kill --writer posts {writer: true} and prints what was killed', async () => {
    const run = await inProcess('kill', '--writer');
    expect(run).toEqual({ code: 0, stdout: 'killed instance-2 (pid 4102) with SIGKILL\n', stderr: '' });
    expect(requests).toContainEqual({ method: 'POST', url: '/kill', body: { writer: true } });
  });

  it('start: a Conflict is one line', async () => {
    const run = await inProcess('start', '--node', 'sn-1');
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toBe('borealis: storage node sn-1 is already running');
  });

  it('failover --target prints the event in one line', async () => {
    const run = await inProcess('failover', '--target', 'instance-2');
    expect(run).toEqual({
      code: 0,
      stdout: 'failover: instance-1 → instance-2 in 812 ms (epoch 4)\n',
      stderr: '',
    });
    expect(requests).toContainEqual({ method: 'POST', url: '/failover', body: { target: 'instance-2' } });
  });

  it('sql: a psql-like table through the real SDK and Data API edge', async () => {
    const run = await cli('sql', 'SELECT * FROM t');
    expect(run.stderr).toBe('');
    expect(run.stdout).toBe(
      [' id | name | note', '----+------+------', '  1 | ada  | NULL', '  2 | 日本 | x', '(2 rows)', ''].join(
        '\n',
      ),
    );
  });

  it('sql --json: row objects with numbers and nulls', async () => {
    const run = await inProcess('sql', '--json', 'SELECT * FROM t');
    expect(JSON.parse(run.stdout)).toEqual([
      { id: 1, name: 'ada', note: null },
      { id: 2, name: '日本', note: 'x' },
    ]);
  });

  it('sql: a write prints rows affected and the generated id', async () => {
    const run = await inProcess('sql', "INSERT INTO t (name) VALUES ('grace')");
    expect(run).toEqual({ code: 0, stdout: '1 row affected (generated id 42)\n', stderr: '' });
  });

  it('sql: a Data API error prints its name and message', async () => {
    const run = await cli('sql', 'SELECT * FROM missing');
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toBe('borealis: DatabaseErrorException: no such table: missing');
  });

  it('sql --timeout-ms: a statement that takes longer is one line', async () => {
    const run = await inProcess('sql', '--timeout-ms', '200', 'SLOW');
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toBe(
      `borealis: no answer from ${status.endpoints.writer} within 200 ms (--timeout-ms to wait longer)`,
    );
  });

  it('sql --reader without a reader endpoint: one line', async () => {
    const run = await inProcess('sql', '--reader', 'SELECT 1');
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toBe(
      'borealis: the cluster borealis has no reader endpoint right now; see `borealis status`',
    );
  });

  it('a control plane that does not answer: one line', async () => {
    const run = await borealis(['status', '--state-dir', unreachableDir.path]);
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toMatch(
      /^borealis: cannot reach the control plane at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\); is the cluster still running\?$/,
    );
  });
});
