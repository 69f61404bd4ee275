// Conversions between the Data API's wire shapes (Field, SqlParameter, ColumnMetadata, formattedRecords)
// and engine SqlValues, plus the JSON codec that keeps 64-bit integers exact in both directions.
import { assertNever } from '../assert.ts';
import { badRequest, truncate } from './errors.ts';
import type { ColumnMetadata, DecimalReturnType, LongReturnType, ResultColumn, SqlValue } from './types.ts';

// --- JSON with exact 64-bit integers -----------------------------------------------------------------
// Node 20's JSON.parse has no access to a number's source text and JSON.stringify cannot write a bigint,
// so both directions are done here: a BIGINT column or parameter must not silently lose its low digits.

/** Nesting bound for the bigint-aware parser; Data API bodies nest about five levels deep. */
export const jsonDepthMax = 64;

/**
 * JSON.parse, except that integer literals outside Number's safe range become bigint. Every integer of
 * at most 15 digits is safe, so a text without a run of 16 digits takes the native parser.
 */
export function parseJsonLossless(text: string): unknown {
  if (!/\d{16}/.test(text)) return JSON.parse(text);
  return parseJsonWithBigInts(text);
}

/** The slow path of parseJsonLossless, always taken: throws SyntaxError as JSON.parse does. */
export function parseJsonWithBigInts(text: string): unknown {
  return new JsonParser(text).parseDocument();
}

const numberPattern = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/y;

class JsonParser {
  private readonly text: string;
  private pos = 0;

  constructor(text: string) {
    this.text = text;
  }

  parseDocument(): unknown {
    const value = this.value(0);
    this.skipWhitespace();
    if (this.pos !== this.text.length) this.fail('unexpected character after the JSON value');
    return value;
  }

  private value(depth: number): unknown {
    this.skipWhitespace();
    switch (this.text.charCodeAt(this.pos)) {
      case 0x7b: // {
        return this.object(depth + 1);
      case 0x5b: // [
        return this.array(depth + 1);
      case 0x22: // "
        return this.string();
      case 0x74:
        return this.literal('true', true);
      case 0x66:
        return this.literal('false', false);
      case 0x6e:
        return this.literal('null', null);
      default:
        return this.number();
    }
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > jsonDepthMax) this.fail(`nested deeper than ${jsonDepthMax} levels`);
    const result: Record<string, unknown> = {};
    this.pos++;
    if (this.peekAfterWhitespace() === 0x7d) {
      this.pos++;
      return result;
    }
    for (;;) {
      if (this.peekAfterWhitespace() !== 0x22) this.fail('expected a property name');
      const key = this.string();
      if (this.peekAfterWhitespace() !== 0x3a) this.fail("expected ':'");
      this.pos++;
      // defineProperty, not assignment: a "__proto__" key must stay a plain property, as with JSON.parse.
      Object.defineProperty(result, key, {
        value: this.value(depth),
        enumerable: true,
        writable: true,
        configurable: true,
      });
      const next = this.peekAfterWhitespace();
      this.pos++;
      if (next === 0x7d) return result;
      if (next !== 0x2c) this.fail("expected ',' or '}'", this.pos - 1);
    }
  }

  private array(depth: number): unknown[] {
    if (depth > jsonDepthMax) this.fail(`nested deeper than ${jsonDepthMax} levels`);
    const result: unknown[] = [];
    this.pos++;
    if (this.peekAfterWhitespace() === 0x5d) {
      this.pos++;
      return result;
    }
    for (;;) {
      result.push(this.value(depth));
      const next = this.peekAfterWhitespace();
      this.pos++;
      if (next === 0x5d) return result;
      if (next !== 0x2c) this.fail("expected ',' or ']'", this.pos - 1);
    }
  }

  private string(): string {
    const start = this.pos;
    let escaped = false;
    let i = start + 1;
    for (;;) {
      const c = this.text.charCodeAt(i);
      if (Number.isNaN(c)) this.fail('unterminated string', start);
      if (c === 0x22) break;
      if (c < 0x20) this.fail('control character in string', i);
      if (c === 0x5c) {
        escaped = true;
        i += 2;
      } else {
        i++;
      }
    }
    this.pos = i + 1;
    // The native parser decodes (and validates) escapes; most strings have none and need no decoding.
    const literal = this.text.slice(start, i + 1);
    return escaped ? (JSON.parse(literal) as string) : literal.slice(1, -1);
  }

  private number(): number | bigint {
    numberPattern.lastIndex = this.pos;
    const match = numberPattern.exec(this.text);
    if (match === null) this.fail('unexpected character');
    const token = match[0];
    this.pos += token.length;
    const value = Number(token);
    const isIntegerLiteral = match[1] === undefined && match[2] === undefined;
    return isIntegerLiteral && !Number.isSafeInteger(value) ? BigInt(token) : value;
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail('unexpected character');
    this.pos += word.length;
    return value;
  }

  private peekAfterWhitespace(): number {
    this.skipWhitespace();
    return this.text.charCodeAt(this.pos);
  }

  private skipWhitespace(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return;
      this.pos++;
    }
  }

  private fail(problem: string, at = this.pos): never {
    throw new SyntaxError(`${problem} in JSON at position ${at}`);
  }
}

/**
 * JSON.stringify for wire objects, except that a bigint is written as its exact digits (a JSON number)
 * and -0 keeps its sign. Non-finite numbers and binary data are refused: Field encodes them first.
 */
export function stringifyJson(value: unknown): string {
  switch (typeof value) {
    case 'bigint':
      return value.toString();
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError(`${value} has no JSON representation`);
      return Object.is(value, -0) ? '-0' : String(value);
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object':
      if (value === null) return 'null';
      if (ArrayBuffer.isView(value)) throw new TypeError('binary data must be base64-encoded before JSON');
      if (Array.isArray(value)) {
        return `[${value.map((item: unknown) => (item === undefined ? 'null' : stringifyJson(item))).join(',')}]`;
      }
      return stringifyObject(value);
    default:
      throw new TypeError(`a ${typeof value} has no JSON representation`);
  }
}

function stringifyObject(value: object): string {
  const members: string[] = [];
  for (const [key, member] of Object.entries(value)) {
    if (member !== undefined) members.push(`${JSON.stringify(key)}:${stringifyJson(member)}`);
  }
  return `{${members.join(',')}}`;
}

// --- Field: values in results ------------------------------------------------------------------------

/** How a JSON body spells the doubles JSON has no number for (the Smithy convention the SDK parses). */
export type NonFiniteDouble = 'NaN' | 'Infinity' | '-Infinity';

/**
 * The Data API's Field union as this layer sends it. `longValue` is a bigint so that stringifyJson can
 * write every digit; serialize Fields with stringifyJson, never JSON.stringify.
 */
export type Field =
  | { isNull: true }
  | { longValue: bigint }
  | { doubleValue: number | NonFiniteDouble }
  | { stringValue: string }
  | { booleanValue: boolean }
  | { blobValue: string };

/**
 * The wire Field for an engine value. A bigint goes out as a longValue with its exact digits, even
 * beyond 2^53: clients that parse 64-bit integers (Java, Python, Go) get them exactly, but
 * @aws-sdk/client-rds-data parses longValue as a JS number and so rounds anything beyond
 * Number.MAX_SAFE_INTEGER — callers that need exactness ask for longReturnType 'STRING'.
 * `decimalAsString` is for DECIMAL/NUMERIC columns, which the service returns as strings by default.
 */
export function fieldFromValue(
  value: SqlValue,
  longReturnType: LongReturnType = 'LONG',
  decimalAsString = false,
): Field {
  if (value === null) return { isNull: true };
  switch (typeof value) {
    case 'bigint':
      return longReturnType === 'STRING' || decimalAsString
        ? { stringValue: value.toString() }
        : { longValue: value };
    case 'number':
      if (decimalAsString) return { stringValue: String(value) };
      return { doubleValue: Number.isFinite(value) ? value : (String(value) as NonFiniteDouble) };
    case 'string':
      return { stringValue: value };
    case 'boolean':
      return { booleanValue: value };
    default:
      if (value instanceof Uint8Array) return { blobValue: toBase64(value) };
      return assertNever(value, 'SqlValue');
  }
}

/** The service's default for DECIMAL/NUMERIC columns is a string; 'DOUBLE_OR_LONG' asks for numbers. */
export function decimalAsStringFor(column: ResultColumn, decimalReturnType: string | undefined): boolean {
  return decimalReturnType !== 'DOUBLE_OR_LONG' && isDecimalDeclaredType(column.declaredType);
}

function isDecimalDeclaredType(declaredType: string | undefined): boolean {
  const base = declaredType === undefined ? undefined : parseDeclaredType(declaredType)?.base;
  return base === 'DECIMAL' || base === 'NUMERIC';
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

// --- SqlParameter: values in requests ----------------------------------------------------------------

/** The typeHint values of the service model, each with the format the service documents for it. */
const typeHintFormats = {
  DATE: { format: 'YYYY-MM-DD', matches: (s: string) => datePattern.test(s) },
  TIME: { format: 'HH:MM:SS[.FFF]', matches: (s: string) => timePattern.test(s) },
  TIMESTAMP: { format: 'YYYY-MM-DD HH:MM:SS[.FFF]', matches: (s: string) => timestampPattern.test(s) },
  DECIMAL: { format: 'a decimal number', matches: (s: string) => decimalPattern.test(s) },
  UUID: { format: 'a UUID (8-4-4-4-12 hex digits)', matches: (s: string) => uuidPattern.test(s) },
  JSON: { format: 'a JSON document', matches: isJsonText },
} as const;
export type TypeHint = keyof typeof typeHintFormats;

const dateText = '\\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])';
const timeText = '(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?';
const datePattern = new RegExp(`^${dateText}$`);
const timePattern = new RegExp(`^${timeText}$`);
const timestampPattern = new RegExp(`^${dateText} ${timeText}$`);
const decimalPattern = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const uuidPattern = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Standard base64 as the SDK writes it; the padding of the last group may be left out. */
const base64Pattern = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}(?:==)?|[A-Za-z0-9+/]{3}=?)?$/;

/**
 * What SQL spells `:name` — the name travels without the colon. A leading digit is allowed, as AWS
 * allows it (kysely-data-api names its parameters 0, 1, …); SQLite reads `:0` as a named parameter.
 */
export const parameterNamePattern = /^[A-Za-z0-9_]+$/;

const int64Min = -(2n ** 63n);
const int64Max = 2n ** 63n - 1n;

/** Members of the Field union in a request, in the order the messages list them. */
const fieldMembers = [
  'isNull',
  'booleanValue',
  'longValue',
  'doubleValue',
  'stringValue',
  'blobValue',
  'arrayValue',
] as const;

function isJsonText(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short description of a bad wire value for error messages: its JSON type and a capped excerpt. */
export function describeWireValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return `the string ${JSON.stringify(truncate(value, 40))}`;
  return `${typeof value === 'bigint' ? 'the integer' : `the ${typeof value}`} ${String(value)}`;
}

/** Decodes one SqlParameter (name, value, typeHint), rejecting anything the engine could misread. */
export function decodeSqlParameter(param: unknown, where = 'parameter'): { name: string; value: SqlValue } {
  if (!isRecord(param)) throw badRequest(`${where} must be an object, got ${describeWireValue(param)}`);
  const name = param.name;
  if (name === undefined || name === null || name === '') {
    throw badRequest(`${where} has no name: Borealis supports named parameters only`);
  }
  if (typeof name !== 'string' || !parameterNamePattern.test(name)) {
    throw badRequest(
      `${where} has an invalid name ${describeWireValue(name)}: use letters, digits and '_', ` +
        `without the leading ':'`,
    );
  }
  const value = valueFromField(param.value, `parameter :${name}`);
  const typeHint = param.typeHint;
  if (typeHint !== undefined && typeHint !== null) checkTypeHint(typeHint, value, name);
  return { name, value };
}

/** The engine value of one SqlParameter; see decodeSqlParameter for the checks. */
export function valueFromSqlParameter(param: unknown): SqlValue {
  return decodeSqlParameter(param).value;
}

/** A request's `parameters` list as the executor's Map; names must be unique. */
export function parametersFromWire(list: unknown, where = 'parameters'): Map<string, SqlValue> {
  const parameters = new Map<string, SqlValue>();
  if (list === undefined || list === null) return parameters;
  if (!Array.isArray(list)) throw badRequest(`${where} must be a list, got ${describeWireValue(list)}`);
  list.forEach((param: unknown, index) => {
    const { name, value } = decodeSqlParameter(param, `${where}[${index}]`);
    if (parameters.has(name)) throw badRequest(`parameter :${name} is given more than once in ${where}`);
    parameters.set(name, value);
  });
  return parameters;
}

function checkTypeHint(typeHint: unknown, value: SqlValue, name: string): void {
  if (typeof typeHint !== 'string' || !Object.hasOwn(typeHintFormats, typeHint)) {
    throw badRequest(
      `parameter :${name} has an unknown typeHint ${describeWireValue(typeHint)}: ` +
        `use one of ${Object.keys(typeHintFormats).join(', ')}`,
    );
  }
  const hint = typeHintFormats[typeHint as TypeHint];
  if (typeof value !== 'string') {
    throw badRequest(`parameter :${name}: typeHint ${typeHint} applies to a stringValue only`);
  }
  if (!hint.matches(value)) {
    throw badRequest(`parameter :${name}: ${describeWireValue(value)} is not ${typeHint} (${hint.format})`);
  }
}

/** The engine value of a request Field; exactly one member must be set. `where` names it in errors. */
export function valueFromField(field: unknown, where: string): SqlValue {
  if (!isRecord(field))
    throw badRequest(`${where} has no value: set exactly one of ${fieldMembers.join(', ')}`);
  const present = fieldMembers.filter((member) => field[member] !== undefined && field[member] !== null);
  const member = present[0];
  if (member === undefined) {
    throw badRequest(`${where} has no value: set exactly one of ${fieldMembers.join(', ')}`);
  }
  if (present.length > 1) throw badRequest(`${where} sets ${present.join(' and ')}: set exactly one`);
  const raw = field[member];
  switch (member) {
    case 'isNull':
      if (raw !== true) throw badRequest(`${where}: isNull must be true, got ${describeWireValue(raw)}`);
      return null;
    case 'booleanValue':
      if (typeof raw !== 'boolean')
        throw badRequest(`${where}: booleanValue must be a boolean, got ${describeWireValue(raw)}`);
      return raw;
    case 'longValue':
      return longFromWire(raw, where);
    case 'doubleValue':
      return doubleFromWire(raw, where);
    case 'stringValue':
      if (typeof raw !== 'string')
        throw badRequest(`${where}: stringValue must be a string, got ${describeWireValue(raw)}`);
      return raw;
    case 'blobValue':
      return blobFromWire(raw, where);
    case 'arrayValue':
      throw badRequest(`${where}: arrays are not supported`);
    default:
      return assertNever(member, 'Field member');
  }
}

function longFromWire(raw: unknown, where: string): bigint {
  let value: bigint;
  if (typeof raw === 'bigint') value = raw;
  else if (typeof raw === 'number' && Number.isInteger(raw)) value = BigInt(raw);
  else throw badRequest(`${where}: longValue must be an integer, got ${describeWireValue(raw)}`);
  if (value < int64Min || value > int64Max) {
    throw badRequest(`${where}: longValue ${value} is outside the 64-bit integer range`);
  }
  return value;
}

function doubleFromWire(raw: unknown, where: string): number {
  if (typeof raw === 'number') return raw;
  // An integer literal too long for a safe number arrives as bigint from parseJsonLossless.
  if (typeof raw === 'bigint') return Number(raw);
  if (raw === 'NaN' || raw === 'Infinity' || raw === '-Infinity') return Number(raw);
  throw badRequest(`${where}: doubleValue must be a number, got ${describeWireValue(raw)}`);
}

function blobFromWire(raw: unknown, where: string): Uint8Array {
  if (typeof raw !== 'string' || !base64Pattern.test(raw)) {
    throw badRequest(`${where}: blobValue must be base64, got ${describeWireValue(raw)}`);
  }
  // A copy, not a view into Buffer's shared pool: the engine may keep the bytes.
  return new Uint8Array(Buffer.from(raw, 'base64'));
}

// --- Column metadata ---------------------------------------------------------------------------------

/** JDBC precision reported for values without a length bound (java.lang.Integer.MAX_VALUE). */
const unboundedPrecision = 2_147_483_647;

interface JdbcKind {
  type: number;
  /** typeName when nothing was declared. */
  typeName: string;
  precision: number;
  signed: boolean;
  caseSensitive: boolean;
  /** Whether a declared `(n)` is this column's precision (lengths, decimal digits), not a display width. */
  declaredPrecision: boolean;
}

const kind = (
  type: number,
  typeName: string,
  precision: number,
  extra: Partial<Pick<JdbcKind, 'signed' | 'caseSensitive' | 'declaredPrecision'>> = {},
): JdbcKind => ({
  type,
  typeName,
  precision,
  signed: extra.signed ?? false,
  caseSensitive: extra.caseSensitive ?? false,
  declaredPrecision: extra.declaredPrecision ?? false,
});

// Precisions follow MySQL Connector/J for fixed-size types, since the Data API reports MySQL-style metadata.
const kinds = {
  bit: kind(-7, 'BIT', 1),
  tinyint: kind(-6, 'TINYINT', 3, { signed: true }),
  smallint: kind(5, 'SMALLINT', 5, { signed: true }),
  int: kind(4, 'INT', 10, { signed: true }),
  bigint: kind(-5, 'BIGINT', 19, { signed: true }),
  double: kind(8, 'DOUBLE', 22, { signed: true }),
  // SQLite's NUMERIC has no digit bound; 65 is MySQL's largest DECIMAL precision.
  decimal: kind(3, 'DECIMAL', 65, { signed: true, declaredPrecision: true }),
  varchar: kind(12, 'VARCHAR', unboundedPrecision, { caseSensitive: true, declaredPrecision: true }),
  binary: kind(-2, 'BINARY', unboundedPrecision, { declaredPrecision: true }),
  varbinary: kind(-3, 'VARBINARY', unboundedPrecision, { declaredPrecision: true }),
  blob: kind(2004, 'BLOB', unboundedPrecision),
  date: kind(91, 'DATE', 10),
  time: kind(92, 'TIME', 8),
  timestamp: kind(93, 'TIMESTAMP', 19),
} as const;

/**
 * Declared type names Borealis recognizes. SQLite INTEGER is 64-bit (rowids, bigint values), so it
 * maps to BIGINT; INT keeps MySQL's 32-bit INTEGER. Names not listed fall back to SQLite's affinity
 * rules (contains INT / CHAR, CLOB, TEXT / BLOB / REAL, FLOA, DOUB), and then to the values.
 */
const declaredKinds: ReadonlyMap<string, JdbcKind> = new Map([
  ['BIT', kinds.bit],
  ['BOOL', kinds.bit],
  ['BOOLEAN', kinds.bit],
  ['TINYINT', kinds.tinyint],
  ['SMALLINT', kinds.smallint],
  ['INT2', kinds.smallint],
  ['INT', kinds.int],
  ['INT4', kinds.int],
  ['MEDIUMINT', kinds.int],
  ['INTEGER', kinds.bigint],
  ['BIGINT', kinds.bigint],
  ['INT8', kinds.bigint],
  ['REAL', kinds.double],
  ['DOUBLE', kinds.double],
  ['DOUBLE PRECISION', kinds.double],
  ['FLOAT', kinds.double],
  ['NUMERIC', kinds.decimal],
  ['DECIMAL', kinds.decimal],
  ['CHAR', kinds.varchar],
  ['VARCHAR', kinds.varchar],
  ['TEXT', kinds.varchar],
  ['JSON', kinds.varchar],
  ['UUID', kinds.varchar],
  ['BINARY', kinds.binary],
  ['VARBINARY', kinds.varbinary],
  ['BLOB', kinds.blob],
  ['DATE', kinds.date],
  ['TIME', kinds.time],
  ['DATETIME', kinds.timestamp],
  ['TIMESTAMP', kinds.timestamp],
]);

const declaredTypePattern =
  /^\s*([A-Za-z_][A-Za-z0-9_]*(?:\s+[A-Za-z_][A-Za-z0-9_]*)*)\s*(?:\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\))?\s*$/;

/** `varchar(20)` → { base: 'VARCHAR', precision: 20 }; undefined for text SQLite would accept but we cannot read. */
function parseDeclaredType(
  declared: string,
): { base: string; precision?: number; scale?: number } | undefined {
  const match = declaredTypePattern.exec(declared);
  if (match === null || match[1] === undefined) return undefined;
  const base = match[1].toUpperCase().replace(/\s+/g, ' ');
  return {
    base,
    ...(match[2] === undefined ? {} : { precision: Number(match[2]) }),
    ...(match[3] === undefined ? {} : { scale: Number(match[3]) }),
  };
}

function kindForDeclaredBase(base: string): JdbcKind | undefined {
  const exact = declaredKinds.get(base);
  if (exact !== undefined) return exact;
  if (base.includes('INT')) return kinds.bigint;
  if (base.includes('CHAR') || base.includes('CLOB') || base.includes('TEXT')) return kinds.varchar;
  if (base.includes('BLOB')) return kinds.blob;
  if (base.includes('REAL') || base.includes('FLOA') || base.includes('DOUB')) return kinds.double;
  return undefined;
}

/** An undeclared column (an expression) takes the type of its first non-null value; all-null is VARCHAR. */
function kindForValues(sampleValues: readonly SqlValue[]): JdbcKind {
  for (const value of sampleValues) {
    if (value === null) continue;
    switch (typeof value) {
      case 'bigint':
        return kinds.bigint;
      case 'number':
        return kinds.double;
      case 'boolean':
        return kinds.bit;
      case 'string':
        return kinds.varchar;
      default:
        return kinds.blob;
    }
  }
  return kinds.varchar;
}

/**
 * Data API column metadata for one result column. `sampleValues` are the column's values in the
 * result: they decide the type of an undeclared column and whether it is known to be nullable (1);
 * without a null among them nullability is unknown (2), since the engine does not report NOT NULL.
 */
export function columnMetadataFor(column: ResultColumn, sampleValues: readonly SqlValue[]): ColumnMetadata {
  const declared = column.declaredType === undefined ? undefined : parseDeclaredType(column.declaredType);
  const declaredKind = declared === undefined ? undefined : kindForDeclaredBase(declared.base);
  const jdbc = declaredKind ?? kindForValues(sampleValues);
  const precision =
    jdbc.declaredPrecision && declared?.precision !== undefined ? declared.precision : jdbc.precision;
  return {
    name: column.name,
    label: column.name,
    type: jdbc.type,
    typeName: declaredKind !== undefined && declared !== undefined ? declared.base : jdbc.typeName,
    nullable: sampleValues.includes(null) ? 1 : 2,
    precision,
    scale: jdbc === kinds.decimal ? (declared?.scale ?? 0) : 0,
    isSigned: jdbc.signed && !(declared?.base.includes('UNSIGNED') ?? false),
    isAutoIncrement: false,
    isCaseSensitive: jdbc.caseSensitive,
    isCurrency: false,
    arrayBaseColumnType: 0,
    schemaName: '',
    tableName: column.tableName ?? '',
  };
}

// --- formattedRecords --------------------------------------------------------------------------------

export interface ResultValueOptions {
  longReturnType?: LongReturnType;
  decimalReturnType?: DecimalReturnType | string;
}

/**
 * The `formattedRecords` string: a JSON array with one object per row, keyed by column label (a later
 * column with the same label wins, as it would in a JSON parser). Blobs are base64 strings; integers are
 * JSON numbers with every digit (strings when longReturnType is 'STRING'); DECIMAL/NUMERIC columns are
 * strings unless decimalReturnType is 'DOUBLE_OR_LONG'; non-finite doubles are "NaN"/"Infinity" strings.
 */
export function formatRecordsAsJson(
  columns: readonly ResultColumn[],
  rows: readonly (readonly SqlValue[])[],
  options: ResultValueOptions = {},
): string {
  const lastIndexByLabel = new Map<string, number>();
  columns.forEach((column, index) => {
    lastIndexByLabel.set(column.name, index);
  });
  const keys = [...lastIndexByLabel].map(([label, index]) => ({ key: JSON.stringify(label), index }));
  const decimalAsString = columns.map((column) => decimalAsStringFor(column, options.decimalReturnType));
  const longAsString = options.longReturnType === 'STRING';
  const records = rows.map((row) => {
    const members = keys.map(
      ({ key, index }) =>
        `${key}:${jsonRecordValue(row[index] ?? null, longAsString, decimalAsString[index] ?? false)}`,
    );
    return `{${members.join(',')}}`;
  });
  return `[${records.join(',')}]`;
}

function jsonRecordValue(value: SqlValue, longAsString: boolean, decimalAsString: boolean): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'bigint':
      return longAsString || decimalAsString ? JSON.stringify(value.toString()) : value.toString();
    case 'number':
      return decimalAsString || !Number.isFinite(value)
        ? JSON.stringify(String(value))
        : stringifyJson(value);
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    default:
      return JSON.stringify(toBase64(value));
  }
}
