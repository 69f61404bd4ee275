// LSNs: the writer's total order over redo records, and the unit of every durability point
// (SCL, PGCL, VCL, VDL, read points). Always bigint, u64 on the wire, never a JS number.
import { assert } from './assert.ts';
import { BorealisError, ErrorCode } from './errors.ts';

export type Lsn = bigint;

/** No record: the backlink of a PG's first record, and the SCL of an empty segment. */
export const LSN_INVALID: Lsn = 0n;
/** The largest LSN a u64 field can carry. */
export const LSN_MAX: Lsn = 2n ** 64n - 1n;

const u32Mask = 0xffff_ffffn;

export function isLsn(x: unknown): x is Lsn {
  return typeof x === 'bigint' && x >= 0n && x <= LSN_MAX;
}

export function assertLsn(x: unknown, what = 'lsn'): asserts x is Lsn {
  assert(isLsn(x), () => `${what} must be a bigint in [0, 2^64-1], got ${typeof x} ${String(x)}`);
}

/** Postgres/Neon form: high 32 bits and low 32 bits in upper-case hex, e.g. `0/16B3748`. */
export function lsnToString(lsn: Lsn): string {
  assertLsn(lsn);
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & u32Mask).toString(16).toUpperCase()}`;
}

const lsnPattern = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/;

/** Inverse of lsnToString; accepts either hex case. Input comes from users and flags, so bad input is INVALID_ARGUMENT. */
export function parseLsn(text: string): Lsn {
  const match = lsnPattern.exec(text);
  if (match === null) {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `not an LSN (expected X/Y in hex): ${text}`, {
      context: { text },
    });
  }
  const lsn = (BigInt(`0x${match[1]}`) << 32n) | BigInt(`0x${match[2]}`);
  assertLsn(lsn);
  return lsn;
}

export function lsnMax(a: Lsn, b: Lsn): Lsn {
  return a > b ? a : b;
}

export function lsnMin(a: Lsn, b: Lsn): Lsn {
  return a < b ? a : b;
}

/** Comparator for Array.prototype.sort (bigint subtraction does not return a number). */
export function lsnCompare(a: Lsn, b: Lsn): -1 | 0 | 1 {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Checked addition: an LSN past LSN_MAX would wrap silently in a u64 field. */
export function lsnAdd(lsn: Lsn, delta: bigint): Lsn {
  const sum = lsn + delta;
  assertLsn(sum, 'lsnAdd result');
  return sum;
}

/** In LSNs sorted ascending: the index of the first one above `value` (the length if none). */
export function lsnUpperBound(sorted: readonly Lsn[], value: Lsn): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
