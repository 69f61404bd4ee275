// VCL and VDL from the writer's point of view — pure, fed by the log shipper. Records are allocated
// in LSN order, each in one PG; a PG's records up to its PGCL are on a write quorum. VCL is the
// highest LSN below which every allocated record is on a write quorum of its PG; VDL is the highest
// CPL at or below VCL — the point up to which commits are acknowledged. LAL bounds how far
// allocation may run ahead of VDL.
import { assert } from '../../core/assert.ts';
import { type Lsn, lsnToString } from '../../core/lsn.ts';

export class VolumeDurability {
  /** Per PG: LSNs allocated and not yet known complete, ascending (a FIFO: allocation is in order). */
  readonly #outstanding = new Map<number, Lsn[]>();
  readonly #outstandingHead = new Map<number, number>();
  /** CPLs above VDL, ascending. */
  #cpls: Lsn[] = [];
  #cplHead = 0;
  #pgcl = new Map<number, Lsn>();
  #lastAllocated: Lsn;
  #vcl: Lsn;
  #vdl: Lsn;

  /** Starts with everything up to `durable` known durable (after recovery: the recovered VDL). */
  constructor(
    durable: Lsn,
    readonly lsnAllocationLimit: Lsn,
  ) {
    this.#lastAllocated = durable;
    this.#vcl = durable;
    this.#vdl = durable;
  }

  get vcl(): Lsn {
    return this.#vcl;
  }

  get vdl(): Lsn {
    return this.#vdl;
  }

  get lastAllocated(): Lsn {
    return this.#lastAllocated;
  }

  /** Whether `count` more LSNs may be allocated without passing VDL + LAL. */
  canAllocate(count: number): boolean {
    return this.#lastAllocated + BigInt(count) <= this.#vdl + this.lsnAllocationLimit;
  }

  /** A record was allocated (call in LSN order). */
  allocated(lsn: Lsn, pg: number, isCpl: boolean): void {
    assert(lsn > this.#lastAllocated, () => `LSN ${lsnToString(lsn)} allocated out of order`);
    this.#lastAllocated = lsn;
    let list = this.#outstanding.get(pg);
    if (!list) {
      list = [];
      this.#outstanding.set(pg, list);
      this.#outstandingHead.set(pg, 0);
    }
    list.push(lsn);
    if (isCpl) this.#cpls.push(lsn);
  }

  /** A PG's complete LSN rose (from the segments' acknowledged SCLs). Returns the new VDL. */
  pgComplete(pg: number, pgcl: Lsn): Lsn {
    const before = this.#pgcl.get(pg) ?? 0n;
    if (pgcl <= before) return this.#vdl;
    this.#pgcl.set(pg, pgcl);
    const list = this.#outstanding.get(pg);
    if (list) {
      let head = this.#outstandingHead.get(pg)!;
      while (head < list.length && list[head]! <= pgcl) head++;
      if (head === list.length) {
        this.#outstanding.delete(pg);
        this.#outstandingHead.delete(pg);
      } else if (head > 1024 && head * 2 > list.length) {
        this.#outstanding.set(pg, list.slice(head));
        this.#outstandingHead.set(pg, 0);
      } else {
        this.#outstandingHead.set(pg, head);
      }
    }
    this.#recompute();
    return this.#vdl;
  }

  #recompute(): void {
    let firstOutstanding: Lsn | undefined;
    for (const [pg, list] of this.#outstanding) {
      const head = list[this.#outstandingHead.get(pg)!]!;
      if (firstOutstanding === undefined || head < firstOutstanding) firstOutstanding = head;
    }
    const vcl = firstOutstanding === undefined ? this.#lastAllocated : firstOutstanding - 1n;
    assert(vcl >= this.#vcl, 'VCL never moves back');
    this.#vcl = vcl;
    while (this.#cplHead < this.#cpls.length && this.#cpls[this.#cplHead]! <= vcl) {
      this.#vdl = this.#cpls[this.#cplHead]!;
      this.#cplHead++;
    }
    if (this.#cplHead > 1024 && this.#cplHead * 2 > this.#cpls.length) {
      this.#cpls = this.#cpls.slice(this.#cplHead);
      this.#cplHead = 0;
    }
  }
}
