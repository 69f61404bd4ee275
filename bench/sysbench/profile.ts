// Where Borealis spends its CPU under write_only: a separate, short Borealis run with every process
// started under `node --cpu-prof` (BOREALIS_NODE_FLAGS), stopped with `borealis down` so that the
// profiles get written; then CPU per process and the top functions of the writer and one storage
// node. The profiles cover each process's whole life (start and load included), so the load phase
// is made long enough to dominate. The writer's and that storage node's .cpuprofile files are
// copied next to the results (open them in Chrome DevTools or speedscope).
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monotonicMicros, type ProfileSummary, summarizeProfile } from '../lib/cpuprofile.ts';
import { table } from '../lib/stats.ts';
import { formatFigure } from '../lib/summary.ts';
import { removeOnExit } from './processes.ts';
import { BorealisDriver } from './systems/borealis.ts';
import { writeOnly } from './workloads/write-only.ts';

/** Functions and files listed per profiled process. */
const topEntries = 12;

export interface ProcessProfile {
  role: string;
  pid: number;
  /** Busy CPU during the write_only phase (or over the process's life, see windowed), ms. */
  busyMs: number;
  /** busyMs counts only the phase (false: the profile had no samples in it, so the whole life). */
  windowed: boolean;
  summary?: ProfileSummary;
  copiedTo?: string;
}

export interface ProfileReport {
  clients: number;
  durationMs: number;
  transactions: number;
  processes: ProcessProfile[];
}

export async function profileBorealis(
  log: (line: string) => void,
  rows: number,
  clients: number,
  durationMs: number,
  resultsDir: string,
): Promise<ProfileReport> {
  const dir = mkdtempSync(join(tmpdir(), 'borealis-bench-profile-'));
  removeOnExit(dir);
  const driver = new BorealisDriver(log, { nodeFlags: `--cpu-prof --cpu-prof-dir=${dir}` });
  let roles = new Map<number, string>();
  let transactions = 0;
  let window: { fromUs: number; toUs: number } | undefined;
  try {
    await driver.start();
    await driver.load(rows);
    roles = (await driver.processes()).roles;
    const fromUs = monotonicMicros();
    const result = await driver.runClients(writeOnly, clients, durationMs, rows);
    window = { fromUs, toUs: monotonicMicros() };
    transactions = result.latenciesMs.length;
  } finally {
    await driver.stop();
  }
  const processes: ProcessProfile[] = [];
  for (const name of readdirSync(dir)) {
    // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile; thread 0 is the main thread (others: the
    // tsx loader's hooks thread, which only works at start-up).
    const match = /^CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(name);
    const pid = Number(match?.[1]);
    const role = roles.get(pid);
    if (!role || match?.[2] !== '0') continue;
    const summary = summarizeProfile(join(dir, name), topEntries, window);
    processes.push({ role, pid, busyMs: summary.busyMs, windowed: summary.windowed, summary });
  }
  processes.sort((a, b) => b.busyMs - a.busyMs);
  // Keep the detail (and the files) only for the writer and one storage node.
  const keep = new Set(
    [
      processes.find((p) => p.role.startsWith('writer')),
      processes.find((p) => p.role.startsWith('storage')),
    ].filter((p): p is ProcessProfile => p !== undefined),
  );
  mkdirSync(resultsDir, { recursive: true });
  for (const p of processes) {
    if (!keep.has(p)) {
      delete p.summary;
      continue;
    }
    const file = readdirSync(dir).find((n) => n.includes(`.${p.pid}.0.`));
    if (file) {
      p.copiedTo = join(resultsDir, `${p.role.replace(/\s+/g, '-')}.cpuprofile`);
      copyFileSync(join(dir, file), p.copiedTo);
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return { clients, durationMs, transactions, processes };
}

export function profileText(report: ProfileReport): string {
  const lines: string[] = [
    `CPU profile: Borealis write_only, ${report.clients} clients for ${report.durationMs / 1000} s ` +
      `(${report.transactions} transactions), node --cpu-prof in every process; busy CPU during the phase` +
      `${report.processes.some((p) => !p.windowed) ? ' (or the whole life, where marked *)' : ''}:`,
    '',
    table(
      ['process', 'busy CPU ms'],
      report.processes.map((p) => [
        `${p.role} (pid ${p.pid})`,
        `${formatFigure(p.busyMs)}${p.windowed ? '' : ' *'}`,
      ]),
    ),
  ];
  if (report.processes.length === 0)
    lines.push('(no profiles were written: did `borealis down` stop the processes gracefully?)');
  for (const p of report.processes.filter((x) => x.summary)) {
    const s = p.summary!;
    lines.push(
      '',
      `${p.role}: top functions by self time (share of ${formatFigure(s.busyMs)} ms busy)${p.copiedTo ? `; profile: ${p.copiedTo}` : ''}`,
      '',
      table(
        ['function', 'where', 'self ms', 'share'],
        s.functions.map((f) => [f.name, f.where, formatFigure(f.selfMs), `${(f.share * 100).toFixed(1)}%`]),
      ),
      '',
      table(
        ['file / package', 'self ms', 'share'],
        s.files.map((f) => [f.name, formatFigure(f.selfMs), `${(f.share * 100).toFixed(1)}%`]),
      ),
    );
  }
  return lines.join('\n');
}
