// The trigger capture on the real SQLite runtime, driven through the Data API executor as the writer
// runs it: every kind of write yields exactly its row changes with exact before/after images, in
// order; what SQLite takes back (rollback, failed statement, ON CONFLICT, RAISE) yields nothing; DDL
// is recorded in order and the triggers follow the schema. A commit ships what was staged for it.
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { SqlValue } from '../data-api/types.ts';
import { SQLite, SqliteRuntime } from '../engine/runtime.ts';
import { SqlExecutor } from '../engine/sql-executor.ts';
import { type VolumeEngine, VolumeVfs } from '../engine/volume-vfs.ts';
import type { Lsn } from '../lsn.ts';
import { prng } from '../prng.ts';
import {
  type CaptureTable,
  capturedTransaction,
  ddlTableName,
  parseImage,
  type RowImagesSink,
  TriggerCapture,
} from './capture.ts';
import {
  type BinlogValue,
  type CapturedTransaction,
  decodeRowImages,
  encodeRowImages,
} from './row-images.ts';

const pageSizeBytes = 4096;

/** Committed pages in memory; a commit takes what the capture staged for it, as the writer engine does. */
class MemoryWriter implements VolumeEngine, RowImagesSink {
  readonly pageSizeBytes = pageSizeBytes;
  readonly readOnly = false;
  readonly pages = new Map<number, Uint8Array>();
  lsn: Lsn = 1n;
  staged: CapturedTransaction | undefined;
  /** What each commit shipped (transactions without captured changes ship none). */
  readonly shipped: CapturedTransaction[] = [];
  currentReadPoint(): Lsn {
    return this.lsn;
  }
  pinReadPoint(): Lsn {
    return this.lsn;
  }
  unpinReadPoint(): void {}
  beginWrite(readPoint: Lsn): number {
    return readPoint < this.lsn ? SQLite.SQLITE_BUSY : SQLite.SQLITE_OK;
  }
  readPage(pageNo: number): Uint8Array {
    return this.pages.get(pageNo) ?? new Uint8Array(0);
  }
  async commitPages(pages: Map<number, Uint8Array>): Promise<{ rc: number; commitLsn?: Lsn }> {
    for (const [pageNo, bytes] of pages) this.pages.set(pageNo, bytes.slice());
    this.lsn++;
    if (this.staged !== undefined) this.shipped.push(this.staged);
    this.staged = undefined;
    return { rc: SQLite.SQLITE_OK, commitLsn: this.lsn };
  }
  stageRowImages(captured: CapturedTransaction): void {
    expect(this.staged).toBeUndefined();
    this.staged = captured;
  }
  clearRowImages(): void {
    this.staged = undefined;
  }
}

let vfsCount = 0;
const executors: SqlExecutor[] = [];
afterEach(async () => {
  for (const e of executors.splice(0)) await e.close();
});

async function open(options: { foreignKeys?: boolean } = {}) {
  const engine = new MemoryWriter();
  const runtime = await SqliteRuntime.load();
  const vfsName = `capture-vfs-${++vfsCount}`;
  runtime.sqlite3.vfs_register(new VolumeVfs(vfsName, runtime.module, 'test.db', engine) as never, false);
  const capture = new TriggerCapture({ sink: engine });
  const executor = new SqlExecutor({
    runtime,
    databaseName: 'test.db',
    vfsName,
    readOnly: false,
    connectionInitSql: `PRAGMA page_size=${pageSizeBytes}; PRAGMA journal_mode=MEMORY;${options.foreignKeys ? ' PRAGMA foreign_keys=ON;' : ''}`,
    logger: pino({ level: 'silent' }),
    visibleLsn: () => 0n,
    waitDurable: async () => undefined,
    capture,
  });
  executors.push(executor);
  const run = (sql: string, parameters: Record<string, SqlValue> = {}, transactionId?: string) =>
    executor.executeStatement({
      sql,
      parameters: new Map(Object.entries(parameters)),
      ...(transactionId === undefined ? {} : { transactionId }),
      includeResultMetadata: false,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: false,
    });
  /** What the next commits ship, from here on. */
  const shippedSince = () => {
    const from = engine.shipped.length;
    return () => engine.shipped.slice(from);
  };
  return { engine, executor, capture, run, shippedSince };
}

/** A transaction's changes as [table, op, rowid, before, after] (DDL: ['ddl', sql, table]). */
function flat(txn: CapturedTransaction): unknown[][] {
  return txn.changes.map((c) =>
    c.kind === 'ddl'
      ? ['ddl', c.sql, c.tableName]
      : [txn.tables[c.table]!.name, c.op, c.rowid, c.before, c.after],
  );
}

const bytes = (...b: number[]) => new Uint8Array(b);

describe('TriggerCapture', () => {
  it('captures inserts, updates and deletes with exact images of every storage class', async () => {
    const { run, shippedSince } = await open();
    await run('CREATE TABLE t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, s TEXT, b BLOB, n)');
    const shipped = shippedSince();
    const big = 2n ** 62n + 12345n;
    const text = `it's "quoted", a newline\nand unicode: żółw 🐢 ''`;
    const inserted = await run('INSERT INTO t VALUES (1, :i, :r, :s, :b, NULL)', {
      i: big,
      r: 0.1,
      s: text,
      b: bytes(0, 255, 39, 44),
    });
    // The client's answer is untouched by the triggers' own inserts.
    expect(inserted).toMatchObject({ numberOfRecordsUpdated: 1, generatedFields: [1n] });
    await run("INSERT INTO t VALUES (2, -9223372036854775808, 1e308, '', x'', 0.30000000000000004)");
    await run('UPDATE t SET r = 5e-324, s = :s WHERE id = 1', { s: "a,b,'c'" });
    await run('DELETE FROM t WHERE id = 2');
    await run("INSERT INTO t VALUES (3, 1, -1e999, ',', x'2c27', 'x')");
    const row1 = [1n, big, 0.1, text, bytes(0, 255, 39, 44), null];
    expect(shipped().map(flat)).toEqual([
      [['t', 'c', 1n, null, row1]],
      [['t', 'c', 2n, null, [2n, -(2n ** 63n), 1e308, '', bytes(), 0.30000000000000004]]],
      [['t', 'u', 1n, row1, [1n, big, 5e-324, "a,b,'c'", bytes(0, 255, 39, 44), null]]],
      [['t', 'd', 2n, [2n, -(2n ** 63n), 1e308, '', bytes(), 0.30000000000000004], null]],
      [['t', 'c', 3n, null, [3n, 1n, Number.NEGATIVE_INFINITY, ',', bytes(0x2c, 0x27), 'x']]],
    ]);
    expect(shipped()[0]!.tables).toEqual([
      { name: 't', columns: ['id', 'i', 'r', 's', 'b', 'n'], primaryKey: [0] },
    ]);
  });

  it('gives random reals back bit for bit', async () => {
    const { run, shippedSince } = await open();
    await run('CREATE TABLE f (x REAL)');
    const shipped = shippedSince();
    const view = new DataView(new ArrayBuffer(8));
    const reals: number[] = [];
    while (reals.length < 500) {
      for (let i = 0; i < 8; i++) view.setUint8(i, Math.floor(Math.random() * 256));
      const v = view.getFloat64(0);
      if (Number.isFinite(v) && !Object.is(v, -0)) reals.push(v);
    }
    for (const x of reals) await run('INSERT INTO f VALUES (:x)', { x });
    expect(shipped().map((t) => (t.changes[0] as { after: BinlogValue[] }).after[0])).toEqual(reals);
  });

  it('captures a transaction as one unit, in statement order, only when it commits', async () => {
    const { executor, run, shippedSince } = await open();
    await run('CREATE TABLE a (k TEXT PRIMARY KEY, v) WITHOUT ROWID');
    await run('CREATE TABLE b (v)');
    const shipped = shippedSince();
    const rolledBack = await executor.beginTransaction();
    await run("INSERT INTO a VALUES ('x', 1)", {}, rolledBack);
    await run('INSERT INTO b VALUES (1)', {}, rolledBack);
    await executor.rollbackTransaction(rolledBack);
    const id = await executor.beginTransaction();
    await run("INSERT INTO a VALUES ('x', 1), ('y', 2)", {}, id);
    await run('INSERT INTO b VALUES (10)', {}, id);
    await run("UPDATE a SET v = v + 1 WHERE k = 'x'", {}, id);
    await run('SELECT * FROM a', {}, id);
    await executor.commitTransaction(id);
    expect(shipped().length).toBe(1);
    const txn = shipped()[0]!;
    expect(flat(txn)).toEqual([
      ['a', 'c', 0n, null, ['x', 1n]],
      ['a', 'c', 0n, null, ['y', 2n]],
      ['b', 'c', 1n, null, [10n]],
      ['a', 'u', 0n, ['x', 1n], ['x', 2n]],
    ]);
    expect(txn.changes.map((c) => c.tableOrdinal)).toEqual([1, 2, 1, 3]);
    expect(txn.tables).toEqual([
      { name: 'a', columns: ['k', 'v'], primaryKey: [0] },
      { name: 'b', columns: ['v'], primaryKey: [] },
    ]);
  });

  it('leaves the staged slot alone for a transaction that never took the write lock', async () => {
    const { engine, executor, run } = await open();
    await run('CREATE TABLE t (v)');
    // Another write owns the slot (as between its stage and its COMMIT); an empty commit must not clear it.
    const writeInFlight = { tables: [], changes: [] };
    engine.staged = writeInFlight;
    await executor.commitTransaction(await executor.beginTransaction());
    expect(engine.staged).toBe(writeInFlight);
    engine.staged = undefined;
  });

  it('leaves out a failed statement, keeps what ON CONFLICT FAIL kept, and nothing of IGNORE or RAISE', async () => {
    const { run, shippedSince } = await open();
    await run('CREATE TABLE u (k INTEGER PRIMARY KEY, v TEXT UNIQUE)');
    await run("INSERT INTO u VALUES (1, 'one')");
    await run(
      "CREATE TRIGGER guard BEFORE INSERT ON u WHEN NEW.v = 'forbidden' BEGIN SELECT RAISE(ABORT, 'no'); END",
    );
    const shipped = shippedSince();
    // ABORT (the default): the whole statement is undone, the first row with it.
    await expect(run("INSERT INTO u VALUES (2, 'two'), (3, 'one')")).rejects.toThrow(/UNIQUE/);
    // FAIL: the rows before the conflict stay, and commit.
    await expect(run("INSERT OR FAIL INTO u VALUES (4, 'four'), (5, 'one'), (6, 'six')")).rejects.toThrow(
      /UNIQUE/,
    );
    await run("INSERT OR IGNORE INTO u VALUES (7, 'one'), (8, 'eight')");
    await expect(run("INSERT INTO u VALUES (9, 'forbidden')")).rejects.toThrow(/no/);
    await expect(run("INSERT OR ROLLBACK INTO u VALUES (10, 'ten'), (11, 'one')")).rejects.toThrow(/UNIQUE/);
    expect(shipped().map(flat)).toEqual([
      [['u', 'c', 4n, null, [4n, 'four']]],
      [['u', 'c', 8n, null, [8n, 'eight']]],
    ]);
  });

  it('captures REPLACE, UPSERT and DELETE without WHERE row by row', async () => {
    const { run, shippedSince } = await open();
    await run('CREATE TABLE kv (k TEXT PRIMARY KEY, v INTEGER, n INTEGER DEFAULT 0)');
    await run("INSERT INTO kv (k, v) VALUES ('a', 1), ('b', 2)");
    const shipped = shippedSince();
    await run("REPLACE INTO kv (k, v) VALUES ('a', 10)");
    await run("INSERT INTO kv (k, v) VALUES ('b', 20), ('c', 30) ON CONFLICT (k) DO UPDATE SET n = n + 1");
    await run("INSERT INTO kv (k, v) VALUES ('c', 99) ON CONFLICT DO NOTHING");
    await run('DELETE FROM kv');
    expect(shipped().map(flat)).toEqual([
      [
        ['kv', 'd', 1n, ['a', 1n, 0n], null],
        ['kv', 'c', 3n, null, ['a', 10n, 0n]],
      ],
      [
        ['kv', 'u', 2n, ['b', 2n, 0n], ['b', 2n, 1n]],
        ['kv', 'c', 4n, null, ['c', 30n, 0n]],
      ],
      [
        ['kv', 'd', 2n, ['b', 2n, 1n], null],
        ['kv', 'd', 3n, ['a', 10n, 0n], null],
        ['kv', 'd', 4n, ['c', 30n, 0n], null],
      ],
    ]);
  });

  it('captures foreign-key cascades on the child table', async () => {
    const { run, shippedSince } = await open({ foreignKeys: true });
    await run('CREATE TABLE parent (id INTEGER PRIMARY KEY)');
    await run(
      'CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent (id) ON DELETE CASCADE ON UPDATE CASCADE)',
    );
    await run('INSERT INTO parent VALUES (1), (2)');
    await run('INSERT INTO child VALUES (10, 1), (11, 1), (12, 2)');
    const shipped = shippedSince();
    await run('UPDATE parent SET id = 3 WHERE id = 2');
    await run('DELETE FROM parent WHERE id = 1');
    const changes = shipped().map(flat);
    // SQLite runs a foreign key action before the parent row's AFTER triggers.
    expect(changes[0]).toEqual([
      ['child', 'u', 12n, [12n, 2n], [12n, 3n]],
      // A key change: a delete of the old key and a create of the new one, each its own event.
      ['parent', 'd', 2n, [2n], null],
      ['parent', 'c', 3n, null, [3n]],
    ]);
    expect(changes[1]).toEqual([
      ['child', 'd', 10n, [10n, 1n], null],
      ['child', 'd', 11n, [11n, 1n], null],
      ['parent', 'd', 1n, [1n], null],
    ]);
  });

  it('keys rowid tables by rowid: a rowid change is a delete and a create', async () => {
    const { run, shippedSince } = await open();
    await run('CREATE TABLE r (v TEXT)');
    await run('CREATE TABLE ipk (id INTEGER PRIMARY KEY, v TEXT)');
    await run("INSERT INTO r VALUES ('x')");
    await run("INSERT INTO ipk VALUES (1, 'x')");
    const shipped = shippedSince();
    await run('UPDATE r SET rowid = 7');
    await run("UPDATE r SET v = 'y'");
    await run('UPDATE ipk SET id = 2');
    expect(shipped().map(flat)).toEqual([
      [
        ['r', 'd', 1n, ['x'], null],
        ['r', 'c', 7n, null, ['x']],
      ],
      [['r', 'u', 7n, ['x'], ['y']]],
      // A declared key changes the same way: a delete of the old key, a create of the new one.
      [
        ['ipk', 'd', 1n, [1n, 'x'], null],
        ['ipk', 'c', 2n, null, [2n, 'x']],
      ],
    ]);
  });

  it('leaves generated columns out, quotes odd names, and reads a rowid that a column shadows', async () => {
    const { run, shippedSince } = await open();
    await run(
      `CREATE TABLE "odd ""name"" t" ("a b" INTEGER, rowid TEXT, "g" AS ("a b" * 2), s AS ("a b" + 1) STORED, PRIMARY KEY ("a b", rowid))`,
    );
    await run('CREATE TABLE "x.y" (v)');
    const shipped = shippedSince();
    await run(`INSERT INTO "odd ""name"" t" ("a b", rowid) VALUES (3, 'k')`);
    await run('INSERT INTO "x.y" VALUES (1)');
    const [odd, dotted] = shipped();
    expect(odd!.tables).toEqual([{ name: 'odd "name" t', columns: ['a b', 'rowid'], primaryKey: [0, 1] }]);
    expect(flat(odd!)).toEqual([['odd "name" t', 'c', 1n, null, [3n, 'k']]]);
    expect(flat(dotted!)).toEqual([['x.y', 'c', 1n, null, [1n]]]);
  });

  it('captures a table of 1,500 columns whole', async () => {
    const { run, shippedSince } = await open();
    const columns = Array.from({ length: 1500 }, (_, i) => `c${i}`);
    await run(`CREATE TABLE wide (${columns.join(', ')})`);
    const shipped = shippedSince();
    await run(
      `INSERT INTO wide VALUES (${columns.map((_, i) => (i % 3 === 0 ? `'t${i}'` : String(i))).join(', ')})`,
    );
    await run('UPDATE wide SET c1499 = NULL');
    const after = columns.map((_, i) => (i % 3 === 0 ? `t${i}` : BigInt(i)));
    expect(shipped().map(flat)).toEqual([
      [['wide', 'c', 1n, null, after]],
      [['wide', 'u', 1n, after, [...after.slice(0, -1), null]]],
    ]);
  });

  it('records DDL in order and captures the tables it creates or alters', async () => {
    const { executor, run, shippedSince } = await open();
    const shipped = shippedSince();
    await run('CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)');
    await run("INSERT INTO t VALUES (1, 'b', 'c')");
    await run('ALTER TABLE t DROP COLUMN c');
    await run("INSERT INTO t VALUES (2, 'b2')");
    await run('ALTER TABLE t RENAME COLUMN b TO bee');
    await run('ALTER TABLE t ADD COLUMN d INTEGER DEFAULT 7');
    await run('CREATE TABLE IF NOT EXISTS t (z)');
    await run("UPDATE t SET bee = 'x' WHERE a = 1");
    // In a transaction: DDL commits what came before, runs alone, and the transaction goes on.
    const id = await executor.beginTransaction();
    await run("INSERT INTO t (a, bee) VALUES (3, 'in')", {}, id);
    await run('CREATE INDEX t_bee ON t (bee)', {}, id);
    await run('ALTER TABLE t RENAME TO t2', {}, id);
    await run("INSERT INTO t2 (a, bee) VALUES (4, 'after')", {}, id);
    await executor.commitTransaction(id);
    await run('DROP TABLE t2');
    expect(shipped().map(flat)).toEqual([
      [['ddl', 'CREATE TABLE t (a INTEGER PRIMARY KEY, b TEXT, c TEXT)', 't']],
      [['t', 'c', 1n, null, [1n, 'b', 'c']]],
      [['ddl', 'ALTER TABLE t DROP COLUMN c', 't']],
      [['t', 'c', 2n, null, [2n, 'b2']]],
      [['ddl', 'ALTER TABLE t RENAME COLUMN b TO bee', 't']],
      [['ddl', 'ALTER TABLE t ADD COLUMN d INTEGER DEFAULT 7', 't']],
      [['t', 'u', 1n, [1n, 'b', 7n], [1n, 'x', 7n]]],
      [['t', 'c', 3n, null, [3n, 'in', 7n]]],
      [['ddl', 'CREATE INDEX t_bee ON t (bee)', 't']],
      [['ddl', 'ALTER TABLE t RENAME TO t2', 't']],
      [['t2', 'c', 4n, null, [4n, 'after', 7n]]],
      [['ddl', 'DROP TABLE t2', 't2']],
    ]);
  });

  it('rebuilds every connection’s triggers after DDL, even one that was in a transaction', async () => {
    const { executor, run, shippedSince } = await open();
    await run('CREATE TABLE t (a)');
    const id = await executor.beginTransaction();
    await run('INSERT INTO t VALUES (1)', {}, id);
    await executor.commitTransaction(id);
    // Another connection (the open transaction holds one) changes the schema in between.
    const id2 = await executor.beginTransaction();
    await run('ALTER TABLE t ADD COLUMN b', {});
    await run('CREATE TABLE n (v)', {});
    const shipped = shippedSince();
    await run("INSERT INTO t VALUES (2, 'two')", {}, id2);
    await run('INSERT INTO n VALUES (1)', {}, id2);
    await executor.commitTransaction(id2);
    expect(shipped().map(flat)).toEqual([
      [
        ['t', 'c', 2n, null, [2n, 'two']],
        ['n', 'c', 1n, null, [1n]],
      ],
    ]);
  });

  it('captures nothing of a failed DDL and goes on capturing', async () => {
    const { executor, run, shippedSince } = await open();
    await run('CREATE TABLE t (a)');
    const shipped = shippedSince();
    await expect(run('ALTER TABLE t DROP COLUMN nope')).rejects.toThrow(/nope/);
    const id = await executor.beginTransaction();
    await expect(run('CREATE TABLE t (x)', {}, id)).rejects.toThrow(/already exists/);
    await run('INSERT INTO t VALUES (1)', {}, id);
    await executor.commitTransaction(id);
    await run('INSERT INTO t VALUES (2)');
    expect(shipped().map(flat)).toEqual([[['t', 'c', 1n, null, [1n]]], [['t', 'c', 2n, null, [2n]]]]);
  });

  it('sees DDL the executor does not recognise, and survives PRAGMA and VACUUM from clients', async () => {
    const { executor, run, shippedSince } = await open();
    const shipped = shippedSince();
    // Starts like a read: the executor's DDL pattern misses it, the schema version does not.
    await run('SELECT 1; CREATE TABLE t (k TEXT PRIMARY KEY, v)');
    await run("INSERT INTO t VALUES ('a', 1)");
    await run('PRAGMA recursive_triggers = OFF');
    await run("REPLACE INTO t VALUES ('a', 2)");
    await run('VACUUM');
    const id = await executor.beginTransaction();
    await run("UPDATE t SET v = 3 WHERE k = 'a'", {}, id);
    await executor.commitTransaction(id);
    expect(shipped().map(flat)).toEqual([
      // (The text as the executor ran it: its MySQL dialect layer may respace it.)
      [['ddl', expect.stringMatching(/^SELECT 1;\s+CREATE TABLE t \(k TEXT PRIMARY KEY, v\)$/), '']],
      [['t', 'c', 1n, null, ['a', 1n]]],
      [
        ['t', 'd', 1n, ['a', 1n], null],
        ['t', 'c', 2n, null, ['a', 2n]],
      ],
      [['t', 'u', 2n, ['a', 2n], ['a', 3n]]],
    ]);
  });

  it('counts what it captured, and a RowImages payload carries it exactly', async () => {
    const { capture, run, shippedSince } = await open();
    await run('CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)');
    const shipped = shippedSince();
    await run("INSERT INTO t VALUES (1, x'00'), (2, zeroblob(10))");
    const [txn] = shipped();
    const payloads = encodeRowImages({ txnId: 9n, commitTimeMs: 1 }, txn!);
    const decoded = decodeRowImages(payloads[0]!);
    // (The decoder hands blobs back as Buffers: compared as plain bytes.)
    const plain = (v: unknown): unknown =>
      v instanceof Uint8Array
        ? new Uint8Array(v)
        : Array.isArray(v)
          ? v.map(plain)
          : typeof v === 'object' && v !== null
            ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
            : v;
    expect(decoded.kind).toBe('whole');
    expect(plain(decoded.kind === 'whole' && decoded.changes)).toEqual(plain(txn!.changes));
    expect(capture.stats).toMatchObject({ rowChanges: 2, ddlChanges: 1 });
  });
});

describe('TriggerCapture against a replica', () => {
  /** Seeded: the seed is printed, so a failure replays. */
  function random(seed: number) {
    const next = prng(seed);
    return {
      next,
      int: (n: number) => Math.floor(next() * n),
      pick: <T>(xs: T[]) => xs[Math.floor(next() * xs.length)]!,
    };
  }

  /** Applies one shipped transaction, through its encoded RowImages payloads, as a consumer would. */
  function apply(replica: Database.Database, txn: CapturedTransaction): void {
    for (const payload of encodeRowImages({ txnId: 1n, commitTimeMs: 0 }, txn)) {
      const whole = decodeRowImages(payload);
      if (whole.kind !== 'whole') throw new Error('unexpected fragment');
      for (const c of whole.changes) {
        if (c.kind === 'ddl') {
          replica.exec(c.sql);
          continue;
        }
        const t = whole.tables[c.table]!;
        const cols = t.columns.map((n) => `"${n}"`);
        const bind = (v: BinlogValue) => (v instanceof Uint8Array ? Buffer.from(v) : v);
        const keyWhere =
          t.primaryKey.length === 0 ? 'rowid = ?' : t.primaryKey.map((i) => `${cols[i]} IS ?`).join(' AND ');
        const keyOf = (image: BinlogValue[]) =>
          t.primaryKey.length === 0 ? [c.rowid] : t.primaryKey.map((i) => bind(image[i]!));
        if (c.op === 'c') {
          const withRowid = t.primaryKey.length === 0;
          replica
            .prepare(
              `INSERT INTO "${t.name}" (${[...(withRowid ? ['rowid'] : []), ...cols].join(', ')}) VALUES (${[...(withRowid ? ['?'] : []), ...cols.map(() => '?')].join(', ')})`,
            )
            .run(...(withRowid ? [c.rowid] : []), ...c.after!.map(bind));
        } else if (c.op === 'u') {
          const changed = replica
            .prepare(`UPDATE "${t.name}" SET ${cols.map((n) => `${n} = ?`).join(', ')} WHERE ${keyWhere}`)
            .run(...c.after!.map(bind), ...keyOf(c.before!));
          expect(changed.changes, `update of a row the replica has (${t.name})`).toBe(1);
        } else {
          const changed = replica
            .prepare(`DELETE FROM "${t.name}" WHERE ${keyWhere}`)
            .run(...keyOf(c.before!));
          expect(changed.changes, `delete of a row the replica has (${t.name})`).toBe(1);
        }
      }
    }
  }

  const reads = {
    acct: 'SELECT * FROM acct ORDER BY id',
    kv: 'SELECT * FROM kv ORDER BY k1, k2',
    log: 'SELECT rowid, * FROM log ORDER BY rowid',
  };

  it('a random workload replayed from the captured changes ends equal to the tables', async () => {
    const seed = Number(process.env.BOREALIS_CAPTURE_SEED ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`capture replica test seed ${seed} (BOREALIS_CAPTURE_SEED=${seed} replays it)`);
    const rnd = random(seed);
    const { executor, run, engine } = await open();
    await run('CREATE TABLE acct (id INTEGER PRIMARY KEY, owner TEXT NOT NULL, balance INTEGER, note BLOB)');
    await run('CREATE TABLE kv (k1 TEXT, k2 INTEGER, v REAL, PRIMARY KEY (k1, k2)) WITHOUT ROWID');
    await run('CREATE TABLE log (msg TEXT, n INTEGER)');
    const owner = () => rnd.pick(['ann', "o'neil", 'zoë', 'x,y', ''] as const);
    const statements: (() => [string, Record<string, SqlValue>])[] = [
      () => [
        'INSERT INTO acct (id, owner, balance) VALUES (:id, :o, :b)',
        { id: BigInt(1 + rnd.int(30)), o: owner(), b: BigInt(rnd.int(1000)) },
      ],
      () => [
        'INSERT OR REPLACE INTO acct (id, owner, balance, note) VALUES (:id, :o, 0, :n)',
        { id: BigInt(1 + rnd.int(30)), o: owner(), n: new Uint8Array([rnd.int(256), 0, 39]) },
      ],
      () => [
        'INSERT INTO acct (id, owner, balance) VALUES (:id, :o, 1) ON CONFLICT (id) DO UPDATE SET balance = balance + 1',
        { id: BigInt(1 + rnd.int(30)), o: owner() },
      ],
      () => [
        'UPDATE acct SET balance = balance * 2 + 2 ** 60, owner = :o WHERE id BETWEEN :a AND :a + 5',
        { a: BigInt(rnd.int(30)), o: owner() },
      ],
      () => ['UPDATE acct SET id = id + 40 WHERE id = :id', { id: BigInt(1 + rnd.int(30)) }],
      () => ['DELETE FROM acct WHERE id % 7 = :r', { r: BigInt(rnd.int(7)) }],
      () => [
        "INSERT OR FAIL INTO acct (id, owner) VALUES (:a, 'fail-1'), (:b, 'fail-2')",
        { a: BigInt(100 + rnd.int(100)), b: BigInt(1 + rnd.int(30)) },
      ],
      () => [
        'INSERT OR IGNORE INTO kv VALUES (:k1, :k2, :v)',
        { k1: rnd.pick(['a', 'b', 'c']), k2: BigInt(rnd.int(5)), v: rnd.next() * 1e6 },
      ],
      () => [
        'REPLACE INTO kv VALUES (:k1, :k2, :v)',
        { k1: rnd.pick(['a', 'b', 'c']), k2: BigInt(rnd.int(5)), v: 0.1 },
      ],
      () => [
        'UPDATE OR IGNORE kv SET k2 = k2 + 1, v = v / 3 WHERE k1 = :k1',
        { k1: rnd.pick(['a', 'b', 'c']) },
      ],
      () => ['DELETE FROM kv WHERE k2 = :k2', { k2: BigInt(rnd.int(6)) }],
      () => [
        'INSERT INTO log VALUES (:m, :n), (:m, :n + 1), (NULL, NULL)',
        { m: `line\n${rnd.int(100)}`, n: BigInt(rnd.int(10)) },
      ],
      () => ['UPDATE log SET rowid = rowid + 1000 WHERE n = :n', { n: BigInt(rnd.int(10)) }],
      () => ['UPDATE log SET msg = msg || :s WHERE n < :n', { s: "'", n: BigInt(rnd.int(10)) }],
      () => ['DELETE FROM log WHERE n = :n', { n: BigInt(rnd.int(10)) }],
    ];
    const rolledBackMarker = 'ROLLED-BACK';
    for (let step = 0; step < 300; step++) {
      if (step === 150) await run("ALTER TABLE acct ADD COLUMN extra TEXT DEFAULT 'x'");
      if (rnd.next() < 0.5) {
        const [sql, parameters] = rnd.pick(statements)();
        await run(sql, parameters).catch(() => undefined);
        continue;
      }
      const id = await executor.beginTransaction();
      const rollBack = rnd.next() < 0.25;
      if (rollBack) await run('INSERT INTO log VALUES (:m, 0)', { m: rolledBackMarker }, id);
      for (let i = 1 + rnd.int(4); i > 0; i--) {
        const [sql, parameters] = rnd.pick(statements)();
        await run(sql, parameters, id).catch(() => undefined);
      }
      if (rollBack) await executor.rollbackTransaction(id);
      else await executor.commitTransaction(id);
    }
    const replica = new Database(':memory:');
    replica.defaultSafeIntegers(true);
    for (const txn of engine.shipped) apply(replica, txn);
    expect(JSON.stringify(engine.shipped, (_k, v) => (typeof v === 'bigint' ? `${v}` : v))).not.toContain(
      rolledBackMarker,
    );
    const plain = (v: unknown) => (v instanceof Uint8Array ? [...v] : v);
    for (const [name, sql] of Object.entries(reads)) {
      const cluster = (await run(sql)).rows!.map((r) => r.map(plain));
      const copy = (replica.prepare(sql).raw(true).all() as unknown[][]).map((r) => r.map(plain));
      expect(copy, `table ${name} (seed ${seed})`).toEqual(cluster);
      expect(cluster.length, `table ${name} holds rows`).toBeGreaterThan(0);
    }
    replica.close();
  }, 120_000);
});

describe('row images and DDL names (pure)', () => {
  it('parses every literal quote() makes', () => {
    expect(parseImage("NULL,-5,1.5,'a''b,c',X'00FF',9.0e+999,''", 7)).toEqual([
      null,
      -5n,
      1.5,
      "a'b,c",
      bytes(0, 255),
      Number.POSITIVE_INFINITY,
      '',
    ]);
    expect(() => parseImage('1,2', 3)).toThrow(/2 values for 3 columns/);
  });

  it('splits a rowid change only for tables keyed by rowid', () => {
    const tables: CaptureTable[] = [
      { name: 'r', columns: ['v'], primaryKey: [], withoutRowid: false, rowidName: 'rowid' },
    ];
    const txn = capturedTransaction(tables, [[0n, 'u', 1n, 2n, "'x'", "'y'"]]);
    expect(flat(txn)).toEqual([
      ['r', 'd', 1n, ['x'], null],
      ['r', 'c', 2n, null, ['y']],
    ]);
  });

  it('names the table of a DDL statement', () => {
    expect(ddlTableName('create table if not exists main."a ""b"" c" (x)')).toBe('a "b" c');
    expect(ddlTableName('ALTER TABLE `t` ADD COLUMN x')).toBe('t');
    expect(ddlTableName('DROP TABLE [x y]')).toBe('x y');
    expect(ddlTableName('CREATE UNIQUE INDEX i ON tab (a)')).toBe('tab');
    expect(ddlTableName('CREATE VIEW v AS SELECT 1')).toBe('');
  });
});
