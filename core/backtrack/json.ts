// Backtrack markers and timelines as JSON (LSNs and epochs as decimal strings: they are 64-bit): the
// storage node's marker file and admin route, the control plane's history, and the marker objects the
// writer archives beside the log in S3 (so a restore follows the timeline, ADR 015) all use it.
import { BorealisError, ErrorCode } from '../errors.ts';
import { LSN_MAX } from '../lsn.ts';
import type { BacktrackMarker, Timeline } from './timeline.ts';

/** A marker list never grows past this (the control plane refuses the backtrack that would). */
export const backtrackMarkersMax = 10_000;

export interface MarkerJson {
  seq: number;
  epoch: string;
  appliedAtMs: number;
  targetLsn: string;
  targetTimeMs: number;
  fromLsn: string;
}

export function markerToJson(m: BacktrackMarker): MarkerJson {
  return {
    seq: m.seq,
    epoch: m.epoch.toString(),
    appliedAtMs: m.appliedAtMs,
    targetLsn: m.targetLsn.toString(),
    targetTimeMs: m.targetTimeMs,
    fromLsn: m.fromLsn.toString(),
  };
}

export function markersToJson(markers: readonly BacktrackMarker[]): MarkerJson[] {
  return markers.map(markerToJson);
}

const digits = /^\d{1,20}$/;
const lsnOk = (x: unknown) => typeof x === 'string' && digits.test(x) && BigInt(x) <= LSN_MAX;

/** One marker from JSON; throws INVALID_ARGUMENT naming `what`. */
export function markerFromJson(raw: unknown, what: string): BacktrackMarker {
  const m = raw as Partial<MarkerJson>;
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
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `backtrack markers: ${what} is malformed`);
  }
  return {
    seq: m.seq!,
    epoch: BigInt(m.epoch!),
    appliedAtMs: m.appliedAtMs!,
    targetLsn: BigInt(m.targetLsn!),
    targetTimeMs: m.targetTimeMs!,
    fromLsn: BigInt(m.fromLsn!),
  };
}

/** Parses markers from JSON (the file, or the control plane's request); throws INVALID_ARGUMENT. */
export function markersFromJson(value: unknown): BacktrackMarker[] {
  const bad = (why: string) => new BorealisError(ErrorCode.INVALID_ARGUMENT, `backtrack markers: ${why}`);
  if (!Array.isArray(value)) throw bad('expected an array');
  if (value.length > backtrackMarkersMax) throw bad(`more than ${backtrackMarkersMax} markers`);
  return value.map((raw, i) => markerFromJson(raw, `marker ${i}`));
}

/** A timeline from JSON ([[aboveLsn, uptoLsn], …] as decimal strings); throws INVALID_ARGUMENT. */
export function timelineFromJson(value: unknown): Timeline {
  const bad = new BorealisError(ErrorCode.INVALID_ARGUMENT, 'timeline: expected [[aboveLsn, uptoLsn], …]');
  if (!Array.isArray(value) || value.length === 0 || value.length > backtrackMarkersMax + 1) throw bad;
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
