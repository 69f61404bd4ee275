// The benchmark's output: per system, workload and client count the median of the runs with min–max,
// Borealis/MariaDB ratios beside the absolute numbers, recovery times, and the project's goals
// (../shared/TARGETS.md) checked against this run. A system or phase that failed shows in its row.

import { table } from '../lib/stats.ts';
import { formatRatio, formatSpread, type Spread, spread } from '../lib/summary.ts';
import type { PhaseRun } from './measure.ts';
import type { RecoveryResult, SystemId, WorkloadName } from './types.ts';

export interface PhaseReport {
  workload: WorkloadName;
  clients: number;
  runs: PhaseRun[];
}

export interface RecoveryRun {
  run: number;
  ok: boolean;
  error?: string;
  result?: RecoveryResult;
}

export interface SystemReport {
  id: SystemId;
  label: string;
  ok: boolean;
  error?: string;
  startMs?: number;
  loadMs?: number;
  phases: PhaseReport[];
  recovery: RecoveryRun[];
}

export interface PhaseSummary {
  txnPerSecond: Spread;
  p50Ms: Spread;
  p95Ms: Spread;
  p99Ms: Spread;
  lagP50Ms: Spread;
  lagP99Ms: Spread;
  diskBytesPerTxn: Spread;
  deviceBytesPerTxn: Spread;
  /** MariaDB: the primary's own disk bytes (no replica). */
  primaryDiskBytesPerTxn: Spread;
  networkBytesToStoragePerTxn: Spread;
  cpuMsPerTxn: Spread;
  errorsPerSecond: Spread;
  okRuns: number;
  failedRuns: number;
  firstError?: string;
}

const shortNames: Record<SystemId, string> = { borealis: 'Borealis', mariadb: 'MariaDB', sqlite: 'SQLite' };
/** Failure messages in table cells are cut here; the JSON file keeps them whole. */
const cellTextMax = 70;

function cut(text: string): string {
  return text.length > cellTextMax ? `${text.slice(0, cellTextMax - 3)}...` : text;
}

export function summarizePhase(phase: PhaseReport): PhaseSummary {
  const ok = phase.runs.filter((r) => r.ok);
  const of = (pick: (r: PhaseRun) => number | undefined) => spread(ok.map(pick));
  const failed = phase.runs.filter((r) => !r.ok);
  return {
    txnPerSecond: of((r) => r.txnPerSecond),
    p50Ms: of((r) => r.latencyMs.p50),
    p95Ms: of((r) => r.latencyMs.p95),
    p99Ms: of((r) => r.latencyMs.p99),
    lagP50Ms: of((r) => r.lag?.lagP50Ms),
    lagP99Ms: of((r) => r.lag?.lagP99Ms),
    diskBytesPerTxn: of((r) => r.diskBytesPerTxn),
    deviceBytesPerTxn: of((r) => r.deviceBytesPerTxn),
    primaryDiskBytesPerTxn: of((r) => r.diskBytesPerTxnByRole.primary),
    networkBytesToStoragePerTxn: of((r) => r.networkBytesToStoragePerTxn),
    cpuMsPerTxn: of((r) => r.cpuMsPerTxn),
    errorsPerSecond: of((r) => (r.errors * 1000) / r.elapsedMs),
    okRuns: ok.length,
    failedRuns: failed.length,
    ...(failed[0]?.error ? { firstError: failed[0].error } : {}),
  };
}

function find(systems: SystemReport[], id: SystemId, workload: WorkloadName, clients: number) {
  const phase = systems
    .find((s) => s.id === id && s.ok)
    ?.phases.find((p) => p.workload === workload && p.clients === clients);
  return phase ? summarizePhase(phase) : undefined;
}

export function recoverySpread(system: SystemReport | undefined) {
  const ok = (system?.recovery ?? []).filter((r) => r.ok && r.result);
  return {
    recoveryMs: spread(ok.map((r) => r.result!.recoveryMs)),
    replicaBackMs: spread(ok.map((r) => r.result!.replicaBackMs)),
    failoverMs: spread(ok.map((r) => r.result!.failoverMs)),
  };
}

const mainHeaders = [
  'workload',
  'clients',
  'system',
  'txn/s',
  'txn/s vs MariaDB',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'lag p50 ms',
  'lag p99 ms',
  'disk B/txn',
  'device B/txn',
  'device B/txn vs MariaDB',
  'to storage B/txn',
  'CPU ms/txn',
  'errors',
];

export function mainTable(systems: SystemReport[], workloads: WorkloadName[], clients: number[]): string {
  const rows: string[][] = [];
  const blank = mainHeaders.map(() => '');
  for (const system of systems.filter((s) => !s.ok)) {
    const row = [...blank];
    row[0] = 'all';
    row[2] = shortNames[system.id];
    row[3] = cut(`FAILED: ${system.error ?? 'unknown error'}`);
    rows.push(row);
  }
  for (const workload of workloads) {
    for (const count of clients) {
      const mariadb = find(systems, 'mariadb', workload, count);
      for (const system of systems.filter((s) => s.ok)) {
        const phase = system.phases.find((p) => p.workload === workload && p.clients === count);
        if (!phase) continue;
        const s = summarizePhase(phase);
        const row = [...blank];
        row[0] = workload;
        row[1] = String(count);
        row[2] = shortNames[system.id];
        if (s.okRuns === 0) {
          row[3] = cut(`FAILED: ${s.firstError ?? 'no run completed'}`);
          rows.push(row);
          continue;
        }
        const vs = system.id === 'borealis';
        row[3] = formatSpread(s.txnPerSecond);
        row[4] = vs ? formatRatio(s.txnPerSecond, mariadb?.txnPerSecond) : '';
        row[5] = formatSpread(s.p50Ms);
        row[6] = formatSpread(s.p95Ms);
        row[7] = formatSpread(s.p99Ms);
        row[8] = formatSpread(s.lagP50Ms);
        row[9] = formatSpread(s.lagP99Ms);
        row[10] = formatSpread(s.diskBytesPerTxn);
        row[11] = formatSpread(s.deviceBytesPerTxn);
        row[12] =
          vs && workload !== 'point_select'
            ? formatRatio(s.deviceBytesPerTxn, mariadb?.deviceBytesPerTxn)
            : '';
        row[13] = formatSpread(s.networkBytesToStoragePerTxn);
        row[14] = formatSpread(s.cpuMsPerTxn);
        const errors = s.errorsPerSecond.median > 0 ? `${formatSpread(s.errorsPerSecond)}/s` : '';
        row[15] = [errors, s.failedRuns > 0 ? cut(`${s.failedRuns} run(s) failed: ${s.firstError}`) : '']
          .filter(Boolean)
          .join('; ');
        rows.push(row);
      }
    }
  }
  return table(mainHeaders, rows);
}

export function recoveryTable(systems: SystemReport[]): string {
  const mariadb = recoverySpread(systems.find((s) => s.id === 'mariadb'));
  const rows: string[][] = [];
  for (const system of systems) {
    if (!system.ok) {
      rows.push([shortNames[system.id], cut(`FAILED: ${system.error ?? ''}`), '', '', '', '']);
      continue;
    }
    if (system.recovery.length === 0) continue;
    const r = recoverySpread(system);
    const failed = system.recovery.filter((x) => !x.ok);
    const notes = [
      ...new Set(system.recovery.map((x) => x.result?.notes).filter((n): n is string => !!n)),
      ...(failed.length > 0 ? [`${failed.length} run(s) failed: ${failed[0]!.error}`] : []),
    ];
    rows.push([
      shortNames[system.id],
      formatSpread(r.recoveryMs),
      system.id === 'borealis' ? formatRatio(r.recoveryMs, mariadb.recoveryMs) : '',
      formatSpread(r.replicaBackMs),
      formatSpread(r.failoverMs),
      notes.slice(0, 2).map(cut).join('; '),
    ]);
  }
  return table(
    [
      'system',
      'kill -9 → next commit ms',
      'vs MariaDB',
      'kill -9 → replica has new row ms',
      'failover ms (control plane)',
      'notes',
    ],
    rows,
  );
}

export interface Goal {
  goal: string;
  target: string;
  measured: string;
  met: boolean | undefined;
}

/** The goals of TARGETS.md that this benchmark measures, checked on this run's medians. */
export function goals(systems: SystemReport[], clients: number[]): Goal[] {
  const out: Goal[] = [];
  const ratio = (a: Spread | undefined, b: Spread | undefined) =>
    a && b && a.runs > 0 && b.runs > 0 && b.median > 0 ? a.median / b.median : Number.NaN;
  const fmt = (n: number, digits = 2) => (Number.isFinite(n) ? n.toFixed(digits) : '—');
  const check = (n: number, ok: (n: number) => boolean) => (Number.isFinite(n) ? ok(n) : undefined);
  for (const count of [32, 1].filter((c) => clients.includes(c))) {
    const r = ratio(
      find(systems, 'borealis', 'write_only', count)?.txnPerSecond,
      find(systems, 'mariadb', 'write_only', count)?.txnPerSecond,
    );
    out.push({
      goal: `write_only txn/s at ${count} client${count > 1 ? 's' : ''}, Borealis / MariaDB`,
      target: '≥ 2x',
      measured: Number.isFinite(r) ? `${fmt(r)}x` : '—',
      met: check(r, (n) => n >= 2),
    });
  }
  const bytesAt = clients.includes(8) ? 8 : clients[0]!;
  const borealis = find(systems, 'borealis', 'write_only', bytesAt);
  const mariadb = find(systems, 'mariadb', 'write_only', bytesAt);
  const disk = ratio(borealis?.deviceBytesPerTxn, mariadb?.deviceBytesPerTxn);
  out.push({
    goal: `bytes to disk per write_only txn, whole machine (${bytesAt} clients), Borealis / (MariaDB + replica)`,
    target: '≤ 0.5',
    measured: fmt(disk),
    met: check(disk, (n) => n <= 0.5),
  });
  const net = ratio(borealis?.networkBytesToStoragePerTxn, mariadb?.primaryDiskBytesPerTxn);
  out.push({
    goal: `writer → storage bytes per write_only txn (${bytesAt} clients) / MariaDB primary disk bytes`,
    target: '≤ 0.2',
    measured: fmt(net),
    met: check(net, (n) => n <= 0.2),
  });
  for (const [count, limit] of [
    [8, 5],
    [32, 10],
  ] as const) {
    if (!clients.includes(count)) continue;
    const lag = find(systems, 'borealis', 'write_only', count)?.lagP99Ms.median ?? Number.NaN;
    out.push({
      goal: `reader lag p99 under write_only, ${count} clients`,
      target: `< ${limit} ms`,
      measured: Number.isFinite(lag) ? `${fmt(lag, 1)} ms` : '—',
      met: check(lag, (n) => n < limit),
    });
  }
  const rto = recoverySpread(systems.find((s) => s.id === 'borealis' && s.ok)).recoveryMs;
  out.push({
    goal: `failover: kill -9 writer → next successful commit, worst of ${rto.runs} run(s)`,
    target: '< 3,000 ms',
    measured: rto.runs > 0 ? `${fmt(rto.max, 0)} ms` : '—',
    met: rto.runs > 0 ? rto.max < 3_000 : undefined,
  });
  return out;
}

export function goalsTable(list: Goal[]): string {
  return table(
    ['goal (TARGETS.md)', 'target', 'this run', 'met'],
    list.map((g) => [g.goal, g.target, g.measured, g.met === undefined ? 'n/a' : g.met ? 'yes' : 'no']),
  );
}
