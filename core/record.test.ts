import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from './crc32c.ts';
import { BorealisError, InvariantViolation } from './errors.ts';
import { recordPayloadBytesMax } from './limits.ts';
import { LSN_MAX, lsnMax, lsnMin } from './lsn.ts';
import {
  type CommitPayload,
  decodeCommitPayload,
  decodeEpochPayload,
  decodeRecord,
  decodeTruncateRangePayload,
  encodeCommitPayload,
  encodedRecordLength,
  encodeEpochPayload,
  encodeRecord,
  encodeRecords,
  encodeTruncateRangePayload,
  isRecordKind,
  RecordFlags,
  RecordKind,
  type RecordKindValue,
  type RedoRecord,
  recordHeaderBytes,
  recordIsCpl,
  recordOverheadBytes,
  tryDecodeRecord,
} from './record.ts';
import { errorOf } from './testing.ts';

const arbU32 = fc.integer({ min: 0, max: 0xffff_ffff });
const arbKind = fc.constantFrom(...(Object.values(RecordKind) as RecordKindValue[]));
const arbRecord: fc.Arbitrary<RedoRecord> = fc
  .oneof(fc.bigInt({ min: 1n, max: 1000n }), fc.bigInt({ min: 1n, max: LSN_MAX }))
  .chain((lsn) =>
    fc.record({
      lsn: fc.constant(lsn),
      pg: arbU32,
      pageNo: arbU32,
      prevLsnInPg: fc.bigInt({ min: 0n, max: lsn - 1n }),
      prevLsnOfPage: fc.oneof(fc.constant(0n), fc.bigInt({ min: 0n, max: lsn - 1n })),
      kind: arbKind,
      flags: fc.constantFrom(0, RecordFlags.Cpl),
      payload: fc.uint8Array({ maxLength: 200 }),
    }),
  );

function sampleRecord(overrides: Partial<RedoRecord> = {}): RedoRecord {
  return {
    lsn: 0x1_0000_0010n,
    pg: 7,
    pageNo: 42,
    prevLsnInPg: 0x1_0000_0001n,
    prevLsnOfPage: 0x0_0000_0005n,
    kind: RecordKind.PageDelta,
    flags: RecordFlags.Cpl,
    payload: Uint8Array.from([1, 2, 3, 4, 5]),
    ...overrides,
  };
}

function encodeOne(record: RedoRecord): Buffer {
  const out = Buffer.alloc(encodedRecordLength(record));
  expect(encodeRecord(record, out, 0)).toBe(out.length);
  return out;
}

/** Rewrites the trailing crc so that only the field-level validation can reject the bytes. */
function reseal(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  view.setUint32(bytes.length - 4, crc32c(bytes, 0, bytes.length - 4), true);
  return bytes;
}

function plain(record: RedoRecord): RedoRecord {
  return { ...record, payload: Uint8Array.from(record.payload) };
}

describe('record layout', () => {
  it('has a 40-byte header and 44 bytes of overhead', () => {
    expect(recordHeaderBytes).toBe(40);
    expect(recordOverheadBytes).toBe(44);
    expect(encodedRecordLength(sampleRecord())).toBe(49);
  });

  it('writes every field little-endian at its documented offset', () => {
    const record = sampleRecord();
    const bytes = encodeOne(record);
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    expect(view.getBigUint64(0, true)).toBe(record.lsn);
    expect(view.getUint32(8, true)).toBe(7);
    expect(view.getUint32(12, true)).toBe(42);
    expect(view.getBigUint64(16, true)).toBe(record.prevLsnInPg);
    expect(view.getBigUint64(24, true)).toBe(record.prevLsnOfPage);
    expect(bytes[32]).toBe(RecordKind.PageDelta);
    expect(bytes[33]).toBe(RecordFlags.Cpl);
    expect(view.getUint16(34, true)).toBe(0);
    expect(view.getUint32(36, true)).toBe(5);
    expect([...bytes.subarray(40, 45)]).toEqual([1, 2, 3, 4, 5]);
    expect(view.getUint32(45, true)).toBe(crc32c(bytes, 0, 45));
  });

  it('kinds and flags have their stable values', () => {
    expect(RecordKind).toEqual({
      PageDelta: 1,
      PageImage: 2,
      Commit: 3,
      TruncateRange: 4,
      RowImages: 5,
      Epoch: 6,
    });
    expect(RecordFlags.Cpl).toBe(1);
    expect(isRecordKind(0)).toBe(false);
    expect(isRecordKind(7)).toBe(false);
    expect(isRecordKind(3)).toBe(true);
    expect(recordIsCpl(sampleRecord())).toBe(true);
    expect(recordIsCpl(sampleRecord({ flags: 0 }))).toBe(false);
  });
});

describe('encodeRecord / decodeRecord', () => {
  it('round-trips any valid record at any offset', () => {
    fc.assert(
      fc.property(arbRecord, fc.nat({ max: 16 }), (record, padding) => {
        const out = new Uint8Array(padding + encodedRecordLength(record) + 3);
        const written = encodeRecord(record, out, padding);
        expect(written).toBe(encodedRecordLength(record));
        const decoded = decodeRecord(out, padding);
        expect(decoded.length).toBe(written);
        expect(plain(decoded.record)).toEqual(plain(record));
        const tried = tryDecodeRecord(out, padding);
        expect(tried.ok).toBe(true);
      }),
    );
  });

  it('encodeRecords concatenates and decodes back in order', () => {
    fc.assert(
      fc.property(fc.array(arbRecord, { maxLength: 12 }), (records) => {
        const bytes = encodeRecords(records);
        expect(bytes.length).toBe(records.reduce((sum, r) => sum + encodedRecordLength(r), 0));
        let offset = 0;
        for (const record of records) {
          const decoded = decodeRecord(bytes, offset);
          expect(plain(decoded.record)).toEqual(plain(record));
          offset += decoded.length;
        }
        expect(offset).toBe(bytes.length);
      }),
    );
  });

  it('decoded payloads are views into the input buffer', () => {
    const bytes = encodeOne(sampleRecord());
    const { record } = decodeRecord(bytes, 0);
    expect(record.payload.buffer).toBe(bytes.buffer);
    bytes[40] = 99;
    expect(record.payload[0]).toBe(99);
  });

  it('reports every strict prefix as truncated', () => {
    fc.assert(
      fc.property(arbRecord, (record) => {
        const bytes = encodeOne(record);
        for (let cut = 0; cut < bytes.length; cut++) {
          const result = tryDecodeRecord(bytes.subarray(0, cut), 0);
          expect(result).toMatchObject({ ok: false, reason: 'truncated' });
        }
      }),
      { numRuns: 30 },
    );
  });

  it('rejects every single-bit flip', () => {
    fc.assert(
      fc.property(arbRecord, fc.nat(), (record, bitSeed) => {
        const bytes = encodeOne(record);
        const bit = bitSeed % (bytes.length * 8);
        bytes[bit >> 3]! ^= 1 << (bit & 7);
        const result = tryDecodeRecord(bytes, 0);
        expect(result.ok).toBe(false);
        expect(() => decodeRecord(bytes, 0)).toThrow(BorealisError);
      }),
    );
  });

  it('never throws on garbage in tryDecodeRecord, and only BorealisError in decodeRecord', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        const result = tryDecodeRecord(bytes, 0);
        if (!result.ok) expect(['truncated', 'bad_crc', 'malformed']).toContain(result.reason);
        try {
          decodeRecord(bytes, 0);
        } catch (error) {
          expect(error).toBeInstanceOf(BorealisError);
        }
      }),
    );
  });

  it('a torn tail after whole records is found at the right offset', () => {
    const records = [100n, 200n, 300n].map((lsn) =>
      sampleRecord({ lsn, prevLsnInPg: lsn - 100n, prevLsnOfPage: 0n }),
    );
    const log = encodeRecords(records);
    const torn = log.subarray(0, log.length - 3);
    let offset = 0;
    let whole = 0;
    for (;;) {
      const result = tryDecodeRecord(torn, offset);
      if (!result.ok) {
        expect(result.reason).toBe('truncated');
        break;
      }
      offset += result.length;
      whole++;
    }
    expect(whole).toBe(2);
    expect(offset).toBe(2 * encodedRecordLength(records[0]!));
    expect(tryDecodeRecord(torn, torn.length)).toMatchObject({ ok: false, reason: 'truncated' });
  });

  it('reports a bad crc as BAD_CRC with offset and lsn in context', () => {
    const bytes = Buffer.concat([Buffer.alloc(3), encodeOne(sampleRecord())]);
    bytes[bytes.length - 1]! ^= 0xff;
    expect(tryDecodeRecord(bytes, 3)).toMatchObject({ ok: false, reason: 'bad_crc' });
    const error = errorOf(() => decodeRecord(bytes, 3));
    expect(error.code).toBe('BAD_CRC');
    expect(error.context).toMatchObject({ offset: 3, lsn: '1/10', reason: 'bad_crc' });
  });

  it('reports truncation as MALFORMED_FRAME', () => {
    const bytes = encodeOne(sampleRecord()).subarray(0, 30);
    const error = errorOf(() => decodeRecord(bytes, 0));
    expect(error.code).toBe('MALFORMED_FRAME');
    expect(error.context).toMatchObject({ offset: 0, reason: 'truncated' });
  });

  const fieldCases: Array<[string, (view: DataView, bytes: Uint8Array) => void]> = [
    [
      'kind 0',
      (_, b) => {
        b[32] = 0;
      },
    ],
    [
      'kind 7',
      (_, b) => {
        b[32] = 7;
      },
    ],
    [
      'unknown flag',
      (_, b) => {
        b[33] = 2;
      },
    ],
    ['reserved non-zero', (v) => v.setUint16(34, 1, true)],
    ['lsn 0', (v) => v.setBigUint64(0, 0n, true)],
    ['prevLsnInPg == lsn', (v) => v.setBigUint64(16, v.getBigUint64(0, true), true)],
    ['prevLsnInPg > lsn', (v) => v.setBigUint64(16, LSN_MAX, true)],
    ['prevLsnOfPage == lsn', (v) => v.setBigUint64(24, v.getBigUint64(0, true), true)],
  ];
  for (const [name, corrupt] of fieldCases) {
    it(`rejects a well-sealed record with ${name} as malformed`, () => {
      const bytes = encodeOne(sampleRecord());
      corrupt(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), bytes);
      reseal(bytes);
      expect(tryDecodeRecord(bytes, 0)).toMatchObject({ ok: false, reason: 'malformed' });
      expect(errorOf(() => decodeRecord(bytes, 0)).code).toBe('MALFORMED_FRAME');
    });
  }

  it('rejects a payload length beyond the maximum before reading it', () => {
    const bytes = encodeOne(sampleRecord());
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(36, recordPayloadBytesMax + 1, true);
    expect(tryDecodeRecord(bytes, 0)).toMatchObject({ ok: false, reason: 'malformed' });
  });

  it('accepts the largest payload and prevLsnOfPage 0', () => {
    const record = sampleRecord({
      payload: new Uint8Array(recordPayloadBytesMax).fill(7),
      prevLsnOfPage: 0n,
    });
    const decoded = decodeRecord(encodeOne(record), 0);
    expect(decoded.record.payload.length).toBe(recordPayloadBytesMax);
    expect(decoded.record.prevLsnOfPage).toBe(0n);
  });

  it('asserts on invalid records and short buffers (a writer bug, not input)', () => {
    const bad: Array<Partial<RedoRecord>> = [
      { lsn: 0n },
      { lsn: LSN_MAX + 1n },
      { prevLsnInPg: 0x1_0000_0010n },
      { prevLsnOfPage: 0x2_0000_0000n },
      { kind: 9 as RecordKindValue },
      { flags: 4 },
      { pg: -1 },
      { pg: 2 ** 32 },
      { pageNo: 1.5 },
      { payload: new Uint8Array(recordPayloadBytesMax + 1) },
    ];
    for (const overrides of bad) {
      const record = sampleRecord(overrides);
      expect(() => encodeRecord(record, new Uint8Array(recordPayloadBytesMax + 100), 0)).toThrow(
        InvariantViolation,
      );
    }
    const record = sampleRecord();
    expect(() => encodeRecord(record, new Uint8Array(encodedRecordLength(record) - 1), 0)).toThrow(
      InvariantViolation,
    );
    expect(() => encodeRecord(record, new Uint8Array(100), -1)).toThrow(InvariantViolation);
  });
});

const arbCommit: fc.Arbitrary<CommitPayload> = fc.record({
  txnId: fc.bigInt({ min: 0n, max: LSN_MAX }),
  commitTimeMs: fc.oneof(
    fc.integer({ min: 0, max: 4_102_444_800_000 }),
    fc.constant(Number.MAX_SAFE_INTEGER),
  ),
  pgTails: fc
    .uniqueArray(fc.integer({ min: 0, max: 0xffff_fffe }), { maxLength: 20 })
    .chain((pgs) =>
      fc.tuple(
        ...pgs
          .sort((a, b) => a - b)
          .map((pg) => fc.record({ pg: fc.constant(pg), lastLsn: fc.bigInt({ min: 1n, max: LSN_MAX }) })),
      ),
    ),
  vdlHint: fc.bigInt({ min: 0n, max: LSN_MAX }),
  prevCommitLsn: fc.bigInt({ min: 0n, max: LSN_MAX }),
  prevCommitPg: fc.integer({ min: 0, max: 0xffff_fffe }),
});

describe('commit payload', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(arbCommit, (payload) => {
        const bytes = encodeCommitPayload(payload);
        expect(bytes.length).toBe(40 + 12 * payload.pgTails.length);
        expect(decodeCommitPayload(bytes)).toEqual(payload);
      }),
    );
  });

  it('decodes from a view inside a record', () => {
    const payload = encodeCommitPayload({
      txnId: 9n,
      commitTimeMs: 1_700_000_000_123,
      pgTails: [{ pg: 1, lastLsn: 5n }],
      vdlHint: 3n,
      prevCommitLsn: 2n,
      prevCommitPg: 0,
    });
    const bytes = encodeOne(sampleRecord({ kind: RecordKind.Commit, payload }));
    const { record } = decodeRecord(Buffer.concat([Buffer.alloc(1), bytes]), 1);
    expect(decodeCommitPayload(record.payload).commitTimeMs).toBe(1_700_000_000_123);
  });

  it('rejects malformed bytes with MALFORMED_FRAME', () => {
    const good = encodeCommitPayload({
      txnId: 1n,
      commitTimeMs: 5,
      pgTails: [
        { pg: 1, lastLsn: 5n },
        { pg: 2, lastLsn: 6n },
      ],
      vdlHint: 0n,
      prevCommitLsn: 0n,
      prevCommitPg: 0,
    });
    const cases: Uint8Array[] = [];
    cases.push(good.subarray(0, 39)); // short fixed part
    cases.push(good.subarray(0, good.length - 1)); // short tail
    cases.push(Buffer.concat([good, Buffer.alloc(1)])); // trailing byte
    const badCount = Buffer.from(good);
    badCount.writeUInt32LE(3, 36);
    cases.push(badCount);
    const hugeCount = Buffer.from(good);
    hugeCount.writeUInt32LE(0xffff_ffff, 36);
    cases.push(hugeCount);
    const badTime = Buffer.from(good);
    badTime.writeBigUInt64LE(2n ** 53n, 8);
    cases.push(badTime);
    const unsorted = Buffer.from(good);
    unsorted.writeUInt32LE(1, 40 + 12);
    cases.push(unsorted);
    const zeroLsn = Buffer.from(good);
    zeroLsn.writeBigUInt64LE(0n, 40 + 4);
    cases.push(zeroLsn);
    const allPg = Buffer.from(good);
    allPg.writeUInt32LE(0xffff_ffff, 40 + 12);
    cases.push(allPg);
    for (const bytes of cases) expect(errorOf(() => decodeCommitPayload(bytes)).code).toBe('MALFORMED_FRAME');
  });

  it('only ever throws BorealisError on garbage', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decodeCommitPayload(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(BorealisError);
        }
      }),
    );
  });

  it('asserts on unsorted tails, unsafe times and zero tail LSNs', () => {
    const base = { txnId: 1n, commitTimeMs: 1, vdlHint: 0n, prevCommitLsn: 0n, prevCommitPg: 0 };
    expect(() =>
      encodeCommitPayload({
        ...base,
        pgTails: [
          { pg: 2, lastLsn: 1n },
          { pg: 1, lastLsn: 1n },
        ],
      }),
    ).toThrow(InvariantViolation);
    expect(() => encodeCommitPayload({ ...base, pgTails: [{ pg: 1, lastLsn: 0n }] })).toThrow(
      InvariantViolation,
    );
    expect(() => encodeCommitPayload({ ...base, commitTimeMs: 1.5, pgTails: [] })).toThrow(
      InvariantViolation,
    );
    expect(() => encodeCommitPayload({ ...base, commitTimeMs: -1, pgTails: [] })).toThrow(InvariantViolation);
    expect(() => encodeCommitPayload({ ...base, txnId: -1n, pgTails: [] })).toThrow(InvariantViolation);
  });
});

describe('epoch payload', () => {
  it('round-trips and rejects bad bytes', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 1n, max: LSN_MAX }), (epoch) => {
        expect(decodeEpochPayload(encodeEpochPayload({ epoch }))).toEqual({ epoch });
      }),
    );
    expect(errorOf(() => decodeEpochPayload(new Uint8Array(7))).code).toBe('MALFORMED_FRAME');
    expect(errorOf(() => decodeEpochPayload(new Uint8Array(9))).code).toBe('MALFORMED_FRAME');
    expect(errorOf(() => decodeEpochPayload(new Uint8Array(8))).code).toBe('MALFORMED_FRAME');
    expect(() => encodeEpochPayload({ epoch: 0n })).toThrow(InvariantViolation);
  });
});

describe('truncate range payload', () => {
  it('round-trips and rejects bad bytes', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: 1n, max: LSN_MAX }),
        fc.bigInt({ min: 0n, max: LSN_MAX }),
        fc.bigInt({ min: 0n, max: LSN_MAX }),
        (epoch, a, b) => {
          const payload = { epoch, aboveLsn: lsnMin(a, b), uptoLsn: lsnMax(a, b) };
          expect(decodeTruncateRangePayload(encodeTruncateRangePayload(payload))).toEqual(payload);
        },
      ),
    );
    const inverted = encodeTruncateRangePayload({ epoch: 1n, aboveLsn: 5n, uptoLsn: 9n });
    inverted.writeBigUInt64LE(10n, 8);
    expect(errorOf(() => decodeTruncateRangePayload(inverted)).code).toBe('MALFORMED_FRAME');
    const epochZero = encodeTruncateRangePayload({ epoch: 1n, aboveLsn: 5n, uptoLsn: 9n });
    epochZero.writeBigUInt64LE(0n, 0);
    expect(errorOf(() => decodeTruncateRangePayload(epochZero)).code).toBe('MALFORMED_FRAME');
    expect(errorOf(() => decodeTruncateRangePayload(new Uint8Array(23))).code).toBe('MALFORMED_FRAME');
    expect(() => encodeTruncateRangePayload({ epoch: 1n, aboveLsn: 9n, uptoLsn: 5n })).toThrow(
      InvariantViolation,
    );
  });
});
