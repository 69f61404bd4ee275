// The command line of `npm run bench`: which systems, workloads and client counts, how long, how
// many runs; `--quick` and the full run are two presets of the same knobs.
import { parseArgs } from 'node:util';
import { type SystemId, systemIds, type WorkloadName } from './types.ts';
import { workloadNames } from './workloads/index.ts';

export interface Options {
  quick: boolean;
  /** workloads: the built-in clients (default); sysbench: Debian's sysbench on each MySQL endpoint. */
  driver: 'workloads' | 'sysbench';
  systems: SystemId[];
  workloads: WorkloadName[];
  clients: number[];
  rows: number;
  /** Length of one timed phase (one workload at one client count, one run). */
  phaseMs: number;
  /** Unmeasured load after loading the rows (each workload at the most clients), for JITs and caches. */
  warmupMs: number;
  runs: number;
  recoveryRuns: number;
  /** Write load before the kill in each recovery run. */
  recoveryWarmupMs: number;
  recoveryClients: number;
  /** A separate Borealis run under node --cpu-prof (write_only), reported as "where the time goes". */
  profile: boolean;
  profileMs: number;
}

export const usage = `usage: npm run bench -- [options]

Borealis, MariaDB 10.11 + a binlog replica, and SQLite (better-sqlite3, WAL, synchronous=FULL), one
after the other on this machine, with the same sysbench-style workloads; prints one table (median
of the runs, with min–max) and writes bench/results/sysbench-<date>.json.

  --quick                 ~2-3 minutes: 2,000 rows, 1 s phases (default: 10,000 rows, 6 s phases, ~12 min)
  --systems LIST          borealis,mariadb,sqlite (default: all three)
  --workloads LIST        write_only,point_select,read_write (default: all three)
  --clients LIST          concurrent clients per phase (default: 1,8,32)
  --rows N                rows in sbtest
  --seconds S             length of each phase
  --runs N                runs of every phase; each figure is the median (default: 3)
  --recovery-runs N       SIGKILL-the-primary runs per system, 0 to skip (default: 3)
  --profile, --no-profile after the runs, profile Borealis (writer, storage node) under write_only
                          with node --cpu-prof (default: on for the full run, off with --quick)
  --driver sysbench       run Debian's sysbench (oltp_* scripts, unmodified) against each system's
                          MySQL endpoint instead (Borealis: the proxy's; no SQLite, runs, recovery or
                          profile); default: the built-in workloads
  --help                  this text

Needs root for MariaDB (apt-get install -y mariadb-server when mariadbd is missing; mariadbd runs
with --user=root). Every process it starts is stopped at the end, by PID; everything listens on
127.0.0.1 only.`;

function list<T extends string>(raw: string, allowed: readonly T[], flag: string): T[] {
  const items = raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items)
    if (!allowed.includes(item as T))
      throw new Error(`${flag}: unknown '${item}' (one of ${allowed.join(', ')})`);
  if (items.length === 0) throw new Error(`${flag}: empty list`);
  return items as T[];
}

function positive(raw: string | undefined, flag: string, fallback: number, zeroOk = false): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0 || (!zeroOk && n === 0))
    throw new Error(`${flag}: expected a positive number, got '${raw}'`);
  return n;
}

/** Parsed options, or 'help'. Throws a one-line error on a bad flag. */
export function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      systems: { type: 'string' },
      workloads: { type: 'string' },
      clients: { type: 'string' },
      rows: { type: 'string' },
      seconds: { type: 'string' },
      runs: { type: 'string' },
      'recovery-runs': { type: 'string' },
      profile: { type: 'boolean' },
      'no-profile': { type: 'boolean' },
      driver: { type: 'string', default: 'workloads' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const quick = values.quick === true;
  const clients = values.clients
    ? values.clients.split(',').map((c) => positive(c.trim(), '--clients', 1))
    : [1, 8, 32];
  if (clients.some((c) => !Number.isInteger(c) || c > 256))
    throw new Error('--clients: integers from 1 to 256');
  const rows = positive(values.rows, '--rows', quick ? 2_000 : 10_000);
  if (!Number.isInteger(rows) || rows < 200) throw new Error('--rows: an integer of at least 200');
  const runs = positive(values.runs, '--runs', 3);
  const recoveryRuns = positive(values['recovery-runs'], '--recovery-runs', 3, true);
  if (values.driver !== 'workloads' && values.driver !== 'sysbench')
    throw new Error(`--driver: 'workloads' or 'sysbench', got '${values.driver}'`);
  return {
    quick,
    driver: values.driver,
    systems: values.systems ? list(values.systems, systemIds, '--systems') : [...systemIds],
    workloads: values.workloads ? list(values.workloads, workloadNames, '--workloads') : [...workloadNames],
    clients,
    rows,
    phaseMs: positive(values.seconds, '--seconds', quick ? 1 : 6) * 1000,
    runs: Math.round(runs),
    warmupMs: quick ? 1_000 : 4_000,
    recoveryRuns: Math.round(recoveryRuns),
    recoveryWarmupMs: quick ? 500 : 3_000,
    recoveryClients: 8,
    profile: values['no-profile'] ? false : (values.profile ?? !quick),
    profileMs: quick ? 5_000 : 20_000,
  };
}
