// The redo batch codec: round trips, every kind of damage rejected, and packRedoBatches' limits,
// chaining and commit-boundary cuts.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../crc32c.ts';
import { ErrorCode } from '../errors.ts';
import { encodeCommitPayload, encodeRecords, RecordFlags, RecordKind, type RedoRecord } from '../record.ts';
import { errorOf } from '../testing.ts';
import {
  commitsOf,
  decodeRedoBatch,
  decodeRedoBatchHeader,
  encodeRedoBatch,
  headerOf,
  packRedoBatches,
  type RedoBatch,
  redoBatchHeaderBytes,
} from './redo-batch.ts';

function delta(lsn: bigint, payloadBytes = 8): RedoRecord {
  return {
    lsn,
    pg: 1,
    pageNo: 2,
    prevLsnInPg: lsn - 1n,
    prevLsnOfPage: 0n,
    kind: RecordKind.PageDelta,
    flags: 0,
    payload: Buffer.alloc(payloadBytes, Number(lsn % 251n)),
  };
}

function commit(lsn: bigint, commitTimeMs: number): RedoRecord {
  return {
    lsn,
    pg: 1,
    pageNo: 0,
    prevLsnInPg: lsn - 1n,
    prevLsnOfPage: 0n,
    kind: RecordKind.Commit,
    flags: RecordFlags.Cpl,
    payload: encodeCommitPayload({
      txnId: lsn,
      commitTimeMs,
      pgTails: [{ pg: 1, lastLsn: lsn }],
      vdlHint: 0n,
      prevCommitLsn: 0n,
      prevCommitPg: 0,
    }),
  };
}

/** A log: ascending LSNs with gaps, each record a delta or a commit (times ascending). */
const arbLog = fc
  .array(
    fc.record({
      gap: fc.bigInt({ min: 1n, max: 1000n }),
      isCommit: fc.boolean(),
      bytes: fc.nat({ max: 300 }),
    }),
    {
      minLength: 1,
      maxLength: 60,
    },
  )
  .chain((steps) =>
    fc.tuple(fc.bigInt({ min: 0n, max: 2n ** 62n }), fc.nat({ max: 2 ** 40 })).map(([start, timeMs]) => {
      let lsn = start;
      let time = timeMs;
      return steps.map((s) => {
        lsn += s.gap;
        time += 1;
        return s.isCommit ? commit(lsn, time) : delta(lsn, s.bytes);
      });
    }),
  );

/** A change to the header, resealed with a matching header CRC: what the semantic checks must catch. */
function mutate(change: (b: Buffer) => unknown): (b: Buffer) => Buffer {
  return (b) => {
    change(b);
    b.writeUInt32LE(crc32c(b, 0, 80), 80);
    return b;
  };
}

function sample(): RedoBatch {
  return { epoch: 3n, prevLsn: 9n, records: [delta(10n), delta(11n), commit(12n, 1_000), delta(15n)] };
}

describe('redo batch codec', () => {
  it('round-trips any batch, header included', () => {
    fc.assert(
      fc.property(arbLog, fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), (records, epoch) => {
        const batch = { epoch, prevLsn: records[0]!.lsn - 1n, records };
        const encoded = encodeRedoBatch(batch);
        const decoded = decodeRedoBatch(encoded);
        expect(decoded.header).toEqual(headerOf(batch));
        expect(decodeRedoBatchHeader(encoded.subarray(0, redoBatchHeaderBytes))).toEqual(headerOf(batch));
        expect(decoded.epoch).toBe(epoch);
        expect(decoded.records.map((r) => ({ ...r, payload: Buffer.from(r.payload) }))).toEqual(
          records.map((r) => ({ ...r, payload: Buffer.from(r.payload) })),
        );
      }),
      { numRuns: 200 },
    );
  });

  it('summarises commits in the header, zero when there are none', () => {
    expect(headerOf(sample())).toEqual({
      epoch: 3n,
      prevLsn: 9n,
      firstLsn: 10n,
      lastLsn: 15n,
      lastCommitLsn: 12n,
      firstCommitTimeMs: 1_000,
      lastCommitTimeMs: 1_000,
      commitCount: 1,
      recordCount: 4,
      timeline: 0,
    });
    expect(decodeRedoBatch(encodeRedoBatch({ ...sample(), timeline: 7 })).header.timeline).toBe(7);
    const none = headerOf({ epoch: 1n, prevLsn: 0n, records: [delta(1n), delta(2n)] });
    expect(none).toMatchObject({
      lastCommitLsn: 0n,
      firstCommitTimeMs: 0,
      lastCommitTimeMs: 0,
      commitCount: 0,
    });
    expect(commitsOf(sample().records)).toEqual([{ lsn: 12n, commitTimeMs: 1_000, txnId: 12n }]);
  });

  it('decodes a batch that sits inside a larger buffer', () => {
    const encoded = encodeRedoBatch(sample());
    const outer = Buffer.concat([Buffer.alloc(7, 1), encoded, Buffer.alloc(5, 2)]);
    expect(decodeRedoBatch(outer.subarray(7, 7 + encoded.length)).header).toEqual(headerOf(sample()));
  });

  it.each([
    ['shorter than the header', (b: Buffer) => b.subarray(0, 40), /shorter than the header/],
    ['a bad magic', mutate((b) => b.writeUInt32LE(0x12345678, 0)), /bad magic/],
    ['an unknown version', mutate((b) => b.writeUInt8(9, 4)), /unknown version 9/],
    [
      'a flipped epoch byte (header CRC)',
      (b: Buffer) => {
        b[9]! ^= 1;
        return b;
      },
      /header CRC mismatch/,
    ],
    ['a truncated body', (b: Buffer) => b.subarray(0, b.length - 1), /body length/],
    ['trailing bytes', (b: Buffer) => Buffer.concat([b, Buffer.alloc(1)]), /body length/],
    [
      'a flipped body byte',
      (b: Buffer) => {
        b[b.length - 3]! ^= 1;
        return b;
      },
      /body CRC/,
    ],
    [
      'a header that lies about the records',
      mutate((b) => b.writeBigUInt64LE(999n, 56)),
      /header does not match/,
    ],
    ['a header that lies about the count', mutate((b) => b.writeUInt32LE(5, 68)), /header does not match/],
  ])('rejects %s', (_name, damage, message) => {
    const error = errorOf(() => decodeRedoBatch(damage(Buffer.from(encodeRedoBatch(sample())))));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toMatch(message);
  });

  /** A valid batch of `valid`, then its body replaced by `body` (same size) with a matching CRC. */
  function forge(prevLsn: bigint, valid: RedoRecord[], body: RedoRecord[]): Buffer {
    const out = Buffer.from(encodeRedoBatch({ epoch: 1n, prevLsn: valid[0]!.lsn - 1n, records: valid }));
    const replaced = encodeRecords(body);
    expect(replaced.length).toBe(out.length - redoBatchHeaderBytes);
    replaced.copy(out, redoBatchHeaderBytes);
    out.writeUInt32LE(crc32c(out, redoBatchHeaderBytes), 76);
    out.writeBigUInt64LE(prevLsn, 16);
    out.writeUInt32LE(crc32c(out, 0, 80), 80);
    return out;
  }

  it('rejects records out of LSN order, and a prevLsn that is not below the first record', () => {
    const valid = [delta(10n), delta(11n), delta(12n), commit(13n, 5)];
    expect(decodeRedoBatch(forge(9n, valid, valid)).records).toHaveLength(4);
    // First and last records and the commit summary agree with the header: only the order is wrong.
    const shuffled = forge(9n, valid, [delta(10n), delta(12n), delta(11n), commit(13n, 5)]);
    expect(errorOf(() => decodeRedoBatch(shuffled)).message).toMatch(/out of LSN order at 2/);
    const duplicated = forge(9n, valid, [delta(10n), delta(11n), delta(11n), commit(13n, 5)]);
    expect(errorOf(() => decodeRedoBatch(duplicated)).message).toMatch(/out of LSN order at 2/);
    const prevTooHigh = forge(10n, valid, valid);
    expect(errorOf(() => decodeRedoBatch(prevTooHigh)).message).toMatch(/out of LSN order at 0/);
  });

  it('never accepts a damaged batch as different content', () => {
    const encoded = encodeRedoBatch(sample());
    const original = decodeRedoBatch(encoded);
    fc.assert(
      fc.property(fc.nat({ max: encoded.length - 1 }), fc.integer({ min: 1, max: 255 }), (at, xor) => {
        const damaged = Buffer.from(encoded);
        damaged[at]! ^= xor;
        let decoded: ReturnType<typeof decodeRedoBatch>;
        try {
          decoded = decodeRedoBatch(damaged);
        } catch {
          return;
        }
        // Only the reserved u32 (84-87) is unchecked: the header CRC covers bytes 0-79 and the body
        // CRC and record CRCs the rest.
        expect([84, 85, 86, 87]).toContain(at);
        expect(decoded.header).toEqual(original.header);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('packRedoBatches', () => {
  const arbMax = fc.integer({ min: redoBatchHeaderBytes + 400, max: 6_000 });

  it('keeps every record, in order, in batches within the limit, chained by prevLsn', () => {
    fc.assert(
      fc.property(arbLog, arbMax, (records, maxBytes) => {
        const prevLsn = records[0]!.lsn - 1n;
        const batches = packRedoBatches(7n, prevLsn, records, maxBytes);
        expect(batches.flatMap((b) => b.records)).toEqual(records);
        let prev = prevLsn;
        for (const batch of batches) {
          expect(batch.epoch).toBe(7n);
          expect(batch.prevLsn).toBe(prev);
          expect(batch.records.length).toBeGreaterThan(0);
          expect(encodeRedoBatch(batch).length).toBeLessThanOrEqual(maxBytes);
          prev = batch.records.at(-1)!.lsn;
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('ends every batch but the last on a commit unless it holds none', () => {
    fc.assert(
      fc.property(arbLog, arbMax, (records, maxBytes) => {
        const batches = packRedoBatches(1n, 0n, records, maxBytes);
        for (const batch of batches.slice(0, -1)) {
          const hasCommit = batch.records.some((r) => r.kind === RecordKind.Commit);
          if (hasCommit) expect(batch.records.at(-1)!.kind).toBe(RecordKind.Commit);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('prefers a commit boundary over cutting a transaction', () => {
    // Two transactions of three records each; a batch fits four records.
    const records = [
      delta(1n, 100),
      delta(2n, 100),
      commit(3n, 1),
      delta(4n, 100),
      delta(5n, 100),
      commit(6n, 2),
    ];
    const four = redoBatchHeaderBytes + 4 * (44 + 100);
    const batches = packRedoBatches(1n, 0n, records, four);
    expect(batches.map((b) => b.records.map((r) => r.lsn))).toEqual([
      [1n, 2n, 3n],
      [4n, 5n, 6n],
    ]);
  });

  it('cuts a transaction bigger than a batch between records', () => {
    const records = [delta(1n, 100), delta(2n, 100), delta(3n, 100), delta(4n, 100), commit(5n, 1)];
    const two = redoBatchHeaderBytes + 2 * (44 + 100);
    const batches = packRedoBatches(1n, 0n, records, two);
    expect(batches.map((b) => b.records.map((r) => r.lsn))).toEqual([[1n, 2n], [3n, 4n], [5n]]);
    expect(batches.map((b) => b.prevLsn)).toEqual([0n, 2n, 4n]);
  });

  it('returns no batch for no records, and refuses a record that fits no batch', () => {
    expect(packRedoBatches(1n, 0n, [], 1_000)).toEqual([]);
    const error = errorOf(() => packRedoBatches(1n, 0n, [delta(1n, 2_000)], 1_000));
    expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
    expect(error.message).toMatch(/does not fit/);
  });
});
