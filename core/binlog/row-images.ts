// The binlog inside the redo: a committed transaction's row changes (full before and after images)
// and DDL texts, encoded as the payloads of RowImages redo records that the writer ships in the same
// MTR as the transaction's pages and commit record. So they are durable exactly when the commit is,
// reach every redo consumer in commit order, and leave nothing when the transaction rolls back
// (a rolled-back transaction ships no redo at all).
//
// Each payload stands alone: it names its transaction, commit time, the tables it touches (columns
// and primary key) and each change's ordinals, so a consumer that sees one record — a Lambda
// invocation holding one Kinesis record — turns it into events without state. A single change too
// large for one payload is cut into fragments in consecutive records; a consumer joins them.
//
// Layout (little-endian):
//   version u8 | flags u8 (bit 0: fragment) | reserved u16 | txnId u64 | commitTimeMs u64 |
//   epoch u64 (of the writer that committed: the event's server_id) |
//   then, whole:    firstOrdinal u32 | tableCount u16 | tables | changeCount u32 | changes
//   or, fragment:   index u16 | count u16 | totalBytes u32 | bytes (a slice of a whole body that
//                   holds exactly one change)
// table:  name str | columnCount u16 | column str… | pkCount u16 | pk column index u16…
// change: kind u8 (1 row, 2 ddl) | tableOrdinal u32 | then
//   row:  table u16 | op u8 ('c','u','d') | rowid i64 | before image | after image
//   ddl:  sql str
// image:  present u8 (0 absent) | valueCount u16 | value…
// value:  tag u8 (0 null, 1 integer i64, 2 real f64, 3 text str, 4 blob u32 length + bytes)
// str:    u32 byte length + UTF-8
import { assert } from '../assert.ts';
import { BorealisError, ErrorCode } from '../errors.ts';

/** A column value as SQLite stores it (and the Data API types it): NULL, INTEGER, REAL, TEXT, BLOB. */
export type BinlogValue = null | bigint | number | string | Uint8Array;

export interface BinlogTable {
  name: string;
  columns: string[];
  /** Indexes into columns of the declared primary key, in key order; empty: the rowid is the key. */
  primaryKey: number[];
}

export type RowOp = 'c' | 'u' | 'd';

export interface RowChange {
  kind: 'row';
  /** Index into the payload's tables. */
  table: number;
  op: RowOp;
  /** The row's rowid (0 for a WITHOUT ROWID table). For 'u', the rowid after the change. */
  rowid: bigint;
  /** Every column, in the table's column order; null for 'c'. */
  before: BinlogValue[] | null;
  /** Every column, in the table's column order; null for 'd'. */
  after: BinlogValue[] | null;
  /** 1-based position among the transaction's changes to the same table (Debezium's data_collection_order). */
  tableOrdinal: number;
}

export interface DdlChange {
  kind: 'ddl';
  /** The statement's text, as the client sent it. */
  sql: string;
  /** The table the statement names, if the capture could tell ('' otherwise). */
  tableName: string;
  tableOrdinal: number;
}

export type BinlogChange = RowChange | DdlChange;

/** One transaction's changes as the capture hands them to the writer engine. */
export interface CapturedTransaction {
  tables: BinlogTable[];
  changes: BinlogChange[];
}

/** What every payload of a transaction names. */
export interface RowImagesTxn {
  txnId: bigint;
  commitTimeMs: number;
  /** The volume epoch of the writer that committed it (0 when unknown). */
  epoch?: bigint;
}

export interface RowImagesWhole {
  kind: 'whole';
  txnId: bigint;
  commitTimeMs: number;
  epoch: bigint;
  /** 1-based ordinal in the transaction of changes[0] (Debezium's total_order). */
  firstOrdinal: number;
  tables: BinlogTable[];
  changes: BinlogChange[];
}

export interface RowImagesFragment {
  kind: 'fragment';
  txnId: bigint;
  commitTimeMs: number;
  epoch: bigint;
  index: number;
  count: number;
  totalBytes: number;
  bytes: Uint8Array;
}

export type RowImagesPayload = RowImagesWhole | RowImagesFragment;

/** The largest RowImages payload the writer makes: several fit one redo batch (1,000,000 bytes). */
export const rowImagesPayloadBytesMax = 256 * 1024;
const version = 1;
const flagFragment = 1;
const headerBytes = 28;
const fragmentHeaderBytes = headerBytes + 8;
const tagNull = 0;
const tagInteger = 1;
const tagReal = 2;
const tagText = 3;
const tagBlob = 4;
const opCodes: Record<RowOp, number> = { c: 0x63, u: 0x75, d: 0x64 };

/**
 * The payloads of one transaction's RowImages records, in order, each at most `payloadBytesMax`
 * bytes. Changes are packed whole while they fit; a change that fits no payload on its own becomes
 * fragments. Ordinals (total_order) run over the whole transaction.
 */
export function encodeRowImages(
  txn: RowImagesTxn,
  captured: CapturedTransaction,
  payloadBytesMax = rowImagesPayloadBytesMax,
): Uint8Array[] {
  assert(payloadBytesMax > fragmentHeaderBytes + 64, 'RowImages payload bound too small');
  const out: Uint8Array[] = [];
  const tableSizes = captured.tables.map(tableBytes);
  // The payload being filled: its changes (encoded once), the tables they use, and its size so far.
  let batch: { change: BinlogChange; bytes: Buffer }[] = [];
  let used = new Set<number>();
  let size = wholeOverheadBytes;
  let firstOrdinal = 1;
  const flush = () => {
    if (batch.length === 0) return;
    out.push(wholePayload(txn, firstOrdinal, captured.tables, batch, used));
    firstOrdinal += batch.length;
    batch = [];
    used = new Set();
    size = wholeOverheadBytes;
  };
  /** What the change adds to a payload whose tables are `tables`. */
  const cost = (change: BinlogChange, bytes: Buffer, tables: Set<number>) =>
    bytes.length + (change.kind === 'row' && !tables.has(change.table) ? tableSizes[change.table]! : 0);
  for (const change of captured.changes) {
    if (change.kind === 'row')
      assert(change.table < captured.tables.length, () => `change names table ${change.table}`);
    const bytes = encodeChange(change);
    if (wholeOverheadBytes + cost(change, bytes, new Set()) > payloadBytesMax) {
      flush();
      const single = new Set(change.kind === 'row' ? [change.table] : []);
      const body = wholePayload(txn, firstOrdinal, captured.tables, [{ change, bytes }], single);
      const room = payloadBytesMax - fragmentHeaderBytes;
      const count = Math.ceil(body.length / room);
      assert(count <= 0xffff, 'a change of more than 65535 fragments');
      for (let i = 0; i < count; i++) {
        out.push(fragmentPayload(txn, i, count, body, body.subarray(i * room, (i + 1) * room)));
      }
      firstOrdinal += 1;
      continue;
    }
    if (size + cost(change, bytes, used) > payloadBytesMax) flush();
    size += cost(change, bytes, used);
    if (change.kind === 'row') used.add(change.table);
    batch.push({ change, bytes });
  }
  flush();
  return out;
}

/** Decodes one payload; anything that does not parse is a MALFORMED_FRAME error (nothing is guessed). */
export function decodeRowImages(payload: Uint8Array): RowImagesPayload {
  const r = new Reader(payload);
  const v = r.u8('version');
  if (v !== version) r.fail(`version ${v}`);
  const flags = r.u8('flags');
  r.u16('reserved');
  const txnId = r.u64('txnId');
  const commitTimeMs = Number(r.u64('commitTimeMs'));
  const epoch = r.u64('epoch');
  if ((flags & flagFragment) !== 0) {
    const index = r.u16('fragment index');
    const count = r.u16('fragment count');
    const totalBytes = r.u32('fragment totalBytes');
    if (count === 0 || index >= count) r.fail(`fragment ${index} of ${count}`);
    const bytes = r.rest();
    return { kind: 'fragment', txnId, commitTimeMs, epoch, index, count, totalBytes, bytes };
  }
  const firstOrdinal = r.u32('firstOrdinal');
  const tableCount = r.u16('tableCount');
  const tables: BinlogTable[] = [];
  for (let t = 0; t < tableCount; t++) {
    const name = r.str('table name');
    const columns: string[] = [];
    for (let c = r.u16('columnCount'); c > 0; c--) columns.push(r.str('column'));
    const primaryKey: number[] = [];
    for (let k = r.u16('pkCount'); k > 0; k--) {
      const index = r.u16('pk column');
      if (index >= columns.length) r.fail(`primary key column ${index} of ${columns.length}`);
      primaryKey.push(index);
    }
    tables.push({ name, columns, primaryKey });
  }
  const changes: BinlogChange[] = [];
  for (let n = r.u32('changeCount'); n > 0; n--) changes.push(decodeChange(r, tables));
  if (!r.done) r.fail(`${payload.length - r.offset} bytes after the last change`);
  return { kind: 'whole', txnId, commitTimeMs, epoch, firstOrdinal, tables, changes };
}

/** Joins a change's fragments (all of them, any order) back into the whole payload they were cut from. */
export function joinFragments(fragments: RowImagesFragment[]): RowImagesWhole {
  const first = fragments[0];
  if (first === undefined) throw malformed('no fragments to join');
  const sorted = [...fragments].sort((a, b) => a.index - b.index);
  sorted.forEach((f, i) => {
    if (
      f.index !== i ||
      f.count !== first.count ||
      f.txnId !== first.txnId ||
      f.totalBytes !== first.totalBytes
    )
      throw malformed(
        `fragment ${f.index} of ${f.count} does not continue fragment ${i - 1} of ${first.count}`,
      );
  });
  if (sorted.length !== first.count) throw malformed(`${sorted.length} of ${first.count} fragments`);
  const body = Buffer.concat(sorted.map((f) => f.bytes));
  if (body.length !== first.totalBytes) throw malformed(`joined ${body.length} of ${first.totalBytes} bytes`);
  const whole = decodeRowImages(body);
  if (whole.kind !== 'whole') throw malformed('fragments join into another fragment');
  return whole;
}

/** A whole payload's bytes besides its tables and changes: header, firstOrdinal, the two counts. */
const wholeOverheadBytes = headerBytes + 4 + 2 + 4;

function tableBytes(t: BinlogTable): number {
  return strBytes(t.name) + 2 + t.columns.reduce((n, c) => n + strBytes(c), 0) + 2 + 2 * t.primaryKey.length;
}

/** Offset of a row change's table index in its encoding (after kind u8 and tableOrdinal u32). */
const changeTableOffset = 5;

function wholePayload(
  txn: RowImagesTxn,
  firstOrdinal: number,
  tables: BinlogTable[],
  batch: { change: BinlogChange; bytes: Buffer }[],
  used: Set<number>,
): Buffer {
  // Each payload carries only the tables its changes use, renumbered densely.
  const order = [...used].sort((a, b) => a - b);
  const renumber = new Map(order.map((t, i) => [t, i]));
  const w = new Writer();
  header(w, txn, 0);
  w.u32(firstOrdinal);
  w.u16(order.length);
  for (const t of order) {
    const table = tables[t]!;
    w.str(table.name);
    w.u16(table.columns.length);
    for (const c of table.columns) w.str(c);
    w.u16(table.primaryKey.length);
    for (const k of table.primaryKey) w.u16(k);
  }
  w.u32(batch.length);
  for (const { change, bytes } of batch) {
    const at = w.length;
    w.bytes(bytes);
    if (change.kind === 'row') w.patchU16(at + changeTableOffset, renumber.get(change.table)!);
  }
  return w.finish();
}

function fragmentPayload(
  txn: RowImagesTxn,
  index: number,
  count: number,
  body: Buffer,
  slice: Buffer,
): Buffer {
  const w = new Writer();
  header(w, txn, flagFragment);
  w.u16(index);
  w.u16(count);
  w.u32(body.length);
  w.bytes(slice);
  return w.finish();
}

function header(w: Writer, txn: RowImagesTxn, flags: number): void {
  w.u8(version);
  w.u8(flags);
  w.u16(0);
  w.u64(txn.txnId);
  w.u64(BigInt(txn.commitTimeMs));
  w.u64(txn.epoch ?? 0n);
}

function encodeChange(change: BinlogChange): Buffer {
  const w = new Writer();
  if (change.kind === 'ddl') {
    w.u8(2);
    w.u32(change.tableOrdinal);
    w.str(change.sql);
    w.str(change.tableName);
    return w.finish();
  }
  w.u8(1);
  w.u32(change.tableOrdinal);
  w.u16(change.table);
  w.u8(opCodes[change.op]);
  w.i64(change.rowid);
  for (const image of [change.before, change.after]) {
    if (image === null) {
      w.u8(0);
      continue;
    }
    w.u8(1);
    w.u16(image.length);
    for (const v of image) writeValue(w, v);
  }
  return w.finish();
}

function decodeChange(r: Reader, tables: BinlogTable[]): BinlogChange {
  const kind = r.u8('change kind');
  const tableOrdinal = r.u32('tableOrdinal');
  if (kind === 2) return { kind: 'ddl', tableOrdinal, sql: r.str('ddl'), tableName: r.str('ddl table') };
  if (kind !== 1) r.fail(`change kind ${kind}`);
  const table = r.u16('table');
  const t = tables[table];
  if (t === undefined) r.fail(`table ${table} of ${tables.length}`);
  const code = r.u8('op');
  const op = (Object.keys(opCodes) as RowOp[]).find((k) => opCodes[k] === code);
  if (op === undefined) r.fail(`op ${code}`);
  const rowid = r.i64('rowid');
  const images: (BinlogValue[] | null)[] = [];
  for (const which of ['before', 'after']) {
    if (r.u8(`${which} present`) === 0) {
      images.push(null);
      continue;
    }
    const n = r.u16(`${which} count`);
    if (n !== t.columns.length) r.fail(`${which} image of ${n} values for ${t.columns.length} columns`);
    const values: BinlogValue[] = [];
    for (let i = 0; i < n; i++) values.push(readValue(r));
    images.push(values);
  }
  const [before, after] = images as [BinlogValue[] | null, BinlogValue[] | null];
  if (
    (op === 'c') !== (before === null) ||
    (op === 'd') !== (after === null) ||
    (before === null && after === null)
  )
    r.fail(
      `op '${op}' with before ${before ? 'present' : 'absent'} and after ${after ? 'present' : 'absent'}`,
    );
  return { kind: 'row', table, op, rowid, before, after, tableOrdinal };
}

function writeValue(w: Writer, v: BinlogValue): void {
  if (v === null) w.u8(tagNull);
  else if (typeof v === 'bigint') {
    w.u8(tagInteger);
    w.i64(v);
  } else if (typeof v === 'number') {
    w.u8(tagReal);
    w.f64(v);
  } else if (typeof v === 'string') {
    w.u8(tagText);
    w.str(v);
  } else {
    w.u8(tagBlob);
    w.u32(v.length);
    w.bytes(v);
  }
}

function readValue(r: Reader): BinlogValue {
  const tag = r.u8('value tag');
  switch (tag) {
    case tagNull:
      return null;
    case tagInteger:
      return r.i64('integer');
    case tagReal:
      return r.f64('real');
    case tagText:
      return r.str('text');
    case tagBlob:
      return r.take(r.u32('blob length'), 'blob');
    default:
      return r.fail(`value tag ${tag}`);
  }
}

function strBytes(s: string): number {
  return 4 + Buffer.byteLength(s);
}

function malformed(message: string): BorealisError {
  return new BorealisError(ErrorCode.MALFORMED_FRAME, `RowImages payload: ${message}`, { retryable: false });
}

/** Little-endian writes into one growing buffer (a payload is built without a Buffer per field). */
class Writer {
  #buf = Buffer.allocUnsafe(256);
  #at = 0;
  get length(): number {
    return this.#at;
  }
  #room(n: number) {
    if (this.#at + n <= this.#buf.length) return;
    const grown = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#at + n));
    this.#buf.copy(grown, 0, 0, this.#at);
    this.#buf = grown;
  }
  u8(v: number) {
    this.#room(1);
    this.#buf[this.#at++] = v;
  }
  u16(v: number) {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xffff, () => `u16 ${v}`);
    this.#room(2);
    this.#at = this.#buf.writeUInt16LE(v, this.#at);
  }
  patchU16(at: number, v: number) {
    assert(at + 2 <= this.#at && v >= 0 && v <= 0xffff, () => `patch u16 ${v} at ${at}`);
    this.#buf.writeUInt16LE(v, at);
  }
  u32(v: number) {
    assert(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff, () => `u32 ${v}`);
    this.#room(4);
    this.#at = this.#buf.writeUInt32LE(v, this.#at);
  }
  u64(v: bigint) {
    this.#room(8);
    this.#at = this.#buf.writeBigUInt64LE(v, this.#at);
  }
  i64(v: bigint) {
    this.#room(8);
    this.#at = this.#buf.writeBigInt64LE(v, this.#at);
  }
  f64(v: number) {
    this.#room(8);
    this.#at = this.#buf.writeDoubleLE(v, this.#at);
  }
  str(s: string) {
    const n = Buffer.byteLength(s);
    this.u32(n);
    this.#room(n);
    this.#at += this.#buf.write(s, this.#at, 'utf8');
  }
  bytes(b: Uint8Array) {
    this.#room(b.length);
    this.#buf.set(b, this.#at);
    this.#at += b.length;
  }
  finish(): Buffer {
    return this.#buf.subarray(0, this.#at);
  }
}

class Reader {
  offset = 0;
  readonly #buf: Buffer;
  constructor(payload: Uint8Array) {
    this.#buf = Buffer.from(payload.buffer, payload.byteOffset, payload.length);
  }
  get done(): boolean {
    return this.offset === this.#buf.length;
  }
  fail(message: string): never {
    throw malformed(`${message} (at byte ${this.offset} of ${this.#buf.length})`);
  }
  #need(n: number, what: string) {
    if (this.offset + n > this.#buf.length) this.fail(`truncated in ${what}`);
  }
  u8(what: string): number {
    this.#need(1, what);
    return this.#buf[this.offset++]!;
  }
  u16(what: string): number {
    this.#need(2, what);
    const v = this.#buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }
  u32(what: string): number {
    this.#need(4, what);
    const v = this.#buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }
  u64(what: string): bigint {
    this.#need(8, what);
    const v = this.#buf.readBigUInt64LE(this.offset);
    this.offset += 8;
    return v;
  }
  i64(what: string): bigint {
    this.#need(8, what);
    const v = this.#buf.readBigInt64LE(this.offset);
    this.offset += 8;
    return v;
  }
  f64(what: string): number {
    this.#need(8, what);
    const v = this.#buf.readDoubleLE(this.offset);
    this.offset += 8;
    return v;
  }
  take(n: number, what: string): Uint8Array {
    this.#need(n, what);
    // A plain Uint8Array copy (not a Buffer view of the payload), as values are everywhere else.
    const v = new Uint8Array(this.#buf.subarray(this.offset, this.offset + n));
    this.offset += n;
    return v;
  }
  str(what: string): string {
    const n = this.u32(`${what} length`);
    this.#need(n, what);
    const s = this.#buf.toString('utf8', this.offset, this.offset + n);
    this.offset += n;
    return s;
  }
  rest(): Uint8Array {
    const v = this.#buf.subarray(this.offset);
    this.offset = this.#buf.length;
    return v;
  }
}
