import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BorealisError, InvariantViolation } from './errors.ts';
import {
  assertLsn,
  isLsn,
  LSN_INVALID,
  LSN_MAX,
  lsnAdd,
  lsnCompare,
  lsnMax,
  lsnMin,
  lsnToString,
  parseLsn,
} from './lsn.ts';

const arbLsn = fc.bigInt({ min: 0n, max: LSN_MAX });

describe('constants', () => {
  it('LSN_INVALID is 0 and LSN_MAX is the u64 maximum', () => {
    expect(LSN_INVALID).toBe(0n);
    expect(LSN_MAX).toBe(18446744073709551615n);
  });
});

describe('lsnToString', () => {
  it('formats high/low 32 bits in upper-case hex like Postgres', () => {
    expect(lsnToString(0n)).toBe('0/0');
    expect(lsnToString(0x16b3748n)).toBe('0/16B3748');
    expect(lsnToString(0x1_0000_0000n)).toBe('1/0');
    expect(lsnToString(0xabc_0000_00ffn)).toBe('ABC/FF');
    expect(lsnToString(LSN_MAX)).toBe('FFFFFFFF/FFFFFFFF');
  });

  it('rejects values that are not LSNs', () => {
    expect(() => lsnToString(-1n)).toThrow(InvariantViolation);
    expect(() => lsnToString(LSN_MAX + 1n)).toThrow(InvariantViolation);
  });
});

describe('parseLsn', () => {
  it('round-trips every LSN', () => {
    fc.assert(
      fc.property(arbLsn, (lsn) => {
        expect(parseLsn(lsnToString(lsn))).toBe(lsn);
      }),
    );
  });

  it('accepts lower case', () => {
    expect(parseLsn('abc/ff')).toBe(0xabc_0000_00ffn);
    expect(parseLsn('0/16b3748')).toBe(0x16b3748n);
  });

  it('rejects malformed text with INVALID_ARGUMENT', () => {
    for (const text of [
      '',
      '0',
      '/',
      '0/',
      '/0',
      '1/2/3',
      '123456789/0',
      '0/123456789',
      'G/0',
      ' 0/0',
      '0x1/0',
      '-1/0',
    ]) {
      expect(() => parseLsn(text), text).toThrow(BorealisError);
      try {
        parseLsn(text);
      } catch (error) {
        expect((error as BorealisError).code).toBe('INVALID_ARGUMENT');
        expect((error as BorealisError).context).toEqual({ text });
      }
    }
  });
});

describe('comparisons', () => {
  it('lsnMax, lsnMin and lsnCompare agree with bigint order', () => {
    fc.assert(
      fc.property(arbLsn, arbLsn, (a, b) => {
        const [low, high] = [a, b].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
        expect(lsnMin(a, b)).toBe(low);
        expect(lsnMax(a, b)).toBe(high);
        expect(lsnCompare(a, b)).toBe(a === b ? 0 : a === low ? -1 : 1);
      }),
    );
  });

  it('lsnCompare sorts bigints numerically', () => {
    expect([10n, 2n, 33n, 0n].sort(lsnCompare)).toEqual([0n, 2n, 10n, 33n]);
  });
});

describe('assertLsn and isLsn', () => {
  it('accept bigints in [0, 2^64-1]', () => {
    for (const value of [0n, 1n, LSN_MAX]) {
      expect(isLsn(value)).toBe(true);
      expect(() => assertLsn(value)).not.toThrow();
    }
  });

  it('reject numbers, negatives and values beyond u64', () => {
    for (const value of [0, 1, '1', null, undefined, -1n, LSN_MAX + 1n]) {
      expect(isLsn(value)).toBe(false);
      expect(() => assertLsn(value)).toThrow(InvariantViolation);
    }
  });
});

describe('lsnAdd', () => {
  it('adds and refuses to wrap past LSN_MAX or below 0', () => {
    expect(lsnAdd(10n, 5n)).toBe(15n);
    expect(lsnAdd(LSN_MAX - 1n, 1n)).toBe(LSN_MAX);
    expect(() => lsnAdd(LSN_MAX, 1n)).toThrow(InvariantViolation);
    expect(() => lsnAdd(0n, -1n)).toThrow(InvariantViolation);
  });
});
