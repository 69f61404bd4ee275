// MySQL response packets (OK, ERR, EOF), column definitions chosen from the engine's values, text and
// binary result rows, and the binary protocol's parameter decoding (COM_STMT_EXECUTE). Pure.
import type { SqlValue } from '../data-api/types.ts';
import {
  Capability,
  Charset,
  ColumnFlag,
  ColumnType,
  lenencInt,
  MalformedPacketError,
  PayloadReader,
  PayloadWriter,
} from './protocol.ts';

// --- OK / ERR / EOF ------------------------------------------------------------------------------------

export interface OkFields {
  affectedRows?: number | bigint;
  lastInsertId?: number | bigint;
  status: number;
  warnings?: number;
  info?: string;
}

/** OK_Packet; `header` 0xfe is the OK that ends a result set under DEPRECATE_EOF. */
export function okPacket(fields: OkFields, header: 0x00 | 0xfe = 0x00): Buffer {
  const w = new PayloadWriter()
    .u8(header)
    .lenenc(fields.affectedRows ?? 0)
    .lenenc(fields.lastInsertId ?? 0)
    .u16(fields.status)
    .u16(fields.warnings ?? 0);
  if (fields.info) w.string(fields.info);
  return w.build();
}

export function errPacket(code: number, sqlState: string, message: string): Buffer {
  return new PayloadWriter()
    .u8(0xff)
    .u16(code)
    .string('#')
    .string(sqlState.padEnd(5, '0').slice(0, 5))
    .string(message.slice(0, 512))
    .build();
}

export function eofPacket(status: number, warnings = 0): Buffer {
  return new PayloadWriter().u8(0xfe).u16(warnings).u16(status).build();
}

/** The packet that ends column definitions or rows: EOF, or nothing / an 0xfe OK under DEPRECATE_EOF. */
export function endOfRows(capabilities: number, status: number): Buffer {
  return capabilities & Capability.DEPRECATE_EOF ? okPacket({ status }, 0xfe) : eofPacket(status);
}

// --- Column definitions ----------------------------------------------------------------------------------

export interface ColumnDefinition {
  name: string;
  type: number;
  charset: number;
  length: number;
  flags: number;
  decimals: number;
  table?: string;
  schema?: string;
}

/** Column type for a column from its values (SQLite types values, not columns): the narrowest that holds them all. */
export function columnFor(name: string, values: Iterable<SqlValue>): ColumnDefinition {
  let ints = 0;
  let doubles = 0;
  let strings = 0;
  let blobs = 0;
  for (const v of values) {
    if (v === null) continue;
    if (typeof v === 'bigint' || typeof v === 'boolean') ints++;
    else if (typeof v === 'number') doubles++;
    else if (typeof v === 'string') strings++;
    else blobs++;
  }
  if (strings + blobs === 0 && doubles === 0 && ints > 0) return integerColumn(name);
  if (strings + blobs === 0 && doubles > 0) return doubleColumn(name);
  if (strings === 0 && ints + doubles === 0 && blobs > 0) {
    return {
      name,
      type: ColumnType.BLOB,
      charset: Charset.binary,
      length: 0xffff_ffff,
      flags: ColumnFlag.BLOB | ColumnFlag.BINARY,
      decimals: 0,
    };
  }
  return stringColumn(name);
}

export const integerColumn = (name: string): ColumnDefinition => ({
  name,
  type: ColumnType.LONGLONG,
  charset: Charset.binary,
  length: 20,
  flags: ColumnFlag.NUM | ColumnFlag.BINARY,
  decimals: 0,
});

export const doubleColumn = (name: string): ColumnDefinition => ({
  name,
  type: ColumnType.DOUBLE,
  charset: Charset.binary,
  length: 22,
  flags: ColumnFlag.NUM | ColumnFlag.BINARY,
  // NOT_FIXED_DEC: the client prints as many digits as the value has.
  decimals: 31,
});

export const stringColumn = (name: string): ColumnDefinition => ({
  name,
  type: ColumnType.VAR_STRING,
  charset: Charset.utf8mb4,
  length: 0xffff_ffff,
  flags: 0,
  decimals: 0,
});

/** Protocol::ColumnDefinition41. */
export function columnDefinitionPacket(c: ColumnDefinition, defaultValue?: string): Buffer {
  const w = new PayloadWriter()
    .lenencString('def')
    .lenencString(c.schema ?? '')
    .lenencString(c.table ?? '')
    .lenencString(c.table ?? '')
    .lenencString(c.name)
    .lenencString(c.name)
    .lenenc(0x0c)
    .u16(c.charset)
    .u32(c.length)
    .u8(c.type)
    .u16(c.flags)
    .u8(c.decimals)
    .zeros(2);
  if (defaultValue !== undefined) w.lenencString(defaultValue);
  return w.build();
}

// --- Rows ------------------------------------------------------------------------------------------------

/** The text protocol's form of a value (MySQL prints booleans as 1/0). */
export function textValue(v: Exclude<SqlValue, null>): Buffer {
  if (typeof v === 'string') return Buffer.from(v, 'utf8');
  if (v instanceof Uint8Array) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (typeof v === 'boolean') return Buffer.from(v ? '1' : '0');
  return Buffer.from(String(v));
}

/** ProtocolText::ResultsetRow. */
export function textRow(row: readonly SqlValue[]): Buffer {
  const parts: Buffer[] = [];
  for (const v of row) {
    if (v === null) parts.push(Buffer.from([0xfb]));
    else {
      const b = textValue(v);
      parts.push(lenencInt(b.length), b);
    }
  }
  return Buffer.concat(parts);
}

/** ProtocolBinary::ResultsetRow: each value in its column's binary form. */
export function binaryRow(row: readonly SqlValue[], columns: readonly ColumnDefinition[]): Buffer {
  const bitmap = Buffer.alloc((columns.length + 7 + 2) >> 3);
  const parts: Buffer[] = [Buffer.from([0x00]), bitmap];
  row.forEach((v, i) => {
    if (v === null) {
      const bit = i + 2;
      bitmap[bit >> 3]! |= 1 << (bit & 7);
      return;
    }
    const type = columns[i]!.type;
    if (type === ColumnType.LONGLONG) {
      const b = Buffer.allocUnsafe(8);
      b.writeBigInt64LE(typeof v === 'bigint' ? v : BigInt(v === true ? 1 : v === false ? 0 : Number(v)));
      parts.push(b);
    } else if (type === ColumnType.DOUBLE) {
      const b = Buffer.allocUnsafe(8);
      b.writeDoubleLE(Number(v));
      parts.push(b);
    } else {
      const b = textValue(v);
      parts.push(lenencInt(b.length), b);
    }
  });
  return Buffer.concat(parts);
}

// --- COM_STMT_EXECUTE parameters ------------------------------------------------------------------------

export interface ParameterType {
  type: number;
  unsigned: boolean;
}

/**
 * Decodes the parameter values of COM_STMT_EXECUTE (after the command byte). `previousTypes` are
 * the types bound by an earlier execute (new-params-bound flag 0); `longData` the values sent with
 * COM_STMT_SEND_LONG_DATA. Every MySQL parameter type is read; dates and times become the text MySQL
 * prints for them, integers bigint, floats number, strings string, blobs bytes.
 */
export function parseExecute(
  payload: Buffer,
  parameterCount: number,
  previousTypes: ParameterType[] | undefined,
  longData: ReadonlyMap<number, Buffer>,
): { statementId: number; values: SqlValue[]; types: ParameterType[] | undefined } {
  const r = new PayloadReader(payload);
  r.u8();
  const statementId = r.u32('the statement id');
  r.u8('the cursor flags');
  r.u32('the iteration count');
  if (parameterCount === 0) return { statementId, values: [], types: previousTypes };
  const bitmap = r.bytes((parameterCount + 7) >> 3, 'the null bitmap');
  const bound = r.u8('the new-params-bound flag');
  let types = previousTypes;
  if (bound === 1) {
    types = [];
    for (let i = 0; i < parameterCount; i++) {
      const type = r.u8('a parameter type');
      const flags = r.u8('a parameter flag');
      types.push({ type, unsigned: (flags & 0x80) !== 0 });
    }
  }
  if (types === undefined) throw new MalformedPacketError('parameters without their types');
  const values: SqlValue[] = [];
  for (let i = 0; i < parameterCount; i++) {
    if (bitmap[i >> 3]! & (1 << (i & 7))) {
      values.push(null);
      continue;
    }
    const long = longData.get(i);
    if (long !== undefined) {
      values.push(isBinaryType(types[i]!.type) ? new Uint8Array(long) : long.toString('utf8'));
      continue;
    }
    values.push(readBinaryValue(r, types[i]!));
  }
  return { statementId, values, types };
}

function isBinaryType(type: number): boolean {
  return type >= ColumnType.TINY_BLOB && type <= ColumnType.BLOB;
}

const pad = (n: number, width = 2): string => String(n).padStart(width, '0');

function readBinaryValue(r: PayloadReader, { type, unsigned }: ParameterType): SqlValue {
  switch (type) {
    case ColumnType.NULL:
      return null;
    case ColumnType.TINY: {
      const v = r.u8();
      return BigInt(unsigned ? v : (v << 24) >> 24);
    }
    case ColumnType.SHORT:
    case ColumnType.YEAR: {
      const v = r.u16();
      return BigInt(unsigned ? v : (v << 16) >> 16);
    }
    case ColumnType.LONG:
    case ColumnType.INT24: {
      const b = r.bytes(4);
      return BigInt(unsigned ? b.readUInt32LE() : b.readInt32LE());
    }
    case ColumnType.LONGLONG: {
      const b = r.bytes(8);
      if (!unsigned) return b.readBigInt64LE();
      const v = b.readBigUInt64LE();
      // SQLite integers are signed 64-bit: a larger unsigned value is kept exactly as text.
      return v > 0x7fff_ffff_ffff_ffffn ? v.toString() : v;
    }
    case ColumnType.FLOAT:
      return integralAsBigint(r.bytes(4).readFloatLE());
    case ColumnType.DOUBLE:
      return integralAsBigint(r.bytes(8).readDoubleLE());
    case ColumnType.DATE:
    case ColumnType.DATETIME:
    case ColumnType.TIMESTAMP:
      return readDateTime(r, type === ColumnType.DATE);
    case ColumnType.TIME:
      return readTime(r);
    case ColumnType.TINY_BLOB:
    case ColumnType.MEDIUM_BLOB:
    case ColumnType.LONG_BLOB:
    case ColumnType.BLOB:
    case ColumnType.GEOMETRY:
      return new Uint8Array(r.lenencBytes());
    case ColumnType.DECIMAL:
    case ColumnType.NEWDECIMAL:
    case ColumnType.VARCHAR:
    case ColumnType.VAR_STRING:
    case ColumnType.STRING:
    case ColumnType.ENUM:
    case ColumnType.SET:
    case ColumnType.JSON:
    case ColumnType.BIT:
      return r.lenencBytes().toString('utf8');
    default:
      throw new MalformedPacketError(`unknown parameter type 0x${type.toString(16)}`);
  }
}

/**
 * Clients (mysql2) send every JS number as DOUBLE: an integral one is bound as an integer, so that
 * `WHERE id = ?` and a TEXT column see 5, not 5.0 — as MySQL compares and stores it.
 */
function integralAsBigint(v: number): SqlValue {
  return Number.isSafeInteger(v) && !Object.is(v, -0) ? BigInt(v) : v;
}

function readDateTime(r: PayloadReader, dateOnly: boolean): string {
  const length = r.u8('a date length');
  const b = r.bytes(length, 'a date');
  if (length === 0) return dateOnly ? '0000-00-00' : '0000-00-00 00:00:00';
  const date = `${pad(b.readUInt16LE(0), 4)}-${pad(b[2]!)}-${pad(b[3]!)}`;
  if (dateOnly) return date;
  const time = length >= 7 ? `${pad(b[4]!)}:${pad(b[5]!)}:${pad(b[6]!)}` : '00:00:00';
  const micros = length >= 11 ? b.readUInt32LE(7) : 0;
  return `${date} ${time}${micros > 0 ? `.${pad(micros, 6)}` : ''}`;
}

function readTime(r: PayloadReader): string {
  const length = r.u8('a time length');
  const b = r.bytes(length, 'a time');
  if (length === 0) return '00:00:00';
  const negative = b[0] === 1;
  const hours = b.readUInt32LE(1) * 24 + b[5]!;
  const micros = length >= 12 ? b.readUInt32LE(8) : 0;
  return `${negative ? '-' : ''}${pad(hours)}:${pad(b[6]!)}:${pad(b[7]!)}${micros > 0 ? `.${pad(micros, 6)}` : ''}`;
}
