// A storage node's part of backtrack (docs/adr/015-backtrack.md): the volume's backtrack marker list,
// kept durably beside the log (backtrack.json: temp file, fsync, rename, fsync of the directory), the
// void ranges it makes, the clipping of truncations by it, and the admin route the control plane
// pushes it through. The list is small (one entry per backtrack) and only grows.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  backtrackMarkersMax,
  markersFromJson,
  markersToJson,
  markerToJson,
  timelineFromJson,
} from '../../core/backtrack/json.ts';
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
    if (JSON.stringify(markerToJson(current[i]!)) !== JSON.stringify(markerToJson(next[i]!))) {
      return `marker ${i + 1} differs from the one this node holds`;
    }
  }
  return undefined;
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
  applyBacktrackMarkers(markers: BacktrackMarker[], options?: { catchUp?: boolean }): Promise<void>;
  newestCommitAtOrBefore(
    timeline: Timeline,
    timeMs: number,
  ): { pg: number; lsn: Lsn; commitTimeMs: number }[];
}

/**
 * The storage node's admin route: `GET /admin/backtrack` lists the markers it holds, `POST` with
 * `{ markers: [...] }` makes a longer list durable and applies it (200 once fsync'd and applied);
 * `catchUp: true` marks the control plane's re-push of completed markers (taken under any epoch).
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
    const body = request.body as { markers?: unknown; catchUp?: unknown } | undefined;
    const markers = markersFromJson(body?.markers);
    if (body?.catchUp !== undefined && typeof body.catchUp !== 'boolean')
      throw new BorealisError(ErrorCode.INVALID_ARGUMENT, 'backtrack markers: catchUp must be true or false');
    await node.applyBacktrackMarkers(markers, { catchUp: body?.catchUp === true });
    return { status: 200, body: { markers: node.backtrackMarkers.length } };
  } catch (error) {
    if (!(error instanceof BorealisError)) throw error;
    const status =
      error.code === ErrorCode.STALE_EPOCH ? 409 : error.code === ErrorCode.INVALID_ARGUMENT ? 400 : 503;
    return { status, body: { error: error.code, message: error.message } };
  }
}
