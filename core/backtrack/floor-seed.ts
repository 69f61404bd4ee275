// The backtrack floor a writer can send from the moment it opens (ADR 015), the pure part. Without it
// a writer sends 0 for one whole window after it opens (it noted no VDL that old itself), so storage
// keeps everything for a window after every failover. Instead, at open, it asks storage for the
// newest commit on the timeline as it was at c = open − window with commit time ≤ c (the same search
// a backtrack to c runs) and seeds the floor with what is computed here from that answer.
//
// What "the floor never goes above what a backtrack inside the window needs" means. Below the floor F,
// log collection drops records and GC keeps, per page, only the newest version on the CURRENT timeline
// (versions off it are dropped). A later backtrack to any T ≥ c rebuilds the volume at target(T) on
// timelineAt(T). That works if (1) F ≤ target(T), so every record of timelineAt(T) in (F, target(T)]
// is still held, and (2) timelineAt(T) and the current timeline agree on every LSN in (0, F], so the
// versions GC kept below F are exactly the ones timelineAt(T) has there.
//
// Why the seed below has both properties for every T ≥ c. The timeline is piecewise constant in wall
// time: it changes only when a marker takes effect (appliedAtMs). Take the piece T lies in:
//  - T before the first marker applied after c: timelineAt(T) = timelineAt(c); target(T) ≥ target(c)
//    (commit times never go backwards along a timeline, so the newest commit ≤ T only moves up).
//  - Otherwise the piece starts at a marker m applied after c: timelineAt(T) = timelineAt(m.appliedAtMs),
//    and at that instant the newest commit on it is m.targetLsn (the cut; the part above m.fromLsn has
//    no commits yet: the writer after m starts later), so target(T) ≥ m.targetLsn.
// The seed is the minimum of target(c), of every such m.targetLsn, and of the end of the common prefix
// of each of these pieces' timelines with the current one: (1) and (2) hold for every piece, hence for
// every T ≥ c. Each term is a lower bound, so any lower value (0 included) is also safe.
import { LSN_MAX, type Lsn, lsnMin } from '../lsn.ts';
import { type BacktrackMarker, currentTimeline, onTimeline, type Timeline, timelineAt } from './timeline.ts';

/**
 * The largest L such that a and b hold the same LSNs in (0, L] (LSN_MAX when they are equal). Both are
 * timelines: ascending, disjoint, non-adjacent intervals.
 */
export function commonPrefixEnd(a: Timeline, b: Timeline): Lsn {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a[i];
    const y = b[i];
    // One ends: they agree up to where the other's next interval starts.
    if (!x) return y!.aboveLsn;
    if (!y) return x.aboveLsn;
    if (x.aboveLsn !== y.aboveLsn) return lsnMin(x.aboveLsn, y.aboveLsn);
    if (x.uptoLsn !== y.uptoLsn) return lsnMin(x.uptoLsn, y.uptoLsn);
  }
  return LSN_MAX;
}

/** What the writer asks storage for at open: the newest commit at or before cutoffMs on this timeline. */
export function floorSeedQuery(
  markers: readonly BacktrackMarker[],
  cutoffMs: number,
): { timeline: Timeline; timeMs: number } {
  return { timeline: timelineAt(markers, cutoffMs), timeMs: cutoffMs };
}

/**
 * The volume's target at cutoffMs from the storage nodes' answers (each segment's newest commit at or
 * before it, over a read quorum of every PG): the newest. A commit above VDL on the current timeline
 * was never durable (recovery just cut it) and is skipped, as the control plane's target search does.
 */
export function targetFromAnswers(
  markers: readonly BacktrackMarker[],
  answers: readonly Lsn[],
  vdl: Lsn,
): Lsn {
  const current = currentTimeline(markers);
  let target = 0n;
  for (const lsn of answers) {
    if (lsn === 0n || (onTimeline(current, lsn) && lsn > vdl)) continue;
    if (lsn > target) target = lsn;
  }
  return target;
}

/**
 * The floor a writer may send for every time ≥ cutoffMs (cutoffMs = open − window), given the marker
 * list and target(cutoffMs) — the newest commit on timelineAt(cutoffMs) with commit time ≤ cutoffMs.
 * See the head of this file for why it never exceeds what a backtrack inside the window needs.
 */
export function seededBacktrackFloor(
  markers: readonly BacktrackMarker[],
  cutoffMs: number,
  targetAtCutoff: Lsn,
): Lsn {
  const current = currentTimeline(markers);
  let floor = lsnMin(targetAtCutoff, commonPrefixEnd(timelineAt(markers, cutoffMs), current));
  for (const m of markers) {
    if (m.appliedAtMs <= cutoffMs) continue;
    floor = lsnMin(floor, lsnMin(m.targetLsn, commonPrefixEnd(timelineAt(markers, m.appliedAtMs), current)));
  }
  return floor;
}
