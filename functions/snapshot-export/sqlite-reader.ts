// Reading the rebuilt snapshot database (database-file.ts) with the engine Borealis runs — wa-sqlite,
// its synchronous build, which needs no Asyncify because every page is a local read — over a
// read-only VFS that serves the file with positional reads. Memory is SQLite's page cache plus one
// batch of rows: a table is read in batches of rows (a Parquet row group each), never whole.
//
// The wasm binary is found next to the bundle first (the Lambda bundle copies it there: see
// bundledFiles in core/functions.ts), else in node_modules.
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import * as SQLite from '@journeyapps/wa-sqlite';
import SQLiteESMFactory from '@journeyapps/wa-sqlite/dist/wa-sqlite.mjs';
import { FacadeVFS } from '@journeyapps/wa-sqlite/src/FacadeVFS.js';
import { assert } from '../../core/assert.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { type ColumnStats, doubleExactIntegerMax, type SqliteValue } from './type-mapping.ts';

const doubleExactIntegerMaxBig = BigInt(doubleExactIntegerMax);

function stepError(rc: number, sql: string): BorealisError {
  return new BorealisError(ErrorCode.INTERNAL, `reading the snapshot database: SQLite error ${rc}`, {
    context: { sql: sql.slice(0, 200) },
  });
}

export const waSqliteWasmFile = 'wa-sqlite.wasm';
const vfsName = 'borealis-export-file';

/** The wasm bytes: beside this module's bundle (Lambda), or from the package (tsx, tests). */
function wasmBinary(): Buffer {
  const beside = fileURLToPath(new URL(`./${waSqliteWasmFile}`, import.meta.url));
  if (existsSync(beside)) return readFileSync(beside);
  const require = createRequire(import.meta.url);
  return readFileSync(require.resolve(`@journeyapps/wa-sqlite/dist/${waSqliteWasmFile}`));
}

/** A read-only VFS over one local database file; anything else SQLite asks to open is refused. */
class ReadOnlyFileVfs extends FacadeVFS {
  readonly #files = new Map<number, number>();

  constructor(
    module: unknown,
    private readonly path: string,
  ) {
    super(vfsName, module);
  }

  #isMain(name: string | null): boolean {
    return name !== null && new URL(name, 'file://').pathname.endsWith(`/${mainFileName}`);
  }

  jOpen(name: string | null, fileId: number, flags: number, pOutFlags: DataView): number {
    if (!this.#isMain(name)) return SQLite.SQLITE_CANTOPEN;
    this.#files.set(fileId, openSync(this.path, 'r'));
    pOutFlags.setInt32(0, (flags & ~SQLite.SQLITE_OPEN_READWRITE) | SQLite.SQLITE_OPEN_READONLY, true);
    return SQLite.SQLITE_OK;
  }

  jClose(fileId: number): number {
    const fd = this.#files.get(fileId);
    this.#files.delete(fileId);
    if (fd !== undefined) closeSync(fd);
    return SQLite.SQLITE_OK;
  }

  jRead(fileId: number, pData: Uint8Array, iOffset: number): number {
    const fd = this.#files.get(fileId);
    if (fd === undefined) return SQLite.SQLITE_IOERR;
    const buffer = Buffer.allocUnsafe(pData.length);
    const n = readSync(fd, buffer, 0, buffer.length, iOffset);
    if (n < buffer.length) buffer.fill(0, n);
    pData.set(buffer);
    return n < buffer.length ? SQLite.SQLITE_IOERR_SHORT_READ : SQLite.SQLITE_OK;
  }

  jWrite(): number {
    return SQLite.SQLITE_READONLY;
  }

  jTruncate(): number {
    return SQLite.SQLITE_READONLY;
  }

  jFileSize(fileId: number, pSize64: DataView): number {
    const fd = this.#files.get(fileId);
    if (fd === undefined) return SQLite.SQLITE_IOERR;
    pSize64.setBigInt64(0, BigInt(fstatSync(fd).size), true);
    return SQLite.SQLITE_OK;
  }

  jAccess(name: string, _flags: number, pResOut: DataView): number {
    // No journal, no WAL: the file is a snapshot, consistent by construction.
    pResOut.setInt32(0, this.#isMain(name) ? 1 : 0, true);
    return SQLite.SQLITE_OK;
  }

  jDelete(): number {
    return SQLite.SQLITE_OK;
  }
}

const mainFileName = 'snapshot.db';

export interface TableInfo {
  name: string;
  /** pragma table_list's type: 'table', 'virtual', 'shadow', 'view'. */
  type: string;
  withoutRowid: boolean;
}

export interface ColumnInfo {
  name: string;
  declaredType: string;
}

type Api = ReturnType<typeof SQLite.Factory>;

/** The wasm exports the row loop calls directly (Emscripten names; int64 comes as lo32 + tempRet0). */
interface WasmExports {
  HEAPU8: Uint8Array;
  getTempRet0(): number;
  _sqlite3_step(stmt: number): number;
  _sqlite3_column_count(stmt: number): number;
  _sqlite3_column_type(stmt: number, i: number): number;
  _sqlite3_column_int64(stmt: number, i: number): number;
  _sqlite3_column_double(stmt: number, i: number): number;
  _sqlite3_column_blob(stmt: number, i: number): number;
  _sqlite3_column_bytes(stmt: number, i: number): number;
}

/** One open snapshot database. */
export class SnapshotDatabase {
  private constructor(
    private readonly sqlite3: Api,
    private readonly module: WasmExports,
    private readonly db: number,
  ) {}

  static async open(path: string): Promise<SnapshotDatabase> {
    const module = await SQLiteESMFactory({ wasmBinary: wasmBinary() });
    const sqlite3 = SQLite.Factory(module);
    sqlite3.vfs_register(new ReadOnlyFileVfs(module, path) as never, false);
    const db = await sqlite3.open_v2(mainFileName, SQLite.SQLITE_OPEN_READONLY, vfsName);
    const opened = new SnapshotDatabase(sqlite3, module as WasmExports, db);
    // Sorting (none is asked for) or temp tables never touch a file; nothing may write.
    await opened.#exec('pragma temp_store = memory; pragma query_only = 1; pragma cache_size = -16384');
    return opened;
  }

  async #exec(sql: string): Promise<void> {
    await this.sqlite3.exec(this.db, sql);
  }

  /** Every row of a query (for small catalog queries only). */
  async all(sql: string): Promise<SqliteValue[][]> {
    const rows: SqliteValue[][] = [];
    for await (const batch of this.batches(sql, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER))
      rows.push(...batch);
    return rows;
  }

  /** The tables of the main schema (sqlite_* internal tables left out). */
  async tables(): Promise<TableInfo[]> {
    const rows = await this.all(
      "select name, type, wr from pragma_table_list where schema = 'main' and type != 'view' and name not like 'sqlite\\_%' escape '\\' order by name",
    );
    return rows.map(([name, type, wr]) => ({
      name: String(name),
      type: String(type),
      withoutRowid: Number(wr) === 1,
    }));
  }

  /** A table's columns as `select *` returns them (generated columns included, hidden ones not). */
  async columns(table: string): Promise<ColumnInfo[]> {
    const rows = await this.all(
      `select name, type from pragma_table_xinfo(${quoteLiteral(table)}) where hidden != 1 order by cid`,
    );
    return rows.map(([name, type]) => ({ name: String(name), declaredType: String(type ?? '') }));
  }

  /**
   * The rows of a query in batches of at most `rowsMax` rows or about `bytesMax` bytes of values.
   * Integers come as bigint (exact beyond 2^53), reals as number, text as string (decoded from its
   * UTF-8 bytes, so a NUL inside survives), blobs as copies.
   */
  async *batches(sql: string, rowsMax: number, bytesMax: number): AsyncGenerator<SqliteValue[][]> {
    assert(rowsMax > 0 && bytesMax > 0, 'a batch holds at least one row');
    // Straight into the wasm exports, not through the API's async wrappers: a promise and a few
    // checks per value made reading ~10x slower (31k rows/s against ~300k for 6 columns).
    const m = this.module;
    const decoder = new TextDecoder('utf-8');
    for await (const stmt of this.sqlite3.statements(this.db, sql)) {
      const columnCount = m._sqlite3_column_count(stmt);
      let batch: SqliteValue[][] = [];
      let bytes = 0;
      for (;;) {
        const rc = m._sqlite3_step(stmt);
        if (rc === SQLite.SQLITE_DONE) break;
        if (rc !== SQLite.SQLITE_ROW) throw stepError(rc, sql);
        const row: SqliteValue[] = new Array(columnCount);
        for (let i = 0; i < columnCount; i++) {
          switch (m._sqlite3_column_type(stmt, i)) {
            case SQLite.SQLITE_INTEGER: {
              const lo = m._sqlite3_column_int64(stmt, i);
              const hi = m.getTempRet0();
              row[i] = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
              bytes += 8;
              break;
            }
            case SQLite.SQLITE_FLOAT:
              row[i] = m._sqlite3_column_double(stmt, i);
              bytes += 8;
              break;
            case SQLite.SQLITE_TEXT: {
              const at = m._sqlite3_column_blob(stmt, i);
              const n = m._sqlite3_column_bytes(stmt, i);
              row[i] = decoder.decode(m.HEAPU8.subarray(at, at + n));
              bytes += n + 16;
              break;
            }
            case SQLite.SQLITE_BLOB: {
              const at = m._sqlite3_column_blob(stmt, i);
              const n = m._sqlite3_column_bytes(stmt, i);
              row[i] = m.HEAPU8.slice(at, at + n);
              bytes += n + 16;
              break;
            }
            default:
              row[i] = null;
          }
        }
        batch.push(row);
        if (batch.length >= rowsMax || bytes >= bytesMax) {
          yield batch;
          batch = [];
          bytes = 0;
        }
      }
      if (batch.length > 0) yield batch;
    }
  }

  /**
   * The pre-scan: per column, how many values of each storage class (and the range facts the type
   * mapping needs), plus the row count — one pass that asks SQLite only each value's type, and reads
   * an integer only where `rangeColumns` says its range matters. (The same counts in SQL, with
   * typeof() per value, took 6x longer than reading every value.)
   */
  async columnStats(
    sql: string,
    columnCount: number,
    rangeColumns: readonly boolean[],
  ): Promise<{ rowCount: number; stats: ColumnStats[] }> {
    const m = this.module;
    const stats: ColumnStats[] = Array.from({ length: columnCount }, () => ({
      integer: 0,
      real: 0,
      text: 0,
      blob: 0,
      integerBeyondDouble: 0,
      integerNotBoolean: 0,
    }));
    let rowCount = 0;
    for await (const stmt of this.sqlite3.statements(this.db, sql)) {
      assert(m._sqlite3_column_count(stmt) === columnCount, 'the pre-scan selects every column');
      for (;;) {
        const rc = m._sqlite3_step(stmt);
        if (rc === SQLite.SQLITE_DONE) break;
        if (rc !== SQLite.SQLITE_ROW) throw stepError(rc, sql);
        rowCount++;
        for (let i = 0; i < columnCount; i++) {
          const s = stats[i]!;
          switch (m._sqlite3_column_type(stmt, i)) {
            case SQLite.SQLITE_INTEGER:
              s.integer++;
              if (rangeColumns[i]) {
                const lo = m._sqlite3_column_int64(stmt, i);
                const hi = m.getTempRet0();
                const v = BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo >>> 0));
                if (v > doubleExactIntegerMaxBig || v < -doubleExactIntegerMaxBig) s.integerBeyondDouble++;
                if (v !== 0n && v !== 1n) s.integerNotBoolean++;
              }
              break;
            case SQLite.SQLITE_FLOAT:
              s.real++;
              break;
            case SQLite.SQLITE_TEXT:
              s.text++;
              break;
            case SQLite.SQLITE_BLOB:
              s.blob++;
              break;
          }
        }
      }
    }
    return { rowCount, stats };
  }

  async close(): Promise<void> {
    await this.sqlite3.close(this.db);
  }
}

/** An SQL string literal. */
export function quoteLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}
