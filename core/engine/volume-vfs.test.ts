// The VFS over an in-memory engine: SQL gives the same answers whether pages are at hand or must be
// waited for (the module suspends only then), a page that cannot be read fails the statement and not
// the runtime, and a connection's kept prepared statements behave as freshly prepared ones.
import { describe, expect, it } from 'vitest';
import type { SqlValue } from '../data-api/types.ts';
import type { Lsn } from '../lsn.ts';
import { Connection, preparedStatementsMax, ResultTooLargeError, SqlError } from './connection.ts';
import { SQLite, SqliteRuntime } from './runtime.ts';
import { type VolumeEngine, VolumeVfs } from './volume-vfs.ts';

const pageSizeBytes = 4096;

/** Committed pages by page number; reads answer at once, or later, or fail, as the test says. */
class MemoryEngine implements VolumeEngine {
  readonly pageSizeBytes = pageSizeBytes;
  readonly readOnly = false;
  readonly pages = new Map<number, Uint8Array>();
  lsn: Lsn = 1n;
  /** How reads are answered. */
  reads: 'now' | 'later' | 'fail' = 'now';
  readsWaited = 0;
  commits = 0;

  currentReadPoint(): Lsn {
    return this.lsn;
  }
  pinReadPoint(): Lsn {
    return this.lsn;
  }
  unpinReadPoint(): void {}
  beginWrite(): number {
    return SQLite.SQLITE_OK;
  }

  readPage(pageNo: number): Uint8Array | Promise<Uint8Array> {
    const page = this.pages.get(pageNo) ?? new Uint8Array(0);
    if (this.reads === 'now') return page;
    this.readsWaited++;
    return new Promise((resolve, reject) =>
      setTimeout(() => (this.reads === 'fail' ? reject(new Error('no segment')) : resolve(page)), 1),
    );
  }

  async commitPages(pages: Map<number, Uint8Array>): Promise<{ rc: number; commitLsn?: Lsn }> {
    await new Promise((resolve) => setImmediate(resolve));
    for (const [pageNo, bytes] of pages) this.pages.set(pageNo, bytes.slice());
    this.lsn++;
    this.commits++;
    return { rc: SQLite.SQLITE_OK, commitLsn: this.lsn };
  }
}

async function open(
  engine: MemoryEngine,
): Promise<{ runtime: SqliteRuntime; connect: () => Promise<Connection> }> {
  const runtime = await SqliteRuntime.load();
  runtime.sqlite3.vfs_register(new VolumeVfs('test-vfs', runtime.module, 'test.db', engine) as never, false);
  const connect = () =>
    Connection.open(
      runtime,
      'test.db',
      'test-vfs',
      false,
      `PRAGMA page_size=${pageSizeBytes}; PRAGMA journal_mode=MEMORY; PRAGMA cache_size=0;`,
    );
  return { runtime, connect };
}

const params = (entries: Record<string, SqlValue>) => new Map(Object.entries(entries));

describe('VolumeVfs', () => {
  it('answers the same whether pages come at once or must be waited for', async () => {
    const engine = new MemoryEngine();
    const { connect } = await open(engine);
    const connection = await connect();
    await connection.execute('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    for (let k = 0; k < 300; k++) {
      await connection.execute(
        'INSERT INTO t (k, v) VALUES (:k, :v)',
        params({ k: BigInt(k), v: 'x'.repeat(200) }),
      );
    }
    const expected = await connection.execute('SELECT count(*), sum(length(v)), max(k) FROM t');
    expect(expected.rows).toEqual([[300n, 60_000n, 299n]]);

    // cache_size=0: SQLite reads its pages through the VFS again, each one now a suspension.
    engine.reads = 'later';
    const waited = await connection.execute('SELECT count(*), sum(length(v)), max(k) FROM t');
    expect(waited.rows).toEqual(expected.rows);
    expect(engine.readsWaited).toBeGreaterThan(10);
    await connection.execute('UPDATE t SET v = :v WHERE k % 7 = 0', params({ v: 'y' }));
    const updated = await connection.execute("SELECT count(*) FROM t WHERE v = 'y'");
    expect(updated.rows).toEqual([[43n]]);
  });

  it('fails a statement whose page cannot be read, and the runtime goes on', async () => {
    const engine = new MemoryEngine();
    const { connect } = await open(engine);
    const connection = await connect();
    await connection.execute('CREATE TABLE t (k INTEGER PRIMARY KEY)');
    await connection.execute('INSERT INTO t (k) VALUES (1), (2), (3)');
    engine.reads = 'fail';
    const failed = await connection.execute('SELECT count(*) FROM t').catch((error: unknown) => error);
    expect(failed).toBeInstanceOf(SqlError);
    expect((failed as SqlError).code & 0xff).toBe(SQLite.SQLITE_IOERR);
    engine.reads = 'later';
    expect((await connection.execute('SELECT count(*) FROM t')).rows).toEqual([[3n]]);
  });

  it('runs two connections one after the other while reads wait', async () => {
    const engine = new MemoryEngine();
    const { connect } = await open(engine);
    const [a, b] = [await connect(), await connect()];
    await a.execute('CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER)');
    engine.reads = 'later';
    // Both queue on the runtime's mutex: a suspended call is never overlapped by another.
    const results = await Promise.all([
      a.execute('INSERT INTO t (k, v) VALUES (1, 10)'),
      b.execute('SELECT count(*) FROM t'),
      a.execute('INSERT INTO t (k, v) VALUES (2, 20)'),
      b.execute('SELECT sum(v) FROM t'),
    ]);
    expect(results[1]!.rows).toEqual([[1n]]);
    expect(results[3]!.rows).toEqual([[30n]]);
  });
});

describe('Connection prepared statements', () => {
  it('keeps a lone statement prepared and answers as a fresh one would, errors included', async () => {
    const engine = new MemoryEngine();
    const { connect } = await open(engine);
    const connection = await connect();
    await connection.execute('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    const insert = 'INSERT INTO t (k, v) VALUES (:k, :v)';
    await connection.execute(insert, params({ k: 1n, v: 'a' }));
    const kept = connection.preparedCount;
    const again = await connection.execute(insert, params({ k: 2n, v: 'b' }));
    expect(again.changes).toBe(1);
    expect(again.lastInsertRowid).toBe(2n);
    expect(connection.preparedCount).toBe(kept);

    // A failed run leaves the kept statement usable.
    const duplicate = await connection.execute(insert, params({ k: 2n, v: 'c' })).catch((e: unknown) => e);
    expect(duplicate).toBeInstanceOf(SqlError);
    await connection.execute(insert, params({ k: 3n, v: 'c' }));
    const missing = await connection.execute(insert, params({ k: 4n })).catch((e: unknown) => e);
    expect((missing as SqlError).message).toContain(':v');

    // A read stopped early (result too large) must not keep its snapshot: the next write still commits.
    const select = 'SELECT k, v FROM t ORDER BY k';
    await expect(connection.execute(select, new Map(), { resultBytesMax: 1 })).rejects.toBeInstanceOf(
      ResultTooLargeError,
    );
    await connection.execute(insert, params({ k: 5n, v: 'd' }));
    expect((await connection.execute(select)).rows.map((row) => row[0])).toEqual([1n, 2n, 3n, 5n]);
    expect(connection.inTransaction).toBe(false);
  });

  it('sees a schema change through a kept statement', async () => {
    const engine = new MemoryEngine();
    const { connect } = await open(engine);
    const [a, b] = [await connect(), await connect()];
    await a.execute('CREATE TABLE t (k INTEGER PRIMARY KEY)');
    await a.execute('INSERT INTO t (k) VALUES (1)');
    expect((await a.execute('SELECT * FROM t')).columns.map((c) => c.name)).toEqual(['k']);
    await b.execute('ALTER TABLE t ADD COLUMN v TEXT');
    expect((await a.execute('SELECT * FROM t')).columns.map((c) => c.name)).toEqual(['k', 'v']);
    // DROP is not refused for the statements a and b keep: kept statements are reset, not running.
    await b.execute('DROP TABLE t');
    await expect(a.execute('SELECT * FROM t')).rejects.toThrow(/no such table/);
  });

  it('runs multi-statement text each time, and bounds what it keeps', async () => {
    const engine = new MemoryEngine();
    const { connect } = await open(engine);
    const connection = await connect();
    await connection.execute('CREATE TABLE t (k INTEGER PRIMARY KEY); INSERT INTO t (k) VALUES (1)');
    await connection.execute('INSERT INTO t (k) VALUES (2); INSERT INTO t (k) VALUES (3)');
    expect((await connection.execute('SELECT count(*) FROM t')).rows).toEqual([[3n]]);
    for (let i = 0; i < preparedStatementsMax + 10; i++) await connection.execute(`SELECT ${i}`);
    expect(connection.preparedCount).toBe(preparedStatementsMax);
    await connection.close();
  });
});
