// One SQLite (wa-sqlite, Asyncify build) module and the mutex every call into it goes through: the
// Asyncify build is not re-entrant, and two overlapping calls corrupt it (STACK.md). Writer and
// reader each own one runtime; all their connections share it.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as SQLite from '@journeyapps/wa-sqlite';
import SQLiteAsyncFactory from '@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs';

export type SqliteApi = ReturnType<typeof SQLite.Factory>;

interface ModuleExtras {
  _sqlite3_stmt_readonly(stmt: number): number;
  _sqlite3_interrupt(db: number): void;
  _sqlite3_extended_errcode(db: number): number;
}

const require = createRequire(import.meta.url);

export class SqliteRuntime {
  #tail: Promise<unknown> = Promise.resolve();
  #depth = 0;

  private constructor(
    readonly sqlite3: SqliteApi,
    /** The Emscripten module, for VFS registration. */
    readonly module: ModuleExtras,
  ) {}

  static async load(): Promise<SqliteRuntime> {
    const wasmPath = require.resolve('@journeyapps/wa-sqlite/dist/wa-sqlite-async.wasm');
    // Without wasmBinary the module tries to fetch() its wasm and the process aborts.
    const module = await SQLiteAsyncFactory({ wasmBinary: readFileSync(wasmPath) });
    return new SqliteRuntime(SQLite.Factory(module), module as ModuleExtras);
  }

  /** Runs fn with the module to itself. Calls queue in arrival order (fair). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(async () => {
      this.#depth++;
      try {
        return await fn();
      } finally {
        this.#depth--;
      }
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** True inside exclusive(): a nested exclusive() would deadlock, so callers assert on this. */
  get inside(): boolean {
    return this.#depth > 0;
  }

  stmtReadonly(stmt: number): boolean {
    return this.module._sqlite3_stmt_readonly(stmt) !== 0;
  }

  interrupt(db: number): void {
    this.module._sqlite3_interrupt(db);
  }
}

export { SQLite };
