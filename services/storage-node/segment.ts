// One segment: a PG's copy on this node. Holds the index of durable records (where each lives in the
// node's log), the backlink chain that yields SCL and gaps, the truncation ranges it has applied and,
// for a full segment, each page's record LSNs: a page as of a read point is its newest stored version
// at or below that point plus its records above the version, read back from the log. The coalescer
// stores only the newest version of a page per batch, so the lists keep every record that a read at an
// allowed read point may need; a record leaves only once a stored version at or above it and at or
// below the read point floor exists (prunePageRecords). Log collection moves the segment's base: records
// at or below it are gone from the index (and, once no segment needs a file, from disk); the chain then
// starts at the base. Pure bookkeeping: the node does the I/O.
import { assert } from '../../core/assert.ts';
import type { LsnRange } from '../../core/backtrack/timeline.ts';
import { type Lsn, lsnMax, lsnToString, lsnUpperBound } from '../../core/lsn.ts';
import type { SegmentKind } from '../../core/quorum.ts';
import { RecordKind, type RecordKindValue, type RedoRecord } from '../../core/record.ts';
import { mergeRanges, rangeHolding, SegmentChain } from '../../core/segment-chain.ts';
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

/** Coalescing marks kept per segment: past this, every other one goes (coarser, never wrong). */
const coalescedMarksMax = 4_096;

export class Segment {
  /** Replaced only by rebase (a segment rebuilt from page images starts its chain over). */
  chain: SegmentChain;
  /** Changed only by truncate() and retimeline() (they keep #truncatedMerged with it). */
  readonly truncations: Truncation[] = [];
  /** Every record this segment knows: held (in #sorted) or set aside (in #aside). */
  readonly #known = new Map<Lsn, RecordEntry>();
  /**
   * Records held once and voided since (a truncation, or a backtrack marker's void), ascending: kept
   * until log collection passes them, so that a backtrack forward, or a truncation clipped by a marker
   * learned late, can bring them back without copying anything (docs/adr/015-backtrack.md). Sorted
   * arrays rather than a second map, so that a backtrack moves a whole run of records in one step.
   */
  #aside: Lsn[] = [];
  /** The set-aside commit records, ascending: a backtrack's target search reads them too. */
  #asideCommits: Lsn[] = [];
  /** `truncations` merged (mergeRanges), kept with it. */
  #truncatedMerged: LsnRange[] = [];
  /** What the backtrack markers void now (the complement of the timeline; finite ranges, ascending). */
  #backtrackVoids: LsnRange[] = [];
  /** Backlinks of records being made durable (written, not yet held): predecessor → LSN. */
  readonly #claims = new Map<Lsn, Lsn>();
  /** Held LSNs ascending, for range reads (gossip, coalescing). Appends are nearly always in order. */
  #sorted: Lsn[] = [];
  /** Held commit (CPL) records, ascending: recovery starts from the last one. */
  #commits: Lsn[] = [];
  /** Full segments: pageNo → LSNs of its page records, ascending, less those pruned. */
  #pageRecords = new Map<number, Lsn[]>();
  /** pageNo → highest LSN pruned from its list: a read from a stored version below it is not exact. */
  #prunedUpto = new Map<number, Lsn>();
  /** pageNo → how many of its records are above coalescedLsn (the coalescer's backlog). */
  readonly #pending = new Map<number, number>();
  #pendingRecords = 0;
  #hottestPending = 0;
  /** Bumped by every truncation: a coalesce batch built across one must not mark itself done. */
  truncationCount = 0;
  /** Records up to here are reflected in stored page versions (set on open: resumeCoalescingAt). */
  coalescedLsn: Lsn = 0n;
  /**
   * Where coalescing batches ended (markCoalesced), ascending, above the base: each one a record held
   * then, up to which every record of its timeline had been through the coalescer. A record's timeline
   * below it never changes while it is on one (a backtrack or truncation voids whole suffixes), so once
   * a backtrack forward brings such a record back, its mark holds again, and the records below it need
   * no second coalescing (their page versions are still in the store: ADR 015). A truncation drops the
   * marks above its range's start (its versions are removed).
   */
  #coalescedMarks: Lsn[] = [];
  /** Records of the PG at or below this LSN are collected (0: none); a record of the chain. */
  #baseLsn: Lsn;
  /**
   * Reads below this LSN are refused unless a stored version is exactly at the read point: records
   * they may need were collected before the last restart (in memory, prunedUpto says it exactly).
   */
  exactFromLsn: Lsn;

  constructor(
    readonly pg: number,
    readonly kind: SegmentKind,
    baseLsn: Lsn = 0n,
    exactFromLsn: Lsn = baseLsn,
  ) {
    this.#baseLsn = baseLsn;
    this.exactFromLsn = exactFromLsn;
    this.chain = new SegmentChain(baseLsn);
  }

  get baseLsn(): Lsn {
    return this.#baseLsn;
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

  /** The highest commit record held with an LSN below `lsn` (0: none): recovery's way down the chain. */
  lastCplBelow(lsn: Lsn): Lsn {
    if (lsn === 0n) return 0n;
    const i = lsnUpperBound(this.#commits, lsn - 1n);
    return i === 0 ? 0n : this.#commits[i - 1]!;
  }

  get recordCount(): number {
    return this.#sorted.length;
  }

  has(lsn: Lsn): boolean {
    return this.#known.has(lsn) && !this.#isAside(lsn);
  }

  entry(lsn: Lsn): RecordEntry | undefined {
    const entry = this.#known.get(lsn);
    return entry === undefined || this.#isAside(lsn) ? undefined : entry;
  }

  #isAside(lsn: Lsn): boolean {
    const aside = this.#aside;
    if (aside.length === 0 || lsn < aside[0]! || lsn > aside[aside.length - 1]!) return false;
    return sortedHas(aside, lsn);
  }

  /** Highest end of the truncations applied here (0: none). */
  get truncatedUpto(): Lsn {
    let upto = 0n;
    for (const t of this.truncations) upto = lsnMax(upto, t.uptoLsn);
    return upto;
  }

  /** A binary search over the merged ranges: every record a node takes asks (hold, needsWrite). */
  isTruncated(lsn: Lsn): boolean {
    return rangeHolding(this.#truncatedMerged, lsn) !== undefined;
  }

  /** The backtrack void range holding lsn, if any (the voids are disjoint and ascending). */
  backtrackVoidOf(lsn: Lsn): LsnRange | undefined {
    return rangeHolding(this.#backtrackVoids, lsn);
  }

  /** Off the timeline: truncated, or voided by a backtrack marker. */
  isVoid(lsn: Lsn): boolean {
    return this.isTruncated(lsn) || this.backtrackVoidOf(lsn) !== undefined;
  }

  get backtrackVoids(): readonly LsnRange[] {
    return this.#backtrackVoids;
  }

  /** A held or set-aside (voided) record's entry: backtrack reads commits of other timelines. */
  anyEntry(lsn: Lsn): RecordEntry | undefined {
    return this.#known.get(lsn);
  }

  /** Commit LSNs held or set aside, ascending: where a backtrack looks for its target. */
  commitsAscending(): readonly Lsn[] {
    return this.#asideCommits.length === 0 ? this.#commits : mergeSorted(this.#commits, this.#asideCommits);
  }

  /** Voided entries kept for a backtrack forward (memory accounting, tests). */
  get voidedCount(): number {
    return this.#aside.length;
  }

  /**
   * Checks a record from the network before anything is written: a record that contradicts this
   * segment's chain (or a record of the same request, or one in flight) is bad input from a broken or
   * stale client, answered with an error — never a crash of the node.
   */
  problemWith(record: RedoRecord, requestClaims: Map<Lsn, Lsn>): RecordProblem {
    const conflict = this.chain.conflictOf(record.lsn, record.prevLsnInPg);
    if (conflict !== undefined) return conflict;
    if (this.has(record.lsn) || this.isVoid(record.lsn)) return undefined;
    for (const claims of [this.#claims, requestClaims]) {
      const other = claims.get(record.prevLsnInPg);
      if (other !== undefined && other !== record.lsn) return 'two records backlink to the same predecessor';
    }
    requestClaims.set(record.prevLsnInPg, record.lsn);
    return undefined;
  }

  /** Whether a record needs writing: not held, not void, not collected, not already on its way to disk. */
  needsWrite(record: RedoRecord): boolean {
    if (record.lsn <= this.#baseLsn) return false;
    if (this.has(record.lsn) || this.isVoid(record.lsn)) return false;
    return this.#claims.get(record.prevLsnInPg) !== record.lsn;
  }

  /** Reserves a record's place in the chain while it is written (see problemWith). */
  claim(record: RedoRecord): void {
    this.#claims.set(record.prevLsnInPg, record.lsn);
  }

  /** Gives back a claim whose write failed (no space): the record may be written again later. */
  unclaim(record: RedoRecord): void {
    if (this.#claims.get(record.prevLsnInPg) === record.lsn) this.#claims.delete(record.prevLsnInPg);
  }

  /** Takes a durable record. Returns whether it was new to this segment. */
  hold(record: RedoRecord, location: LogLocation): boolean {
    if (this.#claims.get(record.prevLsnInPg) === record.lsn) this.#claims.delete(record.prevLsnInPg);
    if (record.lsn <= this.#baseLsn) return false;
    if (this.#known.has(record.lsn)) return this.#holdAgain(record);
    if (this.backtrackVoidOf(record.lsn) && !this.isTruncated(record.lsn)) {
      // Off the timeline (the log replayed on open): kept aside for a backtrack forward.
      this.#known.set(record.lsn, this.#entryOf(record, location));
      insertSorted(this.#aside, record.lsn);
      if (record.kind === RecordKind.Commit) insertSorted(this.#asideCommits, record.lsn);
      return false;
    }
    const result = this.chain.add(record.lsn, record.prevLsnInPg);
    if (result !== 'added') return false;
    const entry = this.#entryOf(record, location);
    this.#known.set(record.lsn, entry);
    this.#listHeld(record.lsn, entry);
    return true;
  }

  /** Lists a record just added to the chain: held LSNs, commits, its page's records. */
  #listHeld(lsn: Lsn, entry: RecordEntry): void {
    insertSorted(this.#sorted, lsn);
    if (entry.kind === RecordKind.Commit) insertSorted(this.#commits, lsn);
    if (this.kind === 'full' && isPageRecord(entry.kind)) this.#addPageRecord(entry.pageNo, lsn);
  }

  /**
   * A record already known. Held or void: nothing to do. Set aside because it contradicted the chain
   * (a retimeline found its predecessor claimed) and fitting it now (a truncation voided the other
   * claimant): held from now on, at the location it already has — as a restart would hold it.
   */
  #holdAgain(record: RedoRecord): boolean {
    const { lsn, prevLsnInPg } = record;
    if (!this.#isAside(lsn) || this.isVoid(lsn)) return false;
    if (this.chain.tryAdd(lsn, prevLsnInPg) !== 'added') return false;
    const entry = this.#known.get(lsn)!;
    this.#aside.splice(lsnUpperBound(this.#aside, lsn) - 1, 1);
    if (entry.kind === RecordKind.Commit)
      this.#asideCommits.splice(lsnUpperBound(this.#asideCommits, lsn) - 1, 1);
    this.#listHeld(lsn, entry);
    return true;
  }

  #entryOf(record: RedoRecord, location: LogLocation): RecordEntry {
    return { location, pageNo: record.pageNo, kind: record.kind, prevLsnInPg: record.prevLsnInPg };
  }

  /**
   * Takes the volume's new timeline (a backtrack marker learned: docs/adr/015-backtrack.md) and the
   * truncations in force (clipped by the markers): held records that left the timeline are set aside,
   * set-aside ones back on it return, and the chain, commit list and page lists follow. Records at or
   * below the lowest LSN whose place changes keep it; above it, a run of records inside one void range
   * moves aside as a copy of list elements (no map or chain work per record), and only records on the
   * timeline are looked at one by one. So a backtrack costs what lies above its target in plain array
   * copies, plus the chain and page-list work for what it brings back — nothing for the records below
   * the target, however large the volume. No record is read from the log or copied.
   */
  retimeline(backtrackVoids: readonly LsnRange[], truncations: readonly Truncation[]): void {
    const changedAbove = lowestChange(
      [...this.truncations, ...this.#backtrackVoids],
      [...truncations, ...backtrackVoids],
    );
    for (let i = 0; i < backtrackVoids.length; i++) {
      const r = backtrackVoids[i]!;
      assert(
        r.aboveLsn < r.uptoLsn && (i === 0 || backtrackVoids[i - 1]!.uptoLsn < r.aboveLsn),
        'backtrack voids are disjoint and ascending (the gaps of a timeline)',
      );
    }
    this.#backtrackVoids = backtrackVoids.map((r) => ({ ...r }));
    this.truncations.splice(0, this.truncations.length, ...truncations.map((t) => ({ ...t })));
    this.#truncatedMerged = mergeRanges(this.truncations);
    this.#claims.clear();
    this.truncationCount++;
    if (changedAbove === undefined) return;
    const from = lsnMax(changedAbove, this.#baseLsn);
    // Merged (disjoint, ascending): a binary search per record, and the longest runs.
    const voids = mergeRanges([...this.truncations, ...this.#backtrackVoids]);

    // Every record above `from`, held or set aside, leaves its lists; each is placed again below.
    const heldAbove = cutAbove(this.#sorted, from);
    const asideAbove = cutAbove(this.#aside, from);
    const candidates = mergeSorted(heldAbove, asideAbove);
    const commits = mergeSorted(cutAbove(this.#commits, from), cutAbove(this.#asideCommits, from));
    const touchedPages = this.#cutPageListsAbove(from, heldAbove);
    this.chain.rewind(
      from,
      voids
        .filter((r) => r.uptoLsn > this.#baseLsn)
        .map((r) => ({ aboveLsn: lsnMax(r.aboveLsn, this.#baseLsn), uptoLsn: r.uptoLsn })),
    );

    // In LSN order (a record's place depends only on those below it). Off the timeline: the whole run
    // up to the end of its void range goes aside at once. Commits follow their records.
    const conflicting = new Set<Lsn>();
    let restoredFrom: Lsn | undefined;
    walkRuns(
      candidates,
      voids,
      (start, end) => {
        this.#aside = withRun(this.#aside, candidates, start, end);
      },
      (lsn) => {
        const entry = this.#known.get(lsn)!;
        const added = this.chain.tryAdd(lsn, entry.prevLsnInPg);
        if (typeof added === 'object') {
          // Contradicts the timeline's chain (an old writer's record): set aside, never held.
          conflicting.add(lsn);
          this.#aside.push(lsn);
          return;
        }
        // On the timeline, above the rewound chain: neither void nor held there yet.
        assert(added === 'added', () => `record ${lsnToString(lsn)} on the timeline came back ${added}`);
        // Brought back: never coalesced on this timeline's behalf, so coalescing restarts below it.
        if (restoredFrom === undefined && sortedHas(asideAbove, lsn)) restoredFrom = lsn - 1n;
        this.#sorted.push(lsn);
        // Pruning only ever reached below every backtrack target (GC's floor includes the backtrack
        // floor), so a record above `from` is listed again unless its page was pruned past it.
        if (this.kind === 'full' && isPageRecord(entry.kind) && lsn > this.prunedUpto(entry.pageNo)) {
          this.#addPageRecord(entry.pageNo, lsn);
          touchedPages.add(entry.pageNo);
        }
      },
    );
    walkRuns(
      commits,
      voids,
      (start, end) => {
        this.#asideCommits = withRun(this.#asideCommits, commits, start, end);
      },
      (lsn) => (conflicting.has(lsn) ? this.#asideCommits : this.#commits).push(lsn),
    );
    if (restoredFrom !== undefined) {
      // Records brought back are coalesced up to the highest mark back on the timeline, if above.
      const covered = lsnMax(restoredFrom, this.#highestMarkHeld(restoredFrom));
      if (this.coalescedLsn > covered) this.coalescedLsn = covered;
    }
    // Only pages with records above `from` can change their backlog: every record the lowered
    // coalescedLsn makes pending again lies above it.
    this.#recountPages(touchedPages);
  }

  /**
   * Cuts every page list at `from`; returns the pages cut. Walks the records above `from` when they are
   * fewer than the pages, the page lists otherwise.
   */
  #cutPageListsAbove(from: Lsn, heldAbove: readonly Lsn[]): Set<number> {
    const touched = new Set<number>();
    if (this.kind !== 'full') return touched;
    // A map lookup per record costs ~20x a look at a list's last element.
    if (heldAbove.length * 20 < this.#pageRecords.size) {
      for (const lsn of heldAbove) {
        const entry = this.#known.get(lsn)!;
        if (isPageRecord(entry.kind)) touched.add(entry.pageNo);
      }
    } else {
      for (const [pageNo, list] of this.#pageRecords) if (list[list.length - 1]! > from) touched.add(pageNo);
    }
    for (const pageNo of touched) {
      const list = this.#pageRecords.get(pageNo);
      if (!list) continue;
      list.length = lsnUpperBound(list, from);
      if (list.length === 0) this.#pageRecords.delete(pageNo);
    }
    return touched;
  }

  #addPageRecord(pageNo: number, lsn: Lsn): void {
    let list = this.#pageRecords.get(pageNo);
    if (!list) {
      list = [];
      this.#pageRecords.set(pageNo, list);
    }
    insertSorted(list, lsn);
    if (lsn > this.coalescedLsn) {
      const pending = (this.#pending.get(pageNo) ?? 0) + 1;
      this.#pending.set(pageNo, pending);
      this.#pendingRecords++;
      if (pending > this.#hottestPending) this.#hottestPending = pending;
    }
  }

  /** Applies a truncation: records in (aboveLsn, uptoLsn] are void here and refused from now on. */
  truncate(t: Truncation): void {
    if (this.truncations.some((x) => x.aboveLsn === t.aboveLsn && x.uptoLsn === t.uptoLsn)) return;
    this.truncations.push(t);
    this.#truncatedMerged = mergeRanges(this.truncations);
    // A range below the base voided records long collected (a recovery truncates above VDL, and the
    // base never passes VDL): known, so that it is not taken as new again, but nothing left to void.
    if (t.uptoLsn <= this.#baseLsn) return;
    const aboveLsn = lsnMax(t.aboveLsn, this.#baseLsn);
    this.chain.truncate(aboveLsn, t.uptoLsn);
    const inRange = (lsn: Lsn) => lsn > aboveLsn && lsn <= t.uptoLsn;
    // The held records in the range are set aside (a marker learned later may clip the range).
    const takeRange = (sorted: Lsn[]) => {
      const at = lsnUpperBound(sorted, aboveLsn);
      return sorted.splice(at, lsnUpperBound(sorted, t.uptoLsn) - at);
    };
    const moved = takeRange(this.#sorted);
    this.#aside = mergeSorted(this.#aside, moved);
    this.#asideCommits = mergeSorted(this.#asideCommits, takeRange(this.#commits));
    this.truncationCount++;
    if (this.coalescedLsn > t.aboveLsn) this.coalescedLsn = t.aboveLsn;
    this.#coalescedMarks.length = lsnUpperBound(this.#coalescedMarks, t.aboveLsn);
    if (this.kind !== 'full') return;
    // The page store drops its versions in the range, and pruning may have relied on one of them: a
    // pruned list is rebuilt from the held records (truncations are rare: only at crash recovery).
    let prunedAbove = false;
    for (const upto of this.#prunedUpto.values()) if (upto > t.aboveLsn) prunedAbove = true;
    if (prunedAbove) {
      this.#pageRecords = new Map();
      this.#prunedUpto = new Map();
      for (const lsn of this.#sorted) {
        const entry = this.#known.get(lsn)!;
        if (isPageRecord(entry.kind)) this.#addPageRecord(entry.pageNo, lsn);
      }
    } else {
      const pages = new Set<number>();
      for (const lsn of moved) {
        const entry = this.#known.get(lsn)!;
        if (isPageRecord(entry.kind)) pages.add(entry.pageNo);
      }
      for (const pageNo of pages) {
        const list = this.#pageRecords.get(pageNo);
        if (!list) continue;
        const kept = list.filter((lsn) => !inRange(lsn));
        if (kept.length === 0) this.#pageRecords.delete(pageNo);
        else this.#pageRecords.set(pageNo, kept);
      }
    }
    this.#recountPending(true);
  }

  /** The highest held LSN at or below lsn: the backlink for the next record after a truncation. */
  lastHeldAtOrBelow(lsn: Lsn): Lsn {
    const i = lsnUpperBound(this.#sorted, lsn);
    return i === 0 ? 0n : this.#sorted[i - 1]!;
  }

  /** Held LSNs in (afterLsn, uptoLsn], ascending, at most `limit`. */
  lsnsInRange(afterLsn: Lsn, uptoLsn: Lsn, limit: number): Lsn[] {
    const out: Lsn[] = [];
    for (let i = lsnUpperBound(this.#sorted, afterLsn); i < this.#sorted.length && out.length < limit; i++) {
      const lsn = this.#sorted[i]!;
      if (lsn > uptoLsn) break;
      out.push(lsn);
    }
    return out;
  }

  /** Page records of pageNo held in its list with LSN in (afterLsn, uptoLsn], ascending. */
  pageRecordsIn(pageNo: number, afterLsn: Lsn, uptoLsn: Lsn): Lsn[] {
    const list = this.#pageRecords.get(pageNo);
    if (!list) return [];
    const out: Lsn[] = [];
    for (let i = lsnUpperBound(list, afterLsn); i < list.length && list[i]! <= uptoLsn; i++)
      out.push(list[i]!);
    return out;
  }

  /**
   * The highest LSN pruned from pageNo's list (0: none). A page built from a stored version below it
   * would miss records, unless the version is exactly at the read point.
   */
  prunedUpto(pageNo: number): Lsn {
    return this.#prunedUpto.get(pageNo) ?? 0n;
  }

  /**
   * Drops pageNo's records at or below versionLsn from its list. The caller guarantees a stored
   * version of the page at versionLsn, at or below the read point floor: every allowed read starts
   * from it or from a newer version, so these records are never replayed again (they stay in the log).
   */
  prunePageRecords(pageNo: number, versionLsn: Lsn): number {
    assert(versionLsn <= this.coalescedLsn, 'records are pruned only below a stored version');
    const list = this.#pageRecords.get(pageNo);
    if (!list) return 0;
    const cut = lsnUpperBound(list, versionLsn);
    if (cut === 0) return 0;
    if (cut === list.length) this.#pageRecords.delete(pageNo);
    else list.splice(0, cut);
    if (versionLsn > this.prunedUpto(pageNo)) this.#prunedUpto.set(pageNo, versionLsn);
    return cut;
  }

  /** The newest commit record held at or below lsn (0: none). */
  lastCommitAtOrBelow(lsn: Lsn): Lsn {
    return this.lastCplBelow(lsn + 1n);
  }

  /** A held record's backlink. */
  prevOf(lsn: Lsn): Lsn {
    const entry = this.entry(lsn);
    assert(entry !== undefined, 'prevOf a record not held');
    return entry.prevLsnInPg;
  }

  /** Full segments: the lowest LSN a page-record list still names (undefined: none). O(pages). */
  get pageRecordsFrom(): Lsn | undefined {
    let lowest: Lsn | undefined;
    for (const list of this.#pageRecords.values()) {
      const first = list[0];
      if (first !== undefined && (lowest === undefined || first < lowest)) lowest = first;
    }
    return lowest;
  }

  /** The lowest LSN held (0: none): the oldest record the log still keeps for this segment. */
  get oldestHeldLsn(): Lsn {
    return this.#sorted[0] ?? 0n;
  }

  /**
   * Log collection: lets go of every record at or below baseLsn (a record of the chain, at or below
   * SCL, above no page record still listed). Returns how many index entries went.
   */
  collectUpto(baseLsn: Lsn): number {
    assert(baseLsn <= this.chain.scl, 'collection stays at or below SCL');
    if (baseLsn <= this.#baseLsn) return 0;
    const listed = this.pageRecordsFrom;
    assert(listed === undefined || listed > baseLsn, 'no page record a read may replay is collected');
    const cut = lsnUpperBound(this.#sorted, baseLsn);
    for (let i = 0; i < cut; i++) this.#known.delete(this.#sorted[i]!);
    this.#sorted.splice(0, cut);
    this.#forgetAsideUpto(baseLsn);
    this.#commits.splice(0, lsnUpperBound(this.#commits, baseLsn));
    this.#baseLsn = baseLsn;
    this.chain.forgetBelow(baseLsn);
    this.#coalescedMarks.splice(0, lsnUpperBound(this.#coalescedMarks, baseLsn));
    return cut;
  }

  /**
   * A segment behind its peers' log base, rebuilt from page images as of atLsn (a record of the
   * chain): everything at or below atLsn is dropped, the chain starts over at atLsn, held records above
   * it are kept (the ones that contradict the new chain — void records of an old writer — are dropped),
   * and reads below atLsn are refused. The caller stored the images (full) and made the base durable.
   */
  rebase(atLsn: Lsn): void {
    assert(atLsn > this.#baseLsn, 'a rebase moves the base forward');
    const at = lsnUpperBound(this.#sorted, atLsn);
    for (let i = 0; i < at; i++) this.#known.delete(this.#sorted[i]!);
    const kept = this.#sorted.slice(at);
    this.#sorted = [];
    this.#commits = [];
    this.#pageRecords = new Map();
    this.#prunedUpto = new Map();
    this.#claims.clear();
    this.#baseLsn = atLsn;
    this.exactFromLsn = atLsn;
    this.chain = new SegmentChain(atLsn);
    for (const t of [...this.truncations, ...this.#backtrackVoids]) {
      if (t.aboveLsn >= atLsn) this.chain.truncate(t.aboveLsn, t.uptoLsn);
    }
    this.#forgetAsideUpto(atLsn);
    this.truncationCount++;
    this.coalescedLsn = atLsn;
    this.#coalescedMarks = [];
    for (const lsn of kept) {
      const entry = this.#known.get(lsn)!;
      if (this.chain.tryAdd(lsn, entry.prevLsnInPg) !== 'added') {
        this.#known.delete(lsn);
        continue;
      }
      this.#sorted.push(lsn);
      if (entry.kind === RecordKind.Commit) this.#commits.push(lsn);
      if (this.kind === 'full' && isPageRecord(entry.kind)) this.#addPageRecord(entry.pageNo, lsn);
    }
    this.#recountPending(true);
  }

  /** Lets go of the set-aside records at or below lsn (collected, or under a rebased segment's base). */
  #forgetAsideUpto(lsn: Lsn): void {
    const cut = lsnUpperBound(this.#aside, lsn);
    for (let i = 0; i < cut; i++) this.#known.delete(this.#aside[i]!);
    this.#aside.splice(0, cut);
    this.#asideCommits.splice(0, lsnUpperBound(this.#asideCommits, lsn));
  }

  /** Records waiting for the coalescer: in all, and on the page that has the most. */
  get coalesceBacklog(): { records: number; hottestPage: number } {
    return { records: this.#pendingRecords, hottestPage: this.#hottestPending };
  }

  /**
   * On open, once the log is replayed: where the page store's versions end. Its marker is the
   * authority (a truncation lowers it in the same transaction that removes the range's versions).
   */
  resumeCoalescingAt(lsn: Lsn): void {
    if (this.kind !== 'full') return;
    this.coalescedLsn = lsn;
    this.#coalescedMarks = [];
    this.#recountPending(true);
  }

  /** Marks records up to lsn as coalesced (the page store holds versions reflecting them). */
  markCoalesced(lsn: Lsn): void {
    assert(lsn >= this.coalescedLsn, 'coalesced LSN only moves forward');
    this.coalescedLsn = lsn;
    const marks = this.#coalescedMarks;
    if (lsn > this.#baseLsn && this.has(lsn) && (marks.length === 0 || lsn > marks[marks.length - 1]!)) {
      marks.push(lsn);
      // Bounded: keep every other one (and the newest).
      if (marks.length > coalescedMarksMax)
        this.#coalescedMarks = marks.filter((_, i) => i % 2 === 1 || i === marks.length - 1);
    }
    this.#recountPending();
  }

  /** The highest coalescing mark above `above` whose record is on the timeline (0: none). */
  #highestMarkHeld(above: Lsn): Lsn {
    const marks = this.#coalescedMarks;
    for (let i = marks.length - 1; i >= 0 && marks[i]! > above; i--)
      if (this.has(marks[i]!)) return marks[i]!;
    return 0n;
  }

  /**
   * Recounts the coalescer's backlog: of the pages that had some (coalescing only takes records away),
   * or of every page (a truncation may lower coalescedLsn below records that were not pending).
   */
  #recountPending(everyPage = false): void {
    const pages = everyPage ? [...this.#pageRecords.keys()] : [...this.#pending.keys()];
    this.#pending.clear();
    this.#pendingRecords = 0;
    this.#hottestPending = 0;
    for (const pageNo of pages) {
      const list = this.#pageRecords.get(pageNo);
      if (!list) continue;
      const pending = list.length - lsnUpperBound(list, this.coalescedLsn);
      if (pending === 0) continue;
      this.#pending.set(pageNo, pending);
      this.#pendingRecords += pending;
      if (pending > this.#hottestPending) this.#hottestPending = pending;
    }
  }

  /** Recounts the backlog of the given pages only; the hottest page is the busiest one left. */
  #recountPages(pages: Iterable<number>): void {
    for (const pageNo of pages) {
      const list = this.#pageRecords.get(pageNo);
      const pending = list ? list.length - lsnUpperBound(list, this.coalescedLsn) : 0;
      this.#pendingRecords += pending - (this.#pending.get(pageNo) ?? 0);
      if (pending === 0) this.#pending.delete(pageNo);
      else this.#pending.set(pageNo, pending);
    }
    this.#hottestPending = 0;
    for (const pending of this.#pending.values())
      if (pending > this.#hottestPending) this.#hottestPending = pending;
  }

  /** Moves a record to a new location (scrub rewrote a good copy). */
  relocate(lsn: Lsn, location: LogLocation): void {
    const entry = this.entry(lsn);
    assert(entry !== undefined, 'relocate of a record not held');
    entry.location = location;
  }

  /** Every held LSN with its entry, ascending (scrub walks this). */
  *entries(fromLsn: Lsn = 0n): Generator<[Lsn, RecordEntry]> {
    for (let i = lsnUpperBound(this.#sorted, fromLsn); i < this.#sorted.length; i++) {
      const lsn = this.#sorted[i]!;
      const entry = this.#known.get(lsn);
      if (entry) yield [lsn, entry];
    }
  }
}

export function isPageRecord(kind: RecordKindValue): boolean {
  return kind === RecordKind.PageDelta || kind === RecordKind.PageImage;
}

function insertSorted(sorted: Lsn[], value: Lsn): void {
  const n = sorted.length;
  if (n === 0 || sorted[n - 1]! < value) {
    sorted.push(value);
    return;
  }
  const at = lsnUpperBound(sorted, value);
  if (at > 0 && sorted[at - 1] === value) return;
  sorted.splice(at, 0, value);
}

/**
 * The lowest LSN above which two lists of void ranges may disagree (undefined: the same ranges). A
 * range in one list and not the other voids nothing at or below its aboveLsn, so every LSN at or below
 * the lowest such aboveLsn is void under both lists or under neither.
 */
function lowestChange(before: readonly LsnRange[], after: readonly LsnRange[]): Lsn | undefined {
  const key = (r: LsnRange) => `${r.aboveLsn}:${r.uptoLsn}`;
  const count = new Map<string, number>();
  for (const r of before) count.set(key(r), (count.get(key(r)) ?? 0) + 1);
  for (const r of after) count.set(key(r), (count.get(key(r)) ?? 0) - 1);
  let lowest: Lsn | undefined;
  for (const r of [...before, ...after]) {
    if (count.get(key(r)) === 0) continue;
    if (lowest === undefined || r.aboveLsn < lowest) lowest = r.aboveLsn;
  }
  return lowest;
}

/** Removes and returns the elements above `from` of an ascending list. */
function cutAbove(sorted: Lsn[], from: Lsn): Lsn[] {
  const cut = lsnUpperBound(sorted, from);
  if (cut === sorted.length) return [];
  const above = sorted.slice(cut);
  sorted.length = cut;
  return above;
}

/**
 * `to` followed by from[start, end) (both ascending, to's last below from[start]): native copies (a
 * push per element costs ~10x), and no copy at all when `to` is empty and the run is all of `from`.
 */
function withRun(to: Lsn[], from: Lsn[], start: number, end: number): Lsn[] {
  if (to.length === 0 && start === 0 && end === from.length) return from;
  return to.concat(from.slice(start, end));
}

/**
 * Two ascending lists with no element in common, as one. When one is empty it is the other itself
 * (no copy of a long list): callers pass lists they own, or keep the result read-only.
 */
function mergeSorted(a: Lsn[], b: Lsn[]): Lsn[] {
  if (b.length === 0) return a;
  if (a.length === 0) return b;
  const out: Lsn[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = a[i]! < b[j]! ? a[i++]! : b[j++]!;
  while (i < a.length) out[k++] = a[i++]!;
  while (j < b.length) out[k++] = b[j++]!;
  return out;
}

function sortedHas(sorted: readonly Lsn[], lsn: Lsn): boolean {
  const i = lsnUpperBound(sorted, lsn);
  return i > 0 && sorted[i - 1] === lsn;
}

/**
 * Walks an ascending list in order: each run of elements inside one of `voids` (disjoint, ascending:
 * mergeRanges) is handed over whole (indexes [start, end)), every other element one by one.
 */
function walkRuns(
  list: readonly Lsn[],
  voids: readonly LsnRange[],
  run: (start: number, end: number) => void,
  single: (lsn: Lsn) => void,
): void {
  for (let i = 0; i < list.length; ) {
    const range = rangeHolding(voids, list[i]!);
    if (range === undefined) {
      single(list[i++]!);
      continue;
    }
    const end = lsnUpperBound(list, range.uptoLsn);
    run(i, end);
    i = end;
  }
}

/** The range of `ranges` holding lsn, if any. */
