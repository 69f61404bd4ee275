// A DataApiExecutor over an in-memory better-sqlite3 database, for the MySQL front end's unit tests:
// the same contract as the instance's SqlExecutor (the dialect translated, Data API errors with
// SQLite's messages, transactions by id), without storage. One transaction at a time.
import Database from 'better-sqlite3';
import { badRequest, transactionNotFound } from '../data-api/errors.ts';
import type { DataApiExecutor, SqlValue, StatementRequest, StatementResult } from '../data-api/types.ts';
import { translateMysql } from '../engine/mysql-dialect.ts';

export class MemoryExecutor implements DataApiExecutor {
  readonly db = new Database(':memory:');
  #transaction: string | undefined;
  #nextId = 1;
  readonly statements: string[] = [];

  constructor(readonly readOnly = false) {
    this.db.defaultSafeIntegers(true);
  }

  async executeStatement(req: StatementRequest): Promise<StatementResult> {
    const sql = translateMysql(req.sql);
    this.statements.push(sql);
    if (req.transactionId !== undefined && req.transactionId !== this.#transaction) {
      throw transactionNotFound(`Transaction ${req.transactionId} is not found`);
    }
    try {
      const parts = sql.split(';\n').filter((s) => s.trim() !== '');
      let result: StatementResult = { columns: [], rows: [], numberOfRecordsUpdated: 0 };
      for (const part of parts) {
        const stmt = this.db.prepare(part);
        if (!stmt.readonly && this.readOnly) {
          throw badRequest('The database is read-only: this is a reader instance');
        }
        const parameters = Object.fromEntries(
          [...req.parameters].map(([k, v]) => [
            k,
            typeof v === 'boolean' ? (v ? 1 : 0) : v instanceof Uint8Array ? Buffer.from(v) : v,
          ]),
        );
        const hasParameters = req.parameters.size > 0;
        if (stmt.reader) {
          const columns = stmt.columns().map((c) => ({ name: c.name }));
          const rows = (hasParameters ? stmt.raw().all(parameters) : stmt.raw().all()) as unknown[][];
          result = { columns, rows: rows.map((r) => r.map(fromSqlite)), numberOfRecordsUpdated: 0 };
        } else {
          const info = hasParameters ? stmt.run(parameters) : stmt.run();
          const isInsert = /^\s*(insert|replace)\b/i.test(part);
          result = {
            columns: [],
            rows: [],
            numberOfRecordsUpdated: Number(info.changes),
            ...(isInsert && Number(info.changes) > 0
              ? { generatedFields: [BigInt(info.lastInsertRowid)] }
              : {}),
          };
        }
      }
      return result;
    } catch (error) {
      if (error instanceof Error && error.name === 'SqliteError')
        throw badRequest(`Database error: ${error.message}`);
      throw error;
    }
  }

  async describeStatement(sql: string): Promise<{ name: string }[]> {
    try {
      const parts = translateMysql(sql)
        .split(';\n')
        .filter((s) => s.trim() !== '');
      const stmt = this.db.prepare(parts[parts.length - 1] ?? 'SELECT 1 WHERE 0');
      return stmt.reader ? stmt.columns().map((c) => ({ name: c.name })) : [];
    } catch (error) {
      if (error instanceof Error && error.name === 'SqliteError')
        throw badRequest(`Database error: ${error.message}`);
      throw error;
    }
  }

  async batchExecuteStatement(): Promise<{ generatedFields: SqlValue[][] }> {
    throw new Error('not used by the MySQL front end');
  }

  async beginTransaction(): Promise<string> {
    if (this.#transaction !== undefined) throw badRequest('MemoryExecutor runs one transaction at a time');
    this.db.exec('BEGIN');
    this.#transaction = `t${this.#nextId++}`;
    return this.#transaction;
  }

  async commitTransaction(id: string): Promise<void> {
    if (id !== this.#transaction) throw transactionNotFound(`Transaction ${id} is not found`);
    this.#transaction = undefined;
    this.db.exec('COMMIT');
  }

  async rollbackTransaction(id: string): Promise<void> {
    if (id !== this.#transaction) throw transactionNotFound(`Transaction ${id} is not found`);
    this.#transaction = undefined;
    this.db.exec('ROLLBACK');
  }
}

function fromSqlite(v: unknown): SqlValue {
  if (v === null || typeof v === 'bigint' || typeof v === 'number' || typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return new Uint8Array(v);
  throw new TypeError(`unexpected SQLite value ${String(v)}`);
}
