// A Session over one better-sqlite3 connection (synchronous, wrapped in promises so that the shared
// workloads run on it unchanged). Write transactions start with BEGIN IMMEDIATE: SQLite has one
// writer at a time, and taking the lock up front waits in busy_timeout instead of failing later.
import Database from 'better-sqlite3';
import type { Params, Row, Session } from '../types.ts';

export function openSqlite(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('busy_timeout = 30000');
  return db;
}

export class SqliteSession implements Session {
  readonly #statements = new Map<string, Database.Statement>();

  constructor(readonly db: Database.Database) {}

  query(sql: string, params: Params = {}): Promise<Row[]> {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      if (statement.reader) statement.raw(true);
      this.#statements.set(sql, statement);
    }
    if (statement.reader) return Promise.resolve(statement.all(params) as Row[]);
    statement.run(params);
    return Promise.resolve([]);
  }

  begin(): Promise<void> {
    this.db.exec('BEGIN IMMEDIATE');
    return Promise.resolve();
  }

  commit(): Promise<void> {
    this.db.exec('COMMIT');
    return Promise.resolve();
  }

  rollback(): Promise<void> {
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // nothing to roll back
    }
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.db.close();
    return Promise.resolve();
  }
}
