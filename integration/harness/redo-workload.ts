// A deterministic redo workload for storage tests and benchmarks: batches of page records (a full
// image on a page's first write, deltas after) across several PGs, each batch ending in a commit
// record. It keeps the model — every record shipped and every page's expected bytes — that the
// storage nodes are checked against.
import { computeDelta } from '../../core/delta.ts';
import type { Lsn } from '../../core/lsn.ts';
import { prng } from '../../core/prng.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { pgOfPage, type VolumeConfig } from '../../core/volume.ts';
import type { LogShipper, NewRecord } from '../../services/writer/log-shipper.ts';

export class RedoWorkload {
  readonly shipped = new Map<Lsn, RedoRecord>();
  readonly #pages = new Map<number, Uint8Array>();
  /** pageNo → [lsn, bytes after that record] in LSN order. */
  readonly #history = new Map<number, { lsn: Lsn; bytes: Uint8Array }[]>();
  readonly #random: () => number;
  #txnId = 0n;

  constructor(
    readonly volume: VolumeConfig,
    seed: number,
    readonly pagesPerBatch = 2,
  ) {
    this.#random = prng(seed);
  }

  get pageCount(): number {
    return this.volume.placement.length * this.volume.pagesPerPg;
  }

  /** Makes the next batch's records (not yet shipped). */
  nextBatch(): NewRecord[] {
    const records: NewRecord[] = [];
    let lastPg = 0;
    for (let i = 0; i < this.pagesPerBatch; i++) {
      const pageNo = 1 + Math.floor(this.#random() * this.pageCount);
      const old = this.#pages.get(pageNo);
      const next = old ? Uint8Array.from(old) : new Uint8Array(this.volume.pageSizeBytes);
      const at = Math.floor(this.#random() * (this.volume.pageSizeBytes - 64));
      for (let j = 0; j < 48; j++) next[at + j] = Math.floor(this.#random() * 256);
      this.#pages.set(pageNo, next);
      records.push(
        old
          ? { pageNo, kind: RecordKind.PageDelta, flags: 0, payload: computeDelta(old, next) }
          : { pageNo, kind: RecordKind.PageImage, flags: 0, payload: next },
      );
      lastPg = pgOfPage(this.volume, pageNo);
    }
    this.#txnId++;
    records.push({
      pg: lastPg,
      pageNo: 0,
      kind: RecordKind.Commit,
      flags: RecordFlags.Cpl,
      payload: encodeCommitPayload({
        txnId: this.#txnId,
        commitTimeMs: Date.now(),
        pgTails: [],
        vdlHint: 0n,
        prevCommitLsn: 0n,
        prevCommitPg: 0,
      }),
    });
    return records;
  }

  /** Ships the next batch and records the model. */
  ship(shipper: LogShipper): { records: RedoRecord[]; durable: Promise<void> } {
    const batch = shipper.ship(this.nextBatch());
    for (const r of batch.records) {
      this.shipped.set(r.lsn, r);
      if (r.pageNo !== 0) {
        let list = this.#history.get(r.pageNo);
        if (!list) {
          list = [];
          this.#history.set(r.pageNo, list);
        }
        list.push({ lsn: r.lsn, bytes: this.#pages.get(r.pageNo)! });
      }
    }
    return batch;
  }

  /** The page as the model has it at readPoint (undefined: never written by then). */
  pageAt(pageNo: number, readPoint: Lsn): { lsn: Lsn; bytes: Uint8Array } | undefined {
    const list = this.#history.get(pageNo) ?? [];
    let found: { lsn: Lsn; bytes: Uint8Array } | undefined;
    for (const v of list) if (v.lsn <= readPoint) found = v;
    return found;
  }

  writtenPages(): number[] {
    return [...this.#history.keys()].sort((a, b) => a - b);
  }

  /** The highest shipped LSN of each PG. */
  lastLsnByPg(): Map<number, Lsn> {
    const out = new Map<number, Lsn>();
    for (const r of this.shipped.values()) if ((out.get(r.pg) ?? 0n) < r.lsn) out.set(r.pg, r.lsn);
    return out;
  }
}
