// One segment: a PG's copy on this node. Holds the index of durable records (where each lives in the
// node's log), the backlink chain that yields SCL and gaps, the truncation ranges it has applied and,
// for a full segment, which page records still wait to be coalesced into page versions.
// Pure bookkeeping: the node does the I/O and feeds this.
import { assert } from '../../core/assert.ts';
import { type Lsn, lsnMax } from '../../core/lsn.ts';
import type { SegmentKind } from '../../core/quorum.ts';
import { RecordKind, type RecordKindValue, type RedoRecord } from '../../core/record.ts';
import { SegmentChain } from '../../core/segment-chain.ts';
import type { LogLocation } from './store/log-file.ts';

export interface RecordEntry {
  location: LogLocation;
  pageNo: number;
  kind: RecordKindValue;
  prevLsnInPg: Lsn;
}

export interface Truncation {
  epoch: bigint;
  aboveLsn: Lsn;
  uptoLsn: Lsn;
}

/** Why a record cannot join this segment; undefined when it can (or already has). */
export type RecordProblem = string | undefined;

export class Segment {
  readonly chain = new SegmentChain();
  readonly truncations: Truncation[] = [];
  readonly #entries = new Map<Lsn, RecordEntry>();
  /** Backlinks of records being made durable (written, not yet held): predecessor → LSN. */
  readonly #claims = new Map<Lsn, Lsn>();
  /** Held LSNs ascending, for range reads (gossip, coalescing). Appends are nearly always in order. */
  #sorted: Lsn[] = [];
  /** Held commit (CPL) records, ascending: recovery starts from the last one. */
  #commits: Lsn[] = [];
  /** Full segments: pageNo → LSNs of page records above coalescedLsn, ascending. */
  readonly #uncoalesced = new Map<number, Lsn[]>();
  coalescedLsn: Lsn;

  constructor(
    readonly pg: number,
    readonly kind: SegmentKind,
    coalescedLsn: Lsn = 0n,
  ) {
    this.coalescedLsn = kind === 'full' ? coalescedLsn : 0n;
  }

  get scl(): Lsn {
    return this.chain.scl;
  }

  get maxLsn(): Lsn {
    return this.chain.maxLsn;
  }

  /** The highest commit record held (0: none). */
  get lastCplLsn(): Lsn {
    return this.#commits[this.#commits.length - 1] ?? 0n;
  }

  get recordCount(): number {
    return this.#entries.size;
  }

  has(lsn: Lsn): boolean {
    return this.#entries.has(lsn);
  }

  entry(lsn: Lsn): RecordEntry | undefined {
    return this.#entries.get(lsn);
  }

  /** Highest end of the truncations applied here (0: none). */
  get truncatedUpto(): Lsn {
    let upto = 0n;
    for (const t of this.truncations) upto = lsnMax(upto, t.uptoLsn);
    return upto;
  }

  isTruncated(lsn: Lsn): boolean {
    return this.truncations.some((t) => lsn > t.aboveLsn && lsn <= t.uptoLsn);
  }

  /**
   * Checks a record from the network before anything is written: a record that contradicts this
   * segment's chain (or a record of the same request, or one in flight) is bad input from a broken or
   * stale client, answered with an error — never a crash of the node.
   */
  problemWith(record: RedoRecord, requestClaims: Map<Lsn, Lsn>): RecordProblem {
    const conflict = this.chain.conflictOf(record.lsn, record.prevLsnInPg);
    if (conflict !== undefined) return conflict;
    if (this.#entries.has(record.lsn) || this.isTruncated(record.lsn)) return undefined;
    for (const claims of [this.#claims, requestClaims]) {
      const other = claims.get(record.prevLsnInPg);
      if (other !== undefined && other !== record.lsn) return 'two records backlink to the same predecessor';
    }
    requestClaims.set(record.prevLsnInPg, record.lsn);
    return undefined;
  }

  /** Whether a record needs writing: not held, not void, not already on its way to disk. */
  needsWrite(record: RedoRecord): boolean {
    if (this.#entries.has(record.lsn) || this.isTruncated(record.lsn)) return false;
    return this.#claims.get(record.prevLsnInPg) !== record.lsn;
  }

  /** Reserves a record's place in the chain while it is written (see problemWith). */
  claim(record: RedoRecord): void {
    this.#claims.set(record.prevLsnInPg, record.lsn);
  }

  /** Takes a durable record. Returns whether it was new to this segment. */
  hold(record: RedoRecord, location: LogLocation): boolean {
    if (this.#claims.get(record.prevLsnInPg) === record.lsn) this.#claims.delete(record.prevLsnInPg);
    if (this.#entries.has(record.lsn)) return false;
    const result = this.chain.add(record.lsn, record.prevLsnInPg);
    if (result !== 'added') return false;
    this.#entries.set(record.lsn, {
      location,
      pageNo: record.pageNo,
      kind: record.kind,
      prevLsnInPg: record.prevLsnInPg,
    });
    insertSorted(this.#sorted, record.lsn);
    if (record.kind === RecordKind.Commit) insertSorted(this.#commits, record.lsn);
    if (this.kind === 'full' && isPageRecord(record.kind) && record.lsn > this.coalescedLsn) {
      let list = this.#uncoalesced.get(record.pageNo);
      if (!list) {
        list = [];
        this.#uncoalesced.set(record.pageNo, list);
      }
      insertSorted(list, record.lsn);
    }
    return true;
  }

  /** Applies a truncation: records in (aboveLsn, uptoLsn] are void here and refused from now on. */
  truncate(t: Truncation): void {
    if (this.truncations.some((x) => x.aboveLsn === t.aboveLsn && x.uptoLsn === t.uptoLsn)) return;
    this.truncations.push(t);
    this.chain.truncate(t.aboveLsn, t.uptoLsn);
    const inRange = (lsn: Lsn) => lsn > t.aboveLsn && lsn <= t.uptoLsn;
    for (const lsn of this.#sorted) if (inRange(lsn)) this.#entries.delete(lsn);
    this.#sorted = this.#sorted.filter((lsn) => !inRange(lsn));
    this.#commits = this.#commits.filter((lsn) => !inRange(lsn));
    for (const [pageNo, list] of this.#uncoalesced) {
      const kept = list.filter((lsn) => !inRange(lsn));
      if (kept.length === 0) this.#uncoalesced.delete(pageNo);
      else this.#uncoalesced.set(pageNo, kept);
    }
    if (this.coalescedLsn > t.aboveLsn) this.coalescedLsn = t.aboveLsn;
  }

  /** The highest held LSN at or below lsn: the backlink for the next record after a truncation. */
  lastHeldAtOrBelow(lsn: Lsn): Lsn {
    const i = upperBound(this.#sorted, lsn);
    return i === 0 ? 0n : this.#sorted[i - 1]!;
  }

  /** Held LSNs in (afterLsn, uptoLsn], ascending, at most `limit`. */
  lsnsInRange(afterLsn: Lsn, uptoLsn: Lsn, limit: number): Lsn[] {
    const out: Lsn[] = [];
    for (let i = upperBound(this.#sorted, afterLsn); i < this.#sorted.length && out.length < limit; i++) {
      const lsn = this.#sorted[i]!;
      if (lsn > uptoLsn) break;
      out.push(lsn);
    }
    return out;
  }

  /** Page records of pageNo not yet coalesced, with LSN in (afterLsn, uptoLsn], ascending. */
  uncoalescedFor(pageNo: number, afterLsn: Lsn, uptoLsn: Lsn): Lsn[] {
    const list = this.#uncoalesced.get(pageNo);
    if (!list) return [];
    return list.filter((lsn) => lsn > afterLsn && lsn <= uptoLsn);
  }

  /** Marks records up to lsn as coalesced (their versions are committed to the page store). */
  markCoalesced(lsn: Lsn): void {
    assert(lsn >= this.coalescedLsn, 'coalesced LSN only moves forward');
    this.coalescedLsn = lsn;
    for (const [pageNo, list] of this.#uncoalesced) {
      const kept = list.filter((x) => x > lsn);
      if (kept.length === 0) this.#uncoalesced.delete(pageNo);
      else if (kept.length !== list.length) this.#uncoalesced.set(pageNo, kept);
    }
  }

  /** Moves a record to a new location (scrub rewrote a good copy). */
  relocate(lsn: Lsn, location: LogLocation): void {
    const entry = this.#entries.get(lsn);
    assert(entry !== undefined, 'relocate of a record not held');
    entry.location = location;
  }

  /** Every held LSN with its entry, ascending (scrub walks this). */
  *entries(fromLsn: Lsn = 0n): Generator<[Lsn, RecordEntry]> {
    for (let i = upperBound(this.#sorted, fromLsn); i < this.#sorted.length; i++) {
      const lsn = this.#sorted[i]!;
      const entry = this.#entries.get(lsn);
      if (entry) yield [lsn, entry];
    }
  }
}

export function isPageRecord(kind: RecordKindValue): boolean {
  return kind === RecordKind.PageDelta || kind === RecordKind.PageImage;
}

/** Index of the first element > value. */
function upperBound(sorted: Lsn[], value: Lsn): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function insertSorted(sorted: Lsn[], value: Lsn): void {
  const n = sorted.length;
  if (n === 0 || sorted[n - 1]! < value) {
    sorted.push(value);
    return;
  }
  const at = upperBound(sorted, value);
  if (at > 0 && sorted[at - 1] === value) return;
  sorted.splice(at, 0, value);
}
