// The Data API executor of an instance: connections, transactions, the write lock and the
// durability rule. Each open transaction has its own connection; autocommit statements borrow an
// idle one. Writes take the instance's single write lock (fair queue). On the writer a transaction
// holds it from its first statement to its end, read or write: its snapshot is taken under the lock,
// so it can never be stale when it writes (SQLite validates whole snapshots, not rows; a transaction
// that read first and wrote later would fail with a deadlock nearly always under concurrent writes,
// which makes read-modify-write unusable). Read-only transactions belong on a reader. Every
// response waits until VDL covers what it saw (writer) — a client is never shown data that a crash
// could take back.
import { randomBytes } from 'node:crypto';
import type { ChangeCapture } from '../binlog/capture.ts';
import {
  badRequest,
  DataApiError,
  serviceUnavailable,
  statementTimeout,
  transactionNotFound,
} from '../data-api/errors.ts';
import type {
  DataApiExecutor,
  ResultColumn,
  SqlValue,
  StatementRequest,
  StatementResult,
} from '../data-api/types.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Lsn } from '../lsn.ts';
import { Connection, ResultTooLargeError, SqlError, StatementInterruptedError } from './connection.ts';
import { FairLock } from './fair-lock.ts';
import { translateMysql } from './mysql-dialect.ts';
import { SQLite, type SqliteRuntime } from './runtime.ts';

export interface SqlExecutorOptions {
  runtime: SqliteRuntime;
  databaseName: string;
  vfsName: string;
  readOnly: boolean;
  /** Run on every new connection (pragmas). */
  connectionInitSql?: string;
  logger: Logger;
  /** The commit point a response must wait to be durable (writer: latest commit; reader: none). */
  visibleLsn: () => Lsn;
  waitDurable: (lsn: Lsn) => Promise<void>;
  /**
   * Everything up to here is durable now (writer: VDL): a response that saw no more than this is sent
   * without waiting, and without arming the stall timer a wait needs.
   */
  durableLsn?: () => Lsn;
  /** How far acknowledgements have come (VCL): a durability wait gives up only when this stops moving. */
  progressLsn?: () => Lsn;
  /** The Data API's statement timeout (45 s) unless the caller asks to continue. */
  statementTimeoutMs?: number;
  /** Transactions idle longer than this are rolled back (the Data API: 3 minutes). */
  idleTransactionTimeoutMs?: number;
  writeLockWaitMs?: number;
  /** How long VDL may stand still while a response waits, before the caller is told the outcome is unknown. */
  durableWaitMs?: number;
  transactionsOpenMax?: number;
  resultBytesMax?: number;
  /**
   * Row-level change capture for the binlog (writer with binlog_format ROW; readers never pass it).
   * With it every write transaction ends with capture.stage right before its COMMIT, and an
   * autocommit write statement runs as BEGIN; statement; COMMIT so that it has such an end.
   */
  capture?: ChangeCapture;
}

interface Transaction {
  id: string;
  connection: Connection;
  releaseWrite: (() => void) | undefined;
  idleTimer: NodeJS.Timeout;
  busy: boolean;
}

const ddlPattern = /^\s*(create|alter|drop|truncate|rename)\b/i;
/** Random bytes in a transaction id, and how many ids' worth are drawn from the system at once. */
const transactionIdBytes = 24;
const transactionIdsPerDraw = 64;
const transactionControlPattern = /^\s*(begin|commit|end|rollback|savepoint|release)\b/i;
/** Statements SQLite refuses (or ignores) inside a transaction: they run on their own, uncaptured. */
const outsideTransactionPattern = /^\s*(vacuum|attach|detach|pragma)\b/i;

export class SqlExecutor implements DataApiExecutor {
  readonly #options: SqlExecutorOptions;
  readonly #writeLock = new FairLock();
  readonly #transactions = new Map<string, Transaction>();
  readonly #idle: Connection[] = [];
  readonly #readonlyCache = new Map<string, boolean>();
  #idEntropy = Buffer.alloc(0);
  #idEntropyOffset = 0;
  #closed = false;
  statements = 0;

  constructor(options: SqlExecutorOptions) {
    this.#options = options;
  }

  get openTransactions(): number {
    return this.#transactions.size;
  }

  get writeLockQueue(): number {
    return this.#writeLock.waiting;
  }

  async #borrow(): Promise<Connection> {
    const idle = this.#idle.pop();
    if (idle) return idle;
    const o = this.#options;
    return Connection.open(o.runtime, o.databaseName, o.vfsName, o.readOnly, o.connectionInitSql);
  }

  #giveBack(connection: Connection): void {
    if (this.#closed || this.#idle.length >= 16) void connection.close();
    else this.#idle.push(connection);
  }

  async #isReadonly(connection: Connection, sql: string): Promise<boolean> {
    const cached = this.#readonlyCache.get(sql);
    if (cached !== undefined) return cached;
    const readonly = await connection.isReadonly(sql);
    if (this.#readonlyCache.size > 4096) this.#readonlyCache.clear();
    this.#readonlyCache.set(sql, readonly);
    return readonly;
  }

  async executeStatement(original: StatementRequest): Promise<StatementResult> {
    this.statements++;
    if (transactionControlPattern.test(original.sql)) {
      throw badRequest(
        'Use BeginTransaction, CommitTransaction and RollbackTransaction to control transactions',
      );
    }
    // The MySQL dialect, translated once here for both front ends (Data API and MySQL protocol).
    const sql = translateMysql(original.sql);
    const req = sql === original.sql ? original : { ...original, sql };
    if (req.transactionId !== undefined) return this.#inTransaction(req);
    const connection = await this.#borrow();
    try {
      return await this.#autocommit(connection, req.sql, req.parameters, req.continueAfterTimeout);
    } finally {
      this.#giveBack(connection);
    }
  }

  async #autocommit(
    connection: Connection,
    sql: string,
    parameters: Map<string, SqlValue>,
    continueAfterTimeout: boolean,
  ): Promise<StatementResult> {
    const readonly = await this.#isReadonly(connection, sql).catch((e) => this.#throwMapped(e, connection));
    if (readonly) {
      const result = await this.#run(connection, sql, parameters, continueAfterTimeout);
      await this.#afterPragma(connection, sql);
      await this.#durable(this.#options.visibleLsn());
      return result;
    }
    this.#refuseWriteOnReader();
    const release = await this.#acquireWrite();
    let result: StatementResult;
    try {
      result = await this.#runOwnTransaction(connection, sql, parameters, continueAfterTimeout);
    } finally {
      release();
    }
    await this.#durable(this.#options.visibleLsn());
    return result;
  }

  /**
   * A write statement outside a client transaction, under the write lock. Without capture SQLite
   * commits it by itself. With capture it runs as BEGIN; statement; COMMIT, the changes staged
   * before the COMMIT; if it fails and SQLite kept part of it (ON CONFLICT FAIL), that part commits,
   * as autocommit would have, and the error is reported.
   */
  async #runOwnTransaction(
    connection: Connection,
    sql: string,
    parameters: Map<string, SqlValue>,
    continueAfterTimeout: boolean,
  ): Promise<StatementResult> {
    const capture = this.#options.capture;
    if (capture === undefined || outsideTransactionPattern.test(sql)) {
      try {
        return await this.#run(connection, sql, parameters, continueAfterTimeout);
      } finally {
        await capture?.invalidate(connection).catch(() => undefined);
      }
    }
    try {
      await capture.prepare(connection);
      await connection.execute('BEGIN');
      await capture.beforeStatement(connection, sql);
    } catch (error) {
      if (connection.inTransaction) await connection.execute('ROLLBACK').catch(() => undefined);
      this.#throwMapped(error, connection);
    }
    let result: StatementResult;
    try {
      result = await this.#run(connection, sql, parameters, continueAfterTimeout);
    } catch (error) {
      if (connection.inTransaction) {
        await capture.afterStatement(connection, sql).catch(() => undefined);
        await this.#commit(connection).catch(() => connection.execute('ROLLBACK').catch(() => undefined));
      }
      throw error;
    }
    try {
      await capture.afterStatement(connection, sql);
      await this.#commit(connection);
    } catch (error) {
      if (connection.inTransaction) await connection.execute('ROLLBACK').catch(() => undefined);
      this.#throwMapped(error, connection);
    }
    return result;
  }

  /** A PRAGMA may have reset what the capture set on the connection (recursive_triggers, temp_store). */
  async #afterPragma(connection: Connection, sql: string): Promise<void> {
    if (this.#options.capture !== undefined && outsideTransactionPattern.test(sql))
      await this.#options.capture.invalidate(connection).catch(() => undefined);
  }

  /** COMMIT, the captured changes staged right before it and dropped after it whatever happens. */
  async #commit(connection: Connection): Promise<void> {
    const capture = this.#options.capture;
    if (capture === undefined) {
      await connection.execute('COMMIT');
      return;
    }
    // Only under the write lock: the engine has one staged slot, and the lock holder owns it.
    if (!(await capture.stage(connection))) {
      await connection.execute('COMMIT');
      return;
    }
    try {
      await connection.execute('COMMIT');
    } finally {
      capture.unstage();
    }
  }

  async #inTransaction(req: StatementRequest): Promise<StatementResult> {
    const txn = this.#take(req.transactionId!);
    try {
      if (!this.#options.readOnly && !txn.releaseWrite) {
        txn.releaseWrite = await this.#acquireWrite();
        // Nothing ran in the transaction yet (BEGIN is deferred): triggers are built outside it.
        const capture = this.#options.capture;
        if (capture !== undefined && !capture.ready(txn.connection)) {
          await txn.connection.execute('COMMIT');
          await capture.prepare(txn.connection).finally(() => txn.connection.execute('BEGIN'));
        }
      }
      const readonly = await this.#isReadonly(txn.connection, req.sql).catch((e) =>
        this.#throwMapped(e, txn.connection),
      );
      if (!readonly) {
        // On the writer the lock is held since the transaction's first statement (above).
        this.#refuseWriteOnReader();
        if (ddlPattern.test(req.sql)) {
          // DDL commits the transaction it runs in (MySQL semantics), then the transaction goes on.
          await this.#commit(txn.connection);
          let result: StatementResult;
          try {
            result = await this.#runOwnTransaction(
              txn.connection,
              req.sql,
              req.parameters,
              req.continueAfterTimeout,
            );
          } finally {
            await this.#options.capture?.prepare(txn.connection).catch(() => undefined);
            await txn.connection.execute('BEGIN');
          }
          await this.#durable(this.#options.visibleLsn());
          return result;
        }
      }
      let result: StatementResult;
      try {
        result = await this.#run(txn.connection, req.sql, req.parameters, req.continueAfterTimeout);
      } catch (error) {
        if (!readonly && txn.connection.inTransaction)
          await this.#options.capture?.afterStatement(txn.connection, req.sql).catch(() => undefined);
        if (error instanceof DataApiError && (error as DataApiError & { conflict?: boolean }).conflict) {
          await this.#end(txn, 'ROLLBACK');
        }
        throw error;
      }
      if (!readonly) {
        await this.#options.capture
          ?.afterStatement(txn.connection, req.sql)
          .catch((e) => this.#throwMapped(e, txn.connection));
      }
      await this.#afterPragma(txn.connection, req.sql);
      await this.#durable(this.#options.visibleLsn());
      return result;
    } finally {
      this.#release(txn);
    }
  }

  /**
   * The result columns `sql` would return, without running it (the MySQL front end's
   * COM_STMT_PREPARE). The dialect is translated as executeStatement does.
   */
  async describeStatement(sql: string): Promise<ResultColumn[]> {
    const connection = await this.#borrow();
    try {
      return await connection.describe(translateMysql(sql)).catch((e) => this.#throwMapped(e, connection));
    } finally {
      this.#giveBack(connection);
    }
  }

  async batchExecuteStatement(
    sql: string,
    parameterSets: Map<string, SqlValue>[],
    transactionId?: string,
  ): Promise<{ generatedFields: SqlValue[][] }> {
    const sets = parameterSets.length === 0 ? [new Map<string, SqlValue>()] : parameterSets;
    // Without a transaction the whole batch is still atomic: it runs in one of its own.
    const ownTransaction = transactionId === undefined;
    const id = transactionId ?? (await this.beginTransaction());
    const generatedFields: SqlValue[][] = [];
    try {
      for (const parameters of sets) {
        const result = await this.executeStatement({
          sql,
          parameters,
          transactionId: id,
          includeResultMetadata: false,
          formatRecordsAs: 'NONE',
          continueAfterTimeout: false,
        });
        generatedFields.push(result.generatedFields ?? []);
      }
      if (ownTransaction) await this.commitTransaction(id);
    } catch (error) {
      if (ownTransaction && this.#transactions.has(id))
        await this.rollbackTransaction(id).catch(() => undefined);
      throw error;
    }
    return { generatedFields };
  }

  async beginTransaction(): Promise<string> {
    if (this.#transactions.size >= (this.#options.transactionsOpenMax ?? 1024)) {
      throw serviceUnavailable('Too many open transactions; try again later');
    }
    const connection = await this.#borrow();
    await connection.execute('BEGIN');
    const id = this.#newTransactionId();
    const idleTimer = setTimeout(
      () => this.#rollBackIdle(id),
      this.#options.idleTransactionTimeoutMs ?? 180_000,
    ).unref();
    this.#transactions.set(id, { id, connection, releaseWrite: undefined, idleTimer, busy: false });
    return id;
  }

  /** An unguessable id (24 random bytes); the randomness is drawn for many ids at once. */
  #newTransactionId(): string {
    if (this.#idEntropyOffset >= this.#idEntropy.length) {
      this.#idEntropy = randomBytes(transactionIdBytes * transactionIdsPerDraw);
      this.#idEntropyOffset = 0;
    }
    const start = this.#idEntropyOffset;
    this.#idEntropyOffset += transactionIdBytes;
    return this.#idEntropy.toString('base64url', start, start + transactionIdBytes);
  }

  async commitTransaction(id: string): Promise<void> {
    const txn = this.#take(id);
    try {
      await this.#end(txn, 'COMMIT');
    } catch (error) {
      await this.#end(txn, 'ROLLBACK').catch(() => undefined);
      this.#throwMapped(error, txn.connection);
    }
    await this.#durable(this.#options.visibleLsn());
  }

  async rollbackTransaction(id: string): Promise<void> {
    const txn = this.#take(id);
    await this.#end(txn, 'ROLLBACK');
  }

  #take(id: string): Transaction {
    const txn = this.#transactions.get(id);
    if (!txn) throw transactionNotFound(`Transaction ${id.slice(0, 64)} is not found`);
    if (txn.busy) throw badRequest('The transaction is running another statement');
    // The idle timer stays armed: if it fires while busy it does nothing, and #release re-arms it.
    txn.busy = true;
    return txn;
  }

  #rollBackIdle(id: string): void {
    const txn = this.#transactions.get(id);
    if (txn === undefined || txn.busy) return;
    this.#options.logger.info({ transactionId: id.slice(0, 8) }, 'rolled back an idle transaction');
    void this.#end(txn, 'ROLLBACK').catch(() => undefined);
  }

  #release(txn: Transaction): void {
    txn.busy = false;
    // refresh() restarts the idle timeout on the same timer: no new timer per statement.
    if (this.#transactions.has(txn.id)) txn.idleTimer.refresh();
  }

  async #end(txn: Transaction, how: 'COMMIT' | 'ROLLBACK'): Promise<void> {
    this.#transactions.delete(txn.id);
    clearTimeout(txn.idleTimer);
    try {
      if (txn.connection.inTransaction) {
        // A transaction that never took the write lock ran no statement: nothing to capture.
        if (how === 'COMMIT' && txn.releaseWrite !== undefined) await this.#commit(txn.connection);
        else await txn.connection.execute(how);
      }
    } finally {
      txn.releaseWrite?.();
      txn.releaseWrite = undefined;
      if (txn.connection.inTransaction) await txn.connection.execute('ROLLBACK').catch(() => undefined);
      this.#giveBack(txn.connection);
    }
  }

  #refuseWriteOnReader(): void {
    if (this.#options.readOnly) {
      throw badRequest(
        'The database is read-only: this is a reader instance; send writes to the cluster (writer) endpoint',
      );
    }
  }

  async #acquireWrite(): Promise<() => void> {
    try {
      return await this.#writeLock.acquire(this.#options.writeLockWaitMs ?? 30_000);
    } catch {
      throw statementTimeout('Timed out waiting for the write lock', 0);
    }
  }

  async #durable(lsn: Lsn): Promise<void> {
    const durableLsn = this.#options.durableLsn;
    if (durableLsn !== undefined && lsn <= durableLsn()) return;
    const stallMs = this.#options.durableWaitMs ?? 30_000;
    const progress = this.#options.progressLsn;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#options.waitDurable(lsn),
        new Promise((_, reject) => {
          // Give up only when acknowledgements stopped for stallMs: storage lost its write quorum.
          let seen = progress?.();
          let stalledSince = Date.now();
          timer = setInterval(
            () => {
              const now = progress?.();
              if (now !== seen) {
                seen = now;
                stalledSince = Date.now();
              } else if (Date.now() - stalledSince >= stallMs) {
                reject(
                  serviceUnavailable(
                    'The change is not yet durable on a write quorum of storage (too many storage nodes are down); its outcome is unknown',
                  ),
                );
              }
            },
            Math.min(1_000, stallMs),
          );
        }),
      ]);
    } catch (error) {
      if (error instanceof DataApiError) throw error;
      if (error instanceof BorealisError && error.code === ErrorCode.STALE_EPOCH) {
        throw serviceUnavailable(
          'This writer was replaced by a newer one (fenced); retry on the cluster endpoint',
        );
      }
      throw error;
    } finally {
      clearInterval(timer);
    }
  }

  async #run(
    connection: Connection,
    sql: string,
    parameters: Map<string, SqlValue>,
    continueAfterTimeout: boolean,
  ): Promise<StatementResult> {
    try {
      const outcome = await connection.execute(sql, parameters, {
        deadlineMs: continueAfterTimeout
          ? undefined
          : Date.now() + (this.#options.statementTimeoutMs ?? 45_000),
        resultBytesMax: this.#options.resultBytesMax ?? 1024 * 1024,
      });
      const isInsert = /^\s*(insert|replace)\b/i.test(sql);
      return {
        columns: outcome.columns,
        rows: outcome.rows,
        numberOfRecordsUpdated: outcome.readonly ? 0 : outcome.changes,
        ...(isInsert && outcome.changes > 0 ? { generatedFields: [outcome.lastInsertRowid] } : {}),
      };
    } catch (error) {
      return this.#throwMapped(error, connection);
    }
  }

  #throwMapped(error: unknown, connection: Connection): never {
    if (error instanceof DataApiError) throw error;
    if (error instanceof StatementInterruptedError) {
      throw statementTimeout(
        'The statement exceeded the timeout (set continueAfterTimeout to let it run)',
        connection.id,
      );
    }
    if (error instanceof ResultTooLargeError) {
      throw badRequest('Database returned more than the allowed response size limit');
    }
    if (error instanceof SqlError) {
      if (error.code === SQLite.SQLITE_BUSY) {
        const conflict = badRequest(
          'Deadlock found when trying to get lock; try restarting transaction (another transaction committed a change this one had not seen)',
        );
        throw Object.assign(conflict, { conflict: true });
      }
      if ((error.code & 0xff) === SQLite.SQLITE_IOERR) {
        throw serviceUnavailable(
          'Storage could not serve a page right now (no complete full segment reachable); retry',
        );
      }
      if (error.code === SQLite.SQLITE_READONLY) {
        throw badRequest('The database is read-only: this is a reader instance');
      }
      throw badRequest(`Database error: ${error.message}`);
    }
    throw error;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const txn of [...this.#transactions.values()])
      await this.#end(txn, 'ROLLBACK').catch(() => undefined);
    for (const connection of this.#idle.splice(0)) await connection.close();
  }
}
