// The reader endpoint's choice of instance for one request: the healthy reader with the fewest requests
// in flight, then the least lag; readers equal on both take turns, so a client that sends one request
// at a time (always zero in flight) still spreads across the fleet, as Aurora's reader endpoint does.
import { readerLagToleranceMs } from './limits.ts';

export interface ReaderCandidate {
  /** Requests this proxy has in flight to the reader. */
  inFlight: number;
  /** Replica lag as last reported, null when unknown (sorts last). */
  lagMs: number | null;
}

/**
 * The index of the reader to use among `candidates` (already filtered to healthy, reachable ones), or
 * undefined when there is none. `turn` is a counter the caller advances per choice: it rotates ties.
 */
export function chooseReader(candidates: readonly ReaderCandidate[], turn: number): number | undefined {
  if (candidates.length === 0) return undefined;
  let best: number[] = [];
  let bestRank: [number, number] | undefined;
  for (const [index, candidate] of candidates.entries()) {
    const rank: [number, number] = [candidate.inFlight, lagRank(candidate.lagMs)];
    const order = bestRank === undefined ? -1 : compare(rank, bestRank);
    if (order < 0) {
      best = [index];
      bestRank = rank;
    } else if (order === 0) {
      best.push(index);
    }
  }
  const at = ((turn % best.length) + best.length) % best.length;
  return best[at];
}

/** Lags within the tolerance rank the same: a few ms of lag must not pin all reads on one reader. */
function lagRank(lagMs: number | null): number {
  if (lagMs === null || !Number.isFinite(lagMs)) return Number.POSITIVE_INFINITY;
  return Math.floor(Math.max(0, lagMs) / readerLagToleranceMs);
}

function compare(a: [number, number], b: [number, number]): number {
  return a[0] - b[0] || (a[1] === b[1] ? 0 : a[1] < b[1] ? -1 : 1);
}
