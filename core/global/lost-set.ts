// Global Database, pure logic: the data loss of an unplanned global failover, stated exactly. When the
// old primary's volume rejoins as a secondary it still holds every commit it made durable; those above
// the point the new primary was promoted at (its VDL then) never reached the new primary and are
// discarded. This names them: the LSN range, how many transactions, and their commit times.
import { assert } from '../assert.ts';
import { type Lsn, lsnMax } from '../lsn.ts';

/** Lost transactions listed one by one at most (the count and the range are always exact). */
export const lostCommitsListedMax = 10_000;

export interface LostCommit {
  lsn: string;
  txnId: string;
  commitTime: string;
}

export interface LostSet {
  /** The commits in (aboveLsn, uptoLsn] are lost: aboveLsn is the promoted VDL, uptoLsn the old one. */
  lsnRange: { above: string; upTo: string };
  transactions: number;
  firstCommitTime: string | null;
  lastCommitTime: string | null;
  /** The lost transactions, oldest first (the first lostCommitsListedMax of them). */
  commits: LostCommit[];
  /** Whether `commits` lists every lost transaction. */
  complete: boolean;
}

/**
 * Builds the lost set from the old volume's commits in (aboveLsn, oldVdl], given in LSN order in any
 * number of pieces (they are read from storage in chunks): memory stays bounded by the listing limit.
 */
export class LostSetBuilder {
  #count = 0;
  #firstMs: number | undefined;
  #lastMs: number | undefined;
  #lastLsn: Lsn;
  readonly #listed: LostCommit[] = [];

  constructor(
    readonly aboveLsn: Lsn,
    readonly oldVdl: Lsn,
  ) {
    this.#lastLsn = aboveLsn;
  }

  add(commits: readonly { lsn: Lsn; txnId: bigint; commitTimeMs: number }[]): void {
    for (const c of commits) {
      if (c.lsn <= this.aboveLsn || c.lsn > this.oldVdl) continue;
      assert(c.lsn > this.#lastLsn, 'lost commits come in LSN order, each once');
      this.#lastLsn = c.lsn;
      this.#count++;
      this.#firstMs ??= c.commitTimeMs;
      this.#lastMs = c.commitTimeMs;
      if (this.#listed.length < lostCommitsListedMax) {
        this.#listed.push({
          lsn: c.lsn.toString(),
          txnId: c.txnId.toString(),
          commitTime: iso(c.commitTimeMs),
        });
      }
    }
  }

  result(): LostSet {
    return {
      lsnRange: { above: this.aboveLsn.toString(), upTo: lsnMax(this.oldVdl, this.aboveLsn).toString() },
      transactions: this.#count,
      firstCommitTime: this.#firstMs === undefined ? null : iso(this.#firstMs),
      lastCommitTime: this.#lastMs === undefined ? null : iso(this.#lastMs),
      commits: [...this.#listed],
      complete: this.#count === this.#listed.length,
    };
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
