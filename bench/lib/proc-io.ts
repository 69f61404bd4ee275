// Per-process accounting from /proc for benchmarks: disk bytes written (write_bytes of
// /proc/<pid>/io) and CPU time (utime + stime of /proc/<pid>/stat), summed over every process of a
// system under test, and the process tree that makes up a system started by someone else.
import { existsSync, readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux everywhere). */
const clockTicksPerSecond = 100;

export interface ProcessSample {
  /** Bytes this process caused to be sent to the storage layer (/proc/<pid>/io write_bytes). */
  writeBytes: number;
  /** User + system CPU time in ms. */
  cpuMs: number;
}

/** One reading of a set of processes; a process that is gone (or unreadable) is absent. */
export type ProcessSnapshot = Map<number, ProcessSample>;

export function sampleProcess(pid: number | 'self'): ProcessSample | undefined {
  try {
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    const writeBytes = Number(/^write_bytes: (\d+)$/m.exec(io)?.[1] ?? Number.NaN);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ") ": state is field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (14), stime (15)
    if (!Number.isFinite(writeBytes) || !Number.isFinite(ticks)) return undefined;
    return { writeBytes, cpuMs: (ticks * 1000) / clockTicksPerSecond };
  } catch {
    return undefined;
  }
}

export function snapshot(pids: Iterable<number>): ProcessSnapshot {
  const out: ProcessSnapshot = new Map();
  for (const pid of pids) {
    const sample = sampleProcess(pid);
    if (sample) out.set(pid, sample);
  }
  return out;
}

export interface ProcessDelta {
  writeBytes: number;
  cpuMs: number;
  /** Per PID, for breakdowns. */
  perPid: Map<number, ProcessSample>;
}

/**
 * What the processes did between two snapshots. A process that appeared in between (a restart)
 * counts from zero; one that disappeared is lost (its last counters are unknown) — restarts inside
 * a phase therefore undercount, which the callers note.
 */
export function delta(before: ProcessSnapshot, after: ProcessSnapshot): ProcessDelta {
  let writeBytes = 0;
  let cpuMs = 0;
  const perPid = new Map<number, ProcessSample>();
  for (const [pid, a] of after) {
    const b = before.get(pid) ?? { writeBytes: 0, cpuMs: 0 };
    const d = { writeBytes: Math.max(0, a.writeBytes - b.writeBytes), cpuMs: Math.max(0, a.cpuMs - b.cpuMs) };
    perPid.set(pid, d);
    writeBytes += d.writeBytes;
    cpuMs += d.cpuMs;
  }
  return { writeBytes, cpuMs, perPid };
}

/** pid → parent pid of every process on the machine. */
export function parentTable(): Map<number, number> {
  const out = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.set(Number(name), ppid);
    } catch {
      // exited while listing
    }
  }
  return out;
}

/** The command line of a process, for reports ('' when it is gone). */
export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/**
 * Every process of a system that we know some PIDs of: climb from each known PID to the top of its
 * tree, then take every descendant of those tops. Climbing stops below PID 1, below this process's
 * own ancestors and at any parent that `belongs` rejects (its command line), so a shared subreaper
 * and other people's processes are never included. Finds a control plane and a proxy that status
 * output does not list, as long as they share an ancestor with the listed processes.
 */
export function systemProcessTree(
  knownPids: Iterable<number>,
  belongs: (commandLine: string) => boolean,
): number[] {
  const known = [...knownPids];
  const parents = parentTable();
  const own = new Set<number>();
  for (let pid = process.pid; pid > 1 && !own.has(pid); pid = parents.get(pid) ?? 0) own.add(pid);
  const tops = new Set<number>();
  for (const pid of known) {
    if (!parents.has(pid)) continue;
    let top = pid;
    for (let steps = 0; steps < 64; steps++) {
      const parent = parents.get(top) ?? 0;
      if (parent <= 1 || own.has(parent) || !parents.has(parent)) break;
      if (!belongs(commandLine(parent))) break;
      top = parent;
    }
    if (!own.has(top)) tops.add(top);
  }
  const children = new Map<number, number[]>();
  for (const [pid, ppid] of parents) {
    const list = children.get(ppid);
    if (list) list.push(pid);
    else children.set(ppid, [pid]);
  }
  const out = new Set<number>(known.filter((pid) => parents.has(pid) && !own.has(pid)));
  const stack = [...tops, ...out];
  const visited = new Set<number>();
  while (stack.length > 0) {
    const pid = stack.pop()!;
    if (visited.has(pid) || own.has(pid)) continue;
    visited.add(pid);
    if (!out.has(pid) && !belongs(commandLine(pid))) continue;
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Bytes written to the machine's block devices so far (whole disks in /proc/diskstats, sectors of
 * 512 bytes): what reached the disks, whoever wrote it. Per-process write_bytes overstates small
 * writes on this kernel — a 4 KiB pwrite + fdatasync into a cached file is charged a whole page-cache
 * folio (up to 1–2 MiB) — while InnoDB's O_DIRECT writes are charged as written, so the two systems'
 * write_bytes do not compare. Meaningful when nothing else writes during the phase.
 */
export function deviceWriteBytes(): number {
  let sectors = 0;
  for (const line of readFileSync('/proc/diskstats', 'utf8').split('\n')) {
    const f = line.trim().split(/\s+/);
    const name = f[2];
    if (!name || /^(loop|ram|zram|dm-)/.test(name) || !existsSync(`/sys/block/${name}`)) continue;
    sectors += Number(f[9]);
  }
  return sectors * 512;
}
