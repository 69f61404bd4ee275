// The backtrack floor a writer sends storage (CollectionFloor.backtrack, ADR 013/015): the LSN below
// which no backtrack inside the window can go, so log collection and page-version GC keep everything
// above it. Pure: the writer notes its VDL with the wall time every few seconds; the floor is the
// newest VDL noted at or before now − window. Before a whole window has passed since this writer
// opened it cannot know that LSN itself (older commits came from earlier writers): it uses the seed
// storage gave it at open (floor-seed.ts: valid for every time from open − window on), else 0.
import { assert } from '../assert.ts';
import type { Lsn } from '../lsn.ts';

/** Samples kept; when full every other one goes, so the samples still span the whole window. */
export const backtrackFloorSamplesMax = 4_096;

export class BacktrackFloor {
  #windowMs: number;
  readonly #openedAtMs: number;
  #samples: { timeMs: number; lsn: Lsn }[] = [];
  #seed: Lsn | undefined;

  constructor(windowMs: number, openedAtMs: number) {
    assert(Number.isSafeInteger(windowMs) && windowMs >= 0, 'the backtrack window is a whole number of ms');
    this.#windowMs = windowMs;
    this.#openedAtMs = openedAtMs;
  }

  get windowMs(): number {
    return this.#windowMs;
  }

  /**
   * A new window (ModifyDBCluster BacktrackWindow) from now on. Wider: the samples older than the
   * old window are gone, so the floor stays where they left it (or at the seed, or 0) until samples
   * old enough exist — storage keeps more, never less. Narrower: the floor moves up at once.
   */
  setWindow(windowMs: number): void {
    assert(Number.isSafeInteger(windowMs) && windowMs >= 0, 'the backtrack window is a whole number of ms');
    this.#windowMs = windowMs;
  }

  /** The cutoff the seed must be computed for: open − window (every later cutoff is at or after it). */
  get seedCutoffMs(): number {
    return this.#openedAtMs - this.#windowMs;
  }

  /** Takes the floor storage's history gives for seedCutoffMs (seededBacktrackFloor). */
  seed(lsn: Lsn): void {
    assert(lsn >= 0n, 'a backtrack floor seed is an LSN');
    this.#seed = lsn;
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
    // The seed holds for every cutoff from open − window on, a noted VDL for every cutoff after it:
    // each bounds what a backtrack inside the window needs from below, so the larger one does too.
    let floor = this.#seed ?? 0n;
    if (cutoff < this.#openedAtMs) return floor;
    for (const s of this.#samples) if (s.timeMs <= cutoff && s.lsn > floor) floor = s.lsn;
    return floor;
  }

  /** The wall time the floor stands for (what storage can go back to), undefined when off. */
  earliestTimeMs(nowMs: number): number | undefined {
    if (this.#windowMs === 0) return undefined;
    return nowMs - this.#windowMs;
  }
}
