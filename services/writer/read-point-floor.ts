// PGMRPL: the lowest read point any reader of the volume may still use. Storage nodes collect page
// versions and collapse page-record lists below it (services/storage-node), so it must never pass a
// read point in use. The writer knows its own pinned read points exactly; readers and snapshots do
// not report theirs yet, so the floor also trails VDL by a time window: a reader transaction or a
// paced snapshot older than the window may have its reads refused ("below the read point floor") —
// refused, never answered wrong. Pure: the writer feeds it VDL samples and sends what it returns.
import type { Lsn } from '../../core/lsn.ts';

export class ReadPointFloor {
  /** (time, VDL) samples, oldest first; only the newest one at least windowMs old matters. */
  readonly #samples: { atMs: number; vdl: Lsn }[] = [];
  #floor: Lsn = 0n;

  constructor(readonly windowMs: number) {}

  /**
   * Records VDL at time nowMs and returns the floor: the VDL of windowMs ago, lowered to the oldest
   * read point the writer itself has pinned. Never moves backwards.
   */
  advance(nowMs: number, vdl: Lsn, writerOldestReadPoint: Lsn): Lsn {
    const last = this.#samples[this.#samples.length - 1];
    if (!last || vdl > last.vdl) this.#samples.push({ atMs: nowMs, vdl });
    let trailing: Lsn | undefined;
    while (this.#samples.length > 0 && this.#samples[0]!.atMs <= nowMs - this.windowMs) {
      trailing = this.#samples[0]!.vdl;
      // Keep the newest old-enough sample: it is the floor until a younger one ages.
      if (this.#samples.length > 1 && this.#samples[1]!.atMs <= nowMs - this.windowMs) this.#samples.shift();
      else break;
    }
    if (trailing === undefined) return this.#floor;
    const candidate = trailing < writerOldestReadPoint ? trailing : writerOldestReadPoint;
    if (candidate > this.#floor) this.#floor = candidate;
    return this.#floor;
  }

  get floor(): Lsn {
    return this.#floor;
  }
}
