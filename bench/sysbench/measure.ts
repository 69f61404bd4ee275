// One measured phase: a workload at N clients for a fixed time on one system, with everything the
// report needs around it — latency percentiles, replica lag from the heartbeat, disk bytes and CPU
// of every process of the system (/proc deltas) and, for Borealis, the writer's redo bytes to storage.
import { delta, deviceWriteBytes, sampleProcess, snapshot } from '../lib/proc-io.ts';
import { percentile } from '../lib/stats.ts';
import { LagMonitor, type LagResult } from './lag.ts';
import type { SystemDriver, Workload } from './types.ts';
import { errorLine } from './util.ts';

export interface PhaseRun {
  run: number;
  ok: boolean;
  error?: string;
  transactions: number;
  /** Length of the timed window, ms. */
  elapsedMs: number;
  txnPerSecond: number;
  errors: number;
  errorSamples: string[];
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  lag?: LagResult;
  /** Workload transactions + heartbeat commits: the denominator of every per-transaction figure. */
  commitsForBytes: number;
  diskBytes: number;
  diskBytesPerTxn: number;
  /** Per process role (primary, replica, writer, reader, storage, proxy, …). */
  diskBytesPerTxnByRole: Record<string, number>;
  /** Bytes the machine's disks took during the phase (/proc/diskstats), per commit. */
  deviceBytesPerTxn: number;
  cpuMsPerTxn: number;
  cpuMsByRole: Record<string, number>;
  /** CPU of the benchmark process itself (the clients, the heartbeat and its poller), ms. */
  clientCpuMs: number;
  clientCpuMsPerTxn: number;
  networkBytesToStoragePerTxn?: number;
}

export async function measurePhase(
  driver: SystemDriver,
  workload: Workload,
  clients: number,
  durationMs: number,
  rows: number,
  run: number,
): Promise<PhaseRun> {
  const processes = await driver.processes();
  const networkBefore = await driver.networkBytesToStorage?.().catch(() => undefined);
  const before = snapshot(processes.all);
  const deviceBefore = deviceWriteBytes();
  const selfBefore = sampleProcess('self');
  const lag =
    workload.writes && driver.hasReplica
      ? await LagMonitor.start(await driver.connect('primary'), await driver.connect('replica'))
      : undefined;
  let result: Awaited<ReturnType<SystemDriver['runClients']>>;
  let lagResult: LagResult | undefined;
  try {
    result = await driver.runClients(workload, clients, durationMs, rows);
  } finally {
    lagResult = await lag?.stop();
  }
  const after = snapshot(processes.all);
  const deviceAfter = deviceWriteBytes();
  const selfAfter = sampleProcess('self');
  const networkAfter = await driver.networkBytesToStorage?.().catch(() => undefined);

  const latencies = [...result.latenciesMs].sort((a, b) => a - b);
  const transactions = latencies.length;
  const commitsForBytes = transactions + (lagResult?.heartbeatsCommitted ?? 0);
  const per = (n: number) => (commitsForBytes > 0 ? n / commitsForBytes : Number.NaN);
  const used = delta(before, after);
  const clientCpuMs = selfAfter && selfBefore ? selfAfter.cpuMs - selfBefore.cpuMs : Number.NaN;
  const bytesByRole: Record<string, number> = {};
  const cpuByRole: Record<string, number> = {};
  for (const [pid, d] of used.perPid) {
    const role = (processes.roles.get(pid) ?? 'other').split(' ')[0]!;
    bytesByRole[role] = (bytesByRole[role] ?? 0) + d.writeBytes;
    cpuByRole[role] = (cpuByRole[role] ?? 0) + d.cpuMs;
  }
  const network =
    networkBefore && networkAfter && networkBefore.incarnation === networkAfter.incarnation
      ? networkAfter.bytes - networkBefore.bytes
      : undefined;
  // No transaction in the phase: a failure if they errored, else just too slow for the phase (0 txn/s).
  const ok = transactions > 0 || result.errors === 0;
  const samples = [...result.errorSamples, ...(lagResult?.errorSamples ?? [])].slice(0, 5);
  return {
    run,
    ok,
    ...(ok ? {} : { error: samples[0] ?? 'no transaction completed' }),
    transactions,
    elapsedMs: result.elapsedMs,
    txnPerSecond: (transactions * 1000) / result.elapsedMs,
    errors: result.errors,
    errorSamples: samples,
    latencyMs: {
      p50: percentile(latencies, 50),
      p95: percentile(latencies, 95),
      p99: percentile(latencies, 99),
      max: latencies[latencies.length - 1] ?? Number.NaN,
    },
    ...(lagResult ? { lag: lagResult } : {}),
    commitsForBytes,
    diskBytes: used.writeBytes,
    diskBytesPerTxn: per(used.writeBytes),
    diskBytesPerTxnByRole: Object.fromEntries(Object.entries(bytesByRole).map(([r, b]) => [r, per(b)])),
    deviceBytesPerTxn: per(deviceAfter - deviceBefore),
    cpuMsPerTxn: per(used.cpuMs),
    cpuMsByRole: cpuByRole,
    clientCpuMs,
    clientCpuMsPerTxn: per(clientCpuMs),
    ...(network !== undefined ? { networkBytesToStoragePerTxn: per(network) } : {}),
  };
}

/** A run that could not be measured at all. */
export function failedRun(run: number, error: unknown): PhaseRun {
  return {
    run,
    ok: false,
    error: errorLine(error),
    transactions: 0,
    elapsedMs: 0,
    txnPerSecond: Number.NaN,
    errors: 0,
    errorSamples: [errorLine(error)],
    latencyMs: { p50: Number.NaN, p95: Number.NaN, p99: Number.NaN, max: Number.NaN },
    commitsForBytes: 0,
    diskBytes: 0,
    diskBytesPerTxn: Number.NaN,
    diskBytesPerTxnByRole: {},
    deviceBytesPerTxn: Number.NaN,
    cpuMsPerTxn: Number.NaN,
    cpuMsByRole: {},
    clientCpuMs: Number.NaN,
    clientCpuMsPerTxn: Number.NaN,
  };
}
