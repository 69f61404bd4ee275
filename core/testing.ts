// Test helpers shared by the unit tests of the core (never imported by production code).
import { expect } from 'vitest';
import { BorealisError } from './errors.ts';

/** The BorealisError fn throws; fails the test if it throws anything else or nothing. */
export function errorOf(fn: () => unknown): BorealisError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(BorealisError);
    return error as BorealisError;
  }
  throw new Error('expected a throw');
}
