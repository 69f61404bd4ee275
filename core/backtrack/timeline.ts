// Backtrack's timeline: which LSNs of the volume's log make up the database. Redo records are deltas
// against the page's previous version, so once a backtrack voids the log above its target and the
// writer goes on above the old end, the volume's history is a list of LSN intervals — e.g.
// (0, t1] ∪ (end1, ∞). Every read, SCL, coalescing, recovery, gossip and restore follows it. Pure:
// the control plane, the storage nodes and the archive all compute the same timeline from the same
// durable marker list (docs/adr/015-backtrack.md).
import { assert } from '../assert.ts';
import { LSN_MAX, type Lsn, lsnMax, lsnMin, lsnToString } from '../lsn.ts';

/** LSNs in (aboveLsn, uptoLsn]: the shape of a truncation range and of a timeline interval. */
export interface LsnRange {
  aboveLsn: Lsn;
  uptoLsn: Lsn;
}

/**
 * One completed backtrack, as every storage node keeps it (durably) and the control plane records it.
 * From `appliedAtMs` on, the volume is its previous timeline cut at `targetLsn`, continued above
 * `fromLsn` (the highest LSN anyone could have allocated before: the new writer starts above it).
 */
export interface BacktrackMarker {
  /** 1, 2, 3 … in the order the backtracks took effect; the list only grows. */
  seq: number;
  /** The epoch the backtrack fenced the volume with: truncations of this epoch or later know it. */
  epoch: bigint;
  /** Wall-clock time (ms) the new timeline took effect: a later backtrack to T >= it sees it. */
  appliedAtMs: number;
  /** The newest commit kept (0: none): the timeline as it was at targetTimeMs, cut here. */
  targetLsn: Lsn;
  /** The time asked for (after --use-earliest-time…: the earliest backtrack time). */
  targetTimeMs: number;
  /** Every LSN at or below it was allocated before the backtrack; the new timeline resumes above. */
  fromLsn: Lsn;
}

/** Ascending, disjoint, non-adjacent intervals; the last is open-ended (uptoLsn = LSN_MAX). */
export type Timeline = readonly LsnRange[];

/** The timeline of a volume no backtrack has touched: every LSN. */
export const timelineOrigin: Timeline = Object.freeze([Object.freeze({ aboveLsn: 0n, uptoLsn: LSN_MAX })]);

/** Whether lsn is on the timeline. LSN 0 ("no record") is on every timeline. */
export function onTimeline(timeline: Timeline, lsn: Lsn): boolean {
  if (lsn === 0n) return true;
  return timeline.some((r) => lsn > r.aboveLsn && lsn <= r.uptoLsn);
}

/** The timeline up to and including atLsn (which must be on it, or 0): a backtrack's cut. */
export function cutTimeline(timeline: Timeline, atLsn: Lsn): LsnRange[] {
  assert(onTimeline(timeline, atLsn), () => `cut at ${lsnToString(atLsn)}, which is not on the timeline`);
  const out: LsnRange[] = [];
  for (const r of timeline) {
    if (r.aboveLsn >= atLsn) break;
    out.push({ aboveLsn: r.aboveLsn, uptoLsn: r.uptoLsn < atLsn ? r.uptoLsn : atLsn });
  }
  return out;
}

/** The timeline a backtrack makes of the one it went back to (as it was at its target time). */
export function applyMarker(timeline: Timeline, marker: BacktrackMarker): Timeline {
  assert(marker.fromLsn >= marker.targetLsn, 'a backtrack resumes above its target');
  const kept = cutTimeline(timeline, marker.targetLsn);
  const last = kept[kept.length - 1];
  // The kept part and the new one meet when nothing was voided (a backtrack to the very end).
  if (last && last.uptoLsn === marker.fromLsn) {
    kept[kept.length - 1] = { aboveLsn: last.aboveLsn, uptoLsn: LSN_MAX };
  } else kept.push({ aboveLsn: marker.fromLsn, uptoLsn: LSN_MAX });
  return kept;
}

/** Checks a marker list: consecutive seqs from 1, times and epochs ascending, each resuming higher. */
export function markerListProblem(markers: readonly BacktrackMarker[]): string | undefined {
  for (let i = 0; i < markers.length; i++) {
    const m = markers[i]!;
    const previous = markers[i - 1];
    if (m.seq !== i + 1) return `marker ${i} has seq ${m.seq}, expected ${i + 1}`;
    if (m.fromLsn < m.targetLsn) return `marker ${m.seq} resumes below its target`;
    if (!previous) continue;
    if (m.appliedAtMs < previous.appliedAtMs)
      return `marker ${m.seq} took effect before marker ${previous.seq}`;
    if (m.epoch <= previous.epoch) return `marker ${m.seq} has epoch ${m.epoch}, not above ${previous.epoch}`;
    if (m.fromLsn < previous.fromLsn) return `marker ${m.seq} resumes below marker ${previous.seq}`;
  }
  return undefined;
}

/**
 * The timeline after each marker: [0] is the origin, [k] the one marker k made — the timeline as it
 * was at its target time (markers before it that had taken effect by then) cut at its target and
 * continued above its fromLsn. So a backtrack forward to a time before an earlier backtrack brings
 * back what that one voided, and backtracks compose in any order.
 */
export function timelines(markers: readonly BacktrackMarker[]): Timeline[] {
  const out: Timeline[] = [timelineOrigin];
  markers.forEach((m, k) => {
    let seen = 0;
    while (seen < k && markers[seen]!.appliedAtMs <= m.targetTimeMs) seen++;
    out.push(applyMarker(out[seen]!, m));
  });
  return out;
}

/** The timeline as it was at wall-clock timeMs: after the markers that had taken effect by then. */
export function timelineAt(markers: readonly BacktrackMarker[], timeMs: number): Timeline {
  let seen = 0;
  while (seen < markers.length && markers[seen]!.appliedAtMs <= timeMs) seen++;
  return timelines(markers.slice(0, seen))[seen]!;
}

/** The volume's timeline now (after every marker). */
export function currentTimeline(markers: readonly BacktrackMarker[]): Timeline {
  return timelines(markers)[markers.length]!;
}

/** The LSNs not on the timeline, as ranges in (0, LSN_MAX]: what a segment treats as void. */
export function voidRanges(timeline: Timeline): LsnRange[] {
  const out: LsnRange[] = [];
  let from = 0n;
  for (const r of timeline) {
    if (r.aboveLsn > from) out.push({ aboveLsn: from, uptoLsn: r.aboveLsn });
    from = r.uptoLsn;
  }
  if (from < LSN_MAX) out.push({ aboveLsn: from, uptoLsn: LSN_MAX });
  return out;
}

/** a ∖ b for range lists (each ascending and disjoint). */
export function subtractRanges(a: readonly LsnRange[], b: readonly LsnRange[]): LsnRange[] {
  let out: LsnRange[] = a.map((r) => ({ ...r }));
  for (const cut of b) {
    const next: LsnRange[] = [];
    for (const r of out) {
      if (cut.uptoLsn <= r.aboveLsn || cut.aboveLsn >= r.uptoLsn) {
        next.push(r);
        continue;
      }
      if (cut.aboveLsn > r.aboveLsn) next.push({ aboveLsn: r.aboveLsn, uptoLsn: cut.aboveLsn });
      if (cut.uptoLsn < r.uptoLsn) next.push({ aboveLsn: cut.uptoLsn, uptoLsn: r.uptoLsn });
    }
    out = next;
  }
  return out;
}

/**
 * Going from one timeline to another, within the LSNs allocated so far (up to endLsn): the ranges to
 * void (on the old, not on the new) and the ones to bring back (voided before, on the new timeline).
 * A storage node applies both from its marker list; nothing is copied.
 */
export function timelineChange(
  before: Timeline,
  after: Timeline,
  endLsn: Lsn,
): { voided: LsnRange[]; restored: LsnRange[] } {
  const upto = (t: Timeline) => subtractRanges(t, [{ aboveLsn: endLsn, uptoLsn: LSN_MAX }]);
  return {
    voided: subtractRanges(upto(before), after),
    restored: subtractRanges(upto(after), before),
  };
}

/**
 * A truncation a recovering writer (or gossip) asks a segment to apply, less what backtrack markers
 * already govern. After a backtrack the new writer's recovery finds VDL = the target and truncates
 * from there; the part inside the marker's void must stay void by the marker alone, so that a later
 * backtrack forward can bring it back. Markers of a later epoch than the truncation do not clip it: a
 * truncation older than a backtrack voided records that were never durable, on every timeline.
 */
export function clipTruncation(
  truncation: LsnRange & { epoch: bigint },
  markers: readonly BacktrackMarker[],
): LsnRange[] {
  const governed = voidRanges(currentTimeline(markers.filter((m) => m.epoch <= truncation.epoch)));
  return subtractRanges([{ aboveLsn: truncation.aboveLsn, uptoLsn: truncation.uptoLsn }], governed);
}

/** A commit as the control plane reads it from storage: its LSN and commit time. */
export interface CommitTime {
  lsn: Lsn;
  commitTimeMs: number;
}

/**
 * The target of a backtrack to wall-clock T: the newest commit on the timeline as it was at T with
 * commit time <= T (commit times never go backwards along a timeline: the writer clamps them, and a
 * new timeline resumes after its backtrack), or 0 when there was none. `commits` may hold any
 * commits of the volume, in any order: those off the timeline at T are ignored.
 */
export function backtrackTarget(
  markers: readonly BacktrackMarker[],
  commits: readonly CommitTime[],
  timeMs: number,
): Lsn {
  const timeline = timelineAt(markers, timeMs);
  let target = 0n;
  for (const c of commits) {
    if (c.commitTimeMs <= timeMs && c.lsn > target && onTimeline(timeline, c.lsn)) target = c.lsn;
  }
  return target;
}

/** The marker a backtrack to timeMs, taking effect at nowMs, adds (epoch and fromLsn from the fence). */
export function nextMarker(
  markers: readonly BacktrackMarker[],
  commits: readonly CommitTime[],
  request: { timeMs: number; nowMs: number; epoch: bigint; fromLsn: Lsn },
): BacktrackMarker {
  assert(request.timeMs <= request.nowMs, 'a backtrack goes to a time in the past');
  const last = markers[markers.length - 1];
  assert(!last || request.epoch > last.epoch, 'a backtrack fences with a new epoch');
  const targetLsn = backtrackTarget(markers, commits, request.timeMs);
  assert(request.fromLsn >= targetLsn, 'the fence is above every commit');
  return {
    seq: markers.length + 1,
    epoch: request.epoch,
    appliedAtMs: Math.max(request.nowMs, last?.appliedAtMs ?? 0),
    targetLsn,
    targetTimeMs: request.timeMs,
    fromLsn: request.fromLsn,
  };
}

/**
 * Whether every LSN in (range.aboveLsn, range.uptoLsn] that is on `target` is also on `own`: then a
 * run of records holding every record of `own` in that range holds every record of `target` in it
 * (an LSN names one record whatever the timeline), so a restore can use it for `target` by skipping
 * the records off `target`. How a log chunk archived under one timeline serves a restore to another.
 */
export function coversWithin(own: Timeline, target: Timeline, range: LsnRange): boolean {
  const wanted: LsnRange[] = [];
  for (const r of target) {
    const aboveLsn = lsnMax(r.aboveLsn, range.aboveLsn);
    const uptoLsn = lsnMin(r.uptoLsn, range.uptoLsn);
    if (aboveLsn < uptoLsn) wanted.push({ aboveLsn, uptoLsn });
  }
  return subtractRanges(wanted, own).length === 0;
}
