// A backtrack's target search on one segment (ADR 015): the newest commit on a timeline with commit
// time at or before T. Commit times never go backwards along a timeline, so over the commits on it
// the time is sorted and a binary search needs O(log n) commit records read from the log — a walk
// from the newest read every commit of the distance (280,000 for an hour of single-client inserts
// here: longer than the request's timeout, and the backtrack failed). Commits off the timeline
// (voided by a backtrack, truncated) sit between them anywhere: they are stepped over a whole range
// at a time, never read.
import { type Lsn, lsnUpperBound } from '../lsn.ts';

export interface CommitSearch {
  /** Commit LSNs held or set aside, ascending. */
  commits: readonly Lsn[];
  /**
   * undefined when `lsn` is a commit on the timeline; else a bound below it such that every LSN in
   * (bound, lsn] is off the timeline (the search steps to the newest commit at or below it).
   */
  offTimelineFrom: (lsn: Lsn) => Lsn | undefined;
  /** The commit time of a commit record (read from the log: the cost counted). */
  commitTimeOf: (lsn: Lsn) => number;
}

/** The newest commit on the timeline with commit time <= timeMs, or undefined if there is none. */
export function newestCommitAtOrBefore(
  search: CommitSearch,
  timeMs: number,
): { lsn: Lsn; commitTimeMs: number } | undefined {
  const { commits, offTimelineFrom, commitTimeOf } = search;
  const times = new Map<number, number>();
  const timeAt = (i: number) => {
    let t = times.get(i);
    if (t === undefined) {
      t = commitTimeOf(commits[i]!);
      times.set(i, t);
    }
    return t;
  };
  /** The index of the newest commit on the timeline at or below index i (-1: none). */
  const onTimelineAtOrBelow = (i: number): number => {
    while (i >= 0) {
      const bound = offTimelineFrom(commits[i]!);
      if (bound === undefined) return i;
      if (bound >= commits[i]!) throw new Error(`offTimelineFrom(${commits[i]}) = ${bound} is not below it`);
      i = lsnUpperBound(commits, bound) - 1;
    }
    return -1;
  };
  // The last index whose newest on-timeline commit at or below it is at or before T (or has none):
  // that predicate is true up to some index and false after it, as times are sorted on the timeline.
  let lo = 0;
  let hi = commits.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const at = onTimelineAtOrBelow(mid);
    if (at < 0 || timeAt(at) <= timeMs) {
      if (at > best) best = at;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best < 0 ? undefined : { lsn: commits[best]!, commitTimeMs: timeAt(best) };
}
