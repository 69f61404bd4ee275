// A whole cluster (control plane, six storage nodes, writer, readers, proxy) for tests and benchmarks,
// in a temp dir with a small volume, plus a write workload that records every outcome the client
// saw — acknowledged, failed cleanly, or unknown — so a test can check the database against it.
import { ExecuteStatementCommand } from '@aws-sdk/client-rds-data';
import type { ClusterStatus, InstanceStatus } from '../../core/cluster/topology.ts';
import { LocalCluster } from '../../embedded/cluster.ts';
import { Sql } from './sql.ts';

export interface TestClusterOptions {
  dir: string;
  readers?: number;
  /** Control-plane flags beyond the small test geometry. */
  controlPlaneArgs?: string[];
  proxyArgs?: string[];
  /**
   * Environment of the cluster's processes. With emulator endpoints in it (Emulators.env(), after
   * provisionRegion(regionalResources('us-east-1'))), writers publish to the redo stream.
   */
  env?: NodeJS.ProcessEnv;
}

export async function startTestCluster(options: TestClusterOptions): Promise<LocalCluster> {
  return LocalCluster.start({
    dir: options.dir,
    name: 'borealis',
    region: 'us-east-1',
    readers: options.readers ?? 2,
    controlPlaneArgs: [
      '--pg-count',
      '4',
      '--pages-per-pg',
      '1024',
      '--cache-pages',
      '8192',
      '--restart-delay-ms',
      '1000',
      ...(options.controlPlaneArgs ?? []),
    ],
    proxyArgs: options.proxyArgs,
    ...(options.env && { env: { ...process.env, ...options.env } }),
  });
}

/** Data API clients on the proxy's cluster (writer) and reader endpoints. */
export function endpointClients(status: ClusterStatus): { writer: Sql; reader: Sql } {
  const arns = { resourceArn: status.resourceArn, secretArn: status.secretArn };
  return {
    writer: new Sql({ endpoint: status.endpoints.writer!, ...arns }),
    reader: new Sql({ endpoint: status.endpoints.reader!, ...arns }),
  };
}

export function writerOf(status: ClusterStatus): InstanceStatus {
  const writer = status.instances.find((i) => i.id === status.writer);
  if (!writer) throw new Error(`no writer in status: ${JSON.stringify(status.instances)}`);
  return writer;
}

/** Polls the control plane until `check` holds (throws with the last status after timeoutMs). */
export async function waitForStatus(
  cluster: LocalCluster,
  check: (s: ClusterStatus) => boolean,
  timeoutMs = 30_000,
  what = 'cluster status',
): Promise<ClusterStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ClusterStatus | undefined;
  for (;;) {
    try {
      last = await cluster.status();
      if (check(last)) return last;
    } catch {
      // control plane busy: try again
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached within ${timeoutMs} ms; last status: ${JSON.stringify(last)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface WriteOutcome {
  client: number;
  seq: number;
  /** When the request was sent and when its answer came (Date.now()). */
  sentAt: number;
  doneAt: number;
  result: 'acked' | 'failed' | 'unknown';
  error?: string;
}

/**
 * `clients` loops, each inserting (client, seq) rows one autocommit statement at a time through the
 * cluster endpoint, until stop(). Errors that say the statement did not run ('failed') and those
 * that say its outcome is unknown ('unknown', the proxy's DatabaseErrorException for a writer that
 * died mid-statement) are recorded apart, so a check can demand: every acked row present exactly
 * once, every failed row absent, every unknown row present at most once.
 */
export class WriteWorkload {
  readonly outcomes: WriteOutcome[] = [];
  #stopped = false;
  readonly #loops: Promise<void>[] = [];

  constructor(
    private readonly sql: Sql,
    private readonly table: string,
    clients: number,
    private readonly pauseMs = 5,
  ) {
    for (let c = 0; c < clients; c++) this.#loops.push(this.#loop(c));
  }

  static createTableSql(table: string): string {
    return `create table if not exists ${table} (id integer primary key autoincrement, client integer not null, seq integer not null, at integer not null)`;
  }

  async #loop(client: number): Promise<void> {
    for (let seq = 0; !this.#stopped; seq++) {
      const sentAt = Date.now();
      try {
        await this.sql.client.send(
          new ExecuteStatementCommand({
            ...this.sql.arns,
            sql: `insert into ${this.table}(client, seq, at) values (:client, :seq, :at)`,
            parameters: [
              { name: 'client', value: { longValue: client } },
              { name: 'seq', value: { longValue: seq } },
              { name: 'at', value: { longValue: sentAt } },
            ],
          }),
        );
        this.outcomes.push({ client, seq, sentAt, doneAt: Date.now(), result: 'acked' });
      } catch (error) {
        const name = (error as Error).name;
        const unknown = name === 'DatabaseErrorException' || name === 'TimeoutError' || name === 'Error';
        this.outcomes.push({
          client,
          seq,
          sentAt,
          doneAt: Date.now(),
          result: unknown ? 'unknown' : 'failed',
          error: `${name}: ${(error as Error).message}`,
        });
        await new Promise((r) => setTimeout(r, 20));
      }
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  acked(): WriteOutcome[] {
    return this.outcomes.filter((o) => o.result === 'acked');
  }

  /** The first acknowledgement that arrived after `t` (e.g. a kill): RTO = its doneAt - t. */
  firstAckAfter(t: number): WriteOutcome | undefined {
    return this.outcomes
      .filter((o) => o.result === 'acked' && o.doneAt > t)
      .sort((a, b) => a.doneAt - b.doneAt)[0];
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.#loops);
  }

  /** Checks the table against the outcomes; returns a list of violations (empty when all hold). */
  async verify(sql: Sql): Promise<string[]> {
    const rows = (await sql.rows(`select client, seq, count(*) from ${this.table} group by client, seq`)) as [
      number,
      number,
      number,
    ][];
    const present = new Map(rows.map(([c, s, n]) => [`${c}/${s}`, n]));
    const problems: string[] = [];
    for (const o of this.outcomes) {
      const n = present.get(`${o.client}/${o.seq}`) ?? 0;
      if (o.result === 'acked' && n !== 1) problems.push(`acked ${o.client}/${o.seq} present ${n} times`);
      if (o.result === 'failed' && n !== 0)
        problems.push(`failed ${o.client}/${o.seq} (${o.error}) present ${n} times`);
      if (o.result === 'unknown' && n > 1) problems.push(`unknown ${o.client}/${o.seq} present ${n} times`);
    }
    const known = new Set(this.outcomes.map((o) => `${o.client}/${o.seq}`));
    for (const key of present.keys()) if (!known.has(key)) problems.push(`row ${key} was never written`);
    return problems;
  }
}

export function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Polls `check` every 20 ms until it holds, or throws naming `what`. */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** POST to a control-plane route; a non-2xx answer throws with its body. */
/** Until `sql` answers `query` without an error (e.g. a table created elsewhere has reached a replica). */
export function waitUntilQueryable(sql: Sql, query: string, timeoutMs: number, what: string): Promise<void> {
  return waitUntil(
    () =>
      sql.rows(query).then(
        () => true,
        () => false,
      ),
    timeoutMs,
    what,
  );
}

export async function controlPlanePost<T = Record<string, unknown>>(
  cluster: LocalCluster,
  route: string,
  body: unknown,
): Promise<T> {
  const response = await fetch(`${cluster.controlPlaneUrl}${route}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${route}: ${response.status} ${text}`);
  return (text === '' ? undefined : JSON.parse(text)) as T;
}
