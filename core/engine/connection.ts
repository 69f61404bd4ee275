// One SQLite connection on the instance's runtime: runs statements with named parameters and returns
// typed rows. Every call into the module goes through runtime.exclusive (it is not re-entrant).
// SQL text that is one statement keeps its prepared statement (a small LRU per connection): preparing
// costs several times what running a point insert or select does, and clients repeat their SQL.
import type { ResultColumn, SqlValue } from '../data-api/types.ts';
import { SQLite, type SqliteRuntime } from './runtime.ts';

/** Prepared statements kept per connection; the least recently used one is finalized beyond this. */
export const preparedStatementsMax = 64;
/** SQL longer than this is not kept prepared (a bulk statement is rarely repeated verbatim). */
const preparedSqlCharsMax = 4096;

/** A prepared statement kept for its SQL text, with what does not change when SQLite re-prepares it. */
interface PreparedStatement {
  stmt: number;
  /** The parameter names without their prefix (:, @ or $), by index - 1. */
  parameterKeys: string[];
}

export interface StatementOutcome {
  columns: ResultColumn[];
  rows: SqlValue[][];
  /** Rows changed by the last statement (0 for a read). */
  changes: number;
  lastInsertRowid: bigint;
  /** The SQL changed nothing (sqlite3_stmt_readonly for every statement in it). */
  readonly: boolean;
  resultBytes: number;
}

export interface ExecuteOptions {
  /** Interrupt the statement at this wall-clock time (ms since epoch). */
  deadlineMs?: number;
  /** Stop collecting rows beyond this many bytes and report it. */
  resultBytesMax?: number;
}

/** An SQLite error with its result code, for the layer that maps it to a Data API exception. */
export class SqlError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'SqlError';
  }
}

export class ResultTooLargeError extends Error {
  constructor(readonly resultBytes: number) {
    super(`result of more than ${resultBytes} bytes`);
    this.name = 'ResultTooLargeError';
  }
}

export class StatementInterruptedError extends Error {
  constructor() {
    super('statement interrupted at its deadline');
    this.name = 'StatementInterruptedError';
  }
}

let nextConnectionId = 1;

export class Connection {
  readonly id = nextConnectionId++;
  #closed = false;
  /** SQL text → its prepared statement, least recently used first. */
  readonly #prepared = new Map<string, PreparedStatement>();

  private constructor(
    private readonly runtime: SqliteRuntime,
    readonly db: number,
  ) {}

  static async open(
    runtime: SqliteRuntime,
    databaseName: string,
    vfsName: string,
    readOnly: boolean,
    initSql = '',
  ): Promise<Connection> {
    const flags = readOnly
      ? SQLite.SQLITE_OPEN_READONLY
      : SQLite.SQLITE_OPEN_READWRITE | SQLite.SQLITE_OPEN_CREATE;
    const db = await runtime.exclusive(async () => {
      const handle = await runtime.sqlite3.open_v2(databaseName, flags, vfsName);
      if (initSql !== '') await runtime.sqlite3.exec(handle, initSql);
      return handle;
    });
    return new Connection(runtime, db);
  }

  get inTransaction(): boolean {
    return this.runtime.sqlite3.get_autocommit(this.db) === 0;
  }

  /** Whether every statement in sql only reads (prepared, not run). */
  isReadonly(sql: string): Promise<boolean> {
    return this.runtime.exclusive(async () => {
      try {
        for await (const stmt of this.runtime.sqlite3.statements(this.db, sql)) {
          if (!this.runtime.stmtReadonly(stmt)) return false;
        }
        return true;
      } catch (error) {
        throw asSqlError(error);
      }
    });
  }

  /**
   * The result columns of the last statement in sql, prepared and not run (a MySQL client learns them
   * at COM_STMT_PREPARE). Throws SqlError for SQL that does not prepare.
   */
  describe(sql: string): Promise<ResultColumn[]> {
    return this.runtime.exclusive(async () => {
      let columns: ResultColumn[] = [];
      try {
        for await (const stmt of this.runtime.sqlite3.statements(this.db, sql)) {
          columns = this.runtime.sqlite3.column_names(stmt).map((name) => ({ name }));
        }
      } catch (error) {
        throw asSqlError(error);
      }
      return columns;
    });
  }

  execute(
    sql: string,
    parameters: Map<string, SqlValue> = new Map(),
    options: ExecuteOptions = {},
  ): Promise<StatementOutcome> {
    return this.runtime.exclusive(() => this.#execute(sql, parameters, options));
  }

  async #execute(
    sql: string,
    parameters: Map<string, SqlValue>,
    options: ExecuteOptions,
  ): Promise<StatementOutcome> {
    const sqlite3 = this.runtime.sqlite3;
    const outcome: StatementOutcome = {
      columns: [],
      rows: [],
      changes: 0,
      lastInsertRowid: 0n,
      readonly: true,
      resultBytes: 0,
    };
    if (options.deadlineMs !== undefined) {
      const deadline = options.deadlineMs;
      sqlite3.progress_handler(this.db, 10_000, () => (Date.now() > deadline ? 1 : 0), null);
    }
    try {
      const kept = this.#prepared.get(sql);
      if (kept !== undefined) {
        // Most recently used goes last.
        this.#prepared.delete(sql);
        this.#prepared.set(sql, kept);
        try {
          await this.#run(kept.stmt, kept.parameterKeys, parameters, options, outcome);
        } finally {
          await this.#reset(kept.stmt);
        }
        return outcome;
      }
      // Unscoped: the statements stay alive after the loop, so a lone one can be kept.
      const prepared: number[] = [];
      let keep = false;
      try {
        for await (const stmt of sqlite3.statements(this.db, sql, {
          unscoped: true,
          flags: SQLite.SQLITE_PREPARE_PERSISTENT,
        })) {
          prepared.push(stmt);
          await this.#run(stmt, parameterKeysOf(sqlite3, stmt), parameters, options, outcome);
          // Done with, as finalizing it would be, before the next statement of the text is prepared.
          await this.#reset(stmt);
        }
        keep = prepared.length === 1 && sql.length <= preparedSqlCharsMax;
      } finally {
        if (keep) {
          const stmt = prepared[0]!;
          await this.#keep(sql, { stmt, parameterKeys: parameterKeysOf(sqlite3, stmt) });
        } else {
          for (const stmt of prepared) await sqlite3.finalize(stmt);
        }
      }
    } catch (error) {
      if (error instanceof ResultTooLargeError || error instanceof SqlError) throw error;
      if ((error as { code?: number }).code === SQLite.SQLITE_INTERRUPT)
        throw new StatementInterruptedError();
      throw asSqlError(error);
    } finally {
      if (options.deadlineMs !== undefined) sqlite3.progress_handler(this.db, 0, null as never, null);
    }
    return outcome;
  }

  /** Binds, steps to the end and folds the statement's rows and changes into outcome. */
  async #run(
    stmt: number,
    parameterKeys: string[],
    parameters: Map<string, SqlValue>,
    options: ExecuteOptions,
    outcome: StatementOutcome,
  ): Promise<void> {
    const sqlite3 = this.runtime.sqlite3;
    this.#bind(stmt, parameterKeys, parameters);
    const readonly = this.runtime.stmtReadonly(stmt);
    outcome.readonly &&= readonly;
    // Columns are read after the first step, never kept: a kept statement is prepared again inside
    // step when the schema changed, and its columns may have changed with it.
    let rc = await sqlite3.step(stmt);
    const columnCount = sqlite3.column_count(stmt);
    const columns: ResultColumn[] = [];
    for (let i = 0; i < columnCount; i++) columns.push({ name: sqlite3.column_name(stmt, i) });
    const rows: SqlValue[][] = [];
    let bytes = 0;
    for (; rc === SQLite.SQLITE_ROW; rc = await sqlite3.step(stmt)) {
      const row: SqlValue[] = new Array(columnCount);
      for (let i = 0; i < columnCount; i++) {
        const value = readColumn(sqlite3, stmt, i);
        row[i] = value;
        bytes += valueBytes(value);
      }
      rows.push(row);
      if (options.resultBytesMax !== undefined && bytes > options.resultBytesMax) {
        throw new ResultTooLargeError(options.resultBytesMax);
      }
    }
    if (columnCount > 0) {
      outcome.columns = columns;
      outcome.rows = rows;
      outcome.resultBytes = bytes;
    }
    if (!readonly) {
      outcome.changes = sqlite3.changes(this.db);
      outcome.lastInsertRowid = BigInt(sqlite3.last_insert_id(this.db));
    }
  }

  /**
   * Ends a run of a kept statement: an unfinished read must not hold its snapshot. reset() repeats the
   * error of a failed step, which was already reported, so that one is ignored.
   */
  async #reset(stmt: number): Promise<void> {
    await this.runtime.sqlite3.reset(stmt).catch(() => undefined);
  }

  async #keep(sql: string, statement: PreparedStatement): Promise<void> {
    this.#prepared.set(sql, statement);
    if (this.#prepared.size <= preparedStatementsMax) return;
    const [oldestSql, oldest] = this.#prepared.entries().next().value!;
    this.#prepared.delete(oldestSql);
    await this.runtime.sqlite3.finalize(oldest.stmt);
  }

  #bind(stmt: number, parameterKeys: string[], parameters: Map<string, SqlValue>): void {
    const sqlite3 = this.runtime.sqlite3;
    for (let i = 1; i <= parameterKeys.length; i++) {
      const key = parameterKeys[i - 1]!;
      const value = parameters.get(key);
      if (value === undefined) {
        const name = sqlite3.bind_parameter_name(stmt, i);
        throw new SqlError(`no value for parameter ${name || `#${i}`}`, SQLite.SQLITE_RANGE);
      }
      if (value === null) sqlite3.bind_null(stmt, i);
      else if (typeof value === 'bigint') sqlite3.bind_int64(stmt, i, value);
      else if (typeof value === 'number') sqlite3.bind_double(stmt, i, value);
      else if (typeof value === 'boolean') sqlite3.bind_int(stmt, i, value ? 1 : 0);
      else if (typeof value === 'string') sqlite3.bind_text(stmt, i, value);
      else sqlite3.bind_blob(stmt, i, value);
    }
  }

  /** Prepared statements kept (for tests and metrics). */
  get preparedCount(): number {
    return this.#prepared.size;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.runtime.exclusive(async () => {
      // sqlite3_close refuses a connection with statements still prepared.
      for (const { stmt } of this.#prepared.values()) await this.runtime.sqlite3.finalize(stmt);
      this.#prepared.clear();
      await this.runtime.sqlite3.close(this.db);
    });
  }
}

/** A statement's parameter names without their prefix; an unnamed (?) parameter has the key ''. */
function parameterKeysOf(sqlite3: SqliteRuntime['sqlite3'], stmt: number): string[] {
  const count = sqlite3.bind_parameter_count(stmt);
  const keys: string[] = new Array(count);
  for (let i = 1; i <= count; i++)
    keys[i - 1] = (sqlite3.bind_parameter_name(stmt, i) ?? '').replace(/^[:@$]/, '');
  return keys;
}

/** wa-sqlite throws SQLiteError with a result code; anything else is not an SQL error. */
function asSqlError(error: unknown): unknown {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? new SqlError((error as Error).message, code) : error;
}

function readColumn(sqlite3: SqliteRuntime['sqlite3'], stmt: number, i: number): SqlValue {
  switch (sqlite3.column_type(stmt, i)) {
    case SQLite.SQLITE_NULL:
      return null;
    case SQLite.SQLITE_INTEGER:
      return BigInt(sqlite3.column_int64(stmt, i));
    case SQLite.SQLITE_FLOAT:
      return sqlite3.column_double(stmt, i);
    case SQLite.SQLITE_TEXT:
      return sqlite3.column_text(stmt, i);
    default:
      // The blob is a view into the module's memory: copy it out.
      return sqlite3.column_blob(stmt, i).slice();
  }
}

function valueBytes(value: SqlValue): number {
  if (value === null) return 4;
  if (typeof value === 'string') return value.length + 8;
  if (value instanceof Uint8Array) return Math.ceil(value.length * 1.34) + 8;
  return 12;
}
