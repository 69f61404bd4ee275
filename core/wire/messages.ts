// The storage protocol: every message between the writer, readers and storage nodes (and between
// peer segments), as a discriminated union, with body codecs for frame.ts. Pure; no I/O.
import { assert, assertNever } from '../assert.ts';
import { BorealisError, ErrorCode, errorCodeToWire, wireToErrorCode } from '../errors.ts';
import {
  errorMessageBytesMax,
  frameBodyBytesMax,
  gossipBytesPerPullMax,
  messageEnvelopeBytesMax,
  pageSizeBytesMax,
  recordOverheadBytes,
  recordPayloadBytesMax,
  recordsPerAppendMax,
  recordsPerGossipMax,
  segmentsPerNodeMax,
  truncationsPerGossipMax,
} from '../limits.ts';
import { LSN_MAX, type Lsn } from '../lsn.ts';
import type { SegmentKind } from '../quorum.ts';
import { decodeRecord, encodedRecordLength, encodeRecord, RecordKind, type RedoRecord } from '../record.ts';

/** Frame type byte of each message. Append-only: a value is never reused. */
export const MessageType = {
  Append: 1,
  AppendAck: 2,
  GetPage: 3,
  Page: 4,
  RecoveryInfo: 5,
  RecoveryInfoReply: 6,
  Truncate: 7,
  Truncated: 8,
  GossipPull: 9,
  GossipRecords: 10,
  ReadPointFloor: 11,
  ReadPointFloorAck: 12,
  Ping: 13,
  Pong: 14,
  CplBelow: 15,
  CplBelowReply: 16,
  CollectionFloor: 17,
  SegmentBases: 18,
  SegmentBasesReply: 19,
  PageImages: 23,
  PageImagesReply: 24,
  Subscribe: 20,
  RedoBatch: 21,
  Resync: 22,
  Error: 255,
} as const;
export type MessageTypeValue = (typeof MessageType)[keyof typeof MessageType];

export interface SegmentScl {
  pg: number;
  scl: Lsn;
}

export interface SegmentRecoveryInfo {
  pg: number;
  kind: SegmentKind;
  scl: Lsn;
  maxLsn: Lsn;
  /** Highest uptoLsn of the truncations the segment applied (0: none). */
  truncatedUpto: Lsn;
  /** Highest commit (CPL) record the segment holds (0: none): where a recovering writer starts walking. */
  lastCplLsn: Lsn;
}

export interface TruncationRange {
  epoch: bigint;
  /** Records with aboveLsn < lsn <= uptoLsn are void. */
  aboveLsn: Lsn;
  uptoLsn: Lsn;
}

/** Writer → storage: store these records (any PGs this node hosts). Records are acked after fsync. */
export interface AppendMessage {
  type: 'append';
  epoch: bigint;
  records: RedoRecord[];
}
/** Storage → writer: the SCL of each touched segment after the append was made durable. */
export interface AppendAckMessage {
  type: 'appendAck';
  epoch: bigint;
  scls: SegmentScl[];
}
/** Reader/writer → full segment: the page as of readPoint. */
export interface GetPageMessage {
  type: 'getPage';
  pg: number;
  pageNo: number;
  readPoint: Lsn;
}
/** The page version at or below the read point; an empty page means it was never written. */
export interface PageMessage {
  type: 'page';
  versionLsn: Lsn;
  page: Uint8Array;
}
/** Recovering writer → storage: report segments, installing epoch if higher (0: query only). */
export interface RecoveryInfoMessage {
  type: 'recoveryInfo';
  epoch: bigint;
}
export interface RecoveryInfoReplyMessage {
  type: 'recoveryInfoReply';
  epoch: bigint;
  segments: SegmentRecoveryInfo[];
}
/** Recovering writer → storage: void (aboveLsn, uptoLsn] of one PG under a new epoch. */
export interface TruncateMessage {
  type: 'truncate';
  epoch: bigint;
  pg: number;
  aboveLsn: Lsn;
  uptoLsn: Lsn;
}
/** The segment's SCL after truncating, and the PG's last LSN at or below aboveLsn (the next backlink). */
export interface TruncatedMessage {
  type: 'truncated';
  pg: number;
  scl: Lsn;
  tailLsn: Lsn;
}
/**
 * Recovering writer → storage: the newest commit record (CPL) of pg this segment holds with an LSN below
 * belowLsn. The commit chain walk asks it when it meets a commit that no answering segment holds, to
 * go on from the newest commit below it (docs/adr/006-recovery-commit-chain.md). Read-only: no epoch.
 */
export interface CplBelowMessage {
  type: 'cplBelow';
  pg: number;
  belowLsn: Lsn;
}
/** That commit record (kind Commit, of pg, LSN below belowLsn), or undefined: none held below it. */
export interface CplBelowReplyMessage {
  type: 'cplBelowReply';
  pg: number;
  record: RedoRecord | undefined;
}
/** Segment → peer segment: send records of pg in (afterLsn, uptoLsn], at most maxBytes of them. */
export interface GossipPullMessage {
  type: 'gossipPull';
  epoch: bigint;
  pg: number;
  afterLsn: Lsn;
  uptoLsn: Lsn;
  maxBytes: number;
}
/** The peer's answer: its truncations first (apply before the records), then records of pg. */
export interface GossipRecordsMessage {
  type: 'gossipRecords';
  pg: number;
  peerScl: Lsn;
  epoch: bigint;
  truncations: TruncationRange[];
  records: RedoRecord[];
}
/** Writer → storage: no reader will read below lsn in pg (pgIdAll: every PG); older versions may go. */
export interface ReadPointFloorMessage {
  type: 'readPointFloor';
  pg: number;
  lsn: Lsn;
}
export interface ReadPointFloorAckMessage {
  type: 'readPointFloorAck';
}
/**
 * A named input of the log collection floor (docs/adr/013-storage-log-collection.md): 'none' when the
 * feature that would need the log is not in use, else the LSN up to which it no longer needs it.
 */
export type CollectionInput = Lsn | 'none';
/**
 * Writer → storage: the writer's inputs to log collection, volume-wide. archive: the archive watermark
 * (every record at or below it is in S3), 'none' without continuous backup; backtrack and
 * globalSecondary: the backtrack window's start and the secondary region's replication point (both
 * 'none' until those features exist). Answered with readPointFloorAck.
 */
export interface CollectionFloorMessage {
  type: 'collectionFloor';
  /** The sending writer's epoch: a newer writer's inputs replace an older one's (its backup may differ). */
  epoch: bigint;
  archive: CollectionInput;
  backtrack: CollectionInput;
  globalSecondary: CollectionInput;
}
/** Segment → peer node: where each of your segments' logs start (a segment catching up asks). */
export interface SegmentBasesMessage {
  type: 'segmentBases';
}
/** Per PG hosted: the log base (records at or below it are collected; 0: none) and the SCL. */
export interface SegmentBasesReplyMessage {
  type: 'segmentBasesReply';
  segments: { pg: number; baseLsn: Lsn; scl: Lsn }[];
}
/**
 * Segment → full peer segment: page images of pg as of atLsn (0: the peer picks its SCL), for the pages
 * from fromPageNo on, at most maxBytes of them. A segment behind its peers' log base rebuilds from these.
 */
export interface PageImagesMessage {
  type: 'pageImages';
  pg: number;
  atLsn: Lsn;
  fromPageNo: number;
  maxBytes: number;
}
/** Images (each with the LSN of the page's version) and where to go on from (done: no more pages). */
export interface PageImagesReplyMessage {
  type: 'pageImagesReply';
  pg: number;
  atLsn: Lsn;
  nextPageNo: number;
  done: boolean;
  pages: { pageNo: number; versionLsn: Lsn; bytes: Uint8Array }[];
}
export interface PingMessage {
  type: 'ping';
}
export interface PongMessage {
  type: 'pong';
}
/** Reader → writer: stream me every record after fromLsn, and VDL as it moves. */
export interface SubscribeMessage {
  type: 'subscribe';
  fromLsn: Lsn;
}
/** Writer → reader (pushed, requestId of the subscription): records in LSN order, and the current VDL. */
export interface RedoBatchMessage {
  type: 'redoBatch';
  vdl: Lsn;
  records: RedoRecord[];
}
/**
 * Writer → reader: the records after your fromLsn are gone from my buffer; drop your cache, go on
 * from vdl. pgTails: each PG's last LSN, so the reader can read quiet PGs from storage.
 */
export interface ResyncMessage {
  type: 'resync';
  vdl: Lsn;
  pgTails: SegmentScl[];
}
/** The answer to any request that failed; the frame's requestId names the request. */
export interface ErrorMessage {
  type: 'error';
  code: ErrorCode;
  message: string;
}

export type StorageMessage =
  | SubscribeMessage
  | RedoBatchMessage
  | ResyncMessage
  | AppendMessage
  | AppendAckMessage
  | GetPageMessage
  | PageMessage
  | RecoveryInfoMessage
  | RecoveryInfoReplyMessage
  | TruncateMessage
  | TruncatedMessage
  | CplBelowMessage
  | CplBelowReplyMessage
  | GossipPullMessage
  | GossipRecordsMessage
  | ReadPointFloorMessage
  | ReadPointFloorAckMessage
  | CollectionFloorMessage
  | SegmentBasesMessage
  | SegmentBasesReplyMessage
  | PageImagesMessage
  | PageImagesReplyMessage
  | PingMessage
  | PongMessage
  | ErrorMessage;

const segmentKindFull = 1;
const segmentKindTail = 2;

// Fixed body sizes, in bytes.
const appendFixedBytes = 12; // epoch u64 | recordCount u32
const appendAckFixedBytes = 12; // epoch u64 | n u32
const sclEntryBytes = 12; // pg u32 | scl u64
const getPageBytes = 16;
const pageFixedBytes = 12; // versionLsn u64 | length u32
const recoveryInfoBytes = 8;
const recoveryInfoReplyFixedBytes = 12; // epoch u64 | n u32
const segmentInfoBytes = 37; // pg u32 | kind u8 | scl u64 | maxLsn u64 | truncatedUpto u64 | lastCplLsn u64
const truncateBytes = 28;
const truncatedBytes = 20;
const cplBelowBytes = 12; // pg u32 | belowLsn u64
const cplBelowReplyFixedBytes = 8; // pg u32 | recordCount u32 (0 or 1) | the record
const gossipPullBytes = 32;
const gossipRecordsFixedBytes = 28; // pg u32 | peerScl u64 | epoch u64 | truncationCount u32 | recordCount u32
const truncationBytes = 24;
const readPointFloorBytes = 12;
const collectionInputBytes = 9; // kind u8 (0 none, 1 lsn) | lsn u64
const collectionFloorBytes = 8 + 3 * collectionInputBytes; // epoch u64 | archive | backtrack | globalSecondary
const segmentBasesReplyFixedBytes = 4; // n u32
const segmentBaseBytes = 20; // pg u32 | baseLsn u64 | scl u64
const pageImagesBytes = 20; // pg u32 | atLsn u64 | fromPageNo u32 | maxBytes u32
const pageImagesReplyFixedBytes = 21; // pg u32 | atLsn u64 | nextPageNo u32 | done u8 | n u32
const pageImageFixedBytes = 16; // pageNo u32 | versionLsn u64 | length u32
/** Images per reply: the frame bounds them anyway; this bounds the decoder's loop before it reads. */
const pageImagesPerReplyMax = Math.floor(frameBodyBytesMax / pageImageFixedBytes);
const errorFixedBytes = 6; // code u16 | messageLength u32

assert(appendFixedBytes <= messageEnvelopeBytesMax, 'append envelope');
assert(
  gossipRecordsFixedBytes + truncationsPerGossipMax * truncationBytes <= messageEnvelopeBytesMax,
  'gossip envelope with every truncation fits',
);
assert(
  recoveryInfoReplyFixedBytes + segmentsPerNodeMax * segmentInfoBytes <= frameBodyBytesMax,
  'a recovery reply for every segment of a node fits a frame',
);
assert(appendAckFixedBytes + segmentsPerNodeMax * sclEntryBytes <= frameBodyBytesMax, 'an ack fits a frame');
assert(pageFixedBytes + pageSizeBytesMax <= frameBodyBytesMax, 'a page fits a frame');
assert(
  cplBelowReplyFixedBytes + recordOverheadBytes + recordPayloadBytesMax <= frameBodyBytesMax,
  'a commit record fits a frame',
);
assert(errorFixedBytes + errorMessageBytesMax <= frameBodyBytesMax, 'an error fits a frame');
assert(
  segmentBasesReplyFixedBytes + segmentsPerNodeMax * segmentBaseBytes <= frameBodyBytesMax,
  'a segment bases reply for every segment of a node fits a frame',
);
assert(
  pageImagesReplyFixedBytes + gossipBytesPerPullMax + pageImageFixedBytes + pageSizeBytesMax <=
    frameBodyBytesMax,
  'a page images reply of gossipBytesPerPullMax (plus the page that crosses it) fits a frame',
);

function writeCollectionInput(w: BodyWriter, input: CollectionInput, what: string): void {
  w.u8(input === 'none' ? 0 : 1, `${what} kind`);
  w.u64(input === 'none' ? 0n : input, what);
}

function isU32(x: number): boolean {
  return x >>> 0 === x;
}

/** Sequential writer over a body of known size: the size is computed first, so one allocation. */
class BodyWriter {
  readonly out: Buffer;
  readonly #view: DataView;
  offset = 0;

  constructor(length: number) {
    this.out = Buffer.allocUnsafe(length);
    this.#view = new DataView(this.out.buffer, this.out.byteOffset, this.out.byteLength);
  }

  u8(value: number, what: string): void {
    assert(isU32(value) && value <= 0xff, () => `${what} must be a u8, got ${value}`);
    this.out[this.offset] = value;
    this.offset += 1;
  }

  u16(value: number, what: string): void {
    assert(isU32(value) && value <= 0xffff, () => `${what} must be a u16, got ${value}`);
    this.#view.setUint16(this.offset, value, true);
    this.offset += 2;
  }

  u32(value: number, what: string): void {
    assert(isU32(value), () => `${what} must be a u32, got ${value}`);
    this.#view.setUint32(this.offset, value, true);
    this.offset += 4;
  }

  u64(value: bigint, what: string): void {
    assert(
      typeof value === 'bigint' && value >= 0n && value <= LSN_MAX,
      () => `${what} must be a u64, got ${String(value)}`,
    );
    this.#view.setBigUint64(this.offset, value, true);
    this.offset += 8;
  }

  bytes(value: Uint8Array): void {
    this.out.set(value, this.offset);
    this.offset += value.length;
  }

  records(records: readonly RedoRecord[]): void {
    for (const record of records) this.offset += encodeRecord(record, this.out, this.offset);
  }

  finish(): Buffer {
    assert(this.offset === this.out.length, () => `body wrote ${this.offset} of ${this.out.length} bytes`);
    assert(
      this.out.length <= frameBodyBytesMax,
      () => `message body of ${this.out.length} bytes exceeds a frame`,
    );
    return this.out;
  }
}

function recordsLength(records: readonly RedoRecord[]): number {
  let total = 0;
  for (const record of records) total += encodedRecordLength(record);
  return total;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF-8 of message, cut at a character boundary to errorMessageBytesMax (messages may embed input). */
function errorMessageBytes(message: string): Uint8Array {
  const bytes = Buffer.from(message, 'utf8');
  if (bytes.length <= errorMessageBytesMax) return bytes;
  let cut = errorMessageBytesMax;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--; // bytes[cut] must start a character
  return bytes.subarray(0, cut);
}

/** The frame type and body of a message. Invalid messages are a caller bug and fail an assertion. */
export function encodeMessage(msg: StorageMessage): { type: MessageTypeValue; body: Buffer } {
  switch (msg.type) {
    case 'append': {
      assert(msg.records.length <= recordsPerAppendMax, 'append carries too many records');
      assert(msg.epoch > 0n, 'append epoch must be above 0');
      const w = new BodyWriter(appendFixedBytes + recordsLength(msg.records));
      w.u64(msg.epoch, 'epoch');
      w.u32(msg.records.length, 'recordCount');
      w.records(msg.records);
      return { type: MessageType.Append, body: w.finish() };
    }
    case 'appendAck': {
      assert(msg.scls.length <= segmentsPerNodeMax, 'append ack has too many segments');
      const w = new BodyWriter(appendAckFixedBytes + sclEntryBytes * msg.scls.length);
      w.u64(msg.epoch, 'epoch');
      w.u32(msg.scls.length, 'n');
      for (const entry of msg.scls) {
        w.u32(entry.pg, 'pg');
        w.u64(entry.scl, 'scl');
      }
      return { type: MessageType.AppendAck, body: w.finish() };
    }
    case 'getPage': {
      const w = new BodyWriter(getPageBytes);
      w.u32(msg.pg, 'pg');
      w.u32(msg.pageNo, 'pageNo');
      w.u64(msg.readPoint, 'readPoint');
      return { type: MessageType.GetPage, body: w.finish() };
    }
    case 'page': {
      assert(msg.page.length <= pageSizeBytesMax, 'page exceeds pageSizeBytesMax');
      const w = new BodyWriter(pageFixedBytes + msg.page.length);
      w.u64(msg.versionLsn, 'versionLsn');
      w.u32(msg.page.length, 'length');
      w.bytes(msg.page);
      return { type: MessageType.Page, body: w.finish() };
    }
    case 'recoveryInfo': {
      const w = new BodyWriter(recoveryInfoBytes);
      w.u64(msg.epoch, 'epoch');
      return { type: MessageType.RecoveryInfo, body: w.finish() };
    }
    case 'recoveryInfoReply': {
      assert(msg.segments.length <= segmentsPerNodeMax, 'recovery reply has too many segments');
      const w = new BodyWriter(recoveryInfoReplyFixedBytes + segmentInfoBytes * msg.segments.length);
      w.u64(msg.epoch, 'epoch');
      w.u32(msg.segments.length, 'n');
      for (const segment of msg.segments) {
        assert(segment.kind === 'full' || segment.kind === 'tail', 'segment kind');
        assert(segment.scl <= segment.maxLsn, 'segment scl above its maxLsn');
        w.u32(segment.pg, 'pg');
        w.u8(segment.kind === 'full' ? segmentKindFull : segmentKindTail, 'kind');
        w.u64(segment.scl, 'scl');
        w.u64(segment.maxLsn, 'maxLsn');
        w.u64(segment.truncatedUpto, 'truncatedUpto');
        w.u64(segment.lastCplLsn, 'lastCplLsn');
      }
      return { type: MessageType.RecoveryInfoReply, body: w.finish() };
    }
    case 'truncate': {
      assert(msg.epoch > 0n, 'truncate epoch must be above 0');
      assert(msg.aboveLsn <= msg.uptoLsn, 'truncation range must be aboveLsn <= uptoLsn');
      const w = new BodyWriter(truncateBytes);
      w.u64(msg.epoch, 'epoch');
      w.u32(msg.pg, 'pg');
      w.u64(msg.aboveLsn, 'aboveLsn');
      w.u64(msg.uptoLsn, 'uptoLsn');
      return { type: MessageType.Truncate, body: w.finish() };
    }
    case 'truncated': {
      const w = new BodyWriter(truncatedBytes);
      w.u32(msg.pg, 'pg');
      w.u64(msg.scl, 'scl');
      w.u64(msg.tailLsn, 'tailLsn');
      return { type: MessageType.Truncated, body: w.finish() };
    }
    case 'cplBelow': {
      const w = new BodyWriter(cplBelowBytes);
      w.u32(msg.pg, 'pg');
      w.u64(msg.belowLsn, 'belowLsn');
      return { type: MessageType.CplBelow, body: w.finish() };
    }
    case 'cplBelowReply': {
      const records = msg.record ? [msg.record] : [];
      for (const record of records) {
        assert(
          record.pg === msg.pg && record.kind === RecordKind.Commit,
          'a CPL reply carries a commit of its pg',
        );
      }
      const w = new BodyWriter(cplBelowReplyFixedBytes + recordsLength(records));
      w.u32(msg.pg, 'pg');
      w.u32(records.length, 'recordCount');
      w.records(records);
      return { type: MessageType.CplBelowReply, body: w.finish() };
    }
    case 'gossipPull': {
      assert(msg.afterLsn <= msg.uptoLsn, 'gossip range must be afterLsn <= uptoLsn');
      assert(msg.maxBytes >= 1 && msg.maxBytes <= gossipBytesPerPullMax, 'gossip maxBytes out of range');
      const w = new BodyWriter(gossipPullBytes);
      w.u64(msg.epoch, 'epoch');
      w.u32(msg.pg, 'pg');
      w.u64(msg.afterLsn, 'afterLsn');
      w.u64(msg.uptoLsn, 'uptoLsn');
      w.u32(msg.maxBytes, 'maxBytes');
      return { type: MessageType.GossipPull, body: w.finish() };
    }
    case 'gossipRecords': {
      assert(msg.truncations.length <= truncationsPerGossipMax, 'gossip carries too many truncations');
      assert(msg.records.length <= recordsPerGossipMax, 'gossip carries too many records');
      const w = new BodyWriter(
        gossipRecordsFixedBytes + truncationBytes * msg.truncations.length + recordsLength(msg.records),
      );
      w.u32(msg.pg, 'pg');
      w.u64(msg.peerScl, 'peerScl');
      w.u64(msg.epoch, 'epoch');
      w.u32(msg.truncations.length, 'truncationCount');
      for (const truncation of msg.truncations) {
        assert(truncation.epoch > 0n, 'truncation epoch must be above 0');
        assert(truncation.aboveLsn <= truncation.uptoLsn, 'truncation range must be aboveLsn <= uptoLsn');
        w.u64(truncation.epoch, 'truncation epoch');
        w.u64(truncation.aboveLsn, 'truncation aboveLsn');
        w.u64(truncation.uptoLsn, 'truncation uptoLsn');
      }
      w.u32(msg.records.length, 'recordCount');
      for (const record of msg.records)
        assert(record.pg === msg.pg, 'gossip records belong to the pulled PG');
      w.records(msg.records);
      return { type: MessageType.GossipRecords, body: w.finish() };
    }
    case 'readPointFloor': {
      const w = new BodyWriter(readPointFloorBytes);
      w.u32(msg.pg, 'pg');
      w.u64(msg.lsn, 'lsn');
      return { type: MessageType.ReadPointFloor, body: w.finish() };
    }
    case 'readPointFloorAck':
      return { type: MessageType.ReadPointFloorAck, body: Buffer.alloc(0) };
    case 'collectionFloor': {
      assert(msg.epoch > 0n, 'collection floor epoch must be above 0');
      const w = new BodyWriter(collectionFloorBytes);
      w.u64(msg.epoch, 'epoch');
      writeCollectionInput(w, msg.archive, 'archive');
      writeCollectionInput(w, msg.backtrack, 'backtrack');
      writeCollectionInput(w, msg.globalSecondary, 'globalSecondary');
      return { type: MessageType.CollectionFloor, body: w.finish() };
    }
    case 'segmentBases':
      return { type: MessageType.SegmentBases, body: Buffer.alloc(0) };
    case 'segmentBasesReply': {
      assert(msg.segments.length <= segmentsPerNodeMax, 'segment bases reply carries too many segments');
      const w = new BodyWriter(segmentBasesReplyFixedBytes + segmentBaseBytes * msg.segments.length);
      w.u32(msg.segments.length, 'n');
      for (const s of msg.segments) {
        w.u32(s.pg, 'pg');
        w.u64(s.baseLsn, 'baseLsn');
        w.u64(s.scl, 'scl');
      }
      return { type: MessageType.SegmentBasesReply, body: w.finish() };
    }
    case 'pageImages': {
      const w = new BodyWriter(pageImagesBytes);
      w.u32(msg.pg, 'pg');
      w.u64(msg.atLsn, 'atLsn');
      w.u32(msg.fromPageNo, 'fromPageNo');
      w.u32(msg.maxBytes, 'maxBytes');
      return { type: MessageType.PageImages, body: w.finish() };
    }
    case 'pageImagesReply': {
      let length = pageImagesReplyFixedBytes;
      for (const p of msg.pages) length += pageImageFixedBytes + p.bytes.length;
      const w = new BodyWriter(length);
      w.u32(msg.pg, 'pg');
      w.u64(msg.atLsn, 'atLsn');
      w.u32(msg.nextPageNo, 'nextPageNo');
      w.u8(msg.done ? 1 : 0, 'done');
      w.u32(msg.pages.length, 'n');
      for (const p of msg.pages) {
        assert(p.bytes.length <= pageSizeBytesMax, 'a page image fits the page size limit');
        w.u32(p.pageNo, 'pageNo');
        w.u64(p.versionLsn, 'versionLsn');
        w.u32(p.bytes.length, 'length');
        w.bytes(p.bytes);
      }
      return { type: MessageType.PageImagesReply, body: w.finish() };
    }
    case 'subscribe': {
      const w = new BodyWriter(8);
      w.u64(msg.fromLsn, 'fromLsn');
      return { type: MessageType.Subscribe, body: w.finish() };
    }
    case 'redoBatch': {
      assert(msg.records.length <= recordsPerAppendMax, 'redo batch carries too many records');
      const w = new BodyWriter(appendFixedBytes + recordsLength(msg.records));
      w.u64(msg.vdl, 'vdl');
      w.u32(msg.records.length, 'recordCount');
      w.records(msg.records);
      return { type: MessageType.RedoBatch, body: w.finish() };
    }
    case 'resync': {
      const w = new BodyWriter(12 + 12 * msg.pgTails.length);
      w.u64(msg.vdl, 'vdl');
      w.u32(msg.pgTails.length, 'pgTailCount');
      for (const t of msg.pgTails) {
        w.u32(t.pg, 'pg');
        w.u64(t.scl, 'lastLsn');
      }
      return { type: MessageType.Resync, body: w.finish() };
    }
    case 'ping':
      return { type: MessageType.Ping, body: Buffer.alloc(0) };
    case 'pong':
      return { type: MessageType.Pong, body: Buffer.alloc(0) };
    case 'error': {
      const message = errorMessageBytes(msg.message);
      const w = new BodyWriter(errorFixedBytes + message.length);
      w.u16(errorCodeToWire[msg.code], 'code');
      w.u32(message.length, 'messageLength');
      w.bytes(message);
      return { type: MessageType.Error, body: w.finish() };
    }
    default:
      return assertNever(msg, 'message');
  }
}

/** Sequential reader over an untrusted body: every read is bounds-checked into MALFORMED_FRAME. */
class BodyReader {
  readonly #body: Uint8Array;
  readonly #view: DataView;
  readonly #messageName: string;
  offset = 0;

  constructor(body: Uint8Array, messageName: string) {
    this.#body = body;
    this.#view = new DataView(body.buffer, body.byteOffset, body.byteLength);
    this.#messageName = messageName;
  }

  get remaining(): number {
    return this.#body.length - this.offset;
  }

  malformed(detail: string): BorealisError {
    return new BorealisError(ErrorCode.MALFORMED_FRAME, `bad ${this.#messageName} body: ${detail}`, {
      context: { message: this.#messageName, offset: this.offset, bodyBytes: this.#body.length },
    });
  }

  #need(n: number, what: string): void {
    if (this.offset + n > this.#body.length) throw this.malformed(`truncated at ${what}`);
  }

  u8(what: string): number {
    this.#need(1, what);
    return this.#body[this.offset++]!;
  }

  u16(what: string): number {
    this.#need(2, what);
    const value = this.#view.getUint16(this.offset, true);
    this.offset += 2;
    return value;
  }

  u32(what: string): number {
    this.#need(4, what);
    const value = this.#view.getUint32(this.offset, true);
    this.offset += 4;
    return value;
  }

  u64(what: string): bigint {
    this.#need(8, what);
    const value = this.#view.getBigUint64(this.offset, true);
    this.offset += 8;
    return value;
  }

  /** A view into the body, not a copy. */
  bytes(n: number, what: string): Uint8Array {
    this.#need(n, what);
    const value = this.#body.subarray(this.offset, this.offset + n);
    this.offset += n;
    return value;
  }

  /** count entries of entryBytes each must fit what is left: checked before allocating for them. */
  count(what: string, max: number, entryBytesMin: number): number {
    const count = this.u32(what);
    if (count > max) throw this.malformed(`${what} ${count} exceeds ${max}`);
    if (count * entryBytesMin > this.remaining) throw this.malformed(`${what} ${count} cannot fit the body`);
    return count;
  }

  records(count: number): RedoRecord[] {
    const records: RedoRecord[] = new Array(count);
    for (let i = 0; i < count; i++) {
      const { record, length } = decodeRecord(this.#body, this.offset);
      records[i] = record;
      this.offset += length;
    }
    return records;
  }

  end(): void {
    if (this.offset !== this.#body.length) throw this.malformed(`${this.remaining} trailing bytes`);
  }
}

const messageNames: ReadonlyMap<number, string> = new Map(
  Object.entries(MessageType).map(([name, type]) => [type as number, name]),
);

/** The protocol name of a frame type, for logs ('Append', 'Page' …), or undefined when unknown. */
export function messageTypeName(type: number): string | undefined {
  return messageNames.get(type);
}

/**
 * The message in a frame body. Throws BorealisError only: UNKNOWN_MESSAGE_TYPE, MALFORMED_FRAME (with
 * the message name and offset in context) or BAD_CRC (a record inside). Records and pages in the result
 * are views into body, not copies.
 */
export function decodeMessage(type: number, body: Uint8Array): StorageMessage {
  const name = messageNames.get(type);
  if (name === undefined) {
    throw new BorealisError(ErrorCode.UNKNOWN_MESSAGE_TYPE, `unknown message type ${type}`, {
      context: { type, bodyBytes: body.length },
    });
  }
  try {
    const r = new BodyReader(body, name);
    const message = decodeBody(type as MessageTypeValue, r);
    r.end();
    return message;
  } catch (error) {
    if (error instanceof BorealisError) throw error;
    // A codec bug must still surface as a protocol error the connection can answer, with the cause.
    throw new BorealisError(ErrorCode.MALFORMED_FRAME, `bad ${name} body: ${String(error)}`, {
      context: { message: name, bodyBytes: body.length },
      cause: error,
    });
  }
}

function readCollectionInput(r: BodyReader, what: string): CollectionInput {
  const kind = r.u8(`${what} kind`);
  const lsn = r.u64(what);
  if (kind === 0) {
    if (lsn !== 0n) throw r.malformed(`${what}: none with an LSN`);
    return 'none';
  }
  if (kind !== 1) throw r.malformed(`${what} kind ${kind}`);
  return lsn;
}

function decodeBody(type: MessageTypeValue, r: BodyReader): StorageMessage {
  switch (type) {
    case MessageType.Append: {
      const epoch = r.u64('epoch');
      if (epoch === 0n) throw r.malformed('epoch 0');
      const count = r.count('recordCount', recordsPerAppendMax, recordOverheadBytes);
      return { type: 'append', epoch, records: r.records(count) };
    }
    case MessageType.AppendAck: {
      const epoch = r.u64('epoch');
      const count = r.count('n', segmentsPerNodeMax, sclEntryBytes);
      const scls: SegmentScl[] = new Array(count);
      for (let i = 0; i < count; i++) scls[i] = { pg: r.u32('pg'), scl: r.u64('scl') };
      return { type: 'appendAck', epoch, scls };
    }
    case MessageType.GetPage:
      return { type: 'getPage', pg: r.u32('pg'), pageNo: r.u32('pageNo'), readPoint: r.u64('readPoint') };
    case MessageType.Page: {
      const versionLsn = r.u64('versionLsn');
      const length = r.u32('length');
      if (length > pageSizeBytesMax) throw r.malformed(`page of ${length} bytes exceeds ${pageSizeBytesMax}`);
      return { type: 'page', versionLsn, page: r.bytes(length, 'page') };
    }
    case MessageType.RecoveryInfo:
      return { type: 'recoveryInfo', epoch: r.u64('epoch') };
    case MessageType.RecoveryInfoReply: {
      const epoch = r.u64('epoch');
      const count = r.count('n', segmentsPerNodeMax, segmentInfoBytes);
      const segments: SegmentRecoveryInfo[] = new Array(count);
      for (let i = 0; i < count; i++) {
        const pg = r.u32('pg');
        const kindByte = r.u8('kind');
        if (kindByte !== segmentKindFull && kindByte !== segmentKindTail) {
          throw r.malformed(`segment kind ${kindByte}`);
        }
        const scl = r.u64('scl');
        const maxLsn = r.u64('maxLsn');
        const truncatedUpto = r.u64('truncatedUpto');
        const lastCplLsn = r.u64('lastCplLsn');
        if (scl > maxLsn) throw r.malformed('segment scl above its maxLsn');
        if (lastCplLsn > maxLsn) throw r.malformed('segment lastCplLsn above its maxLsn');
        segments[i] = {
          pg,
          kind: kindByte === segmentKindFull ? 'full' : 'tail',
          scl,
          maxLsn,
          truncatedUpto,
          lastCplLsn,
        };
      }
      return { type: 'recoveryInfoReply', epoch, segments };
    }
    case MessageType.Truncate: {
      const epoch = r.u64('epoch');
      const pg = r.u32('pg');
      const aboveLsn = r.u64('aboveLsn');
      const uptoLsn = r.u64('uptoLsn');
      if (epoch === 0n) throw r.malformed('epoch 0');
      if (aboveLsn > uptoLsn) throw r.malformed('aboveLsn > uptoLsn');
      return { type: 'truncate', epoch, pg, aboveLsn, uptoLsn };
    }
    case MessageType.Truncated:
      return { type: 'truncated', pg: r.u32('pg'), scl: r.u64('scl'), tailLsn: r.u64('tailLsn') };
    case MessageType.CplBelow:
      return { type: 'cplBelow', pg: r.u32('pg'), belowLsn: r.u64('belowLsn') };
    case MessageType.CplBelowReply: {
      const pg = r.u32('pg');
      const count = r.count('recordCount', 1, recordOverheadBytes);
      const record = count === 0 ? undefined : r.records(1)[0]!;
      if (record && record.pg !== pg) throw r.malformed(`record of pg ${record.pg} in a reply for pg ${pg}`);
      if (record && record.kind !== RecordKind.Commit)
        throw r.malformed(`record of kind ${record.kind} is no commit`);
      return { type: 'cplBelowReply', pg, record };
    }
    case MessageType.GossipPull: {
      const epoch = r.u64('epoch');
      const pg = r.u32('pg');
      const afterLsn = r.u64('afterLsn');
      const uptoLsn = r.u64('uptoLsn');
      const maxBytes = r.u32('maxBytes');
      if (afterLsn > uptoLsn) throw r.malformed('afterLsn > uptoLsn');
      if (maxBytes < 1 || maxBytes > gossipBytesPerPullMax) {
        throw r.malformed(`maxBytes ${maxBytes} outside [1, ${gossipBytesPerPullMax}]`);
      }
      return { type: 'gossipPull', epoch, pg, afterLsn, uptoLsn, maxBytes };
    }
    case MessageType.GossipRecords: {
      const pg = r.u32('pg');
      const peerScl = r.u64('peerScl');
      const epoch = r.u64('epoch');
      const truncationCount = r.count('truncationCount', truncationsPerGossipMax, truncationBytes);
      const truncations: TruncationRange[] = new Array(truncationCount);
      for (let i = 0; i < truncationCount; i++) {
        const truncation = { epoch: r.u64('epoch'), aboveLsn: r.u64('aboveLsn'), uptoLsn: r.u64('uptoLsn') };
        if (truncation.epoch === 0n) throw r.malformed('truncation epoch 0');
        if (truncation.aboveLsn > truncation.uptoLsn) throw r.malformed('truncation aboveLsn > uptoLsn');
        truncations[i] = truncation;
      }
      const recordCount = r.count('recordCount', recordsPerGossipMax, recordOverheadBytes);
      const records = r.records(recordCount);
      for (const record of records) {
        if (record.pg !== pg) throw r.malformed(`record of pg ${record.pg} in a gossip of pg ${pg}`);
      }
      return { type: 'gossipRecords', pg, peerScl, epoch, truncations, records };
    }
    case MessageType.ReadPointFloor:
      return { type: 'readPointFloor', pg: r.u32('pg'), lsn: r.u64('lsn') };
    case MessageType.ReadPointFloorAck:
      return { type: 'readPointFloorAck' };
    case MessageType.CollectionFloor: {
      const epoch = r.u64('epoch');
      if (epoch === 0n) throw r.malformed('epoch 0');
      return {
        type: 'collectionFloor',
        epoch,
        archive: readCollectionInput(r, 'archive'),
        backtrack: readCollectionInput(r, 'backtrack'),
        globalSecondary: readCollectionInput(r, 'globalSecondary'),
      };
    }
    case MessageType.SegmentBases:
      return { type: 'segmentBases' };
    case MessageType.SegmentBasesReply: {
      const count = r.count('n', segmentsPerNodeMax, segmentBaseBytes);
      const segments: { pg: number; baseLsn: Lsn; scl: Lsn }[] = [];
      for (let i = 0; i < count; i++) {
        const segment = { pg: r.u32('pg'), baseLsn: r.u64('baseLsn'), scl: r.u64('scl') };
        if (segment.baseLsn > segment.scl) throw r.malformed('segment base above its scl');
        segments.push(segment);
      }
      return { type: 'segmentBasesReply', segments };
    }
    case MessageType.PageImages: {
      const pg = r.u32('pg');
      const atLsn = r.u64('atLsn');
      const fromPageNo = r.u32('fromPageNo');
      const maxBytes = r.u32('maxBytes');
      if (maxBytes < 1 || maxBytes > gossipBytesPerPullMax) {
        throw r.malformed(`maxBytes ${maxBytes} outside [1, ${gossipBytesPerPullMax}]`);
      }
      return { type: 'pageImages', pg, atLsn, fromPageNo, maxBytes };
    }
    case MessageType.PageImagesReply: {
      const pg = r.u32('pg');
      const atLsn = r.u64('atLsn');
      const nextPageNo = r.u32('nextPageNo');
      const done = r.u8('done');
      if (done > 1) throw r.malformed(`done ${done}`);
      const count = r.count('n', pageImagesPerReplyMax, pageImageFixedBytes);
      const pages: { pageNo: number; versionLsn: Lsn; bytes: Uint8Array }[] = [];
      for (let i = 0; i < count; i++) {
        const pageNo = r.u32('pageNo');
        const versionLsn = r.u64('versionLsn');
        const length = r.u32('length');
        if (length > pageSizeBytesMax)
          throw r.malformed(`page of ${length} bytes exceeds ${pageSizeBytesMax}`);
        if (versionLsn > atLsn) throw r.malformed("page version above the images' LSN");
        pages.push({ pageNo, versionLsn, bytes: r.bytes(length, 'page') });
      }
      return { type: 'pageImagesReply', pg, atLsn, nextPageNo, done: done === 1, pages };
    }
    case MessageType.Subscribe:
      return { type: 'subscribe', fromLsn: r.u64('fromLsn') };
    case MessageType.RedoBatch: {
      const vdl = r.u64('vdl');
      const count = r.count('recordCount', recordsPerAppendMax, recordOverheadBytes);
      return { type: 'redoBatch', vdl, records: r.records(count) };
    }
    case MessageType.Resync: {
      const vdl = r.u64('vdl');
      const count = r.count('pgTailCount', segmentsPerNodeMax, 12);
      const pgTails: SegmentScl[] = [];
      for (let i = 0; i < count; i++) pgTails.push({ pg: r.u32('pg'), scl: r.u64('lastLsn') });
      return { type: 'resync', vdl, pgTails };
    }
    case MessageType.Ping:
      return { type: 'ping' };
    case MessageType.Pong:
      return { type: 'pong' };
    case MessageType.Error: {
      const wire = r.u16('code');
      const length = r.u32('messageLength');
      if (length > errorMessageBytesMax)
        throw r.malformed(`message of ${length} bytes exceeds ${errorMessageBytesMax}`);
      const bytes = r.bytes(length, 'message');
      let message: string;
      try {
        message = utf8Decoder.decode(bytes);
      } catch (error) {
        throw new BorealisError(ErrorCode.MALFORMED_FRAME, 'bad Error body: message is not UTF-8', {
          context: { message: 'Error' },
          cause: error,
        });
      }
      // A newer peer may send a code this build does not know: still an error, just not a specific one.
      return { type: 'error', code: wireToErrorCode.get(wire) ?? ErrorCode.INTERNAL, message };
    }
    default:
      return assertNever(type, 'message type');
  }
}
