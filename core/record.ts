// The redo record: the only thing the writer ships. Storage appends it to the segment log, gossips it,
// coalesces it into pages; readers apply it to cached pages. One binary layout for wire and disk.
import { assert } from './assert.ts';
import { crc32c } from './crc32c.ts';
import { BorealisError, ErrorCode } from './errors.ts';
import {
  pgIdAll,
  pgsPerVolumeMax,
  recordHeaderBytes,
  recordOverheadBytes,
  recordPayloadBytesMax,
  recordTrailerBytes,
} from './limits.ts';
import { LSN_INVALID, LSN_MAX, type Lsn, lsnToString } from './lsn.ts';

export { recordHeaderBytes, recordOverheadBytes };

export const RecordKind = {
  /** Changed byte ranges of one page (core/delta.ts). */
  PageDelta: 1,
  /** A whole page, e.g. the first write of a page or a page that changed almost entirely. */
  PageImage: 2,
  /** A transaction's commit: CommitPayload. Its LSN is the commit LSN the client waits on. */
  Commit: 3,
  /** Records in (aboveLsn, uptoLsn] are void: written by a recovering writer or by backtrack. */
  TruncateRange: 4,
  /** Row-level before/after images for the binlog, riding in the redo stream. Opaque here. */
  RowImages: 5,
  /** A new volume epoch took over the log. */
  Epoch: 6,
} as const;
export type RecordKindValue = (typeof RecordKind)[keyof typeof RecordKind];
const recordKindMax = 6;

export const RecordFlags = {
  /** Consistency point: the last record of an MTR. VDL only ever lands on a CPL. */
  Cpl: 1,
} as const;
const recordFlagsKnownMask = RecordFlags.Cpl;

export interface RedoRecord {
  lsn: Lsn;
  pg: number;
  pageNo: number;
  /** Previous record of the same PG (LSN_INVALID for the PG's first): how segments find gaps and SCL. */
  prevLsnInPg: Lsn;
  /** Previous record of the same page (LSN_INVALID if none): how storage walks a page's versions. */
  prevLsnOfPage: Lsn;
  kind: RecordKindValue;
  flags: number;
  /** Decoded records may hold a view into the decoded buffer, not a copy: see decodeRecord. */
  payload: Uint8Array;
}

export function isRecordKind(kind: number): kind is RecordKindValue {
  return Number.isInteger(kind) && kind >= 1 && kind <= recordKindMax;
}

export function recordIsCpl(record: RedoRecord): boolean {
  return (record.flags & RecordFlags.Cpl) !== 0;
}

export function encodedRecordLength(record: RedoRecord): number {
  return recordOverheadBytes + record.payload.length;
}

// Layout (little-endian): offsets within a record.
const offsetLsn = 0;
const offsetPg = 8;
const offsetPageNo = 12;
const offsetPrevLsnInPg = 16;
const offsetPrevLsnOfPage = 24;
const offsetKind = 32;
const offsetFlags = 33;
const offsetReserved = 34;
const offsetPayloadLength = 36;
assert(offsetPayloadLength + 4 === recordHeaderBytes, 'record header layout');
assert(recordTrailerBytes === 4, 'record trailer is one crc32c');

// One DataView per distinct buffer, so encoding or decoding a batch in one buffer allocates one view in
// all. It keeps the last buffer alive until the next call with another buffer: a bounded retention.
let cachedViewBytes: Uint8Array | undefined;
let cachedView: DataView = new DataView(new ArrayBuffer(0));
function viewOf(bytes: Uint8Array): DataView {
  if (bytes !== cachedViewBytes) {
    cachedView = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    cachedViewBytes = bytes;
  }
  return cachedView;
}

function isU32(x: number): boolean {
  return x >>> 0 === x;
}

/** The first field-level rule a record breaks, or undefined. Shared by encode (assert) and decode (error). */
function recordProblem(
  lsn: Lsn,
  prevLsnInPg: Lsn,
  prevLsnOfPage: Lsn,
  kind: number,
  flags: number,
  payloadLength: number,
): string | undefined {
  if (lsn <= LSN_INVALID || lsn > LSN_MAX) return 'lsn must be in [1, 2^64-1]';
  if (prevLsnInPg < LSN_INVALID || prevLsnInPg >= lsn) return 'prevLsnInPg must be below lsn';
  if (prevLsnOfPage < LSN_INVALID || prevLsnOfPage >= lsn) return 'prevLsnOfPage must be below lsn';
  if (!isRecordKind(kind)) return `unknown record kind ${kind}`;
  if ((flags & ~recordFlagsKnownMask) !== 0 || !isU32(flags)) return `unknown record flags ${flags}`;
  if (payloadLength > recordPayloadBytesMax) {
    return `payload of ${payloadLength} bytes exceeds ${recordPayloadBytesMax}`;
  }
  return undefined;
}

/** Writes one record at out[offset]; returns the bytes written. Invalid records are a writer bug. */
export function encodeRecord(record: RedoRecord, out: Uint8Array, offset: number): number {
  const payload = record.payload;
  const problem = recordProblem(
    record.lsn,
    record.prevLsnInPg,
    record.prevLsnOfPage,
    record.kind,
    record.flags,
    payload.length,
  );
  assert(problem === undefined, () => `encodeRecord lsn ${String(record.lsn)}: ${problem}`);
  assert(isU32(record.pg) && isU32(record.pageNo), 'record pg and pageNo must be u32');
  const length = recordOverheadBytes + payload.length;
  assert(
    Number.isInteger(offset) && offset >= 0 && offset + length <= out.length,
    () => `encodeRecord: ${length} bytes at ${offset} overflow a ${out.length}-byte buffer`,
  );

  const view = viewOf(out);
  view.setBigUint64(offset + offsetLsn, record.lsn, true);
  view.setUint32(offset + offsetPg, record.pg, true);
  view.setUint32(offset + offsetPageNo, record.pageNo, true);
  view.setBigUint64(offset + offsetPrevLsnInPg, record.prevLsnInPg, true);
  view.setBigUint64(offset + offsetPrevLsnOfPage, record.prevLsnOfPage, true);
  out[offset + offsetKind] = record.kind;
  out[offset + offsetFlags] = record.flags;
  view.setUint16(offset + offsetReserved, 0, true);
  view.setUint32(offset + offsetPayloadLength, payload.length, true);
  out.set(payload, offset + recordHeaderBytes);
  const crcOffset = offset + recordHeaderBytes + payload.length;
  view.setUint32(crcOffset, crc32c(out, offset, crcOffset), true);
  return length;
}

/** The records back to back in one new buffer: the body of a log write or of an Append. */
export function encodeRecords(records: readonly RedoRecord[]): Buffer {
  let total = 0;
  for (const record of records) total += encodedRecordLength(record);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const record of records) offset += encodeRecord(record, out, offset);
  assert(offset === total, 'encodeRecords wrote what it measured');
  return out;
}

export type TryDecodeRecordResult =
  | { ok: true; record: RedoRecord; length: number }
  | { ok: false; reason: 'truncated' | 'bad_crc' | 'malformed'; detail: string };

/**
 * Decodes the record at buf[offset] without throwing. A log scan uses it to find a torn tail: a record
 * cut short ('truncated') or half-written ('bad_crc', or 'malformed' when the length field is garbage).
 * The returned payload is a view into buf, not a copy: copy it if buf will be reused.
 */
export function tryDecodeRecord(buf: Uint8Array, offset: number): TryDecodeRecordResult {
  assert(
    Number.isInteger(offset) && offset >= 0 && offset <= buf.length,
    () => `tryDecodeRecord offset ${offset} outside a ${buf.length}-byte buffer`,
  );
  const available = buf.length - offset;
  if (available < recordHeaderBytes) {
    return {
      ok: false,
      reason: 'truncated',
      detail: `${available} bytes left, header needs ${recordHeaderBytes}`,
    };
  }
  const view = viewOf(buf);
  const payloadLength = view.getUint32(offset + offsetPayloadLength, true);
  if (payloadLength > recordPayloadBytesMax) {
    return {
      ok: false,
      reason: 'malformed',
      detail: `payload of ${payloadLength} bytes exceeds ${recordPayloadBytesMax}`,
    };
  }
  const length = recordOverheadBytes + payloadLength;
  if (available < length) {
    return { ok: false, reason: 'truncated', detail: `${available} bytes left, record needs ${length}` };
  }
  const crcOffset = offset + recordHeaderBytes + payloadLength;
  const crcStored = view.getUint32(crcOffset, true);
  const crcActual = crc32c(buf, offset, crcOffset);
  if (crcStored !== crcActual) {
    return { ok: false, reason: 'bad_crc', detail: `crc32c ${crcActual} != stored ${crcStored}` };
  }
  // The bytes are what the encoder wrote; now check that the encoder wrote a valid record.
  const lsn = view.getBigUint64(offset + offsetLsn, true);
  const prevLsnInPg = view.getBigUint64(offset + offsetPrevLsnInPg, true);
  const prevLsnOfPage = view.getBigUint64(offset + offsetPrevLsnOfPage, true);
  const kind = buf[offset + offsetKind]!;
  const flags = buf[offset + offsetFlags]!;
  const problem = recordProblem(lsn, prevLsnInPg, prevLsnOfPage, kind, flags, payloadLength);
  if (problem !== undefined) return { ok: false, reason: 'malformed', detail: problem };
  if (view.getUint16(offset + offsetReserved, true) !== 0) {
    return { ok: false, reason: 'malformed', detail: 'reserved field must be zero' };
  }
  const record: RedoRecord = {
    lsn,
    pg: view.getUint32(offset + offsetPg, true),
    pageNo: view.getUint32(offset + offsetPageNo, true),
    prevLsnInPg,
    prevLsnOfPage,
    kind: kind as RecordKindValue,
    flags,
    payload: buf.subarray(offset + recordHeaderBytes, crcOffset),
  };
  return { ok: true, record, length };
}

/**
 * Decodes the record at buf[offset]; throws BorealisError MALFORMED_FRAME (truncated or invalid) or
 * BAD_CRC with the offset (and the LSN, when the header is there) in context. The payload is a view
 * into buf, not a copy.
 */
export function decodeRecord(buf: Uint8Array, offset: number): { record: RedoRecord; length: number } {
  const result = tryDecodeRecord(buf, offset);
  if (result.ok) return { record: result.record, length: result.length };
  const context: Record<string, unknown> = { offset, reason: result.reason };
  if (buf.length - offset >= 8) context.lsn = lsnToString(viewOf(buf).getBigUint64(offset + offsetLsn, true));
  throw new BorealisError(
    result.reason === 'bad_crc' ? ErrorCode.BAD_CRC : ErrorCode.MALFORMED_FRAME,
    `bad redo record at offset ${offset}: ${result.reason}: ${result.detail}`,
    { context },
  );
}

// --- Payloads ---------------------------------------------------------------------------------------

function malformedPayload(what: string, detail: string, length: number): BorealisError {
  return new BorealisError(ErrorCode.MALFORMED_FRAME, `bad ${what} payload: ${detail}`, {
    context: { payloadBytes: length },
  });
}

export interface PgTail {
  pg: number;
  /** The transaction's last LSN in this PG. */
  lastLsn: Lsn;
}

export interface CommitPayload {
  txnId: bigint;
  /** Wall-clock commit time, epoch milliseconds: what PITR and the binlog order and filter by. */
  commitTimeMs: number;
  /** Per PG the transaction touched, ascending by pg (one entry per PG). */
  pgTails: PgTail[];
  /** The VDL the writer knew when it wrote this record: a floor for consumers of the redo stream. */
  vdlHint: Lsn;
  /**
   * The volume's previous commit record (LSN and PG; 0 and 0 for the first): commits form a chain a
   * recovering writer walks back from the newest one it finds, so it never scans the log.
   */
  prevCommitLsn: Lsn;
  prevCommitPg: number;
}

// txnId u64 | commitTimeMs u64 | vdlHint u64 | prevCommitLsn u64 | prevCommitPg u32 | pgTailCount u32
const commitFixedBytes = 40;
const pgTailBytes = 12; // pg u32 | lastLsn u64
assert(commitFixedBytes + pgTailBytes * pgsPerVolumeMax <= recordPayloadBytesMax, 'a commit fits a record');

export function encodeCommitPayload(payload: CommitPayload): Buffer {
  assert(payload.txnId >= 0n && payload.txnId <= LSN_MAX, 'txnId must be a u64');
  assert(
    Number.isSafeInteger(payload.commitTimeMs) && payload.commitTimeMs >= 0,
    'commitTimeMs must be a non-negative safe integer',
  );
  assert(payload.vdlHint >= 0n && payload.vdlHint <= LSN_MAX, 'vdlHint must be an LSN');
  assert(payload.prevCommitLsn >= 0n && payload.prevCommitLsn <= LSN_MAX, 'prevCommitLsn must be an LSN');
  assert(isU32(payload.prevCommitPg) && payload.prevCommitPg < pgIdAll, 'prevCommitPg must be a pg');
  const tails = payload.pgTails;
  assert(tails.length <= pgsPerVolumeMax, 'commit touches more PGs than a volume has');
  const out = Buffer.allocUnsafe(commitFixedBytes + pgTailBytes * tails.length);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setBigUint64(0, payload.txnId, true);
  view.setBigUint64(8, BigInt(payload.commitTimeMs), true);
  view.setBigUint64(16, payload.vdlHint, true);
  view.setBigUint64(24, payload.prevCommitLsn, true);
  view.setUint32(32, payload.prevCommitPg, true);
  view.setUint32(36, tails.length, true);
  let offset = commitFixedBytes;
  let pgBefore = -1;
  for (const tail of tails) {
    assert(isU32(tail.pg) && tail.pg < pgIdAll && tail.pg > pgBefore, 'pgTails must ascend by u32 pg');
    assert(tail.lastLsn > LSN_INVALID && tail.lastLsn <= LSN_MAX, 'pgTails lastLsn must be a real LSN');
    view.setUint32(offset, tail.pg, true);
    view.setBigUint64(offset + 4, tail.lastLsn, true);
    offset += pgTailBytes;
    pgBefore = tail.pg;
  }
  return out;
}

export function decodeCommitPayload(bytes: Uint8Array): CommitPayload {
  if (bytes.length < commitFixedBytes) throw malformedPayload('commit', 'truncated', bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const txnId = view.getBigUint64(0, true);
  const commitTime = view.getBigUint64(8, true);
  const vdlHint = view.getBigUint64(16, true);
  const prevCommitLsn = view.getBigUint64(24, true);
  const prevCommitPg = view.getUint32(32, true);
  const count = view.getUint32(36, true);
  if (prevCommitPg === pgIdAll) throw malformedPayload('commit', 'prevCommitPg is not a pg', bytes.length);
  if (commitTime > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw malformedPayload('commit', 'commitTimeMs beyond 2^53', bytes.length);
  }
  if (count > pgsPerVolumeMax || bytes.length !== commitFixedBytes + pgTailBytes * count) {
    throw malformedPayload('commit', `${count} pgTails do not match ${bytes.length} bytes`, bytes.length);
  }
  const pgTails: PgTail[] = new Array(count);
  let offset = commitFixedBytes;
  let pgBefore = -1;
  for (let i = 0; i < count; i++) {
    const pg = view.getUint32(offset, true);
    const lastLsn = view.getBigUint64(offset + 4, true);
    if (pg <= pgBefore || pg === pgIdAll)
      throw malformedPayload('commit', 'pgTails must ascend', bytes.length);
    if (lastLsn === LSN_INVALID) throw malformedPayload('commit', 'pgTails lastLsn is 0', bytes.length);
    pgTails[i] = { pg, lastLsn };
    offset += pgTailBytes;
    pgBefore = pg;
  }
  return { txnId, commitTimeMs: Number(commitTime), pgTails, vdlHint, prevCommitLsn, prevCommitPg };
}

export interface EpochPayload {
  /** Epochs start at 1; 0 means "none" in the protocol. */
  epoch: bigint;
}

export function encodeEpochPayload(payload: EpochPayload): Buffer {
  assert(payload.epoch > 0n && payload.epoch <= LSN_MAX, 'epoch must be a u64 above 0');
  const out = Buffer.allocUnsafe(8);
  out.writeBigUInt64LE(payload.epoch, 0);
  return out;
}

export function decodeEpochPayload(bytes: Uint8Array): EpochPayload {
  if (bytes.length !== 8) throw malformedPayload('epoch', `length ${bytes.length} != 8`, bytes.length);
  const epoch = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (epoch === 0n) throw malformedPayload('epoch', 'epoch 0', bytes.length);
  return { epoch };
}

export interface TruncateRangePayload {
  /** The epoch that truncated; records of older epochs in the range are void. */
  epoch: bigint;
  /** Records with aboveLsn < lsn <= uptoLsn are void. */
  aboveLsn: Lsn;
  uptoLsn: Lsn;
}

export function encodeTruncateRangePayload(payload: TruncateRangePayload): Buffer {
  assert(payload.epoch > 0n && payload.epoch <= LSN_MAX, 'epoch must be a u64 above 0');
  assert(
    payload.aboveLsn >= 0n && payload.aboveLsn <= payload.uptoLsn && payload.uptoLsn <= LSN_MAX,
    'truncation range must be aboveLsn <= uptoLsn',
  );
  const out = Buffer.allocUnsafe(24);
  out.writeBigUInt64LE(payload.epoch, 0);
  out.writeBigUInt64LE(payload.aboveLsn, 8);
  out.writeBigUInt64LE(payload.uptoLsn, 16);
  return out;
}

export function decodeTruncateRangePayload(bytes: Uint8Array): TruncateRangePayload {
  if (bytes.length !== 24)
    throw malformedPayload('truncate range', `length ${bytes.length} != 24`, bytes.length);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 24);
  const epoch = view.getBigUint64(0, true);
  const aboveLsn = view.getBigUint64(8, true);
  const uptoLsn = view.getBigUint64(16, true);
  if (epoch === 0n) throw malformedPayload('truncate range', 'epoch 0', bytes.length);
  if (aboveLsn > uptoLsn) throw malformedPayload('truncate range', 'aboveLsn > uptoLsn', bytes.length);
  return { epoch, aboveLsn, uptoLsn };
}
