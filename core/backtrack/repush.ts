// Background re-push of the backtrack marker list (ADR 015), the pure part: which storage nodes need
// the control plane's list, and when a node that failed a push is tried again. A node that missed a
// backtrack's push (down, partitioned) holds a shorter list; it refuses appends that contradict its
// chain, so its PGs run on 5 of 6 until it learns the list. The control plane compares the marker
// count each node reports in /health with its durable record (only markers that reached a write
// quorum of every PG are in it) and pushes the whole list to a node that is behind.
import { assert } from '../assert.ts';

/** First retry delay after a failed push; doubles per consecutive failure up to the cap. */
export const markerRepushBackoffMinMs = 500;
export const markerRepushBackoffMaxMs = 30_000;
/**
 * After a push succeeded the node is not pushed again for this long: its next /health answer (about
 * a second later) reports the new count, and until then the old answer would ask for the same push.
 */
export const markerRepushSettleMs = 3_000;

/** What the re-push decision reads of one storage node. */
export interface MarkerRepushView {
  id: string;
  /** The process runs and its last /health answer said healthy. */
  healthy: boolean;
  /** Markers the node said it holds in its last /health answer (undefined: it did not say). */
  markerCount: number | undefined;
}

/** Per-node bookkeeping the caller keeps between rounds (one entry per node with a push history). */
export interface MarkerRepushState {
  inFlight: boolean;
  /** Consecutive failed pushes (0 after a success). */
  failures: number;
  /** No push before this time (the backoff after a failure). */
  notBeforeMs: number;
}

/** The delay before the next push after `failures` consecutive failed ones (failures ≥ 1). */
export function markerRepushBackoffMs(failures: number): number {
  assert(Number.isSafeInteger(failures) && failures >= 1, 'a backoff follows at least one failure');
  // 2^(failures-1) overflows nothing: the exponent is capped well before the cap is reached.
  const exponent = Math.min(failures - 1, 16);
  return Math.min(markerRepushBackoffMaxMs, markerRepushBackoffMinMs * 2 ** exponent);
}

/**
 * The nodes to push the list to now: healthy, reporting fewer markers than the control plane's
 * record, no push to them in flight (at most one per node), and past their backoff. A node that
 * reports more markers than the record (a backtrack this control plane did not finish) or does not
 * report a count is left alone: the list it would be sent does not extend what it holds.
 */
export function nodesNeedingMarkers(
  nodes: readonly MarkerRepushView[],
  recordedMarkers: number,
  states: ReadonlyMap<string, MarkerRepushState>,
  nowMs: number,
): string[] {
  assert(Number.isSafeInteger(recordedMarkers) && recordedMarkers >= 0, 'a marker count');
  if (recordedMarkers === 0) return [];
  const due: string[] = [];
  for (const node of nodes) {
    if (!node.healthy || node.markerCount === undefined || node.markerCount >= recordedMarkers) continue;
    const state = states.get(node.id);
    if (state && (state.inFlight || nowMs < state.notBeforeMs)) continue;
    due.push(node.id);
  }
  return due;
}

/** The state after a push ends: a success clears the backoff (short settle), a failure doubles it. */
export function afterMarkerRepush(
  state: MarkerRepushState | undefined,
  ok: boolean,
  nowMs: number,
): MarkerRepushState {
  if (ok) return { inFlight: false, failures: 0, notBeforeMs: nowMs + markerRepushSettleMs };
  const failures = (state?.failures ?? 0) + 1;
  return { inFlight: false, failures, notBeforeMs: nowMs + markerRepushBackoffMs(failures) };
}
