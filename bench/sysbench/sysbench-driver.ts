// `npm run bench -- --driver sysbench`: Debian's sysbench 1.0 (its own unmodified oltp_* Lua
// scripts, libmysqlclient, server-side prepared statements) against each system's MySQL endpoint —
// Borealis through the proxy's cluster endpoint (ADR 017), MariaDB's primary — one system at a time,
// in the same run. Prints one table and writes bench/results/sysbench-lua-<date>.json.
import { machine, writeResult } from '../lib/stats.ts';
import type { Options } from './options.ts';
import { runCommand } from './processes.ts';
import { BorealisDriver } from './systems/borealis.ts';
import { MariaDbDriver } from './systems/mariadb.ts';
import type { MysqlEndpoint, SystemId, WorkloadName } from './types.ts';
import { errorLine, within } from './util.ts';

/** The sysbench script of each workload (the same names as the built-in driver's workloads). */
export const sysbenchScripts: Readonly<Record<WorkloadName, string>> = {
  write_only: 'oltp_write_only',
  point_select: 'oltp_point_select',
  read_write: 'oltp_read_write',
};

/** What one `sysbench … run` printed, parsed. */
export interface SysbenchRun {
  transactions: number;
  transactionsPerSecond: number;
  queriesPerSecond: number;
  errors: number;
  reconnects: number;
  latencyAvgMs: number;
  latencyP95Ms: number;
}

/** Parses sysbench 1.0's run report; throws when a figure is missing (sysbench failed). */
export function parseSysbenchRun(stdout: string): SysbenchRun {
  const figure = (pattern: RegExp, what: string): number => {
    const m = pattern.exec(stdout);
    if (m?.[1] === undefined) throw new Error(`sysbench output has no ${what}`);
    return Number(m[1]);
  };
  return {
    transactions: figure(/transactions:\s+(\d+)/, 'transactions'),
    transactionsPerSecond: figure(/transactions:\s+\d+\s+\(([\d.]+) per sec/, 'transactions per second'),
    queriesPerSecond: figure(/queries:\s+\d+\s+\(([\d.]+) per sec/, 'queries per second'),
    errors: figure(/ignored errors:\s+(\d+)/, 'ignored errors'),
    reconnects: figure(/reconnects:\s+(\d+)/, 'reconnects'),
    latencyAvgMs: figure(/avg:\s+([\d.]+)/, 'average latency'),
    latencyP95Ms: figure(/95th percentile:\s+([\d.]+)/, '95th percentile latency'),
  };
}

export function sysbenchArgs(
  script: string,
  endpoint: MysqlEndpoint,
  rows: number,
  extra: string[],
): string[] {
  return [
    script,
    '--db-driver=mysql',
    `--mysql-host=${endpoint.host}`,
    `--mysql-port=${endpoint.port}`,
    `--mysql-user=${endpoint.user}`,
    `--mysql-password=${endpoint.password}`,
    `--mysql-db=${endpoint.database}`,
    '--mysql-ssl=off',
    '--tables=1',
    `--table-size=${rows}`,
    ...extra,
  ];
}

interface PhaseResult {
  workload: WorkloadName;
  clients: number;
  ok: boolean;
  run?: SysbenchRun;
  error?: string;
}

interface SystemResult {
  id: SystemId;
  label: string;
  ok: boolean;
  error?: string;
  phases: PhaseResult[];
}

const sysbenchTimeoutMs = (seconds: number) => (seconds + 120) * 1000;

async function sysbench(args: string[], timeoutMs: number): Promise<string> {
  const result = await runCommand('sysbench', args, timeoutMs);
  if (result.code !== 0) {
    const text = `${result.stderr}\n${result.stdout}`.trim().split('\n').slice(-3).join(' | ');
    throw new Error(`sysbench ${args[0]} ${args.at(-1)} exited ${result.code}: ${text.slice(0, 400)}`);
  }
  return result.stdout;
}

async function benchSystem(id: SystemId, opts: Options, log: (line: string) => void): Promise<SystemResult> {
  const driver = id === 'borealis' ? new BorealisDriver(log) : new MariaDbDriver(log);
  const report: SystemResult = { id, label: driver.label, ok: true, phases: [] };
  const seconds = Math.max(1, Math.round(opts.phaseMs / 1000));
  try {
    log(`${id}: starting`);
    await driver.start();
    const endpoint = driver.mysqlEndpoint();
    log(`${id}: sysbench prepare (${opts.rows} rows) on ${endpoint.host}:${endpoint.port}`);
    await sysbench(sysbenchArgs('oltp_read_write', endpoint, opts.rows, ['prepare']), 600_000);
    for (const workload of opts.workloads) {
      for (const clients of opts.clients) {
        const phase: PhaseResult = { workload, clients, ok: true };
        try {
          const stdout = await sysbench(
            sysbenchArgs(sysbenchScripts[workload], endpoint, opts.rows, [
              `--threads=${clients}`,
              `--time=${seconds}`,
              'run',
            ]),
            sysbenchTimeoutMs(seconds),
          );
          phase.run = parseSysbenchRun(stdout);
          log(
            `${id}: ${workload} ${clients} thread(s): ${phase.run.transactionsPerSecond.toFixed(0)} txn/s, ` +
              `${phase.run.queriesPerSecond.toFixed(0)} q/s, p95 ${phase.run.latencyP95Ms} ms, ${phase.run.errors} errors`,
          );
        } catch (error) {
          phase.ok = false;
          phase.error = errorLine(error);
          log(`${id}: ${workload} ${clients} thread(s) FAILED: ${phase.error}`);
        }
        report.phases.push(phase);
      }
    }
    await sysbench(sysbenchArgs('oltp_read_write', endpoint, opts.rows, ['cleanup']), 120_000).catch(
      (error) => log(`${id}: cleanup failed: ${errorLine(error)}`),
    );
  } catch (error) {
    report.ok = false;
    report.error = errorLine(error);
    log(`${id}: FAILED: ${report.error}`);
  } finally {
    log(`${id}: stopping`);
    await within(
      driver.stop().catch((error) => log(`${id}: stop failed: ${errorLine(error)}`)),
      180_000,
      undefined,
    );
  }
  return report;
}

/** The table: one row per workload and thread count, txn/s (q/s) and p95 per system, and the ratio. */
export function sysbenchTable(systems: SystemResult[], workloads: WorkloadName[], clients: number[]): string {
  const header = ['workload', 'threads', ...systems.map((s) => `${s.id} txn/s (q/s), p95 ms`)];
  const borealis = systems.find((s) => s.id === 'borealis');
  const mariadb = systems.find((s) => s.id === 'mariadb');
  if (borealis && mariadb) header.push('borealis / mariadb');
  const rows = [header];
  for (const workload of workloads) {
    for (const n of clients) {
      const cell = (s: SystemResult) => {
        const p = s.phases.find((x) => x.workload === workload && x.clients === n);
        if (!p?.run) return p?.error ? 'FAILED' : '-';
        const r = p.run;
        const errors = r.errors > 0 ? `, ${r.errors} err` : '';
        return `${r.transactionsPerSecond.toFixed(0)} (${r.queriesPerSecond.toFixed(0)}), ${r.latencyP95Ms}${errors}`;
      };
      const row = [workload, String(n), ...systems.map(cell)];
      if (borealis && mariadb) {
        const b = borealis.phases.find((x) => x.workload === workload && x.clients === n)?.run;
        const m = mariadb.phases.find((x) => x.workload === workload && x.clients === n)?.run;
        row.push(
          b && m && m.transactionsPerSecond > 0
            ? (b.transactionsPerSecond / m.transactionsPerSecond).toFixed(2)
            : '-',
        );
      }
      rows.push(row);
    }
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => c.padEnd(widths[i] ?? 0))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export async function runSysbenchDriver(opts: Options, log: (line: string) => void): Promise<void> {
  const check = await runCommand('sysbench', ['--version'], 10_000);
  if (check.code !== 0) throw new Error('sysbench is not installed (apt-get install -y sysbench)');
  const ids = opts.systems.filter((id): id is 'borealis' | 'mariadb' => id !== 'sqlite');
  if (opts.systems.includes('sqlite')) log('sqlite: no MySQL endpoint; skipped by --driver sysbench');
  const started = performance.now();
  const systems: SystemResult[] = [];
  for (const id of ids) systems.push(await benchSystem(id, opts, log));
  const date = new Date().toISOString();
  const m = machine();
  const totalSeconds = (performance.now() - started) / 1000;
  console.log(
    [
      '',
      `bench/sysbench --driver sysbench — ${date.slice(0, 10)}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.cpu}; ` +
        `${check.stdout.trim()}; 1 table of ${opts.rows} rows, ${opts.phaseMs / 1000} s per run; ${totalSeconds.toFixed(0)} s in all`,
      '',
      sysbenchTable(systems, opts.workloads, opts.clients),
      '',
      "txn/s: sysbench's transactions per second (point_select: one query per transaction); q/s: its queries per",
      "second; p95: its 95th percentile latency. Borealis through the proxy's MySQL cluster endpoint; MariaDB: the",
      'primary (a binlog replica attached). Unmodified oltp_* scripts, server-side prepared statements.',
    ].join('\n'),
  );
  const file = writeResult('sysbench-lua', {
    date,
    machine: m,
    command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
    options: opts,
    sysbench: check.stdout.trim(),
    totalSeconds,
    systems,
  });
  console.log(`\nresults: ${file}`);
}
