// Borealis as a user runs it: `borealis up --detach --readers 1` (6 storage nodes in 3 AZs, a
// writer, one reader, the control plane and the proxy), driven only through the CLI and the proxy's
// RDS Data API endpoints with the real @aws-sdk/client-rds-data. Recovery: `borealis kill --writer`
// under load; the cluster fails over by itself and the proxy hides it as far as it can.

import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type Field,
  RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ClusterStatus } from '../../../core/cluster/topology.ts';
import { segmentsPerPg } from '../../../core/limits.ts';
import { commandLine as commandOf, systemProcessTree } from '../../lib/proc-io.ts';
import { metricValue, scrape } from '../../lib/prometheus.ts';
import { runSessions } from '../phase.ts';
import { registerCleanup, removeOnExit, runCommand, runCommandSync, signal } from '../processes.ts';
import { recoveryUnderLoad } from '../recovery.ts';
import type {
  ClientsResult,
  MysqlEndpoint,
  Params,
  RecoveryResult,
  Row,
  Session,
  SystemDriver,
  SystemProcesses,
  Workload,
} from '../types.ts';
import { errorLine, nowMs, sleep, waitFor, within } from '../util.ts';
import { sbtestRow, seededRandom } from '../workloads/statements.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const cliEntry = join(repoRoot, 'cli', 'main.ts');
/** Rows per BatchExecuteStatement while loading. */
const loadBatchRows = 250;
/** A Data API request that takes longer than this fails (the proxy holds requests during failover). */
const requestTimeoutMs = 60_000;
const upTimeoutMs = 300_000;
const cliTimeoutMs = 60_000;
/** How long the cluster may take to be whole again (writer + healthy reader) after a failover. */
const healedTimeoutMs = 120_000;

export class BorealisDriver implements SystemDriver {
  readonly id = 'borealis';
  readonly label = 'Borealis (6 storage nodes, writer, 1 reader, proxy)';
  readonly hasReplica = true;
  readonly #stateDir = mkdtempSync(join(tmpdir(), 'borealis-bench-cluster-'));
  #status?: ClusterStatus;
  #tree?: SystemProcesses;
  #clients?: { writer: RDSDataClient; reader: RDSDataClient; arns: Arns };
  #unregister?: () => void;

  /**
   * `nodeFlags`: extra flags for every Node process the cluster starts (BOREALIS_NODE_FLAGS, read by
   * core/process/spawn.ts), e.g. "--cpu-prof --cpu-prof-dir=DIR" for the profile pass.
   */
  constructor(
    private readonly log: (line: string) => void,
    private readonly options: { nodeFlags?: string } = {},
  ) {}

  async #cli(args: string[], timeoutMs = cliTimeoutMs) {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };
    if (this.options.nodeFlags) env.BOREALIS_NODE_FLAGS = this.options.nodeFlags;
    return runCommand(
      process.execPath,
      ['--import', 'tsx', cliEntry, ...args, '--state-dir', this.#stateDir],
      timeoutMs,
      { cwd: repoRoot, env },
    );
  }

  async start(): Promise<void> {
    this.#unregister = registerCleanup('borealis down', () => this.#downSync());
    removeOnExit(this.#stateDir);
    const up = await this.#cli(['up', '--detach', '--readers', '1'], upTimeoutMs);
    if (up.code !== 0)
      throw new Error(
        `borealis up ${up.timedOut ? 'timed out' : `exited ${up.code}`}: ${tail(up.stderr || up.stdout)}`,
      );
    const status = await this.#freshStatus();
    if (!status.endpoints.writer || !status.endpoints.reader)
      throw new Error(`borealis status: no ${status.endpoints.writer ? 'reader' : 'writer'} endpoint`);
    const arns = { resourceArn: status.resourceArn, secretArn: status.secretArn };
    this.#clients = {
      writer: dataApiClient(status.endpoints.writer),
      reader: dataApiClient(status.endpoints.reader),
      arns,
    };
  }

  /** The proxy's MySQL cluster endpoint and account (`--driver sysbench`), from `borealis status --json`. */
  mysqlEndpoint(): MysqlEndpoint {
    const endpoint = this.#status?.endpoints.mysql?.writer;
    const account = this.#status?.mysql;
    if (endpoint === undefined || account === undefined)
      throw new Error('borealis status: no MySQL endpoint (is the proxy older than ADR 017?)');
    const colon = endpoint.lastIndexOf(':');
    return { host: endpoint.slice(0, colon), port: Number(endpoint.slice(colon + 1)), ...account };
  }

  async #freshStatus(): Promise<ClusterStatus> {
    const result = await this.#cli(['status', '--json']);
    if (result.code !== 0) throw new Error(`borealis status exited ${result.code}: ${tail(result.stderr)}`);
    const text = result.stdout;
    this.#status = JSON.parse(text.slice(text.indexOf('{'))) as ClusterStatus;
    this.#tree = undefined;
    return this.#status;
  }

  async load(rows: number): Promise<void> {
    const primary = await this.connect('primary');
    try {
      await primary.query(
        "CREATE TABLE sbtest (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c TEXT NOT NULL DEFAULT '', " +
          "pad TEXT NOT NULL DEFAULT '')",
      );
      await primary.query('CREATE INDEX k_1 ON sbtest (k)');
      await primary.query(
        'CREATE TABLE heartbeat (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts REAL NOT NULL)',
      );
      await primary.query('INSERT INTO heartbeat VALUES (1, 0, 0)');
    } finally {
      await primary.close();
    }
    const { writer, arns } = this.#clients!;
    const context = { rows, random: seededRandom(1) };
    for (let first = 1; first <= rows; first += loadBatchRows) {
      const sets: SqlParameter[][] = [];
      for (let id = first; id < Math.min(rows + 1, first + loadBatchRows); id++)
        sets.push(parameters(sbtestRow(context, id)));
      await writer.send(
        new BatchExecuteStatementCommand({
          ...arns,
          sql: 'INSERT INTO sbtest (id, k, c, pad) VALUES (:id, :k, :c, :pad)',
          parameterSets: sets,
        }),
      );
    }
    const reader = await this.connect('replica');
    try {
      await waitFor('reader has every row', 120_000, async () =>
        Number((await reader.query('SELECT COUNT(*) FROM sbtest'))[0]?.[0]) === rows ? true : undefined,
      );
    } finally {
      await reader.close();
    }
  }

  async connect(target: 'primary' | 'replica'): Promise<Session> {
    const clients = this.#clients;
    if (!clients) throw new Error('Borealis is not running');
    return new DataApiSession(target === 'primary' ? clients.writer : clients.reader, clients.arns);
  }

  runClients(workload: Workload, clients: number, durationMs: number, rows: number): Promise<ClientsResult> {
    return runSessions(
      { connect: () => this.connect('primary') },
      workload,
      clients,
      durationMs,
      rows,
      clients,
    );
  }

  async processes(): Promise<SystemProcesses> {
    if (this.#tree?.all.every(alive)) return this.#tree;
    const status =
      this.#status && [...listedPids(this.#status)].every(alive) ? this.#status : await this.#freshStatus();
    const roles = new Map<number, string>();
    for (const instance of status.instances)
      if (instance.pid) roles.set(instance.pid, `${instance.role} ${instance.id}`);
    for (const node of status.storageNodes) if (node.pid) roles.set(node.pid, `storage ${node.id}`);
    const all = systemProcessTree(
      roles.keys(),
      (cmd) => cmd.includes(this.#stateDir) || cmd.includes(repoRoot),
    );
    for (const pid of all) {
      if (roles.has(pid)) continue;
      const cmd = commandOf(pid);
      roles.set(pid, roleOf(cmd));
    }
    this.#tree = { all, roles };
    return this.#tree;
  }

  async networkBytesToStorage(): Promise<{ bytes: number; incarnation: string } | undefined> {
    const status = this.#status;
    const writer = status?.instances.find((i) => i.id === status.writer);
    if (!writer?.httpPort) return undefined;
    const text = await within(scrape(writer.httpPort), 5_000, '');
    if (!text.includes('borealis_writer_redo_bytes_shipped')) return undefined;
    // The gauge counts the bytes sent to each segment; every record goes to all six of its PG.
    const bytes = metricValue(text, 'borealis_writer_redo_bytes_shipped') * segmentsPerPg;
    return { bytes, incarnation: `${writer.id}#${writer.incarnation}` };
  }

  async measureRecovery(rows: number, loadClients: number, warmupMs: number): Promise<RecoveryResult> {
    await this.#healed();
    const result = await recoveryUnderLoad({
      connectPrimary: () => this.connect('primary'),
      connectReplica: () => this.connect('replica'),
      crash: () => this.#killWriter(),
      rows,
      loadClients,
      warmupMs,
      timeoutMs: 120_000,
      replicaTimeoutMs: 120_000,
    });
    const status = await this.#healed();
    const failover = status.failovers[status.failovers.length - 1];
    if (failover) {
      result.failoverMs = failover.durationMs;
      result.notes = `${failover.kind} failover ${failover.from ?? '?'} → ${failover.to}`;
    }
    return result;
  }

  /** `borealis kill --writer`; the kill time is when the writer's PID is seen dead (polled every 2 ms). */
  async #killWriter(): Promise<number> {
    const status = await this.#freshStatus();
    const writer = status.instances.find((i) => i.id === status.writer);
    if (!writer?.pid) throw new Error('no writer process to kill');
    const pid = writer.pid;
    let diedAt: number | undefined;
    let watching = true;
    const watch = (async () => {
      while (watching && diedAt === undefined) {
        if (!alive(pid)) diedAt = nowMs();
        else await sleep(2);
      }
    })();
    const killed = await this.#cli(['kill', '--writer']);
    const cliDone = nowMs();
    await within(watch, 5_000, undefined);
    watching = false;
    if (killed.code !== 0)
      throw new Error(`borealis kill --writer exited ${killed.code}: ${tail(killed.stderr)}`);
    this.#tree = undefined;
    return diedAt ?? cliDone;
  }

  /** Waits until the cluster has a writer, no failover in progress, and every instance running and healthy. */
  async #healed(): Promise<ClusterStatus> {
    return waitFor(
      'Borealis cluster healthy again',
      healedTimeoutMs,
      async () => {
        const status = await this.#freshStatus();
        const whole =
          status.writer !== null &&
          !status.failoverInProgress &&
          status.instances.every((i) => i.healthy && i.state === 'running');
        return whole ? status : undefined;
      },
      500,
    );
  }

  async stop(): Promise<void> {
    this.#clients?.writer.destroy();
    this.#clients?.reader.destroy();
    const known = new Set<number>([
      ...(this.#tree?.all ?? []),
      ...(this.#status ? listedPids(this.#status) : []),
    ]);
    const down = await this.#cli(['down'], 120_000).catch((error) => ({
      code: -1,
      stderr: errorLine(error),
    }));
    if (down.code !== 0) this.log(`borealis down exited ${down.code}: ${tail(String(down.stderr))}`);
    // Whatever is left (down failed, or up failed half way): kill by PID, ours only.
    for (const pid of [...known, ...pidsMentioning(this.#stateDir)]) {
      if (alive(pid) && (known.has(pid) || commandOf(pid).includes(this.#stateDir))) {
        this.log(`killing leftover Borealis process ${pid}: ${commandOf(pid).slice(0, 120)}`);
        signal(pid, 'SIGKILL');
      }
    }
    this.#unregister?.();
    rmSync(this.#stateDir, { recursive: true, force: true });
  }

  #downSync(): void {
    // Exit-time cleanup: the CLI synchronously, then SIGKILL whatever still mentions the state dir.
    runCommandSync(
      process.execPath,
      ['--import', 'tsx', cliEntry, 'down', '--state-dir', this.#stateDir],
      60_000,
      repoRoot,
    );
    for (const pid of pidsMentioning(this.#stateDir)) signal(pid, 'SIGKILL');
    rmSync(this.#stateDir, { recursive: true, force: true });
  }
}

type Arns = { resourceArn: string; secretArn: string };

function dataApiClient(endpoint: string): RDSDataClient {
  return new RDSDataClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({
      httpAgent: new Agent({ keepAlive: true, maxSockets: 256 }),
      connectionTimeout: 5_000,
      requestTimeout: requestTimeoutMs,
    }),
  });
}

function parameters(values: Params): SqlParameter[] {
  return Object.entries(values).map(([name, v]) =>
    typeof v === 'string'
      ? { name, value: { stringValue: v } }
      : Number.isInteger(v)
        ? { name, value: { longValue: v } }
        : { name, value: { doubleValue: v } },
  );
}

function fieldValue(f: Field): unknown {
  if (f.isNull) return null;
  return f.longValue ?? f.doubleValue ?? f.stringValue ?? f.booleanValue ?? f.blobValue;
}

/** One Data API "connection": stateless requests, plus the transaction id while one is open. */
class DataApiSession implements Session {
  #transactionId: string | undefined;

  constructor(
    private readonly client: RDSDataClient,
    private readonly arns: Arns,
  ) {}

  async query(sql: string, params: Params = {}): Promise<Row[]> {
    const out = await this.client.send(
      new ExecuteStatementCommand({
        ...this.arns,
        sql,
        parameters: parameters(params),
        transactionId: this.#transactionId,
      }),
    );
    return (out.records ?? []).map((record) => record.map(fieldValue));
  }

  async begin(): Promise<void> {
    const out = await this.client.send(new BeginTransactionCommand(this.arns));
    this.#transactionId = out.transactionId;
  }

  async commit(): Promise<void> {
    const transactionId = this.#transactionId;
    this.#transactionId = undefined;
    await this.client.send(new CommitTransactionCommand({ ...this.arns, transactionId }));
  }

  async rollback(): Promise<void> {
    const transactionId = this.#transactionId;
    this.#transactionId = undefined;
    if (transactionId === undefined) return;
    await within(
      this.client
        .send(new RollbackTransactionCommand({ ...this.arns, transactionId }))
        .catch(() => undefined),
      5_000,
      undefined,
    );
  }

  async close(): Promise<void> {
    await this.rollback();
  }
}

/** A role for a process that status does not list, from its command line. */
function roleOf(cmd: string): string {
  for (const [pattern, role] of [
    [/proxy/, 'proxy'],
    [/control-plane/, 'control-plane'],
    [/s3-emulator|s3rver/, 's3-emulator'],
    [/kinesis/, 'kinesis-emulator'],
    [/embedded\/start/, 'launcher'],
  ] as const)
    if (pattern.test(cmd)) return role;
  return 'other';
}

function listedPids(status: ClusterStatus): number[] {
  return [...status.instances, ...status.storageNodes].map((p) => p.pid).filter((p): p is number => !!p);
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** PIDs whose command line mentions `text` (our unique state dir), other than this process. */
function pidsMentioning(text: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    if (commandOf(Number(name)).includes(text)) out.push(Number(name));
  }
  return out;
}

function tail(text: string): string {
  const lines = text.trim().split('\n');
  return lines.slice(-3).join(' | ').slice(-400);
}
