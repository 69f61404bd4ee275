import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BorealisError, ErrorCode, errorCodeToWire, InvariantViolation } from '../errors.ts';
import {
  errorMessageBytesMax,
  gossipBytesPerPullMax,
  pageSizeBytesMax,
  pgIdAll,
  recordsPerAppendMax,
  truncationsPerGossipMax,
} from '../limits.ts';
import { LSN_MAX, type Lsn, lsnMax, lsnMin } from '../lsn.ts';
import {
  encodedRecordLength,
  encodeRecord,
  RecordFlags,
  RecordKind,
  type RecordKindValue,
  type RedoRecord,
} from '../record.ts';
import { errorOf } from '../testing.ts';
import { encodeFrame, FrameDecoder } from './frame.ts';
import {
  decodeMessage,
  encodeMessage,
  MessageType,
  messageTypeName,
  type StorageMessage,
} from './messages.ts';

const arbU32 = fc.integer({ min: 0, max: 0xffff_ffff });
const arbU64 = fc.oneof(fc.bigInt({ min: 0n, max: 1000n }), fc.bigInt({ min: 0n, max: LSN_MAX }));
const arbEpoch = fc.bigInt({ min: 1n, max: LSN_MAX });
const arbRange = fc.tuple(arbU64, arbU64).map(([a, b]) => ({ low: lsnMin(a, b), high: lsnMax(a, b) }));

function arbRecordOfPg(pg: fc.Arbitrary<number>): fc.Arbitrary<RedoRecord> {
  return fc.bigInt({ min: 1n, max: LSN_MAX }).chain((lsn) =>
    fc.record({
      lsn: fc.constant(lsn),
      pg,
      pageNo: arbU32,
      prevLsnInPg: fc.bigInt({ min: 0n, max: lsn - 1n }),
      prevLsnOfPage: fc.bigInt({ min: 0n, max: lsn - 1n }),
      kind: fc.constantFrom(...(Object.values(RecordKind) as RecordKindValue[])),
      flags: fc.constantFrom(0, RecordFlags.Cpl),
      payload: fc.uint8Array({ maxLength: 64 }),
    }),
  );
}

const arbMessage: fc.Arbitrary<StorageMessage> = fc.oneof(
  fc.record({
    type: fc.constant('append' as const),
    epoch: arbEpoch,
    records: fc.array(arbRecordOfPg(arbU32), { maxLength: 6 }),
  }),
  fc.record({
    type: fc.constant('appendAck' as const),
    epoch: arbU64,
    scls: fc.array(fc.record({ pg: arbU32, scl: arbU64 }), { maxLength: 8 }),
  }),
  fc.record({ type: fc.constant('getPage' as const), pg: arbU32, pageNo: arbU32, readPoint: arbU64 }),
  fc.record({
    type: fc.constant('page' as const),
    versionLsn: arbU64,
    page: fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 600 })),
  }),
  fc.record({ type: fc.constant('recoveryInfo' as const), epoch: arbU64 }),
  fc.record({
    type: fc.constant('recoveryInfoReply' as const),
    epoch: arbU64,
    segments: fc.array(
      fc
        .tuple(arbU32, fc.constantFrom('full' as const, 'tail' as const), arbRange, arbU64)
        .map(([pg, kind, { low, high }, truncatedUpto]) => ({
          pg,
          kind,
          scl: low,
          maxLsn: high,
          truncatedUpto,
          lastCplLsn: low,
        })),
      { maxLength: 8 },
    ),
  }),
  fc.tuple(arbEpoch, arbU32, arbRange).map(([epoch, pg, { low, high }]) => ({
    type: 'truncate' as const,
    epoch,
    pg,
    aboveLsn: low,
    uptoLsn: high,
  })),
  fc.record({ type: fc.constant('truncated' as const), pg: arbU32, scl: arbU64, tailLsn: arbU64 }),
  fc.record({ type: fc.constant('cplBelow' as const), pg: arbU32, belowLsn: arbU64 }),
  arbU32.chain((pg) =>
    fc.record({
      type: fc.constant('cplBelowReply' as const),
      pg: fc.constant(pg),
      record: fc.option(
        arbRecordOfPg(fc.constant(pg)).map((r) => ({ ...r, kind: RecordKind.Commit })),
        { nil: undefined },
      ),
    }),
  ),
  fc
    .tuple(arbU64, arbU32, arbRange, fc.integer({ min: 1, max: gossipBytesPerPullMax }))
    .map(([epoch, pg, { low, high }, maxBytes]) => ({
      type: 'gossipPull' as const,
      epoch,
      pg,
      afterLsn: low,
      uptoLsn: high,
      maxBytes,
    })),
  arbU32.chain((pg) =>
    fc.record({
      type: fc.constant('gossipRecords' as const),
      pg: fc.constant(pg),
      peerScl: arbU64,
      epoch: arbU64,
      truncations: fc.array(
        fc
          .tuple(arbEpoch, arbRange)
          .map(([epoch, { low, high }]) => ({ epoch, aboveLsn: low, uptoLsn: high })),
        { maxLength: 4 },
      ),
      records: fc.array(arbRecordOfPg(fc.constant(pg)), { maxLength: 5 }),
    }),
  ),
  fc.record({
    type: fc.constant('readPointFloor' as const),
    pg: fc.oneof(arbU32, fc.constant(pgIdAll)),
    lsn: arbU64,
  }),
  fc.constant({ type: 'readPointFloorAck' as const }),
  fc.record({
    type: fc.constant('collectionFloor' as const),
    epoch: arbEpoch,
    archive: fc.oneof(arbU64, fc.constant('none' as const)),
    backtrack: fc.oneof(arbU64, fc.constant('none' as const)),
    globalSecondary: fc.oneof(arbU64, fc.constant('none' as const)),
  }),
  fc.constant({ type: 'segmentBases' as const }),
  fc.record({
    type: fc.constant('segmentBasesReply' as const),
    segments: fc.array(
      fc.tuple(arbU32, arbRange).map(([pg, { low, high }]) => ({ pg, baseLsn: low, scl: high })),
      { maxLength: 4 },
    ),
  }),
  fc.record({
    type: fc.constant('pageImages' as const),
    pg: arbU32,
    atLsn: arbU64,
    fromPageNo: arbU32,
    maxBytes: fc.integer({ min: 1, max: gossipBytesPerPullMax }),
  }),
  fc.tuple(arbU32, arbU64, arbU32, fc.boolean()).chain(([pg, atLsn, nextPageNo, done]) =>
    fc.record({
      type: fc.constant('pageImagesReply' as const),
      pg: fc.constant(pg),
      atLsn: fc.constant(atLsn),
      nextPageNo: fc.constant(nextPageNo),
      done: fc.constant(done),
      pages: fc.array(
        fc.record({
          pageNo: arbU32,
          versionLsn: fc.bigInt({ min: 0n, max: atLsn }),
          bytes: fc.uint8Array({ maxLength: 64 }),
        }),
        { maxLength: 3 },
      ),
    }),
  ),
  fc.constant({ type: 'ping' as const }),
  fc.constant({ type: 'pong' as const }),
  fc.record({ type: fc.constant('subscribe' as const), fromLsn: arbU64 }),
  fc.record({
    type: fc.constant('redoBatch' as const),
    vdl: arbU64,
    records: fc.array(arbRecordOfPg(arbU32), { maxLength: 5 }),
  }),
  fc.record({
    type: fc.constant('resync' as const),
    vdl: arbU64,
    pgTails: fc.array(fc.record({ pg: arbU32, scl: arbU64 }), { maxLength: 4 }),
  }),
  fc.record({
    type: fc.constant('error' as const),
    code: fc.constantFrom(...Object.values(ErrorCode)),
    message: fc.string({ maxLength: 80, unit: 'grapheme' }),
  }),
);

/** Byte arrays as plain arrays, so Buffer views and Uint8Arrays compare by content. */
function normalize(value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value);
  if (Array.isArray(value)) return value.map(normalize);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, normalize(v)]));
  }
  return value;
}

const messageTypes = Object.values(MessageType) as number[];

function bodyOf(msg: StorageMessage): Buffer {
  return encodeMessage(msg).body;
}

function sampleRecord(pg: number, lsn: Lsn): RedoRecord {
  return {
    lsn,
    pg,
    pageNo: 1,
    prevLsnInPg: lsn - 1n,
    prevLsnOfPage: 0n,
    kind: RecordKind.PageDelta,
    flags: 0,
    payload: Uint8Array.from([9, 9]),
  };
}

describe('message types', () => {
  it('have their stable wire values and names', () => {
    expect(MessageType).toEqual({
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
    });
    expect(messageTypeName(1)).toBe('Append');
    expect(messageTypeName(255)).toBe('Error');
    expect(messageTypeName(100)).toBeUndefined();
  });
});

describe('encodeMessage / decodeMessage', () => {
  it('round-trips every message type', () => {
    fc.assert(
      fc.property(arbMessage, (msg) => {
        const { type, body } = encodeMessage(msg);
        expect(normalize(decodeMessage(type, body))).toEqual(normalize(msg));
      }),
      { numRuns: 500 },
    );
  });

  it('round-trips through frames and a streaming decoder', () => {
    fc.assert(
      fc.property(fc.array(arbMessage, { maxLength: 6 }), (messages) => {
        const stream = Buffer.concat(
          messages.map((msg, i) => {
            const { type, body } = encodeMessage(msg);
            return encodeFrame(type, i, body);
          }),
        );
        const items = new FrameDecoder().push(stream);
        expect(items.length).toBe(messages.length);
        items.forEach((item, i) => {
          expect(item.kind).toBe('frame');
          if (item.kind !== 'frame') return;
          expect(item.requestId).toBe(i);
          expect(normalize(decodeMessage(item.type, item.body))).toEqual(normalize(messages[i]));
        });
      }),
      { numRuns: 100 },
    );
  });

  it('writes the documented layouts', () => {
    const getPage = bodyOf({ type: 'getPage', pg: 3, pageNo: 7, readPoint: 0x1_0000_0002n });
    expect([...getPage]).toEqual([3, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0]);
    const error = bodyOf({ type: 'error', code: 'NOT_COMPLETE', message: 'hi' });
    expect([...error]).toEqual([errorCodeToWire.NOT_COMPLETE, 0, 2, 0, 0, 0, 104, 105]);
    const append = bodyOf({ type: 'append', epoch: 5n, records: [sampleRecord(1, 10n)] });
    expect(append.readBigUInt64LE(0)).toBe(5n);
    expect(append.readUInt32LE(8)).toBe(1);
    expect(append.length).toBe(12 + encodedRecordLength(sampleRecord(1, 10n)));
    const floor = bodyOf({ type: 'readPointFloor', pg: pgIdAll, lsn: 1n });
    expect(floor.readUInt32LE(0)).toBe(0xffff_ffff);
    expect(encodeMessage({ type: 'ping' }).body.length).toBe(0);
  });

  it('decoded records are views into the body', () => {
    const body = bodyOf({ type: 'append', epoch: 1n, records: [sampleRecord(1, 10n)] });
    const decoded = decodeMessage(MessageType.Append, body);
    expect(decoded.type).toBe('append');
    if (decoded.type === 'append') expect(decoded.records[0]!.payload.buffer).toBe(body.buffer);
  });
});

describe('decodeMessage on bad input', () => {
  it('rejects unknown types with UNKNOWN_MESSAGE_TYPE', () => {
    for (const type of [0, 25, 100, 254]) {
      const error = errorOf(() => decodeMessage(type, new Uint8Array(0)));
      expect(error.code).toBe('UNKNOWN_MESSAGE_TYPE');
      expect(error.context).toMatchObject({ type });
    }
  });

  it('garbage bodies of every type give a BorealisError or a message that re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.constantFrom(...messageTypes), fc.uint8Array({ maxLength: 120 }), (type, body) => {
        let decoded: StorageMessage;
        try {
          decoded = decodeMessage(type, body);
        } catch (error) {
          expect(error).toBeInstanceOf(BorealisError);
          expect(['MALFORMED_FRAME', 'BAD_CRC']).toContain((error as BorealisError).code);
          return;
        }
        if (decoded.type === 'error' && decoded.code === 'INTERNAL') return; // unknown codes map to INTERNAL
        expect(Buffer.from(encodeMessage(decoded).body).equals(Buffer.from(body))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('corrupted valid bodies (truncated, extended, bytes changed) give a BorealisError or a valid message', () => {
    fc.assert(
      fc.property(
        arbMessage,
        fc.nat(),
        fc.integer({ min: 0, max: 255 }),
        fc.constantFrom('truncate', 'extend', 'change'),
        (msg, where, byte, how) => {
          const { type, body } = encodeMessage(msg);
          let bad: Buffer;
          if (how === 'truncate') bad = body.subarray(0, body.length === 0 ? 0 : where % body.length);
          else if (how === 'extend') bad = Buffer.concat([body, Buffer.from([byte])]);
          else {
            bad = Buffer.from(body);
            if (bad.length > 0) bad[where % bad.length] = byte;
          }
          try {
            const decoded = decodeMessage(type, bad);
            if (decoded.type === 'error' && decoded.code === 'INTERNAL') return;
            expect(Buffer.from(encodeMessage(decoded).body).equals(bad)).toBe(true);
          } catch (error) {
            expect(error).toBeInstanceOf(BorealisError);
          }
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('rejects truncated and trailing bytes for every type with a fixed body', () => {
    const samples: StorageMessage[] = [
      { type: 'append', epoch: 1n, records: [sampleRecord(1, 10n)] },
      { type: 'appendAck', epoch: 1n, scls: [{ pg: 1, scl: 2n }] },
      { type: 'getPage', pg: 1, pageNo: 2, readPoint: 3n },
      { type: 'page', versionLsn: 1n, page: new Uint8Array(8) },
      { type: 'recoveryInfo', epoch: 0n },
      {
        type: 'recoveryInfoReply',
        epoch: 1n,
        segments: [{ pg: 1, kind: 'full', scl: 1n, maxLsn: 2n, truncatedUpto: 0n, lastCplLsn: 0n }],
      },
      { type: 'truncate', epoch: 1n, pg: 1, aboveLsn: 1n, uptoLsn: 2n },
      { type: 'truncated', pg: 1, scl: 1n, tailLsn: 1n },
      { type: 'cplBelow', pg: 1, belowLsn: 9n },
      {
        type: 'cplBelowReply',
        pg: 1,
        record: { ...sampleRecord(1, 10n), kind: RecordKind.Commit, flags: RecordFlags.Cpl },
      },
      { type: 'gossipPull', epoch: 1n, pg: 1, afterLsn: 1n, uptoLsn: 2n, maxBytes: 10 },
      {
        type: 'gossipRecords',
        pg: 1,
        peerScl: 1n,
        epoch: 1n,
        truncations: [],
        records: [sampleRecord(1, 10n)],
      },
      { type: 'readPointFloor', pg: 1, lsn: 1n },
      { type: 'readPointFloorAck' },
      { type: 'collectionFloor', epoch: 2n, archive: 9n, backtrack: 'none', globalSecondary: 'none' },
      { type: 'segmentBases' },
      { type: 'segmentBasesReply', segments: [{ pg: 0, baseLsn: 3n, scl: 9n }] },
      { type: 'pageImages', pg: 0, atLsn: 9n, fromPageNo: 1, maxBytes: 4096 },
      {
        type: 'pageImagesReply',
        pg: 0,
        atLsn: 9n,
        nextPageNo: 3,
        done: false,
        pages: [{ pageNo: 1, versionLsn: 8n, bytes: Uint8Array.from([1, 2]) }],
      },
      { type: 'ping' },
      { type: 'pong' },
      { type: 'subscribe', fromLsn: 5n },
      { type: 'redoBatch', vdl: 3n, records: [sampleRecord(1, 10n)] },
      { type: 'resync', vdl: 7n, pgTails: [{ pg: 0, scl: 3n }] },
      { type: 'error', code: 'TIMEOUT', message: 'late' },
    ];
    expect(new Set(samples.map((s) => s.type)).size).toBe(messageTypes.length);
    for (const msg of samples) {
      const { type, body } = encodeMessage(msg);
      const trailing = errorOf(() => decodeMessage(type, Buffer.concat([body, Buffer.alloc(1)])));
      expect(trailing.code).toBe('MALFORMED_FRAME');
      expect(trailing.context).toMatchObject({ message: messageTypeName(type) });
      if (body.length > 0) {
        expect(errorOf(() => decodeMessage(type, body.subarray(0, body.length - 1))).code).toBe(
          'MALFORMED_FRAME',
        );
      }
    }
  });

  it('checks counts against limits and the bytes present before allocating', () => {
    const append = bodyOf({ type: 'append', epoch: 1n, records: [] });
    append.writeUInt32LE(recordsPerAppendMax + 1, 8);
    expect(errorOf(() => decodeMessage(MessageType.Append, append)).message).toMatch(/exceeds/);
    append.writeUInt32LE(1000, 8);
    expect(errorOf(() => decodeMessage(MessageType.Append, append)).message).toMatch(/cannot fit/);
    const ack = bodyOf({ type: 'appendAck', epoch: 1n, scls: [] });
    ack.writeUInt32LE(0xffff_ffff, 8);
    expect(errorOf(() => decodeMessage(MessageType.AppendAck, ack)).code).toBe('MALFORMED_FRAME');
    const gossip = bodyOf({
      type: 'gossipRecords',
      pg: 1,
      peerScl: 0n,
      epoch: 0n,
      truncations: [],
      records: [],
    });
    gossip.writeUInt32LE(truncationsPerGossipMax + 1, 20);
    expect(errorOf(() => decodeMessage(MessageType.GossipRecords, gossip)).code).toBe('MALFORMED_FRAME');
  });

  it('reports a corrupted record inside an Append as BAD_CRC', () => {
    const body = bodyOf({ type: 'append', epoch: 1n, records: [sampleRecord(1, 10n), sampleRecord(1, 11n)] });
    body[body.length - 1]! ^= 1;
    const error = errorOf(() => decodeMessage(MessageType.Append, body));
    expect(error.code).toBe('BAD_CRC');
  });

  it('validates field semantics', () => {
    const cases: Array<[number, (b: Buffer) => void, StorageMessage]> = [
      [MessageType.Append, (b) => b.writeBigUInt64LE(0n, 0), { type: 'append', epoch: 1n, records: [] }],
      [
        MessageType.RecoveryInfoReply,
        (b) => {
          b[16] = 3;
        },
        {
          type: 'recoveryInfoReply',
          epoch: 1n,
          segments: [{ pg: 1, kind: 'tail', scl: 1n, maxLsn: 2n, truncatedUpto: 0n, lastCplLsn: 0n }],
        },
      ],
      [
        MessageType.RecoveryInfoReply,
        (b) => b.writeBigUInt64LE(5n, 17),
        {
          type: 'recoveryInfoReply',
          epoch: 1n,
          segments: [{ pg: 1, kind: 'tail', scl: 1n, maxLsn: 2n, truncatedUpto: 0n, lastCplLsn: 0n }],
        },
      ],
      [
        MessageType.Truncate,
        (b) => b.writeBigUInt64LE(0n, 0),
        { type: 'truncate', epoch: 1n, pg: 1, aboveLsn: 1n, uptoLsn: 2n },
      ],
      [
        MessageType.Truncate,
        (b) => b.writeBigUInt64LE(3n, 12),
        { type: 'truncate', epoch: 1n, pg: 1, aboveLsn: 1n, uptoLsn: 2n },
      ],
      [
        MessageType.GossipPull,
        (b) => b.writeBigUInt64LE(3n, 12),
        { type: 'gossipPull', epoch: 1n, pg: 1, afterLsn: 1n, uptoLsn: 2n, maxBytes: 10 },
      ],
      [
        MessageType.GossipPull,
        (b) => b.writeUInt32LE(0, 28),
        { type: 'gossipPull', epoch: 1n, pg: 1, afterLsn: 1n, uptoLsn: 2n, maxBytes: 10 },
      ],
      [
        MessageType.GossipPull,
        (b) => b.writeUInt32LE(gossipBytesPerPullMax + 1, 28),
        { type: 'gossipPull', epoch: 1n, pg: 1, afterLsn: 1n, uptoLsn: 2n, maxBytes: 10 },
      ],
      [
        MessageType.GossipRecords,
        (b) => b.writeBigUInt64LE(0n, 24),
        {
          type: 'gossipRecords',
          pg: 1,
          peerScl: 1n,
          epoch: 1n,
          truncations: [{ epoch: 1n, aboveLsn: 1n, uptoLsn: 2n }],
          records: [],
        },
      ],
      [
        MessageType.GossipRecords,
        (b) => b.writeBigUInt64LE(9n, 32),
        {
          type: 'gossipRecords',
          pg: 1,
          peerScl: 1n,
          epoch: 1n,
          truncations: [{ epoch: 1n, aboveLsn: 1n, uptoLsn: 2n }],
          records: [],
        },
      ],
      [
        MessageType.GossipRecords,
        (b) => b.writeUInt32LE(2, 0),
        {
          type: 'gossipRecords',
          pg: 1,
          peerScl: 1n,
          epoch: 1n,
          truncations: [],
          records: [sampleRecord(1, 10n)],
        },
      ],
      [
        MessageType.CplBelowReply,
        (b) => b.writeUInt32LE(2, 0), // the record is of pg 1
        {
          type: 'cplBelowReply',
          pg: 1,
          record: { ...sampleRecord(1, 10n), kind: RecordKind.Commit, flags: RecordFlags.Cpl },
        },
      ],
      [
        MessageType.CplBelowReply,
        (b) => b.writeUInt32LE(2, 4), // at most one record
        {
          type: 'cplBelowReply',
          pg: 1,
          record: { ...sampleRecord(1, 10n), kind: RecordKind.Commit, flags: RecordFlags.Cpl },
        },
      ],
      [
        MessageType.Page,
        (b) => b.writeUInt32LE(pageSizeBytesMax + 1, 8),
        { type: 'page', versionLsn: 1n, page: new Uint8Array(4) },
      ],
      [
        MessageType.Error,
        (b) => b.writeUInt32LE(errorMessageBytesMax + 1, 2),
        { type: 'error', code: 'INTERNAL', message: 'x' },
      ],
      [
        MessageType.Error,
        (b) => {
          b[6] = 0xff;
        },
        { type: 'error', code: 'INTERNAL', message: 'x' },
      ],
    ];
    for (const [type, corrupt, msg] of cases) {
      const body = Buffer.from(bodyOf(msg));
      corrupt(body);
      expect(errorOf(() => decodeMessage(type, body)).code, `${msg.type}`).toBe('MALFORMED_FRAME');
    }
  });

  it('rejects a CPL reply whose record is no commit', () => {
    const record = sampleRecord(1, 10n); // a page delta
    const body = Buffer.alloc(8 + encodedRecordLength(record));
    body.writeUInt32LE(1, 0);
    body.writeUInt32LE(1, 4);
    encodeRecord(record, body, 8);
    const error = errorOf(() => decodeMessage(MessageType.CplBelowReply, body));
    expect(error.code).toBe('MALFORMED_FRAME');
    expect(error.message).toMatch(/is no commit/);
  });

  it('maps an unknown error code from a newer peer to INTERNAL, keeping the message', () => {
    const body = bodyOf({ type: 'error', code: 'TIMEOUT', message: 'from the future' });
    body.writeUInt16LE(999, 0);
    expect(decodeMessage(MessageType.Error, body)).toEqual({
      type: 'error',
      code: 'INTERNAL',
      message: 'from the future',
    });
  });
});

describe('encodeMessage guards', () => {
  it('cuts long error messages at a character boundary', () => {
    const message = 'é'.repeat(errorMessageBytesMax); // 2 bytes each
    const body = bodyOf({ type: 'error', code: 'INTERNAL', message });
    const decoded = decodeMessage(MessageType.Error, body);
    expect(decoded.type).toBe('error');
    if (decoded.type !== 'error') return;
    expect(Buffer.byteLength(decoded.message)).toBeLessThanOrEqual(errorMessageBytesMax);
    expect(message.startsWith(decoded.message)).toBe(true);
    expect(decoded.message.length).toBe(errorMessageBytesMax / 2);
    const emoji = `x${'😀'.repeat(errorMessageBytesMax)}`; // 4-byte characters, misaligned by one
    const cut = decodeMessage(MessageType.Error, bodyOf({ type: 'error', code: 'INTERNAL', message: emoji }));
    if (cut.type === 'error') expect(emoji.startsWith(cut.message)).toBe(true);
  });

  it('asserts on values that do not fit their fields', () => {
    const bad: StorageMessage[] = [
      { type: 'getPage', pg: -1, pageNo: 0, readPoint: 0n },
      { type: 'getPage', pg: 2 ** 32, pageNo: 0, readPoint: 0n },
      { type: 'getPage', pg: 0, pageNo: 0, readPoint: -1n },
      { type: 'getPage', pg: 0, pageNo: 0, readPoint: LSN_MAX + 1n },
      { type: 'append', epoch: 0n, records: [] },
      { type: 'truncate', epoch: 1n, pg: 1, aboveLsn: 3n, uptoLsn: 2n },
      { type: 'gossipPull', epoch: 1n, pg: 1, afterLsn: 1n, uptoLsn: 2n, maxBytes: 0 },
      {
        type: 'gossipRecords',
        pg: 1,
        peerScl: 0n,
        epoch: 0n,
        truncations: [],
        records: [sampleRecord(2, 10n)],
      },
      {
        type: 'recoveryInfoReply',
        epoch: 1n,
        segments: [{ pg: 1, kind: 'full', scl: 3n, maxLsn: 2n, truncatedUpto: 0n, lastCplLsn: 0n }],
      },
      { type: 'page', versionLsn: 1n, page: new Uint8Array(pageSizeBytesMax + 1) },
      { type: 'cplBelowReply', pg: 1, record: sampleRecord(1, 10n) }, // not a commit
      {
        type: 'cplBelowReply',
        pg: 2,
        record: { ...sampleRecord(1, 10n), kind: RecordKind.Commit, flags: RecordFlags.Cpl },
      },
      { type: 'bogus' } as unknown as StorageMessage,
    ];
    for (const msg of bad) expect(() => encodeMessage(msg), msg.type).toThrow(InvariantViolation);
  });

  it('writes records with encodeRecord, so the bytes match a standalone encoding', () => {
    const record = sampleRecord(4, 99n);
    const standalone = new Uint8Array(encodedRecordLength(record));
    encodeRecord(record, standalone, 0);
    const body = bodyOf({ type: 'append', epoch: 2n, records: [record] });
    expect(Buffer.from(standalone).equals(body.subarray(12))).toBe(true);
  });
});
