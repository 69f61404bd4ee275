// Reading V8 .cpuprofile files (node --cpu-prof) for benchmark notes: self time per function and
// per source file, as shares of the busy (non-idle) time.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface SelfTime {
  name: string;
  /** file:line, shortened to the path inside the repository or package. */
  where: string;
  selfMs: number;
  /** Share of busy time (everything but "(idle)"), 0..1. */
  share: number;
}

export interface ProfileSummary {
  /** Whether only the samples inside the requested window were counted (else the whole profile). */
  windowed: boolean;
  totalMs: number;
  busyMs: number;
  functions: SelfTime[];
  files: SelfTime[];
}

/** The part of a script URL worth printing: inside node_modules/<pkg>, or from the repo's top folders. */
export function shortLocation(url: string): string {
  if (url === '') return '(native)';
  const path = url.replace(/^file:\/\//, '');
  const nodeModules = path.lastIndexOf('node_modules/');
  if (nodeModules >= 0) return path.slice(nodeModules + 'node_modules/'.length);
  const repo = /\/(core|services|functions|embedded|cli|bench|integration)\/.*/.exec(path);
  if (repo) return repo[0].slice(1);
  if (path.startsWith('node:')) return path;
  return path.split('/').slice(-2).join('/');
}

/** Microseconds of CLOCK_MONOTONIC, the clock V8 stamps profile samples with. */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * Self time per function and per file. With `window` (monotonicMicros() at its start and end, taken
 * in any process on the machine) only the samples inside it count — unless none do, then all.
 */
export function summarizeProfile(
  file: string,
  top: number,
  window?: { fromUs: number; toUs: number },
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const collect = (inside: (t: number) => boolean) => {
    const selfUs = new Map<number, number>();
    if (profile.samples && profile.timeDeltas) {
      let t = profile.startTime;
      for (let i = 0; i < profile.samples.length; i++) {
        t += profile.timeDeltas[i] ?? 0;
        if (!inside(t)) continue;
        const id = profile.samples[i]!;
        // A sample's time is the delta to the next sample.
        const us = profile.timeDeltas[i + 1] ?? 0;
        selfUs.set(id, (selfUs.get(id) ?? 0) + Math.max(0, us));
      }
    }
    return selfUs;
  };
  let selfUs = window ? collect((t) => t >= window.fromUs && t <= window.toUs) : new Map<number, number>();
  const windowed = selfUs.size > 0;
  if (!windowed) selfUs = collect(() => true);
  const functions = new Map<string, { name: string; where: string; us: number }>();
  const files = new Map<string, number>();
  let totalUs = 0;
  let idleUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame) continue;
    totalUs += us;
    if (frame.functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const where = shortLocation(frame.url);
    const name = frame.functionName || '(anonymous)';
    const key = `${name}@${where}:${frame.lineNumber}`;
    const entry = functions.get(key) ?? { name, where: `${where}:${frame.lineNumber + 1}`, us: 0 };
    entry.us += us;
    functions.set(key, entry);
    const fileKey = frame.url === '' ? name : where;
    files.set(fileKey, (files.get(fileKey) ?? 0) + us);
  }
  const busyUs = Math.max(1, totalUs - idleUs);
  const ranked = (entries: { name: string; where: string; us: number }[]) =>
    entries
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ name: e.name, where: e.where, selfMs: e.us / 1000, share: e.us / busyUs }));
  return {
    windowed,
    totalMs: totalUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    functions: ranked([...functions.values()]),
    files: ranked([...files].map(([where, us]) => ({ name: where, where, us }))),
  };
}
