// SQLite column types → Parquet types, and what happens to values that do not fit (pure). SQLite is
// loosely typed: a column's declared type only gives it an affinity, and any row may hold a value of
// another storage class (text in an INTEGER column, a blob anywhere). The export counts each table's
// storage classes per column first (a pre-scan: SnapshotDatabase.columnStats), then picks a Parquet type that
// every value fits: the declared type's own when they all fit, otherwise STRING (or BYTE_ARRAY when a
// blob is among them) with the reason in the table's metadata and the task's WarningMessage. No value
// is ever dropped or silently changed.

/** The Parquet types an export writes (names as Aurora's export metadata spells them). */
export type ParquetType = 'INT64' | 'DOUBLE' | 'STRING' | 'BYTE_ARRAY' | 'BOOLEAN';

/** SQLite's storage classes, as typeof() names them (NULL is always allowed: every column is optional). */
export type StorageClass = 'integer' | 'real' | 'text' | 'blob';

/** Largest integer a DOUBLE holds exactly: integers beyond it do not fit a REAL column's DOUBLE. */
export const doubleExactIntegerMax = 2 ** 53;

/** Per column, how many values of each storage class, and the two range facts the mapping needs. */
export interface ColumnStats {
  integer: number;
  real: number;
  text: number;
  blob: number;
  /** Integers with |v| > 2^53 (they do not fit DOUBLE exactly). */
  integerBeyondDouble: number;
  /** Integers other than 0 and 1 (they do not fit BOOLEAN). */
  integerNotBoolean: number;
}

export interface ColumnMapping {
  name: string;
  /** The declared type as written in CREATE TABLE ('' when none). */
  originalType: string;
  /** What the declared type maps to when every value fits. */
  declaredParquetType: ParquetType | 'ANY';
  /** What the export writes. */
  parquetType: ParquetType;
  /** Set when parquetType is a fallback: which values did not fit. */
  fallbackReason?: string;
}

/**
 * The Parquet type a declared type maps to, by SQLite's affinity rules (sqlite.org/datatype3.html
 * §3.1) with names that say more first: BOOL* → BOOLEAN; DATE/TIME* → STRING (SQLite stores dates as
 * ISO text); NUMERIC/DECIMAL → DOUBLE (SQLite keeps them as 64-bit integers or doubles: there is no
 * exact decimal to preserve); no declared type → 'ANY' (chosen from the values).
 */
export function declaredParquetType(declared: string): ParquetType | 'ANY' {
  const t = declared.toUpperCase();
  if (t.trim() === '') return 'ANY';
  if (t.includes('INT')) return 'INT64';
  if (t.includes('CHAR') || t.includes('CLOB') || t.includes('TEXT')) return 'STRING';
  if (t.includes('BLOB')) return 'BYTE_ARRAY';
  if (t.includes('REAL') || t.includes('FLOA') || t.includes('DOUB')) return 'DOUBLE';
  if (t.startsWith('BOOL')) return 'BOOLEAN';
  if (t.includes('DATE') || t.includes('TIME')) return 'STRING';
  // NUMERIC, DECIMAL(p,s) and any other name: NUMERIC affinity.
  return 'DOUBLE';
}

const classNames: readonly StorageClass[] = ['integer', 'real', 'text', 'blob'];

/** Which storage classes (with counts) do not fit a Parquet type. */
function misfits(type: ParquetType, s: ColumnStats): string[] {
  const out: string[] = [];
  const add = (n: number, what: string) => {
    if (n > 0) out.push(`${n} ${what}`);
  };
  switch (type) {
    case 'INT64':
      add(s.real, 'real');
      add(s.text, 'text');
      add(s.blob, 'blob');
      break;
    case 'DOUBLE':
      add(s.integerBeyondDouble, 'integer beyond 2^53');
      add(s.text, 'text');
      add(s.blob, 'blob');
      break;
    case 'BOOLEAN':
      add(s.integerNotBoolean, 'integer other than 0/1');
      add(s.real, 'real');
      add(s.text, 'text');
      add(s.blob, 'blob');
      break;
    case 'STRING':
      add(s.integer, 'integer');
      add(s.real, 'real');
      add(s.blob, 'blob');
      break;
    case 'BYTE_ARRAY':
      add(s.integer, 'integer');
      add(s.real, 'real');
      add(s.text, 'text');
      break;
  }
  return out;
}

/** The only storage class present, or undefined (none or several). */
function singleClass(s: ColumnStats): StorageClass | undefined {
  const present = classNames.filter((c) => s[c] > 0);
  return present.length === 1 ? present[0] : undefined;
}

const typeOfClass: Readonly<Record<StorageClass, ParquetType>> = {
  integer: 'INT64',
  real: 'DOUBLE',
  text: 'STRING',
  blob: 'BYTE_ARRAY',
};

/** The column's Parquet type given its declared type and the values it holds. */
export function mapColumn(name: string, originalType: string, stats: ColumnStats): ColumnMapping {
  const declared = declaredParquetType(originalType);
  const base = { name, originalType, declaredParquetType: declared };
  if (declared === 'ANY') {
    const only = singleClass(stats);
    // No values at all: STRING is what a reader expects of an untyped column.
    if (only === undefined && classNames.every((c) => stats[c] === 0))
      return { ...base, parquetType: 'STRING' };
    if (only !== undefined) return { ...base, parquetType: typeOfClass[only] };
    const fallback: ParquetType = stats.blob > 0 ? 'BYTE_ARRAY' : 'STRING';
    const held = classNames.filter((c) => stats[c] > 0).map((c) => `${stats[c]} ${c}`);
    return {
      ...base,
      parquetType: fallback,
      fallbackReason: `untyped column holds mixed values (${held.join(', ')}): exported as ${fallback}`,
    };
  }
  const bad = misfits(declared, stats);
  if (bad.length === 0) return { ...base, parquetType: declared };
  const fallback: ParquetType = stats.blob > 0 && declared !== 'BYTE_ARRAY' ? 'BYTE_ARRAY' : 'STRING';
  const chosen: ParquetType = declared === 'BYTE_ARRAY' ? 'BYTE_ARRAY' : fallback;
  // A BLOB column holding text or numbers keeps BYTE_ARRAY: those values become their text's UTF-8 bytes.
  return {
    ...base,
    parquetType: chosen,
    fallbackReason: `${bad.join(', ')} value(s) do not fit ${declared}: exported as ${chosen}${
      chosen === 'BYTE_ARRAY' ? ' (text as UTF-8 bytes, numbers as their decimal text)' : ' (values as text)'
    }`,
  };
}

/** A value as the text SQLite would show for it: integers exactly, reals round-trip. */
function asText(value: number | bigint | string): string {
  if (typeof value === 'string') return value;
  return value.toString();
}

const utf8 = new TextEncoder();

export type SqliteValue = null | number | bigint | string | Uint8Array;
export type ParquetValue = null | bigint | number | string | boolean | Uint8Array;

/**
 * One value converted for its column's Parquet type. Integers arrive as bigint (exact), reals as
 * number; the pre-scan guarantees the value fits, and an assertion-like error says otherwise.
 */
export function convertValue(type: ParquetType, value: SqliteValue): ParquetValue {
  if (value === null) return null;
  switch (type) {
    case 'INT64':
      if (typeof value === 'bigint') return value;
      if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
      break;
    case 'DOUBLE':
      if (typeof value === 'number') return value;
      if (typeof value === 'bigint') return Number(value);
      break;
    case 'BOOLEAN':
      if (typeof value === 'bigint' || typeof value === 'number') return Number(value) !== 0;
      break;
    case 'STRING':
      if (value instanceof Uint8Array) break;
      return asText(value);
    case 'BYTE_ARRAY':
      if (value instanceof Uint8Array) return value;
      return utf8.encode(asText(value));
  }
  throw new TypeError(`a ${typeof value} value does not fit ${type}: the pre-scan should have seen it`);
}

/** Whether the pre-scan must read a column's integers: only DOUBLE and BOOLEAN care about their range. */
export function needsIntegerRange(declared: string): boolean {
  const t = declaredParquetType(declared);
  return t === 'DOUBLE' || t === 'BOOLEAN';
}

/** Quotes an SQL identifier (table or column name) for SQLite. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
