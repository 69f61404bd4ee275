// A FIFO mutex with a bounded wait: the single write lock of a writer instance. Waiters are served
// in arrival order, so a steady stream of autocommit writes cannot starve an open transaction.
import { BorealisError, ErrorCode } from '../errors.ts';

interface Waiter {
  grant: () => void;
  timer: NodeJS.Timeout;
}

export class FairLock {
  #held = false;
  readonly #queue: Waiter[] = [];

  get held(): boolean {
    return this.#held;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /** Resolves with the release function once the lock is ours; rejects with TIMEOUT after waitMs. */
  acquire(waitMs: number): Promise<() => void> {
    if (!this.#held) {
      this.#held = true;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(waiter.timer);
          resolve(this.#releaser());
        },
        timer: setTimeout(() => {
          const index = this.#queue.indexOf(waiter);
          if (index >= 0) this.#queue.splice(index, 1);
          reject(
            new BorealisError(ErrorCode.TIMEOUT, `waited ${waitMs} ms for the write lock`, {
              retryable: true,
            }),
          );
        }, waitMs),
      };
      this.#queue.push(waiter);
    });
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.shift();
      if (next) next.grant();
      else this.#held = false;
    };
  }
}
