// `npm run bench`: Borealis, MariaDB with a binlog replica and SQLite side by side on this machine,
// with the same sysbench-style workloads (write_only, point_select, read_write at 1, 8 and 32
// clients), each figure the median of several runs. One system at a time: start it, load sbtest,
// run every phase, SIGKILL its primary under load a few times, stop it. Prints one table (plus
// recovery and goals) and writes bench/results/sysbench-<date>.json. Run with --help for the flags.
import { join } from 'node:path';
import { machine, writeResult } from '../lib/stats.ts';
import { failedRun, measurePhase, type PhaseRun } from './measure.ts';
import { type Options, parseOptions, usage } from './options.ts';
import { cleanupNow } from './processes.ts';
import { type ProfileReport, profileBorealis, profileText } from './profile.ts';
import { goals, goalsTable, mainTable, recoveryTable, type SystemReport } from './report.ts';
import { BorealisDriver } from './systems/borealis.ts';
import { MariaDbDriver } from './systems/mariadb.ts';
import { SqliteDriver } from './systems/sqlite.ts';
import type { SystemDriver, SystemId } from './types.ts';
import { deadline, errorLine, within } from './util.ts';
import { workloads } from './workloads/index.ts';
import { sql } from './workloads/statements.ts';

/**
 * After a failed phase the system is probed (one query on the primary); after this many failed
 * probes in a row its remaining phases and recovery runs are skipped. A workload that fails on a
 * healthy system (Borealis read_write conflicts, say) does not stop the others.
 */
const consecutiveFailuresMax = 2;
const probeTimeoutMs = 15_000;

async function probe(driver: SystemDriver): Promise<string | undefined> {
  try {
    await deadline(
      (async () => {
        const session = await driver.connect('primary');
        try {
          await session.query(sql.heartbeatRead);
        } finally {
          await session.close();
        }
      })(),
      probeTimeoutMs,
      'probe query',
    );
    return undefined;
  } catch (error) {
    return errorLine(error);
  }
}

let options: Options | 'help';
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  console.error(`${errorLine(error)}\n\n${usage}`);
  process.exit(2);
}
if (options === 'help') {
  console.log(usage);
  process.exit(0);
}
const opts = options;
const benchStarted = performance.now();
const log = (line: string) => {
  const seconds = ((performance.now() - benchStarted) / 1000).toFixed(0).padStart(4);
  console.error(`[${seconds} s] ${line}`);
};

if (opts.driver === 'sysbench') {
  const { runSysbenchDriver } = await import('./sysbench-driver.ts');
  try {
    await runSysbenchDriver(opts, log);
  } catch (error) {
    console.error(errorLine(error));
    cleanupNow();
    process.exit(1);
  }
  cleanupNow();
  process.exit(0);
}

function driverFor(id: SystemId): SystemDriver {
  if (id === 'borealis') return new BorealisDriver(log);
  if (id === 'mariadb') return new MariaDbDriver(log);
  return new SqliteDriver();
}

function describe(r: PhaseRun): string {
  if (!r.ok) return `FAILED: ${r.error}`;
  const lag = r.lag ? `, lag p99 ${r.lag.lagP99Ms.toFixed(1)} ms` : '';
  const errors = r.errors > 0 ? `, ${r.errors} errors (${r.errorSamples[0]})` : '';
  const p99 = Number.isFinite(r.latencyMs.p99) ? `, p99 ${r.latencyMs.p99.toFixed(1)} ms` : '';
  return (
    `${r.txnPerSecond.toFixed(0)} txn/s${p99}${lag}, ${Math.round(r.diskBytesPerTxn)} B/txn, ` +
    `CPU ${r.cpuMsPerTxn.toFixed(2)} ms/txn (clients ${r.clientCpuMsPerTxn.toFixed(2)})${errors}`
  );
}

async function benchSystem(id: SystemId): Promise<SystemReport> {
  const driver = driverFor(id);
  const report: SystemReport = { id, label: driver.label, ok: true, phases: [], recovery: [] };
  try {
    log(`${id}: starting`);
    let t = performance.now();
    await driver.start();
    report.startMs = performance.now() - t;
    log(`${id}: started in ${(report.startMs / 1000).toFixed(1)} s; loading ${opts.rows} rows`);
    t = performance.now();
    await driver.load(opts.rows);
    report.loadMs = performance.now() - t;
    log(
      `${id}: loaded in ${(report.loadMs / 1000).toFixed(1)} s; warming up (${opts.warmupMs / 1000} s per workload)`,
    );
    for (const name of opts.workloads) {
      // At the most clients, so that every connection (SQLite: worker thread) exists before a measured phase.
      const warm = await driver
        .runClients(workloads[name], Math.max(...opts.clients), opts.warmupMs, opts.rows)
        .catch(() => undefined);
      if (!warm?.latenciesMs.length)
        log(
          `${id}: warm-up ${name}: nothing completed (${warm?.errorSamples[0] ?? 'too slow for the warm-up'})`,
        );
    }
    let failuresInARow = 0;
    for (let run = 1; run <= opts.runs; run++) {
      for (const name of opts.workloads) {
        for (const clients of opts.clients) {
          let phase = report.phases.find((p) => p.workload === name && p.clients === clients);
          if (!phase) {
            phase = { workload: name, clients, runs: [] };
            report.phases.push(phase);
          }
          let result: PhaseRun;
          if (failuresInARow >= consecutiveFailuresMax) {
            result = failedRun(
              run,
              new Error(`skipped after ${consecutiveFailuresMax} failed phases in a row`),
            );
          } else {
            try {
              result = await measurePhase(driver, workloads[name], clients, opts.phaseMs, opts.rows, run);
            } catch (error) {
              result = failedRun(run, error);
            }
            log(`${id}: run ${run}/${opts.runs} ${name} ${clients} client(s): ${describe(result)}`);
            const down = result.ok ? undefined : await probe(driver);
            if (down) log(`${id}: not answering (${down})`);
            failuresInARow = down ? failuresInARow + 1 : 0;
          }
          phase.runs.push(result);
        }
      }
    }
    for (let run = 1; run <= opts.recoveryRuns && failuresInARow < consecutiveFailuresMax; run++) {
      try {
        const result = await driver.measureRecovery(opts.rows, opts.recoveryClients, opts.recoveryWarmupMs);
        report.recovery.push({ run, ok: true, result });
        const back =
          result.replicaBackMs !== undefined
            ? `, replica back at ${Math.round(result.replicaBackMs)} ms`
            : '';
        log(`${id}: recovery ${run}/${opts.recoveryRuns}: ${Math.round(result.recoveryMs)} ms${back}`);
      } catch (error) {
        report.recovery.push({ run, ok: false, error: errorLine(error) });
        log(`${id}: recovery ${run}/${opts.recoveryRuns} FAILED: ${errorLine(error)}`);
      }
    }
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

log(
  `bench/sysbench: ${opts.systems.join(', ')}; ${opts.workloads.join(', ')} at ${opts.clients.join('/')} clients; ` +
    `${opts.rows} rows, ${opts.phaseMs / 1000} s phases, ${opts.runs} runs, ${opts.recoveryRuns} recovery runs`,
);
const systems: SystemReport[] = [];
for (const id of opts.systems) systems.push(await benchSystem(id));
const date = new Date().toISOString();
let profile: ProfileReport | { error: string } | undefined;
if (opts.profile && opts.systems.includes('borealis')) {
  log(`borealis: profile pass (write_only, 8 clients, ${opts.profileMs / 1000} s, node --cpu-prof)`);
  try {
    const dir = join(process.cwd(), 'bench', 'results', `profile-${date.replace(/[:.]/g, '-')}`);
    profile = await profileBorealis(log, opts.rows, 8, opts.profileMs, dir);
  } catch (error) {
    profile = { error: errorLine(error) };
    log(`borealis: profile pass FAILED: ${profile.error}`);
  }
}
const goalList = goals(systems, opts.clients);
const totalSeconds = (performance.now() - benchStarted) / 1000;
const m = machine();

const text = [
  '',
  `bench/sysbench — ${date.slice(0, 10)}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.cpu}; ${opts.rows} rows, ` +
    `${opts.phaseMs / 1000} s per phase, median (min–max) of ${opts.runs} run${opts.runs > 1 ? 's' : ''}; ${totalSeconds.toFixed(0)} s in all`,
  '',
  mainTable(systems, opts.workloads, opts.clients),
  '',
  'txn/s: transactions (point_select: queries) completed in the phase. lag: per heartbeat (one every 10 ms on the',
  'primary), its commit ack → first poll of the replica/reader that sees it. disk B/txn: write_bytes of every process',
  'of the system (/proc/<pid>/io; MariaDB: primary + replica; Borealis: storage nodes, writer, reader, proxy, control',
  "plane) per commit, heartbeats included; it overstates small fsync'd writes (a whole page-cache folio is charged).",
  'device B/txn: bytes the whole machine wrote to its disks (/proc/diskstats) in the phase, per commit: the figure',
  "compared. to storage: redo bytes the writer sent, x6 segments. CPU ms/txn: CPU of the system's processes, not of",
  'the clients (SQLite runs inside the client process).',
  '',
  opts.recoveryRuns > 0 ? recoveryTable(systems) : '',
  '',
  opts.systems.includes('borealis') ? goalsTable(goalList) : '',
  ...(profile
    ? ['', 'error' in profile ? `CPU profile: FAILED: ${profile.error}` : profileText(profile)]
    : []),
].join('\n');
console.log(text);
const file = writeResult('sysbench', {
  date,
  machine: m,
  command: `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim(),
  options: opts,
  totalSeconds,
  systems,
  goals: goalList,
  profile,
});
console.log(`\nresults: ${file}`);
cleanupNow();
process.exit(0);
