// The RowImages payload codec: every value kind round-trips exactly, transactions pack into payloads
// within the bound with their ordinals and only the tables they use, oversized changes become
// fragments that join back in any order, and anything truncated or garbled is a MALFORMED_FRAME
// (content damage inside a payload is the redo record's CRC's to catch, shown last).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRedoBatch, encodeRedoBatch } from '../backup/redo-batch.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import { RecordKind } from '../record.ts';
import {
  type BinlogChange,
  type BinlogTable,
  type BinlogValue,
  type CapturedTransaction,
  decodeRowImages,
  encodeRowImages,
  joinFragments,
  type RowImagesFragment,
  type RowImagesWhole,
  rowImagesPayloadBytesMax,
} from './row-images.ts';

const txn = { txnId: 0xffff_ffff_ffff_fffen, commitTimeMs: 1_700_000_000_999, epoch: 2n ** 64n - 1n };
const t3: BinlogTable = { name: 't3', columns: ['id', 'a', 'b'], primaryKey: [0] };
const kv: BinlogTable = { name: 'kv', columns: ['k', 'v'], primaryKey: [] };
const wide: BinlogTable = { name: 'wide', columns: ['x', 'y', 'z', 'w'], primaryKey: [3, 1] };

/** Blobs as hex strings (the decoder hands out Buffers, a Uint8Array subclass), so equality is by content. */
function canon(x: unknown): unknown {
  if (x instanceof Uint8Array) return `blob:${Buffer.from(x.buffer, x.byteOffset, x.length).toString('hex')}`;
  if (Array.isArray(x)) return x.map(canon);
  if (x !== null && typeof x === 'object')
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, canon(v)]));
  return x;
}

function isMalformed(error: unknown): boolean {
  return error instanceof BorealisError && error.code === ErrorCode.MALFORMED_FRAME;
}

function expectMalformed(f: () => unknown): void {
  let thrown: unknown;
  try {
    f();
  } catch (error) {
    thrown = error;
  }
  expect(isMalformed(thrown), String(thrown)).toBe(true);
}

/** Every change of the payloads, in order, with its table resolved by name (payloads renumber tables). */
function changesOf(payloads: Uint8Array[]): Array<{ ordinal: number; change: unknown }> {
  const out: Array<{ ordinal: number; change: unknown }> = [];
  let fragments: RowImagesFragment[] = [];
  for (const p of payloads) {
    let decoded = decodeRowImages(p);
    if (decoded.kind === 'fragment') {
      fragments.push(decoded);
      if (decoded.index < decoded.count - 1) continue;
      decoded = joinFragments(fragments);
      fragments = [];
    }
    const whole: RowImagesWhole = decoded;
    whole.changes.forEach((c, i) => {
      out.push({
        ordinal: whole.firstOrdinal + i,
        change: canon(c.kind === 'row' ? { ...c, table: whole.tables[c.table]!.name } : c),
      });
    });
  }
  expect(fragments).toEqual([]);
  return out;
}

function expected(captured: CapturedTransaction): Array<{ ordinal: number; change: unknown }> {
  return captured.changes.map((c, i) => ({
    ordinal: i + 1,
    change: canon(c.kind === 'row' ? { ...c, table: captured.tables[c.table]!.name } : c),
  }));
}

const value: fc.Arbitrary<BinlogValue> = fc.oneof(
  fc.constant(null),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.double({ noNaN: true }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.uint8Array({ maxLength: 64 }),
);

const capturedArb: fc.Arbitrary<CapturedTransaction> = fc
  .array(
    fc.oneof(
      fc.record({
        table: fc.constantFrom(0, 1, 2),
        op: fc.constantFrom('c', 'u', 'd') as fc.Arbitrary<'c' | 'u' | 'd'>,
        rowid: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
        values: fc.array(value, { minLength: 8, maxLength: 8 }),
        big: fc.nat({ max: 2000 }),
      }),
      fc.record({ sql: fc.string({ maxLength: 300 }), tableName: fc.constantFrom('', 't3', 'kv') }),
    ),
    { minLength: 1, maxLength: 40 },
  )
  .map((items) => {
    const tables = [t3, kv, wide];
    const ordinals = [0, 0, 0];
    const changes: BinlogChange[] = items.map((item) => {
      if ('sql' in item) return { kind: 'ddl', sql: item.sql, tableName: item.tableName, tableOrdinal: 1 };
      const n = tables[item.table]!.columns.length;
      const image = (offset: number) => {
        const v = item.values.slice(offset, offset + n);
        if (item.big > 1500) v[0] = 'B'.repeat(item.big * 5); // some changes need fragments
        return v;
      };
      ordinals[item.table]! += 1;
      return {
        kind: 'row',
        table: item.table,
        op: item.op,
        rowid: item.rowid,
        before: item.op === 'c' ? null : image(0),
        after: item.op === 'd' ? null : image(4),
        tableOrdinal: ordinals[item.table]!,
      };
    });
    return { tables, changes };
  });

describe('encodeRowImages / decodeRowImages', () => {
  it('round-trips every value kind exactly, extremes included', () => {
    const values: BinlogValue[] = [
      null,
      0n,
      -(2n ** 63n),
      2n ** 63n - 1n,
      -0,
      Number.MIN_VALUE,
      Number.MAX_VALUE,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      1.5,
      '',
      'ünïcödé ✓ 😀',
      '\u0000nul inside',
      new Uint8Array(),
      Uint8Array.of(0, 255, 1),
      new Uint8Array(3000).fill(7),
    ];
    const table: BinlogTable = { name: 'v', columns: values.map((_, i) => `c${i}`), primaryKey: [] };
    const captured: CapturedTransaction = {
      tables: [table],
      changes: [
        { kind: 'row', table: 0, op: 'c', rowid: 1n, before: null, after: values, tableOrdinal: 1 },
        {
          kind: 'row',
          table: 0,
          op: 'u',
          rowid: -(2n ** 63n),
          before: values,
          after: [...values].reverse(),
          tableOrdinal: 2,
        },
        { kind: 'row', table: 0, op: 'd', rowid: 0n, before: values, after: null, tableOrdinal: 3 },
        { kind: 'ddl', sql: 'create table v(…)', tableName: 'v', tableOrdinal: 4 },
      ],
    };
    const payloads = encodeRowImages(txn, captured);
    expect(payloads).toHaveLength(1);
    const decoded = decodeRowImages(payloads[0]!);
    expect(canon(decoded)).toEqual(canon({ kind: 'whole', ...txn, firstOrdinal: 1, ...captured }));
    const after = (decoded as RowImagesWhole).changes[0] as { after: BinlogValue[] };
    expect(Object.is(after.after[4], -0)).toBe(true);
  });

  it('packs any transaction into payloads within the bound that decode back to its changes and ordinals', () => {
    fc.assert(
      fc.property(capturedArb, fc.constantFrom(512, 2048, 8192), (captured, bound) => {
        const payloads = encodeRowImages(txn, captured, bound);
        for (const p of payloads) expect(p.length).toBeLessThanOrEqual(bound);
        expect(changesOf(payloads)).toEqual(expected(captured));
        for (const p of payloads) {
          const d = decodeRowImages(p);
          expect([d.txnId, d.commitTimeMs, d.epoch]).toEqual([txn.txnId, txn.commitTimeMs, txn.epoch]);
        }
      }),
      { numRuns: 150 },
    );
  });

  it('carries in each payload only the tables its changes use', () => {
    const changes: BinlogChange[] = [];
    for (let i = 0; i < 60; i++) {
      changes.push({
        kind: 'row',
        table: i < 30 ? 0 : 2,
        op: 'c',
        rowid: BigInt(i),
        before: null,
        after: i < 30 ? [BigInt(i), 'a'.repeat(50), null] : [1n, 2n, 3n, 'w'.repeat(50)],
        tableOrdinal: (i % 30) + 1,
      });
    }
    const payloads = encodeRowImages(txn, { tables: [t3, kv, wide], changes }, 1024);
    expect(payloads.length).toBeGreaterThan(3);
    for (const p of payloads) {
      const d = decodeRowImages(p) as RowImagesWhole;
      const used = new Set(d.changes.map((c) => (c.kind === 'row' ? d.tables[c.table]!.name : '')));
      expect(d.tables.map((t) => t.name).sort()).toEqual([...used].sort());
    }
    expect(changesOf(payloads)).toEqual(expected({ tables: [t3, kv, wide], changes }));
  });

  it('uses the default bound of 256 KiB, fragmenting a change above it', () => {
    const change: BinlogChange = {
      kind: 'row',
      table: 0,
      op: 'c',
      rowid: 1n,
      before: null,
      after: [1n, new Uint8Array(600_000), null],
      tableOrdinal: 1,
    };
    const payloads = encodeRowImages(txn, { tables: [t3], changes: [change] });
    expect(payloads).toHaveLength(3);
    for (const p of payloads) expect(p.length).toBeLessThanOrEqual(rowImagesPayloadBytesMax);
    expect(payloads.map((p) => decodeRowImages(p).kind)).toEqual(['fragment', 'fragment', 'fragment']);
    expect(changesOf(payloads)).toEqual(expected({ tables: [t3], changes: [change] }));
  });
});

describe('joinFragments', () => {
  const big: CapturedTransaction = {
    tables: [kv],
    changes: [
      {
        kind: 'row',
        table: 0,
        op: 'c',
        rowid: 5n,
        before: null,
        after: ['key', 'v'.repeat(10_000)],
        tableOrdinal: 1,
      },
    ],
  };
  const fragments = encodeRowImages(txn, big, 1024).map((p) => decodeRowImages(p) as RowImagesFragment);

  it('joins the fragments in any order into the change', () => {
    expect(fragments.length).toBeGreaterThan(5);
    const shuffled = [...fragments].reverse();
    [shuffled[0], shuffled[3]] = [shuffled[3]!, shuffled[0]!];
    expect(canon(joinFragments(shuffled))).toEqual(canon({ kind: 'whole', ...txn, firstOrdinal: 1, ...big }));
  });

  it('refuses a missing, repeated or foreign fragment, and none at all', () => {
    expectMalformed(() => joinFragments([]));
    expectMalformed(() => joinFragments(fragments.slice(1)));
    expectMalformed(() => joinFragments(fragments.slice(0, -1)));
    expectMalformed(() => joinFragments([...fragments, fragments[2]!]));
    const other = encodeRowImages({ ...txn, txnId: 7n }, big, 1024).map(
      (p) => decodeRowImages(p) as RowImagesFragment,
    );
    expectMalformed(() => joinFragments([...fragments.slice(0, 2), other[2]!, ...fragments.slice(3)]));
    // A fragment cut short (its own decode cannot tell): the join's byte count does.
    const cut = { ...fragments[1]!, bytes: fragments[1]!.bytes.subarray(1) };
    expectMalformed(() => joinFragments([fragments[0]!, cut, ...fragments.slice(2)]));
  });
});

describe('bad payloads', () => {
  const captured: CapturedTransaction = {
    tables: [t3, kv],
    changes: [
      {
        kind: 'row',
        table: 0,
        op: 'u',
        rowid: 3n,
        before: [3n, 'a', 1.5],
        after: [3n, 'b', null],
        tableOrdinal: 1,
      },
      {
        kind: 'row',
        table: 1,
        op: 'd',
        rowid: 9n,
        before: ['k', Uint8Array.of(1, 2)],
        after: null,
        tableOrdinal: 1,
      },
      { kind: 'ddl', sql: 'drop table kv', tableName: 'kv', tableOrdinal: 2 },
    ],
  };
  const [payload] = encodeRowImages(txn, captured);

  it('refuses every truncation of a whole payload with MALFORMED_FRAME', () => {
    for (let n = 0; n < payload!.length; n++) expectMalformed(() => decodeRowImages(payload!.subarray(0, n)));
    expectMalformed(() => decodeRowImages(Buffer.concat([payload!, Buffer.of(0)])));
  });

  it('decodes a garbled payload to MALFORMED_FRAME or to something, never to another error', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), {
          minLength: 1,
          maxLength: 4,
        }),
        (flips) => {
          const bad = Buffer.from(payload!);
          for (const f of flips) bad[f.at % bad.length] = f.byte;
          try {
            decodeRowImages(bad);
          } catch (error) {
            expect(isMalformed(error), String(error)).toBe(true);
          }
        },
      ),
      { numRuns: 2000 },
    );
    // An unknown version is refused outright.
    const bad = Buffer.from(payload!);
    bad[0] = 9;
    expectMalformed(() => decodeRowImages(bad));
  });

  it('leaves content damage to the redo record CRC: a flipped byte in the batch is refused before decoding', () => {
    const record = {
      lsn: 10n,
      pg: 0,
      pageNo: 0,
      prevLsnInPg: 9n,
      prevLsnOfPage: 0n,
      kind: RecordKind.RowImages,
      flags: 0,
      payload: payload!,
    };
    const batch = Buffer.from(encodeRedoBatch({ epoch: 1n, prevLsn: 9n, records: [record] }));
    expect(decodeRedoBatch(batch).records[0]!.payload).toEqual(Buffer.from(payload!));
    batch[batch.length - 20]! ^= 0x01; // a byte of the RowImages payload, inside a text value
    expect(() => decodeRedoBatch(batch)).toThrow(/CRC/);
  });
});
