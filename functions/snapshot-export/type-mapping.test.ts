// The SQLite → Parquet type mapping: declared types by affinity, and what a column becomes when its
// values do not fit (pure).
import { describe, expect, it } from 'vitest';
import {
  type ColumnStats,
  convertValue,
  declaredParquetType,
  mapColumn,
  needsIntegerRange,
  quoteIdentifier,
} from './type-mapping.ts';

const none: ColumnStats = {
  integer: 0,
  real: 0,
  text: 0,
  blob: 0,
  integerBeyondDouble: 0,
  integerNotBoolean: 0,
};
const stats = (s: Partial<ColumnStats>): ColumnStats => ({ ...none, ...s });

describe('declaredParquetType', () => {
  it.each([
    ['INTEGER', 'INT64'],
    ['bigint', 'INT64'],
    ['UNSIGNED BIG INT', 'INT64'],
    ['TEXT', 'STRING'],
    ['varchar(20)', 'STRING'],
    ['NCHAR(5)', 'STRING'],
    ['CLOB', 'STRING'],
    ['BLOB', 'BYTE_ARRAY'],
    ['REAL', 'DOUBLE'],
    ['double precision', 'DOUBLE'],
    ['FLOAT', 'DOUBLE'],
    ['NUMERIC', 'DOUBLE'],
    ['DECIMAL(10,2)', 'DOUBLE'],
    ['BOOLEAN', 'BOOLEAN'],
    ['DATE', 'STRING'],
    ['DATETIME', 'STRING'],
    ['TIMESTAMP', 'STRING'],
    ['', 'ANY'],
    ['  ', 'ANY'],
  ])('%s → %s', (declared, expected) => {
    expect(declaredParquetType(declared)).toBe(expected);
  });
});

describe('mapColumn', () => {
  it('keeps the declared type when every value fits it', () => {
    expect(mapColumn('a', 'INTEGER', stats({ integer: 5 }))).toEqual({
      name: 'a',
      originalType: 'INTEGER',
      declaredParquetType: 'INT64',
      parquetType: 'INT64',
    });
    expect(mapColumn('r', 'REAL', stats({ real: 3, integer: 2 })).parquetType).toBe('DOUBLE');
    expect(mapColumn('f', 'BOOLEAN', stats({ integer: 4 })).parquetType).toBe('BOOLEAN');
    expect(mapColumn('e', 'TEXT', none).parquetType).toBe('STRING');
  });

  it('falls back to STRING, with the reason, when a value does not fit', () => {
    const m = mapColumn('n', 'INTEGER', stats({ integer: 3, text: 1, real: 2 }));
    expect(m.parquetType).toBe('STRING');
    expect(m.fallbackReason).toBe(
      '2 real, 1 text value(s) do not fit INT64: exported as STRING (values as text)',
    );
    expect(
      mapColumn('r', 'REAL', stats({ real: 1, integer: 2, integerBeyondDouble: 1 })).fallbackReason,
    ).toMatch(/^1 integer beyond 2\^53 value\(s\) do not fit DOUBLE/);
    expect(mapColumn('f', 'BOOL', stats({ integer: 2, integerNotBoolean: 1 })).parquetType).toBe('STRING');
  });

  it('falls back to BYTE_ARRAY when a blob is among the misfits, and a BLOB column stays BYTE_ARRAY', () => {
    expect(mapColumn('t', 'TEXT', stats({ text: 5, blob: 1 })).parquetType).toBe('BYTE_ARRAY');
    const b = mapColumn('b', 'BLOB', stats({ blob: 5, text: 1 }));
    expect(b.parquetType).toBe('BYTE_ARRAY');
    expect(b.fallbackReason).toContain('1 text value(s) do not fit BYTE_ARRAY');
  });

  it('types an untyped column from its values', () => {
    expect(mapColumn('x', '', stats({ integer: 2 })).parquetType).toBe('INT64');
    expect(mapColumn('x', '', stats({ real: 2 })).parquetType).toBe('DOUBLE');
    expect(mapColumn('x', '', stats({ blob: 1 })).parquetType).toBe('BYTE_ARRAY');
    expect(mapColumn('x', '', none)).toEqual({
      name: 'x',
      originalType: '',
      declaredParquetType: 'ANY',
      parquetType: 'STRING',
    });
    const mixed = mapColumn('x', '', stats({ integer: 1, text: 2 }));
    expect(mixed.parquetType).toBe('STRING');
    expect(mixed.fallbackReason).toBe(
      'untyped column holds mixed values (1 integer, 2 text): exported as STRING',
    );
  });
});

describe('convertValue', () => {
  it('keeps integers exact as bigint and converts for fallbacks', () => {
    expect(convertValue('INT64', 2n ** 63n - 1n)).toBe(2n ** 63n - 1n);
    expect(convertValue('INT64', null)).toBeNull();
    expect(convertValue('DOUBLE', 7n)).toBe(7);
    expect(convertValue('BOOLEAN', 0n)).toBe(false);
    expect(convertValue('BOOLEAN', 1n)).toBe(true);
    expect(convertValue('STRING', 2n ** 60n)).toBe('1152921504606846976');
    expect(convertValue('STRING', 0.1)).toBe('0.1');
    expect(convertValue('BYTE_ARRAY', 'é')).toEqual(new Uint8Array([0xc3, 0xa9]));
    expect(convertValue('BYTE_ARRAY', new Uint8Array([1]))).toEqual(new Uint8Array([1]));
  });

  it('refuses a value the pre-scan should have ruled out', () => {
    expect(() => convertValue('INT64', 'x')).toThrow('a string value does not fit INT64');
    expect(() => convertValue('STRING', new Uint8Array(1))).toThrow('does not fit STRING');
  });
});

describe('needsIntegerRange', () => {
  it('is true only where an integer may not fit: DOUBLE and BOOLEAN columns', () => {
    expect(['REAL', 'NUMERIC', 'DECIMAL(9,2)', 'BOOLEAN'].map(needsIntegerRange)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['INTEGER', 'TEXT', 'BLOB', '', 'DATE'].map(needsIntegerRange)).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(quoteIdentifier('a"b')).toBe('"a""b"');
  });
});
