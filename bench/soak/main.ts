// `npm run soak`: a long write_only soak of a whole cluster as a user runs it (`borealis up`: control
// plane, six storage nodes in three AZs, writer, one reader, proxy; sysbench write_only through the
// proxy's RDS Data API), to show that nothing grows without bound. Every minute it prints txn/s, and
// for every process its RSS and the disk its data dir uses, and for every storage node its log bytes,
// page-store bytes, index entries and what retains its log. At the end: first vs last minutes.
// Default 30 minutes (`--minutes N`). Stops everything it started, by PID, however it ends.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { cleanupNow } from '../sysbench/processes.ts';
import { BorealisDriver } from '../sysbench/systems/borealis.ts';
import { writeOnly } from '../sysbench/workloads/write-only.ts';

const usage = `usage: npm run soak -- [--minutes N] [--clients N] [--rows N]

A write_only soak of a whole Borealis cluster (borealis up: 6 storage nodes, writer, reader, proxy,
control plane). Prints every minute: txn/s, RSS and data-dir disk use of every process, and each
storage node's log (bytes, page store, index entries, oldest retained LSN and why).

options:
  --minutes N   how long (default 30)
  --clients N   concurrent clients (default 8)
  --rows N      rows in sbtest (default 10000)
  --help        this text`;

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    clients: { type: 'string', default: '8' },
    rows: { type: 'string', default: '10000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
function positiveInt(name: 'minutes' | 'clients' | 'rows'): number {
  const n = Number(values[name]);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`soak: --${name} must be a positive integer, got '${values[name]}'\n\n${usage}`);
    process.exit(2);
  }
  return n;
}
const minutes = positiveInt('minutes');
const clients = positiveInt('clients');
const rows = positiveInt('rows');
const minuteMs = 60_000;

const MiB = 1024 * 1024;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;

/** Resident set size of a process in bytes (undefined: gone). */
function rssBytes(pid: number): number | undefined {
  try {
    const kib = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kib === undefined ? undefined : Number(kib) * 1024;
  } catch {
    return undefined;
  }
}

function argsOf(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return [];
  }
}

function flagOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Bytes a directory tree occupies on disk (allocated blocks, so sparse files count what they use). */
function diskBytes(dir: string): number {
  let total = 0;
  const stack = [dir];
  while (stack.length > 0) {
    const path = stack.pop()!;
    let stat: ReturnType<typeof statSync>;
    try {
      stat = statSync(path);
    } catch {
      continue; // removed meanwhile (log collection deletes files)
    }
    if (stat.isDirectory()) {
      try {
        for (const name of readdirSync(path)) stack.push(join(path, name));
      } catch {
        // gone
      }
    } else total += stat.blocks * 512;
  }
  return total;
}

interface StorageLog {
  bytes: number;
  files: number;
  pageStoreBytes: number;
  segments: { pg: number; oldestRetainedLsn: string; retainedBy: string; indexEntries: number }[];
}

/** A storage node's /health `log` (its HTTP port from the volume config it runs with). */
async function storageLog(args: string[]): Promise<StorageLog | undefined> {
  try {
    const id = flagOf(args, '--id');
    let port = flagOf(args, '--http-port');
    if (port === undefined) {
      const volume = JSON.parse(readFileSync(flagOf(args, '--volume-config')!, 'utf8')) as {
        nodes: { id: string; httpPort: number }[];
      };
      port = String(volume.nodes.find((n) => n.id === id)!.httpPort);
    }
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { log?: StorageLog };
    return health.log;
  } catch {
    return undefined;
  }
}

interface MinuteFigures {
  minute: number;
  txnPerSecond: number;
  errors: number;
  processes: { role: string; pid: number; rssBytes: number | undefined; diskBytes: number | undefined }[];
  storage: { role: string; log: StorageLog | undefined }[];
}

async function measure(driver: BorealisDriver, minute: number, txnPerSecond: number, errors: number) {
  const { all, roles } = await driver.processes();
  const figures: MinuteFigures = { minute, txnPerSecond, errors, processes: [], storage: [] };
  for (const pid of all) {
    const args = argsOf(pid);
    const dataDir = flagOf(args, '--data-dir');
    const role = roles.get(pid) ?? 'other';
    figures.processes.push({
      role,
      pid,
      rssBytes: rssBytes(pid),
      diskBytes: dataDir === undefined ? undefined : diskBytes(dataDir),
    });
    if (role.startsWith('storage')) figures.storage.push({ role, log: await storageLog(args) });
  }
  figures.processes.sort((a, b) => a.role.localeCompare(b.role));
  figures.storage.sort((a, b) => a.role.localeCompare(b.role));
  return figures;
}

function print(f: MinuteFigures): void {
  const rssTotal = f.processes.reduce((s, p) => s + (p.rssBytes ?? 0), 0);
  const diskTotal = f.processes.reduce((s, p) => s + (p.diskBytes ?? 0), 0);
  console.log(
    `\n[minute ${f.minute}/${minutes}] ${f.txnPerSecond.toFixed(1)} txn/s, ${f.errors} errors; ` +
      `RSS ${mib(rssTotal)}, data dirs ${mib(diskTotal)} in all`,
  );
  for (const p of f.processes) {
    console.log(
      `  ${p.role.padEnd(22)} pid ${String(p.pid).padEnd(8)} RSS ${mib(p.rssBytes ?? 0).padStart(10)}` +
        (p.diskBytes === undefined ? '' : `  disk ${mib(p.diskBytes).padStart(10)}`),
    );
  }
  for (const s of f.storage) {
    if (!s.log) {
      console.log(`  ${s.role.padEnd(22)} log: no answer`);
      continue;
    }
    const entries = s.log.segments.reduce((n, x) => n + x.indexEntries, 0);
    const retained = [...new Set(s.log.segments.map((x) => x.retainedBy))].join(',');
    console.log(
      `  ${s.role.padEnd(22)} log ${mib(s.log.bytes).padStart(10)} in ${s.log.files} files, page store ` +
        `${mib(s.log.pageStoreBytes)}, ${entries} index entries, retained by ${retained}`,
    );
  }
}

function summary(all: MinuteFigures[]): void {
  if (all.length === 0) return;
  const first = all[0]!;
  const last = all[all.length - 1]!;
  const sum = (f: MinuteFigures, pick: (p: MinuteFigures['processes'][number]) => number | undefined) =>
    f.processes.reduce((s, p) => s + (pick(p) ?? 0), 0);
  const logs = (f: MinuteFigures) => f.storage.reduce((s, x) => s + (x.log?.bytes ?? 0), 0);
  console.log('\nsoak summary (first minute → last minute)');
  console.log(`  txn/s           ${first.txnPerSecond.toFixed(1)} → ${last.txnPerSecond.toFixed(1)}`);
  console.log(
    `  RSS, all        ${mib(sum(first, (p) => p.rssBytes))} → ${mib(sum(last, (p) => p.rssBytes))}`,
  );
  console.log(
    `  data dirs, all  ${mib(sum(first, (p) => p.diskBytes))} → ${mib(sum(last, (p) => p.diskBytes))}`,
  );
  console.log(`  storage logs    ${mib(logs(first))} → ${mib(logs(last))}`);
  console.log(
    '  (the writer sends PGMRPL as the VDL of --read-point-floor-window-ms ago, 5 minutes by default: ' +
      'logs grow for that long, then level off)',
  );
}

const driver = new BorealisDriver((line) => console.log(line));
const figures: MinuteFigures[] = [];
try {
  console.log(
    `soak: write_only, ${clients} clients, ${rows} rows, ${minutes} minute(s); starting the cluster`,
  );
  await driver.start();
  await driver.load(rows);
  for (let minute = 1; minute <= minutes; minute++) {
    const result = await driver.runClients(writeOnly, clients, minuteMs, rows);
    const txnPerSecond = result.latenciesMs.length / (result.elapsedMs / 1000);
    const f = await measure(driver, minute, txnPerSecond, result.errors);
    figures.push(f);
    print(f);
    if (result.errorSamples.length > 0) console.log(`  errors: ${result.errorSamples.join(' | ')}`);
  }
  summary(figures);
} finally {
  await driver.stop();
  cleanupNow();
}
