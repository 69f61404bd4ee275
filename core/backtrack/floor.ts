// The backtrack floor a writer sends storage (CollectionFloor.backtrack, ADR 013/015): the LSN below
// which no backtrack inside the window can go, so log collection and page-version GC keep everything
// above it. Pure: the writer notes its VDL with the wall time every few seconds; the floor is the
// newest VDL noted at or before now − window. Before a whole window has passed since this writer
// opened it cannot know that LSN (older commits came from earlier writers), so it holds everything (0).
import { assert } from '../assert.ts';
import type { Lsn } from '../lsn.ts';

/** Samples kept; when full every other one goes, so the samples still span the whole window. */
export const backtrackFloorSamplesMax = 4_096;

export class BacktrackFloor {
  readonly #windowMs: number;
  readonly #openedAtMs: number;
  #samples: { timeMs: number; lsn: Lsn }[] = [];

  constructor(windowMs: number, openedAtMs: number) {
    assert(Number.isSafeInteger(windowMs) && windowMs >= 0, 'the backtrack window is a whole number of ms');
    this.#windowMs = windowMs;
    this.#openedAtMs = openedAtMs;
  }

  /** Notes the VDL at nowMs (every commit at or below it has a commit time at or before nowMs). */
  note(nowMs: number, vdl: Lsn): void {
    const last = this.#samples[this.#samples.length - 1];
    if (last && (nowMs < last.timeMs || vdl < last.lsn)) return; // a clock step back: keep the order
    this.#samples.push({ timeMs: nowMs, lsn: vdl });
    if (this.#samples.length > backtrackFloorSamplesMax)
      this.#samples = this.#samples.filter((_, i) => i % 2 === 1);
    // Samples older than the one the floor uses are never needed again.
    const cutoff = nowMs - this.#windowMs;
    let keepFrom = 0;
    while (keepFrom + 1 < this.#samples.length && this.#samples[keepFrom + 1]!.timeMs <= cutoff) keepFrom++;
    if (keepFrom > 0) this.#samples = this.#samples.slice(keepFrom);
  }

  /** The floor at nowMs: 'none' when backtrack is off (window 0), else an LSN (0: hold everything). */
  floor(nowMs: number): Lsn | 'none' {
    if (this.#windowMs === 0) return 'none';
    const cutoff = nowMs - this.#windowMs;
    if (cutoff < this.#openedAtMs) return 0n;
    let floor = 0n;
    for (const s of this.#samples) if (s.timeMs <= cutoff) floor = s.lsn;
    return floor;
  }

  /** The wall time the floor stands for (what storage can go back to), undefined when off. */
  earliestTimeMs(nowMs: number): number | undefined {
    if (this.#windowMs === 0) return undefined;
    return nowMs - this.#windowMs;
  }
}
