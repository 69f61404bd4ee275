// A redo batch: a run of durable redo records, in LSN order, as the writer publishes them to the
// region's Kinesis redo stream and as the backup archiver stores them (compressed) in S3 log chunks.
//
// Contiguity without dense LSNs: LSNs jump after a recovery (the truncated range is never reused),
// so "next LSN = last + 1" cannot prove a gap-free log. Instead every batch names `prevLsn`, the
// volume's last durable record before its first one, and holds EVERY durable record in
// (prevLsn, lastLsn]. Durable records are unique per LSN (a truncated LSN is never durable, and a
// new writer allocates above the truncated range), so two batches that overlap agree on the overlap,
// and a batch continues a log that ends at W exactly when prevLsn <= W < lastLsn.
//
// Layout (little-endian): magic u32 'BRB1' | version u8 | flags u8 | timeline u16 |
//   epoch u64 | prevLsn u64 | firstLsn u64 | lastLsn u64 |
//   lastCommitLsn u64 | firstCommitTimeMs u64 | lastCommitTimeMs u64 |
//   commitCount u32 | recordCount u32 | bodyLength u32 | bodyCrc32c u32 |
//   headerCrc32c u32 (of bytes 0-79) | reserved u32 | body (encodeRecords)
// lastCommitLsn is 0 and the commit times are 0 when the batch holds no commit (a slice of a large
// transaction); the body CRC covers the records on top of their own CRCs, so a torn object is
// caught before any record is trusted. `timeline` is how many backtrack markers were in effect when
// the batch was published (0 before any backtrack; ADR 015): the batch holds every durable record in
// (prevLsn, lastLsn] *of that timeline*, which is what lets a restore follow a later one.
import { assert } from '../assert.ts';
import { crc32c } from '../crc32c.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import {
  decodeCommitPayload,
  decodeRecord,
  encodedRecordLength,
  encodeRecords,
  RecordKind,
  type RedoRecord,
} from '../record.ts';

const magic = 0x31425242; // 'BRB1' read as little-endian u32
const version = 1;
export const redoBatchHeaderBytes = 88;
/** Kinesis takes at most 1 MiB per record (data + partition key): stay clearly below it. */
export const redoBatchBytesMax = 1_000_000;

export interface RedoBatch {
  epoch: bigint;
  /** The last durable record before `records[0]` (0 for the volume's first record). */
  prevLsn: Lsn;
  records: RedoRecord[];
  /** Backtrack markers in effect when published (the timeline's number); 0 when absent. */
  timeline?: number;
}

export interface RedoBatchHeader {
  epoch: bigint;
  prevLsn: Lsn;
  firstLsn: Lsn;
  lastLsn: Lsn;
  /** Newest commit (CPL) in the batch, 0 when it has none. */
  lastCommitLsn: Lsn;
  firstCommitTimeMs: number;
  lastCommitTimeMs: number;
  commitCount: number;
  recordCount: number;
  /** Backtrack markers in effect when the batch was published (0: none). */
  timeline: number;
}

export interface CommitInfo {
  lsn: Lsn;
  commitTimeMs: number;
  txnId: bigint;
}

function invalid(message: string, context: Record<string, unknown> = {}): BorealisError {
  return new BorealisError(ErrorCode.INVALID_ARGUMENT, `redo batch: ${message}`, { context });
}

/** The commits of a run of records, in order. */
export function commitsOf(records: readonly RedoRecord[]): CommitInfo[] {
  const commits: CommitInfo[] = [];
  for (const r of records) {
    if (r.kind !== RecordKind.Commit) continue;
    const payload = decodeCommitPayload(r.payload);
    commits.push({ lsn: r.lsn, commitTimeMs: payload.commitTimeMs, txnId: payload.txnId });
  }
  return commits;
}

export function headerOf(batch: RedoBatch): RedoBatchHeader {
  const { records } = batch;
  assert(records.length > 0, 'a redo batch holds at least one record');
  const commits = commitsOf(records);
  return {
    epoch: batch.epoch,
    prevLsn: batch.prevLsn,
    firstLsn: records[0]!.lsn,
    lastLsn: records[records.length - 1]!.lsn,
    lastCommitLsn: commits.at(-1)?.lsn ?? 0n,
    firstCommitTimeMs: commits[0]?.commitTimeMs ?? 0,
    lastCommitTimeMs: commits.at(-1)?.commitTimeMs ?? 0,
    commitCount: commits.length,
    recordCount: records.length,
    timeline: batch.timeline ?? 0,
  };
}

export function encodeRedoBatch(batch: RedoBatch): Buffer {
  const { records } = batch;
  assert(records.length > 0, 'a redo batch holds at least one record');
  assert(batch.prevLsn < records[0]!.lsn, 'prevLsn precedes the first record');
  for (let i = 1; i < records.length; i++) {
    assert(records[i - 1]!.lsn < records[i]!.lsn, () => `records out of LSN order at ${i}`);
  }
  const h = headerOf(batch);
  const body = encodeRecords(records);
  const out = Buffer.allocUnsafe(redoBatchHeaderBytes + body.length);
  out.writeUInt32LE(magic, 0);
  out.writeUInt8(version, 4);
  out.writeUInt8(0, 5);
  assert(h.timeline >= 0 && h.timeline <= 0xffff, () => `timeline ${h.timeline} fits a u16`);
  out.writeUInt16LE(h.timeline, 6);
  out.writeBigUInt64LE(h.epoch, 8);
  out.writeBigUInt64LE(h.prevLsn, 16);
  out.writeBigUInt64LE(h.firstLsn, 24);
  out.writeBigUInt64LE(h.lastLsn, 32);
  out.writeBigUInt64LE(h.lastCommitLsn, 40);
  out.writeBigUInt64LE(BigInt(h.firstCommitTimeMs), 48);
  out.writeBigUInt64LE(BigInt(h.lastCommitTimeMs), 56);
  out.writeUInt32LE(h.commitCount, 64);
  out.writeUInt32LE(h.recordCount, 68);
  out.writeUInt32LE(body.length, 72);
  out.writeUInt32LE(crc32c(body), 76);
  out.writeUInt32LE(crc32c(out, 0, 80), 80);
  out.writeUInt32LE(0, 84);
  body.copy(out, redoBatchHeaderBytes);
  return out;
}

/** The header alone (no body check): what a lister needs from the first bytes of an object. */
export function decodeRedoBatchHeader(buf: Uint8Array): RedoBatchHeader {
  if (buf.length < redoBatchHeaderBytes) throw invalid(`${buf.length} bytes is shorter than the header`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  if (b.readUInt32LE(0) !== magic) throw invalid('bad magic: not a Borealis redo batch');
  if (b.readUInt8(4) !== version) throw invalid(`unknown version ${b.readUInt8(4)}`);
  if (crc32c(b, 0, 80) !== b.readUInt32LE(80)) throw invalid('header CRC mismatch');
  return {
    epoch: b.readBigUInt64LE(8),
    prevLsn: b.readBigUInt64LE(16),
    firstLsn: b.readBigUInt64LE(24),
    lastLsn: b.readBigUInt64LE(32),
    lastCommitLsn: b.readBigUInt64LE(40),
    firstCommitTimeMs: Number(b.readBigUInt64LE(48)),
    lastCommitTimeMs: Number(b.readBigUInt64LE(56)),
    commitCount: b.readUInt32LE(64),
    recordCount: b.readUInt32LE(68),
    timeline: b.readUInt16LE(6),
  };
}

/** Decodes and checks a whole batch: magic, CRC, record CRCs, count, order and the header's LSNs. */
export function decodeRedoBatch(buf: Uint8Array): RedoBatch & { header: RedoBatchHeader } {
  const header = decodeRedoBatchHeader(buf);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const bodyLength = b.readUInt32LE(72);
  if (redoBatchHeaderBytes + bodyLength !== b.length) {
    throw invalid(`body length ${bodyLength} does not match the object (${b.length} bytes)`);
  }
  if (crc32c(b, redoBatchHeaderBytes) !== b.readUInt32LE(76)) throw invalid('body CRC mismatch');
  const records: RedoRecord[] = [];
  for (let offset = redoBatchHeaderBytes; offset < b.length; ) {
    const { record, length } = decodeRecord(b, offset);
    records.push({ ...record, payload: Buffer.from(record.payload) });
    offset += length;
  }
  for (let i = 0; i < records.length; i++) {
    const before = i === 0 ? header.prevLsn : records[i - 1]!.lsn;
    if (records[i]!.lsn <= before) throw invalid(`records out of LSN order at ${i}`);
  }
  const batch = { epoch: header.epoch, prevLsn: header.prevLsn, records, timeline: header.timeline };
  const check = records.length > 0 ? headerOf(batch) : undefined;
  if (!check || JSON.stringify(check, bigints) !== JSON.stringify(header, bigints)) {
    throw invalid('header does not match the records', { header: JSON.stringify(header, bigints) });
  }
  return { ...batch, header };
}

function bigints(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * Splits a run of durable records (LSN order) into batches of at most `maxBytes` encoded, chained by
 * prevLsn. Batches end on a commit when they can; a transaction bigger than a batch is cut between
 * records (a consumer applies nothing past the last commit it has, so that is safe).
 */
export function packRedoBatches(
  epoch: bigint,
  prevLsn: Lsn,
  records: readonly RedoRecord[],
  maxBytes = redoBatchBytesMax,
  timeline = 0,
): RedoBatch[] {
  const batches: RedoBatch[] = [];
  let current: RedoRecord[] = [];
  let bytes = redoBatchHeaderBytes;
  let lastCommitIndex = -1;
  let prev = prevLsn;
  const flush = (upto: number) => {
    const taken = current.slice(0, upto);
    batches.push({ epoch, prevLsn: prev, records: taken, timeline });
    prev = taken[taken.length - 1]!.lsn;
    current = current.slice(upto);
    bytes = redoBatchHeaderBytes + current.reduce((n, r) => n + encodedRecordLength(r), 0);
    lastCommitIndex = current.findLastIndex((r) => r.kind === RecordKind.Commit);
  };
  for (const record of records) {
    const size = encodedRecordLength(record);
    if (redoBatchHeaderBytes + size > maxBytes) {
      throw invalid(`a ${size}-byte record does not fit a ${maxBytes}-byte batch`, {
        lsn: record.lsn.toString(),
      });
    }
    if (bytes + size > maxBytes && current.length > 0) {
      // Prefer a commit boundary; else cut right here.
      flush(lastCommitIndex >= 0 ? lastCommitIndex + 1 : current.length);
      if (bytes + size > maxBytes && current.length > 0) flush(current.length);
    }
    current.push(record);
    bytes += size;
    if (record.kind === RecordKind.Commit) lastCommitIndex = current.length - 1;
  }
  if (current.length > 0) flush(current.length);
  return batches;
}
