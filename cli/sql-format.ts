// What `borealis sql` prints for an ExecuteStatement answer: a psql-like table with `(N rows)`, or
// `N rows affected` for a statement without a result set; with --json, row objects. Pure.
import type { ExecuteStatementCommandOutput, Field } from '@aws-sdk/client-rds-data';
import { type Align, displayWidth, padToWidth, truncateToWidth } from './text-width.ts';

/** Columns a table cell takes at most before it is cut with `…` (--wide: no limit). */
export const cellWidthMaxDefault = 60;

/** A value as the CLI shows it: Data API Fields unwrapped (longValue, doubleValue … arrayValue). */
export type Value = null | number | string | boolean | Uint8Array | Value[];

export type Outcome =
  | { kind: 'rows'; columns: string[]; rows: Value[][] }
  | { kind: 'update'; numberOfRecordsUpdated: number; generatedFields: Value[] };

type Answer = Pick<
  ExecuteStatementCommandOutput,
  'columnMetadata' | 'records' | 'numberOfRecordsUpdated' | 'generatedFields'
>;

/** A statement has a result set when the answer carries records or column metadata. */
export function outcomeOf(answer: Answer): Outcome {
  if (answer.records !== undefined || (answer.columnMetadata?.length ?? 0) > 0) {
    const columns = (answer.columnMetadata ?? []).map((c, i) => c.label || c.name || `?column${i + 1}?`);
    const rows = (answer.records ?? []).map((record) => record.map(fieldValue));
    return { kind: 'rows', columns, rows };
  }
  return {
    kind: 'update',
    numberOfRecordsUpdated: answer.numberOfRecordsUpdated ?? 0,
    generatedFields: (answer.generatedFields ?? []).map(fieldValue),
  };
}

export function fieldValue(field: Field): Value {
  if (field.isNull) return null;
  if (field.booleanValue !== undefined) return field.booleanValue;
  if (field.longValue !== undefined) return field.longValue;
  if (field.doubleValue !== undefined) return field.doubleValue;
  if (field.stringValue !== undefined) return field.stringValue;
  if (field.blobValue !== undefined) return field.blobValue;
  if (field.arrayValue !== undefined) return arrayValue(field.arrayValue);
  return null;
}

function arrayValue(array: NonNullable<Field['arrayValue']>): Value[] {
  return (
    array.booleanValues ??
    array.longValues ??
    array.doubleValues ??
    array.stringValues ??
    array.arrayValues?.map((nested) => (nested ? arrayValue(nested) : null)) ??
    []
  );
}

// --- The table --------------------------------------------------------------------------------------

export interface TableOptions {
  /** @default cellWidthMaxDefault; Infinity keeps every value whole. */
  cellWidthMax?: number;
}

/** The whole text printed for an outcome, ending with a newline. */
export function formatOutcome(outcome: Outcome, options: TableOptions = {}): string {
  if (outcome.kind === 'update') return `${formatUpdate(outcome)}\n`;
  return formatTable(outcome.columns, outcome.rows, options);
}

/** "1 row affected", "3 rows affected", "1 row affected (generated id 42)". */
export function formatUpdate(outcome: Extract<Outcome, { kind: 'update' }>): string {
  const n = outcome.numberOfRecordsUpdated;
  const affected = `${n} ${n === 1 ? 'row' : 'rows'} affected`;
  const generated = outcome.generatedFields.filter((v) => v !== null);
  if (generated.length === 0) return affected;
  const label = generated.length === 1 ? 'generated id' : 'generated';
  return `${affected} (${label} ${generated.map((v) => cellText(v)).join(', ')})`;
}

/**
 * psql's aligned format: header centred, ` | ` between columns, a `-+-` rule, numbers right-aligned,
 * `(N rows)` at the end. NULL shows as `NULL`; control characters as escapes; long cells cut with `…`.
 */
export function formatTable(
  columns: readonly string[],
  rows: readonly Value[][],
  options: TableOptions = {},
): string {
  const cellWidthMax = options.cellWidthMax ?? cellWidthMaxDefault;
  const count = `(${rows.length} ${rows.length === 1 ? 'row' : 'rows'})\n`;
  if (columns.length === 0) return count;
  const cells = rows.map((row) =>
    columns.map((_, i) => truncateToWidth(cellText(row[i] ?? null), cellWidthMax)),
  );
  const headers = columns.map((c) => truncateToWidth(escapeControls(c), cellWidthMax));
  const numeric = columns.map(
    (_, i) =>
      rows.some((r) => typeof r[i] === 'number') &&
      rows.every((r) => r[i] === null || typeof r[i] === 'number'),
  );
  const widths = columns.map((_, i) =>
    Math.max(displayWidth(headers[i]!), ...cells.map((row) => displayWidth(row[i]!))),
  );
  const line = (texts: readonly string[], align: (i: number) => Align) =>
    ` ${texts.map((t, i) => padToWidth(t, widths[i]!, align(i))).join(' | ')}`.trimEnd();
  const out = [
    line(headers, () => 'center'),
    widths.map((w) => '-'.repeat(w + 2)).join('+'),
    ...cells.map((row) => line(row, (i) => (numeric[i] ? 'right' : 'left'))),
  ];
  return `${out.join('\n')}\n${count}`;
}

/** One value as a table cell: NULL, true/false, numbers as JavaScript prints them, blobs as \x hex. */
export function cellText(value: Value): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return escapeControls(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value instanceof Uint8Array) return `\\x${Buffer.from(value).toString('hex')}`;
  return `{${value.map((v) => (v === null ? 'NULL' : cellText(v))).join(',')}}`;
}

/** Control characters would break the table's lines: show them as escapes (\n, \t, \x1b …). */
export function escapeControls(text: string): string {
  return text.replace(/\p{Cc}/gu, (c) => {
    if (c === '\n') return '\\n';
    if (c === '\r') return '\\r';
    if (c === '\t') return '\\t';
    return `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

// --- JSON ----------------------------------------------------------------------------------------------

/**
 * `--json`: an array of row objects keyed by column label (a repeated label gets `_2`, `_3` …), numbers
 * as numbers, NULL as null, blobs as base64; for a statement without a result set,
 * `{ numberOfRecordsUpdated, generatedFields }`.
 */
export function outcomeJson(outcome: Outcome): unknown {
  if (outcome.kind === 'update') {
    return {
      numberOfRecordsUpdated: outcome.numberOfRecordsUpdated,
      generatedFields: outcome.generatedFields.map(jsonValue),
    };
  }
  const keys = uniqueKeys(outcome.columns);
  return outcome.rows.map((row) =>
    Object.fromEntries(keys.map((key, i) => [key, jsonValue(row[i] ?? null)])),
  );
}

export function jsonValue(value: Value): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (Array.isArray(value)) return value.map(jsonValue);
  return value;
}

export function uniqueKeys(columns: readonly string[]): string[] {
  const seen = new Set<string>();
  return columns.map((column) => {
    let key = column;
    for (let n = 2; seen.has(key); n++) key = `${column}_${n}`;
    seen.add(key);
    return key;
  });
}
