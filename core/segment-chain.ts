// How a segment knows what it holds: records arrive out of order (writer retries, gossip), and each one
// backlinks to its PG predecessor; following the links from the start gives the SCL and exposes gaps.
import { assert } from './assert.ts';
import { assertLsn, LSN_INVALID, type Lsn, lsnCompare, lsnToString } from './lsn.ts';

export type ChainAddResult =
  /** Newly held (it may or may not have extended the SCL). */
  | 'added'
  /** Already held, or at or below SCL: nothing changed. */
  | 'duplicate'
  /** Inside a truncated range: a voided record of an older epoch, refused. */
  | 'truncated';

/** Missing records lie in (afterLsn, uptoLsn]: afterLsn is held (or SCL), uptoLsn is the missing predecessor. */
export interface ChainGap {
  afterLsn: Lsn;
  uptoLsn: Lsn;
}

const historyCapacityInitial = 64;

/**
 * In-memory completeness tracker of one segment. Pure: the storage node feeds it every record it
 * stores (and every truncation it applies) and asks it for SCL and for the gaps to gossip for.
 *
 * Records above SCL ("pending") are kept with their backlinks; records at or below SCL are kept as a
 * sorted LSN history (8 bytes each) so that a truncation can find the new SCL, until forgetBelow()
 * drops the part no truncation can reach. An LSN below the retained history is reported as held:
 * the chain is complete to SCL, so every record of this PG at or below it is held.
 */
export class SegmentChain {
  #scl: Lsn;
  #maxLsn: Lsn;
  /** Chain LSNs at or below SCL, ascending, in [#historyHead, #historyTail); the last one is SCL. */
  #history: BigUint64Array;
  #historyHead = 0;
  #historyTail = 0;
  /** Pending records: predecessor → record, and record → predecessor. */
  #nextByPrev = new Map<Lsn, Lsn>();
  #prevByLsn = new Map<Lsn, Lsn>();
  /**
   * The truncated ranges, merged: disjoint, ascending (a binary search per record — a backtrack forward
   * checks every record it brings back, and each failover adds a range).
   */
  #truncated: Array<{ aboveLsn: Lsn; uptoLsn: Lsn }> = [];

  /** initialScl: a known chain record (e.g. rebuilt from the segment's log), or LSN_INVALID when empty. */
  constructor(initialScl: Lsn = LSN_INVALID) {
    assertLsn(initialScl, 'initialScl');
    this.#scl = initialScl;
    this.#maxLsn = initialScl;
    this.#history = new BigUint64Array(historyCapacityInitial);
    this.#historyPush(initialScl);
  }

  /** SCL: the highest LSN reachable from the start through unbroken backlinks. */
  get scl(): Lsn {
    return this.#scl;
  }

  /** The highest LSN held (SCL when nothing is pending). */
  get maxLsn(): Lsn {
    return this.#maxLsn;
  }

  /** Records held above SCL, waiting for a gap below them to fill. */
  get pendingCount(): number {
    return this.#prevByLsn.size;
  }

  /**
   * Takes one record. Idempotent: a record already held returns 'duplicate'. A record that contradicts
   * the chain (see conflictOf) means the writer or this node is broken, and fails an assertion.
   */
  add(lsn: Lsn, prevLsnInPg: Lsn): ChainAddResult {
    const conflict = this.conflictOf(lsn, prevLsnInPg);
    assert(conflict === undefined, () => `record ${lsnToString(lsn)}: ${conflict}`);
    return this.#addFitting(lsn, prevLsnInPg);
  }

  /**
   * add() for a record that may contradict the chain (one set aside, coming back): the contradiction is
   * returned and nothing changes, where add() would fail its assertion. One check instead of conflictOf
   * then add.
   */
  tryAdd(lsn: Lsn, prevLsnInPg: Lsn): ChainAddResult | { conflict: string } {
    const conflict = this.conflictOf(lsn, prevLsnInPg);
    return conflict === undefined ? this.#addFitting(lsn, prevLsnInPg) : { conflict };
  }

  /** add() once conflictOf found nothing. */
  #addFitting(lsn: Lsn, prevLsnInPg: Lsn): ChainAddResult {
    if (this.#isTruncated(lsn)) return 'truncated';
    if (lsn <= this.#scl || this.#prevByLsn.has(lsn)) return 'duplicate';
    if (prevLsnInPg === this.#scl) {
      // Continues the chain (the common case: records arrive in order, a backtrack forward re-adds a
      // run): straight onto the history, no pending entry to make and remove. conflictOf said no other
      // record claims the predecessor, so this is what pending + advance would do.
      this.#scl = lsn;
      this.#historyPush(lsn);
      if (lsn > this.#maxLsn) this.#maxLsn = lsn;
      if (this.#nextByPrev.size > 0) this.#advance();
      return 'added';
    }
    // Its predecessor is not SCL (that case returned above): it waits for the gap below it to fill.
    this.#pendingInsert(lsn, prevLsnInPg);
    if (lsn > this.#maxLsn) this.#maxLsn = lsn;
    return 'added';
  }

  /**
   * Why add(lsn, prevLsnInPg) would fail its assertion, or undefined when it would not: the same LSN
   * with another backlink, a second record claiming a predecessor, a backlink below SCL, an LSN below
   * SCL that is not on the chain. A node checks records from the network with this first, so that bad
   * input is answered with an error rather than crashing the node.
   */
  conflictOf(lsn: Lsn, prevLsnInPg: Lsn): string | undefined {
    assertLsn(lsn);
    assertLsn(prevLsnInPg, 'prevLsnInPg');
    if (lsn === LSN_INVALID || prevLsnInPg >= lsn) return 'a record must backlink below itself';
    if (this.#isTruncated(lsn)) return undefined;
    const prevHeld = this.#prevByLsn.get(lsn);
    if (prevHeld !== undefined) {
      return prevHeld === prevLsnInPg ? undefined : 'same LSN held with another backlink';
    }
    if (lsn <= this.#scl) {
      const index = this.#historyIndexOf(lsn);
      if (index === -1) {
        return lsn < this.#historyFloor() ? undefined : 'LSN at or below SCL but not on the chain';
      }
      if (index > this.#historyHead && this.#history[index - 1] !== prevLsnInPg) {
        return 'backlink contradicts the chain';
      }
      return undefined;
    }
    if (prevLsnInPg < this.#scl) return 'backlink below SCL';
    if (this.#nextByPrev.has(prevLsnInPg)) return 'two records backlink to the same predecessor';
    return undefined;
  }

  /** Whether the record is held. Exact within the retained history and above SCL (see the class doc). */
  hasRecord(lsn: Lsn): boolean {
    assertLsn(lsn);
    if (lsn === LSN_INVALID) return false;
    if (this.#prevByLsn.has(lsn)) return true;
    if (lsn > this.#scl) return false;
    if (lsn < this.#historyFloor()) return true;
    return this.#historyIndexOf(lsn) !== -1;
  }

  /**
   * Ranges to fetch from peer segments, ascending: below every pending record whose predecessor is not
   * held. Records missing above maxLsn cannot be seen here (nothing backlinks to them yet).
   *
   * A pending record whose backlink reaches below the held record just under it contradicts the chain
   * in a way conflictOf cannot see in O(1) (the link skips a held record). It has no gap to fill, so it
   * is left out; it can never extend SCL, which only ever follows links.
   */
  gaps(): ChainGap[] {
    if (this.#prevByLsn.size === 0) return [];
    const pending = Array.from(this.#prevByLsn.keys()).sort(lsnCompare);
    const gaps: ChainGap[] = [];
    let heldBelow = this.#scl;
    for (const lsn of pending) {
      const prev = this.#prevByLsn.get(lsn)!;
      // No record of this PG lies strictly between a record and its predecessor, so the nearest held
      // record below a missing predecessor is the one just below this record.
      if (prev > heldBelow) gaps.push({ afterLsn: heldBelow, uptoLsn: prev });
      if (lsn > heldBelow) heldBelow = lsn; // a contradicting record may sit below SCL
    }
    return gaps;
  }

  /**
   * Voids records in (aboveLsn, uptoLsn]: held ones are dropped, SCL falls back to the last chain
   * record at or below aboveLsn, and the range refuses records from now on (an old writer's stragglers).
   */
  truncate(aboveLsn: Lsn, uptoLsn: Lsn): void {
    assertLsn(aboveLsn, 'aboveLsn');
    assertLsn(uptoLsn, 'uptoLsn');
    assert(aboveLsn <= uptoLsn, 'truncation range must be aboveLsn <= uptoLsn');
    assert(
      aboveLsn >= this.#historyFloor(),
      () => `truncation above ${lsnToString(aboveLsn)} reaches below the retained history`,
    );
    this.#truncated = mergeRanges([...this.#truncated, { aboveLsn, uptoLsn }]);

    for (const [lsn, prev] of this.#prevByLsn) {
      if (lsn > aboveLsn && lsn <= uptoLsn) {
        this.#prevByLsn.delete(lsn);
        this.#nextByPrev.delete(prev);
      }
    }

    if (this.#scl > aboveLsn) {
      const keep = this.#historyUpperBound(aboveLsn); // entries [head, keep) are <= aboveLsn
      assert(keep > this.#historyHead, 'the history floor is at or below aboveLsn');
      // Chain records above the range lose their chain (their predecessors are void): pending again.
      for (let i = keep; i < this.#historyTail; i++) {
        const lsn = this.#history[i]!;
        if (lsn > uptoLsn) this.#pendingInsert(lsn, this.#history[i - 1]!);
      }
      this.#historyTail = keep;
      this.#scl = this.#history[keep - 1]!;
    }

    let maxLsn = this.#scl;
    for (const lsn of this.#prevByLsn.keys()) if (lsn > maxLsn) maxLsn = lsn;
    this.#maxLsn = maxLsn;
    this.#advance();
  }

  /**
   * Forgets every record above lsn, held or pending, and takes `truncations` as the ranges in force
   * from now on (replacing the list). A segment moving to a new timeline (a backtrack marker) rewinds
   * to the lowest LSN whose place changes and adds its records above it again: O(records above lsn),
   * not a rebuild from the base. The caller promises the ranges agree with the old ones at or below lsn.
   */
  rewind(lsn: Lsn, truncations: readonly { aboveLsn: Lsn; uptoLsn: Lsn }[]): void {
    assertLsn(lsn);
    assert(
      lsn >= this.#historyFloor(),
      () => `rewind to ${lsnToString(lsn)} reaches below the retained history`,
    );
    for (const [pending, prev] of this.#prevByLsn) {
      if (pending <= lsn) continue;
      this.#prevByLsn.delete(pending);
      this.#nextByPrev.delete(prev);
    }
    if (this.#scl > lsn) {
      this.#historyTail = this.#historyUpperBound(lsn);
      this.#scl = this.#history[this.#historyTail - 1]!;
    }
    this.#truncated = mergeRanges(truncations);
    let maxLsn = this.#scl;
    for (const pending of this.#prevByLsn.keys()) if (pending > maxLsn) maxLsn = pending;
    this.#maxLsn = maxLsn;
    this.#advance();
  }

  /**
   * Drops history below the last chain record at or below lsn. The caller promises never to truncate
   * below lsn again (e.g. lsn = VDL, which recovery never truncates below); bounds memory.
   */
  forgetBelow(lsn: Lsn): void {
    assertLsn(lsn);
    const keepFrom = this.#historyUpperBound(lsn) - 1;
    if (keepFrom <= this.#historyHead) return;
    this.#historyHead = keepFrom;
    const live = this.#historyTail - this.#historyHead;
    if (this.#historyHead >= historyCapacityInitial && this.#historyHead > live) {
      this.#history.copyWithin(0, this.#historyHead, this.#historyTail);
      this.#historyHead = 0;
      this.#historyTail = live;
    }
  }

  #isTruncated(lsn: Lsn): boolean {
    return rangeHolding(this.#truncated, lsn) !== undefined;
  }

  #pendingInsert(lsn: Lsn, prev: Lsn): void {
    const other = this.#nextByPrev.get(prev);
    assert(
      other === undefined,
      () => `records ${lsnToString(lsn)} and ${lsnToString(other!)} both backlink to ${lsnToString(prev)}`,
    );
    this.#nextByPrev.set(prev, lsn);
    this.#prevByLsn.set(lsn, prev);
  }

  /** Extends SCL through pending records while the next link is held. */
  #advance(): void {
    for (;;) {
      const next = this.#nextByPrev.get(this.#scl);
      if (next === undefined) return;
      this.#nextByPrev.delete(this.#scl);
      this.#prevByLsn.delete(next);
      assert(next > this.#scl, 'SCL only grows while advancing');
      this.#scl = next;
      this.#historyPush(next);
    }
  }

  #historyFloor(): Lsn {
    return this.#history[this.#historyHead]!;
  }

  #historyPush(lsn: Lsn): void {
    if (this.#historyTail === this.#history.length) {
      const live = this.#historyTail - this.#historyHead;
      const grown = new BigUint64Array(Math.max(historyCapacityInitial, live * 2));
      grown.set(this.#history.subarray(this.#historyHead, this.#historyTail));
      this.#history = grown;
      this.#historyHead = 0;
      this.#historyTail = live;
    }
    assert(
      this.#historyTail === this.#historyHead || this.#history[this.#historyTail - 1]! < lsn,
      'chain history ascends',
    );
    this.#history[this.#historyTail++] = lsn;
  }

  /** Index of the first retained history entry above lsn. */
  #historyUpperBound(lsn: Lsn): number {
    let low = this.#historyHead;
    let high = this.#historyTail;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.#history[mid]! <= lsn) low = mid + 1;
      else high = mid;
    }
    return low;
  }

  #historyIndexOf(lsn: Lsn): number {
    const index = this.#historyUpperBound(lsn) - 1;
    return index >= this.#historyHead && this.#history[index] === lsn ? index : -1;
  }
}

/** Ranges (aboveLsn, uptoLsn] as disjoint ones, ascending, with the same union (empty ones dropped). */
export function mergeRanges(
  ranges: readonly { aboveLsn: Lsn; uptoLsn: Lsn }[],
): { aboveLsn: Lsn; uptoLsn: Lsn }[] {
  const sorted = ranges
    .filter((r) => r.uptoLsn > r.aboveLsn)
    .map((r) => ({ aboveLsn: r.aboveLsn, uptoLsn: r.uptoLsn }))
    .sort((a, b) => lsnCompare(a.aboveLsn, b.aboveLsn));
  const out: { aboveLsn: Lsn; uptoLsn: Lsn }[] = [];
  for (const r of sorted) {
    const last = out[out.length - 1];
    if (last && r.aboveLsn <= last.uptoLsn) {
      if (r.uptoLsn > last.uptoLsn) last.uptoLsn = r.uptoLsn;
    } else out.push(r);
  }
  return out;
}

/** The range (aboveLsn, uptoLsn] holding lsn, of disjoint ascending ones (mergeRanges): a binary search. */
export function rangeHolding<R extends { aboveLsn: Lsn; uptoLsn: Lsn }>(
  ranges: readonly R[],
  lsn: Lsn,
): R | undefined {
  // The last range starting below lsn is the only one that can hold it.
  let low = 0;
  let high = ranges.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (ranges[mid]!.aboveLsn < lsn) low = mid + 1;
    else high = mid;
  }
  const range = ranges[low - 1];
  return range !== undefined && lsn <= range.uptoLsn ? range : undefined;
}
