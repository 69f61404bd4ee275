// The requests held while no writer can take them (failover): bounded in size and in wait, released in
// arrival order. Pure — time comes in as arguments; the proxy owns the timer.
import { assert } from '../../core/assert.ts';

interface Held<T> {
  item: T;
  /** Arrival order: a request held again after a failed release keeps its place. */
  seq: number;
  deadlineMs: number;
}

export class HoldQueue<T> {
  readonly #entries: Held<T>[] = [];

  constructor(readonly capacity: number) {
    assert(Number.isSafeInteger(capacity) && capacity >= 0, `hold queue capacity ${capacity} is invalid`);
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Holds `item` in arrival order; false (and nothing held) when the queue is full. */
  push(item: T, seq: number, deadlineMs: number): boolean {
    if (this.#entries.length >= this.capacity) return false;
    const entry = { item, seq, deadlineMs };
    let at = this.#entries.length;
    // Nearly always appends; an item held again goes back before later arrivals.
    while (at > 0 && this.#entries[at - 1]!.seq > seq) at--;
    this.#entries.splice(at, 0, entry);
    return true;
  }

  /** Everything held, in arrival order; the queue is empty afterwards. */
  takeAll(): T[] {
    return this.#entries.splice(0).map((entry) => entry.item);
  }

  /** Removes `item` (its client went away); false when it was not held. */
  remove(item: T): boolean {
    const at = this.#entries.findIndex((entry) => entry.item === item);
    if (at < 0) return false;
    this.#entries.splice(at, 1);
    return true;
  }

  /** Removes and returns, in arrival order, the items whose deadline is at or before `nowMs`. */
  takeExpired(nowMs: number): T[] {
    const expired: T[] = [];
    for (let at = 0; at < this.#entries.length; ) {
      const entry = this.#entries[at]!;
      if (entry.deadlineMs <= nowMs) {
        expired.push(entry.item);
        this.#entries.splice(at, 1);
      } else {
        at++;
      }
    }
    return expired;
  }

  /** The earliest deadline among held items, for the caller's timer. */
  nextDeadlineMs(): number | undefined {
    let next: number | undefined;
    for (const entry of this.#entries) {
      if (next === undefined || entry.deadlineMs < next) next = entry.deadlineMs;
    }
    return next;
  }
}
