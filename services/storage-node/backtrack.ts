// A storage node's part of backtrack (docs/adr/015-backtrack.md): the volume's backtrack marker list,
// kept durably beside the log (backtrack.json: temp file, fsync, rename, fsync of the directory), the
// void ranges it makes, the clipping of truncations by it, and the admin route the control plane
// pushes it through. The list is small (one entry per backtrack) and only grows.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  type BacktrackMarker,
  clipTruncation,
  currentTimeline,
  type LsnRange,
  markerListProblem,
  type Timeline,
  voidRanges,
} from '../../core/backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { ServiceRequest, ServiceResponse } from '../../core/http/service-http.ts';
import { LSN_MAX, type Lsn } from '../../core/lsn.ts';

const fileName = 'backtrack.json';
const formatVersion = 1;
/** A bound on the list: 72 h of window at one backtrack a minute is 4,320; a bigger list is a mistake. */
export const backtrackMarkersMax = 10_000;

export interface TruncationWithEpoch extends LsnRange {
  epoch: bigint;
}

/** The void ranges of the markers' timeline (all finite: the timeline ends open above the last resume). */
export function markerVoids(markers: readonly BacktrackMarker[]): LsnRange[] {
  return voidRanges(currentTimeline(markers)).filter((r) => r.uptoLsn < LSN_MAX);
}

/** A truncation less the parts the markers govern, as truncations of its epoch (possibly none). */
export function clipByMarkers(
  t: TruncationWithEpoch,
  markers: readonly BacktrackMarker[],
): TruncationWithEpoch[] {
  if (markers.length === 0) return [{ ...t }];
  return clipTruncation(t, markers).map((r) => ({ epoch: t.epoch, ...r }));
}

/** The marker voids as truncation ranges (of the last marker's epoch), for gossip and recovery. */
export function markerVoidsAsTruncations(markers: readonly BacktrackMarker[]): TruncationWithEpoch[] {
  const last = markers[markers.length - 1];
  if (!last) return [];
  return markerVoids(markers).map((r) => ({ epoch: last.epoch, ...r }));
}

/**
 * Whether `next` may replace `current`: a valid list that extends it (same markers first). Equal
 * lists are fine (a retry); a shorter or different one is refused (a stale control plane).
 */
export function markerListUpdateProblem(
  current: readonly BacktrackMarker[],
  next: readonly BacktrackMarker[],
): string | undefined {
  const problem = markerListProblem(next);
  if (problem) return problem;
  if (next.length > backtrackMarkersMax) return `more than ${backtrackMarkersMax} markers`;
  if (next.length < current.length)
    return `the node already holds ${current.length} markers, ${next.length} sent`;
  for (let i = 0; i < current.length; i++) {
    if (JSON.stringify(toJson(current[i]!)) !== JSON.stringify(toJson(next[i]!))) {
      return `marker ${i + 1} differs from the one this node holds`;
    }
  }
  return undefined;
}

interface MarkerJson {
  seq: number;
  epoch: string;
  appliedAtMs: number;
  targetLsn: string;
  targetTimeMs: number;
  fromLsn: string;
}

function toJson(m: BacktrackMarker): MarkerJson {
  return {
    seq: m.seq,
    epoch: m.epoch.toString(),
    appliedAtMs: m.appliedAtMs,
    targetLsn: m.targetLsn.toString(),
    targetTimeMs: m.targetTimeMs,
    fromLsn: m.fromLsn.toString(),
  };
}

/** Parses markers from JSON (the file, or the control plane's request); throws INVALID_ARGUMENT. */
export function markersFromJson(value: unknown): BacktrackMarker[] {
  const bad = (why: string) => new BorealisError(ErrorCode.INVALID_ARGUMENT, `backtrack markers: ${why}`);
  if (!Array.isArray(value)) throw bad('expected an array');
  if (value.length > backtrackMarkersMax) throw bad(`more than ${backtrackMarkersMax} markers`);
  const digits = /^\d{1,20}$/;
  return value.map((raw, i) => {
    const m = raw as Partial<MarkerJson>;
    const lsnOk = (x: unknown) => typeof x === 'string' && digits.test(x) && BigInt(x) <= LSN_MAX;
    if (
      typeof m !== 'object' ||
      m === null ||
      !Number.isSafeInteger(m.seq) ||
      !lsnOk(m.epoch) ||
      !Number.isSafeInteger(m.appliedAtMs) ||
      !lsnOk(m.targetLsn) ||
      !Number.isSafeInteger(m.targetTimeMs) ||
      !lsnOk(m.fromLsn)
    ) {
      throw bad(`marker ${i} is malformed`);
    }
    return {
      seq: m.seq!,
      epoch: BigInt(m.epoch!),
      appliedAtMs: m.appliedAtMs!,
      targetLsn: BigInt(m.targetLsn!),
      targetTimeMs: m.targetTimeMs!,
      fromLsn: BigInt(m.fromLsn!),
    };
  });
}

export function markersToJson(markers: readonly BacktrackMarker[]): MarkerJson[] {
  return markers.map(toJson);
}

export function readBacktrackMarkers(dataDir: string): BacktrackMarker[] {
  const path = join(dataDir, fileName);
  if (!existsSync(path)) return [];
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as { version: number; markers: unknown };
    if (json.version !== formatVersion) throw new Error(`format version ${json.version}`);
    const markers = markersFromJson(json.markers);
    const problem = markerListProblem(markers);
    if (problem) throw new Error(problem);
    return markers;
  } catch (error) {
    // Written by rename only, so it is whole or absent: a broken one is a broken disk, not a crash.
    throw new BorealisError(ErrorCode.INTERNAL, `backtrack marker file ${path} is unreadable`, {
      cause: error,
      context: { path },
    });
  }
}

/** Writes the list durably before the node acts on it (an acknowledgement means fsync'd). */
export function writeBacktrackMarkers(dataDir: string, markers: readonly BacktrackMarker[]): void {
  const path = join(dataDir, fileName);
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, JSON.stringify({ version: formatVersion, markers: markersToJson(markers) }));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dirFd = openSync(dataDir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** What the admin route needs of the node. */
export interface BacktrackTarget {
  readonly backtrackMarkers: readonly BacktrackMarker[];
  applyBacktrackMarkers(markers: BacktrackMarker[]): Promise<void>;
  newestCommitAtOrBefore(
    timeline: Timeline,
    timeMs: number,
  ): { pg: number; lsn: Lsn; commitTimeMs: number }[];
}

/** A timeline from JSON ([[aboveLsn, uptoLsn], …] as decimal strings); throws INVALID_ARGUMENT. */
export function timelineFromJson(value: unknown): Timeline {
  const bad = new BorealisError(ErrorCode.INVALID_ARGUMENT, 'timeline: expected [[aboveLsn, uptoLsn], …]');
  if (!Array.isArray(value) || value.length === 0 || value.length > backtrackMarkersMax + 1) throw bad;
  const digits = /^\d{1,20}$/;
  const out = value.map((pair) => {
    if (
      !Array.isArray(pair) ||
      pair.length !== 2 ||
      !pair.every((x) => typeof x === 'string' && digits.test(x))
    ) {
      throw bad;
    }
    return { aboveLsn: BigInt(pair[0] as string), uptoLsn: BigInt(pair[1] as string) };
  });
  for (let i = 0; i < out.length; i++) {
    const r = out[i]!;
    if (r.aboveLsn >= r.uptoLsn || r.uptoLsn > LSN_MAX || (i > 0 && r.aboveLsn <= out[i - 1]!.uptoLsn))
      throw bad;
  }
  return out;
}

export function timelineToJson(timeline: Timeline): [string, string][] {
  return timeline.map((r) => [r.aboveLsn.toString(), r.uptoLsn.toString()]);
}

/**
 * The storage node's admin route: `GET /admin/backtrack` lists the markers it holds, `POST` with
 * `{ markers: [...] }` makes a longer list durable and applies it (200 once fsync'd and applied).
 */
export async function backtrackRoute(
  node: BacktrackTarget,
  request: ServiceRequest,
): Promise<ServiceResponse | undefined> {
  if (request.url.pathname === '/admin/backtrack/target' && request.method === 'POST') {
    // The newest commit on a timeline at or before a time, per hosted segment (the control plane's
    // search for a backtrack's target).
    try {
      const body = (request.body ?? {}) as { timeline?: unknown; timeMs?: unknown };
      const timeline = timelineFromJson(body.timeline);
      if (!Number.isSafeInteger(body.timeMs)) throw new BorealisError(ErrorCode.INVALID_ARGUMENT, 'timeMs');
      const found = node.newestCommitAtOrBefore(timeline, body.timeMs as number);
      return {
        status: 200,
        body: {
          segments: found.map((f) => ({ pg: f.pg, lsn: f.lsn.toString(), commitTimeMs: f.commitTimeMs })),
        },
      };
    } catch (error) {
      if (!(error instanceof BorealisError)) throw error;
      return {
        status: error.code === ErrorCode.INVALID_ARGUMENT ? 400 : 503,
        body: { error: error.code, message: error.message },
      };
    }
  }
  if (request.url.pathname !== '/admin/backtrack') return undefined;
  if (request.method === 'GET')
    return { status: 200, body: { markers: markersToJson(node.backtrackMarkers) } };
  if (request.method !== 'POST') return { status: 405, body: { error: 'GET or POST' } };
  try {
    const markers = markersFromJson((request.body as { markers?: unknown } | undefined)?.markers);
    await node.applyBacktrackMarkers(markers);
    return { status: 200, body: { markers: node.backtrackMarkers.length } };
  } catch (error) {
    if (!(error instanceof BorealisError)) throw error;
    const status =
      error.code === ErrorCode.STALE_EPOCH ? 409 : error.code === ErrorCode.INVALID_ARGUMENT ? 400 : 503;
    return { status, body: { error: error.code, message: error.message } };
  }
}
