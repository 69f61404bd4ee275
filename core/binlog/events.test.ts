// RowImages records → Debezium-shaped envelopes: every op, value typing, keys (declared, composite,
// rowid), the PK-update split, DDL, stable positions, fragments joined through the store, bad payloads
// refused, and a consumer applying the envelopes to a better-sqlite3 copy ending with the source's rows.
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { BorealisError, ErrorCode } from '../errors.ts';
import { RecordKind, type RedoRecord } from '../record.ts';
import {
  type BinlogEvent,
  type DecodeContext,
  ddlPartitionKeyFallback,
  envelopeJson,
  eventsOfRecord,
  type FragmentStore,
  type JsonValue,
  jsonValueOf,
  kinesisPartitionKey,
  kinesisPartitionKeyLengthMax,
  MemoryFragmentStore,
  type RowEnvelope,
  type SchemaChangeEnvelope,
} from './events.ts';
import { positionOf } from './position.ts';
import {
  type BinlogChange,
  type BinlogTable,
  type BinlogValue,
  type CapturedTransaction,
  encodeRowImages,
  type RowImagesTxn,
} from './row-images.ts';

const ctx: DecodeContext = { cluster: 'c1', serverId: 3, nowMs: () => 1_800_000_000_000 };
const txn = { txnId: 42n, commitTimeMs: 1_700_000_000_123 };

function rowImagesRecord(lsn: bigint, payload: Uint8Array): RedoRecord {
  return {
    lsn,
    pg: 0,
    pageNo: 0,
    prevLsnInPg: lsn - 1n,
    prevLsnOfPage: 0n,
    kind: RecordKind.RowImages,
    flags: 0,
    payload,
  };
}

/** The events of a captured transaction whose payloads are records from firstLsn on. */
async function eventsOf(
  captured: CapturedTransaction,
  options: { firstLsn?: bigint; payloadBytesMax?: number; store?: FragmentStore; t?: RowImagesTxn } = {},
): Promise<BinlogEvent[]> {
  const store = options.store ?? new MemoryFragmentStore();
  const payloads = encodeRowImages(options.t ?? txn, captured, options.payloadBytesMax);
  const out: BinlogEvent[] = [];
  let lsn = options.firstLsn ?? 100n;
  for (const p of payloads) out.push(...(await eventsOfRecord(rowImagesRecord(lsn++, p), ctx, store)));
  return out;
}

const users: BinlogTable = { name: 'users', columns: ['id', 'name', 'score', 'photo'], primaryKey: [0] };
const pairs: BinlogTable = { name: 'pairs', columns: ['a', 'b', 'v'], primaryKey: [0, 1] };
const notes: BinlogTable = { name: 'notes', columns: ['body'], primaryKey: [] };

function row(
  table: number,
  op: 'c' | 'u' | 'd',
  before: BinlogValue[] | null,
  after: BinlogValue[] | null,
  tableOrdinal: number,
  rowid = 0n,
): BinlogChange {
  return { kind: 'row', table, op, rowid, before, after, tableOrdinal };
}

describe('eventsOfRecord', () => {
  it('turns an insert, an update and a delete into c, u and d envelopes in Debezium’s shape', async () => {
    const photo = Uint8Array.of(0, 1, 2, 250);
    const events = await eventsOf({
      tables: [users],
      changes: [
        row(0, 'c', null, [1n, 'ann', 1.5, photo], 1, 1n),
        row(0, 'u', [1n, 'ann', 1.5, photo], [1n, 'anne', 2.5, null], 2, 1n),
        row(0, 'd', [1n, 'anne', 2.5, null], null, 3, 1n),
      ],
    });
    expect(events.map((e) => (e.envelope as RowEnvelope).op)).toEqual(['c', 'u', 'd']);
    const [c, u, d] = events.map((e) => e.envelope as RowEnvelope);
    const source = {
      version: expect.any(String),
      connector: 'borealis',
      name: 'c1',
      ts_ms: txn.commitTimeMs,
      snapshot: 'false',
      db: 'main',
      table: 'users',
      server_id: 3,
      file: 'mysql-bin-changelog.000001',
      pos: 100,
      lsn: '100',
      txId: '42',
    };
    expect(c).toEqual({
      before: null,
      after: { id: 1, name: 'ann', score: 1.5, photo: 'AAEC+g==' },
      op: 'c',
      key: { id: 1 },
      ts_ms: 1_800_000_000_000,
      source: { ...source, row: 0 },
      transaction: { id: '42', total_order: 1, data_collection_order: 1 },
    });
    expect(u).toMatchObject({
      before: { id: 1, name: 'ann', score: 1.5, photo: 'AAEC+g==' },
      after: { id: 1, name: 'anne', score: 2.5, photo: null },
      key: { id: 1 },
      source: { ...source, row: 1 },
      transaction: { id: '42', total_order: 2, data_collection_order: 2 },
    });
    expect(d).toMatchObject({
      before: { id: 1, name: 'anne', score: 2.5, photo: null },
      after: null,
      key: { id: 1 },
      source: { ...source, row: 2 },
      transaction: { total_order: 3, data_collection_order: 3 },
    });
    expect(events.map((e) => e.partitionKey)).toEqual(['users:[1]', 'users:[1]', 'users:[1]']);
    expect(events.map((e) => e.position)).toEqual([0, 1, 2].map((r) => positionOf(100n, r)));
    expect(events.every((e) => e.lsn === 100n && e.commitTimeMs === txn.commitTimeMs)).toBe(true);
  });

  it('names the committing writer’s epoch as server_id when the payload carries it', async () => {
    const events = await eventsOf(
      { tables: [users], changes: [row(0, 'c', null, [1n, 'a', 0, null], 1, 1n)] },
      { t: { ...txn, epoch: 9n } },
    );
    expect(events[0]!.envelope.source.server_id).toBe(9);
  });

  it('types values as the Data API does: int64 beyond ±(2^53-1) as decimal strings, ±Infinity as strings', () => {
    const cases: Array<[BinlogValue, JsonValue]> = [
      [null, null],
      [0n, 0],
      [9_007_199_254_740_991n, 9_007_199_254_740_991],
      [-9_007_199_254_740_991n, -9_007_199_254_740_991],
      [9_007_199_254_740_992n, '9007199254740992'],
      [-9_223_372_036_854_775_808n, '-9223372036854775808'],
      [0.1, 0.1],
      [-2.5e300, -2.5e300],
      [Number.POSITIVE_INFINITY, 'Infinity'],
      [Number.NEGATIVE_INFINITY, '-Infinity'],
      [Number.NaN, null],
      ['', ''],
      ['ünïcödé ✓', 'ünïcödé ✓'],
      [new Uint8Array(), ''],
      [Uint8Array.of(255, 254), '//4='],
    ];
    for (const [value, json] of cases) expect(jsonValueOf(value), String(value)).toEqual(json);
  });

  it('keys a composite primary key in key order, and a rowid table by _rowid_', async () => {
    const events = await eventsOf({
      tables: [pairs, notes],
      changes: [
        row(0, 'c', null, ['x', 2n, 'v1'], 1),
        row(1, 'c', null, ['hello'], 1, 7n),
        row(1, 'u', ['hello'], ['bye'], 2, 7n),
      ],
    });
    expect(events.map((e) => (e.envelope as RowEnvelope).key)).toEqual([
      { a: 'x', b: 2 },
      { _rowid_: 7 },
      { _rowid_: 7 },
    ]);
    expect(events.map((e) => e.partitionKey)).toEqual(['pairs:["x",2]', 'notes:[7]', 'notes:[7]']);
    expect((events[2]!.envelope as RowEnvelope).op).toBe('u');
  });

  it('splits an update that changes the primary key into a delete of the old key and a create of the new one', async () => {
    const events = await eventsOf({
      tables: [users],
      changes: [
        row(0, 'u', [1n, 'ann', 0, null], [5n, 'ann', 0, null], 1, 5n),
        row(0, 'd', [5n, 'ann', 0, null], null, 2),
      ],
    });
    const envelopes = events.map((e) => e.envelope as RowEnvelope);
    expect(envelopes.map((e) => [e.op, e.key, e.before?.id ?? null, e.after?.id ?? null])).toEqual([
      ['d', { id: 1 }, 1, null],
      ['c', { id: 5 }, null, 5],
      ['d', { id: 5 }, 5, null],
    ]);
    // Both halves carry the change's ordinals; positions run over the record's events.
    expect(envelopes.map((e) => e.transaction.total_order)).toEqual([1, 1, 2]);
    expect(events.map((e) => e.position.row)).toEqual([0, 1, 2]);
    expect(events.map((e) => e.partitionKey)).toEqual(['users:[1]', 'users:[5]', 'users:[5]']);
  });

  it('makes DDL a schema-change envelope in order with the rows', async () => {
    const events = await eventsOf({
      tables: [users],
      changes: [
        {
          kind: 'ddl',
          sql: 'CREATE TABLE users(id integer primary key, name, score, photo)',
          tableName: 'users',
          tableOrdinal: 1,
        },
        row(0, 'c', null, [1n, 'a', 0, null], 2, 1n),
        {
          kind: 'ddl',
          sql: '-- why\n create unique index ux on users(name)',
          tableName: 'users',
          tableOrdinal: 3,
        },
        { kind: 'ddl', sql: 'alter table users add column z', tableName: 'users', tableOrdinal: 4 },
        { kind: 'ddl', sql: 'DROP TABLE users', tableName: 'users', tableOrdinal: 5 },
        { kind: 'ddl', sql: 'create view v as select 1', tableName: '', tableOrdinal: 1 },
      ],
    });
    expect(events).toHaveLength(6);
    const ddl = events.filter((_, i) => i !== 1).map((e) => e.envelope as SchemaChangeEnvelope);
    expect(ddl[0]).toEqual({
      ts_ms: 1_800_000_000_000,
      databaseName: 'main',
      ddl: 'CREATE TABLE users(id integer primary key, name, score, photo)',
      tableChanges: [{ type: 'CREATE', id: '"main"."users"' }],
      source: expect.objectContaining({ table: 'users', row: 0, txId: '42' }),
      transaction: { id: '42', total_order: 1, data_collection_order: 1 },
    });
    expect(ddl.map((e) => e.tableChanges)).toEqual([
      [{ type: 'CREATE', id: '"main"."users"' }],
      [{ type: 'ALTER', id: '"main"."users"' }],
      [{ type: 'ALTER', id: '"main"."users"' }],
      [{ type: 'DROP', id: '"main"."users"' }],
      [],
    ]);
    expect(ddl[4]!.source.table).toBeNull();
    expect(events.map((e) => e.partitionKey)).toEqual(['users', 'users:[1]', 'users', 'users', 'users', '']);
    expect(events.map((e) => e.envelope.transaction.total_order)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('yields the same events at the same positions every time a record is decoded', async () => {
    const captured: CapturedTransaction = {
      tables: [users, pairs],
      changes: Array.from({ length: 300 }, (_, i) =>
        i % 2 === 0
          ? row(0, 'c', null, [BigInt(i), `name-${i}`, i / 3, null], i / 2 + 1)
          : row(1, 'u', ['k', BigInt(i), 'old'], ['k', BigInt(i + 1), 'new'], (i + 1) / 2),
      ),
    };
    // Several payloads: positions are per record; total_order runs over the transaction.
    const a = await eventsOf(captured, { payloadBytesMax: 4096 });
    const b = await eventsOf(captured, { payloadBytesMax: 4096 });
    expect(new Set(a.map((e) => e.lsn)).size).toBeGreaterThan(3);
    expect(b.map((e) => envelopeJson(e.envelope))).toEqual(a.map((e) => envelopeJson(e.envelope)));
    expect(a).toHaveLength(450);
    const positions = a.map((e) => `${e.position.file}:${e.position.pos}:${e.position.row}`);
    expect(new Set(positions).size).toBe(a.length);
    const orders = a.map((e) => e.envelope.transaction.total_order);
    expect([...new Set(orders)]).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('stores the fragments of an oversized change and yields it whole at its last fragment, positioned at lsn0', async () => {
    const big = 'x'.repeat(20_000);
    const store = new MemoryFragmentStore();
    const payloads = encodeRowImages(
      txn,
      {
        tables: [users],
        changes: [row(0, 'c', null, [9n, big, 0, null], 1, 9n), row(0, 'd', [9n, big, 0, null], null, 2)],
      },
      4096,
    );
    const fragmentCount = payloads.length;
    expect(fragmentCount).toBeGreaterThan(6);
    const yielded: BinlogEvent[][] = [];
    for (let i = 0; i < payloads.length; i++) {
      yielded.push(await eventsOfRecord(rowImagesRecord(1000n + BigInt(i), payloads[i]!), ctx, store));
    }
    const nonEmpty = yielded.map((e, i) => [i, e.length]).filter(([, n]) => n !== 0);
    // Two changes, each fragmented: each yields once, at its last fragment.
    expect(nonEmpty).toHaveLength(2);
    const [first, second] = nonEmpty.map(([i]) => yielded[i!]![0]!);
    expect(first!.lsn).toBe(1000n);
    expect(first!.position).toEqual(positionOf(1000n, 0));
    expect((first!.envelope as RowEnvelope).after?.name).toBe(big);
    expect((second!.envelope as RowEnvelope).op).toBe('d');
    expect(second!.envelope.transaction.total_order).toBe(2);
    expect(store.bytes).toBe(0);
  });

  it('refuses a last fragment whose earlier fragments are missing (never a partial row)', async () => {
    const payloads = encodeRowImages(
      txn,
      { tables: [users], changes: [row(0, 'c', null, [9n, 'y'.repeat(10_000), 0, null], 1, 9n)] },
      4096,
    );
    const store = new MemoryFragmentStore();
    const last = rowImagesRecord(500n + BigInt(payloads.length - 1), payloads.at(-1)!);
    const error = await eventsOfRecord(last, ctx, store).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BorealisError);
    expect((error as BorealisError).code).toBe(ErrorCode.NOT_COMPLETE);
    expect((error as BorealisError).retryable).toBe(false);
  });

  it('refuses a garbled or truncated payload with MALFORMED_FRAME, and ignores other record kinds', async () => {
    const [payload] = encodeRowImages(txn, {
      tables: [users],
      changes: [row(0, 'c', null, [1n, 'a', 0, null], 1)],
    });
    for (const bad of [payload!.subarray(0, payload!.length - 1), Buffer.from('garbage'), new Uint8Array()]) {
      const error = await eventsOfRecord(rowImagesRecord(7n, bad), ctx, new MemoryFragmentStore()).catch(
        (e: unknown) => e,
      );
      expect((error as BorealisError).code).toBe(ErrorCode.MALFORMED_FRAME);
    }
    const commit = { ...rowImagesRecord(7n, payload!), kind: RecordKind.Commit };
    expect(await eventsOfRecord(commit, ctx, new MemoryFragmentStore())).toEqual([]);
  });
});

describe('kinesisPartitionKey', () => {
  it('keeps a key that fits, names the DDL fallback for an empty one, and hashes a long one stably', () => {
    expect(kinesisPartitionKey('users:[1]')).toBe('users:[1]');
    expect(kinesisPartitionKey('')).toBe(ddlPartitionKeyFallback);
    const long = `t:${JSON.stringify(['z'.repeat(400)])}`;
    const k = kinesisPartitionKey(long);
    expect(k.length).toBeLessThanOrEqual(kinesisPartitionKeyLengthMax);
    expect(kinesisPartitionKey(long)).toBe(k);
    expect(kinesisPartitionKey(`${long}!`)).not.toBe(k);
  });
});

describe('MemoryFragmentStore', () => {
  it('drops the oldest changes past its bound, and refuses a change that alone exceeds it', async () => {
    const store = new MemoryFragmentStore(1000);
    await store.put(1n, 0, new Uint8Array(400));
    await store.put(2n, 0, new Uint8Array(400));
    await store.put(3n, 0, new Uint8Array(400));
    expect(await store.get(1n, 0)).toBeUndefined();
    expect((await store.get(3n, 0))?.length).toBe(400);
    expect(store.bytes).toBe(800);
    await store.put(3n, 1, new Uint8Array(400));
    await expect(store.put(3n, 2, new Uint8Array(400))).rejects.toThrow(/more fragments than/);
    expect(store.bytes).toBe(0);
    await store.delete(9n, 3);
  });
});

describe('a consumer applying the envelopes', () => {
  it('ends with exactly the source’s tables after a random workload (PK updates, rowid and WITHOUT ROWID tables, DDL)', async () => {
    const source = new Database(':memory:');
    const copy = new Database(':memory:');
    const ddl = [
      'create table a(id integer primary key, v text, n real)',
      'create table b(k1 text, k2 integer, v blob, primary key (k1, k2)) without rowid',
      'create table c(v text, n integer)',
    ];
    const tables: BinlogTable[] = [
      { name: 'a', columns: ['id', 'v', 'n'], primaryKey: [0] },
      { name: 'b', columns: ['k1', 'k2', 'v'], primaryKey: [0, 1] },
      { name: 'c', columns: ['v', 'n'], primaryKey: [] },
    ];
    let seed = 12345;
    const rand = (n: number) => {
      seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
      return (seed >>> 8) % n;
    };
    const sel = (t: BinlogTable, where: string, args: unknown[]) =>
      source
        .prepare(
          `select ${t.primaryKey.length === 0 ? 'rowid, ' : ''}${t.columns.join(', ')} from ${t.name} where ${where}`,
        )
        .safeIntegers(true)
        .raw(true)
        .all(...args) as BinlogValue[][];
    let lsn = 10n;
    const store = new MemoryFragmentStore();
    const seen = { c: 0, u: 0, d: 0, keyMoves: 0, ddl: 0 };
    let previous: BinlogEvent | undefined;
    const apply = (e: BinlogEvent) => {
      const env = e.envelope;
      if ('op' in env) {
        seen[env.op]++;
        const p = previous?.envelope;
        if (
          env.op === 'c' &&
          p &&
          'op' in p &&
          p.op === 'd' &&
          p.transaction.total_order === env.transaction.total_order
        )
          seen.keyMoves++;
      } else seen.ddl++;
      previous = e;
      if ('ddl' in env) {
        copy.exec(env.ddl);
        return;
      }
      const t = tables.find((x) => x.name === env.source.table)!;
      const keyCols = Object.keys(env.key);
      const where = keyCols.map((k) => `${k === '_rowid_' ? 'rowid' : k} = ?`).join(' and ');
      const keyArgs = Object.values(env.key).map(toSql);
      if (env.op === 'd') copy.prepare(`delete from ${t.name} where ${where}`).run(...keyArgs);
      else {
        const cols = [...(keyCols[0] === '_rowid_' ? ['rowid'] : []), ...t.columns];
        // The consumer knows its schema: b.v is a blob (base64 in the envelope).
        const value = (c: string) =>
          t.name === 'b' && c === 'v'
            ? Buffer.from(env.after![c] as string, 'base64')
            : toSql(env.after![c]!);
        const vals = [
          ...(keyCols[0] === '_rowid_' ? [toSql(env.key._rowid_!)] : []),
          ...t.columns.map(value),
        ];
        copy
          .prepare(
            `insert or replace into ${t.name}(${cols.join(',')}) values (${cols.map(() => '?').join(',')})`,
          )
          .run(...vals);
      }
    };
    const toSql = (v: JsonValue) =>
      typeof v !== 'string'
        ? v
        : /^-?\d{16,}$/.test(v)
          ? BigInt(v)
          : v === 'Infinity' || v === '-Infinity'
            ? Number(v)
            : v;
    for (let txnNo = 1; txnNo <= 60; txnNo++) {
      const changes: BinlogChange[] = [];
      const ordinals = new Map<string, number>();
      const next = (name: string) => {
        const n = (ordinals.get(name) ?? 0) + 1;
        ordinals.set(name, n);
        return n;
      };
      if (txnNo === 1) {
        for (const sql of ddl) {
          source.exec(sql);
          const name = / (\w+)\(/.exec(sql)![1]!;
          changes.push({ kind: 'ddl', sql, tableName: name, tableOrdinal: next(name) });
        }
      }
      for (let s = 0; s < 1 + rand(6); s++) {
        const ti = rand(3);
        const t = tables[ti]!;
        const op = rand(4);
        if (op <= 1) {
          const values = [
            ti === 1 ? `k${rand(5)}` : ti === 0 ? BigInt(rand(40) + 1) : `v${rand(100)}`,
            ti === 1 ? BigInt(rand(1e6)) * 1_000_000_000_000n : ti === 0 ? `v${rand(100)}` : BigInt(rand(9)),
            ti === 0
              ? rand(2) === 0
                ? Number.POSITIVE_INFINITY
                : rand(1000) / 7
              : ti === 1
                ? Uint8Array.of(rand(255))
                : null,
          ].slice(0, t.columns.length) as BinlogValue[];
          const exists = ti === 0 && sel(t, 'id = ?', [values[0]]).length > 0;
          if (exists) continue;
          const info = source
            .prepare(
              `insert or ignore into ${t.name}(${t.columns.join(',')}) values (${t.columns.map(() => '?').join(',')})`,
            )
            .run(...values);
          if (info.changes === 0) continue;
          const rowid = BigInt(info.lastInsertRowid);
          const [after] =
            t.primaryKey.length === 0
              ? sel(t, 'rowid = ?', [rowid])
              : ti === 0
                ? sel(t, 'id = ?', [values[0]])
                : sel(t, 'k1 = ? and k2 = ?', [values[0], values[1]]);
          const image = t.primaryKey.length === 0 ? after!.slice(1) : after!;
          changes.push(row(ti, 'c', null, image, next(t.name), ti === 1 ? 0n : rowid));
        } else {
          const rows = sel(t, '1', []);
          if (rows.length === 0) continue;
          const r = rows[rand(rows.length)]!;
          const rowid = t.primaryKey.length === 0 ? (r[0] as bigint) : ti === 0 ? (r[0] as bigint) : 0n;
          const before = t.primaryKey.length === 0 ? r.slice(1) : r;
          const where = t.primaryKey.length === 0 ? 'rowid = ?' : ti === 0 ? 'id = ?' : 'k1 = ? and k2 = ?';
          const whereArgs = t.primaryKey.length === 0 ? [rowid] : ti === 0 ? [r[0]] : [r[0], r[1]];
          if (op === 2) {
            source.prepare(`delete from ${t.name} where ${where}`).run(...whereArgs);
            changes.push(row(ti, 'd', before, null, next(t.name), rowid));
          } else {
            // An update; in table a, sometimes of the key itself.
            const newId = ti === 0 && rand(2) === 0 ? BigInt(100 + rand(1000)) : undefined;
            if (newId !== undefined && sel(t, 'id = ?', [newId]).length > 0) continue;
            if (ti === 0)
              source
                .prepare('update a set id = ?, v = ? where id = ?')
                .run(newId ?? r[0], `u${rand(99)}`, r[0]);
            else if (ti === 1)
              source
                .prepare('update b set v = ? where k1 = ? and k2 = ?')
                .run(Uint8Array.of(rand(255), 1), r[0], r[1]);
            else source.prepare('update c set n = ? where rowid = ?').run(BigInt(rand(5)), rowid);
            const afterRowid = newId ?? rowid;
            const after = sel(t, where, ti === 0 ? [afterRowid] : whereArgs)[0]!;
            changes.push(
              row(
                ti,
                'u',
                before,
                t.primaryKey.length === 0 ? after.slice(1) : after,
                next(t.name),
                ti === 1 ? 0n : afterRowid,
              ),
            );
          }
        }
      }
      if (changes.length === 0) continue;
      const payloads = encodeRowImages(
        { txnId: BigInt(txnNo), commitTimeMs: txnNo },
        { tables, changes },
        1024,
      );
      for (const p of payloads)
        for (const e of await eventsOfRecord(rowImagesRecord(lsn++, p), ctx, store)) apply(e);
    }
    expect(seen.ddl).toBe(3);
    for (const n of [seen.c, seen.u, seen.d, seen.keyMoves]) expect(n).toBeGreaterThan(3);
    for (const t of ['a', 'b', 'c']) {
      const q = `select ${t === 'c' ? 'rowid, ' : ''}* from ${t} order by 1, 2`;
      const want = source.prepare(q).safeIntegers(true).raw(true).all();
      expect(copy.prepare(q).safeIntegers(true).raw(true).all(), t).toEqual(want);
      expect(want.length, t).toBeGreaterThan(3);
    }
  });
});
