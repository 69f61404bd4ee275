// Production assertions: a broken invariant means this process holds state it must not act on, so it
// stops (a restart recovers; carrying on corrupts). Operating errors are thrown as BorealisError instead.
import { InvariantViolation } from './errors.ts';

/**
 * Throws InvariantViolation when cond is falsy. Pass a function for messages that cost something to
 * build: it runs only on failure, which keeps asserts cheap on hot paths.
 */
export function assert(cond: unknown, message: string | (() => string)): asserts cond {
  if (!cond) {
    throw new InvariantViolation(typeof message === 'function' ? message() : message);
  }
}

/** Exhaustiveness check for switches over unions: unreachable when the types are honest. */
export function assertNever(value: never, what: string): never {
  throw new InvariantViolation(`unexpected ${what}: ${String(value)}`);
}
