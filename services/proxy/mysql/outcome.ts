// What a MySQL client is told when the proxy's Data API path ends a request with one of the proxy's
// own failover errors (services/proxy/errors.ts). MySQL clients branch on error codes, not on Data API
// exception names, so the same decisions are re-expressed in MySQL's terms (ADR 017). Pure.
import { DataApiError, databaseError } from '../../../core/data-api/errors.ts';

/**
 * Thrown to make the MySQL server close the client connection without an answer: the client sees
 * "Lost connection to MySQL server during query" (2013), which is what MySQL clients and their
 * retry logic expect when a statement's outcome is unknown, and which no client replays by itself.
 */
export class ConnectionLostError extends Error {
  /** Read by core/mysql/server.ts: the connection is closed instead of answered. */
  readonly closesConnection = true;
  constructor(readonly reason: DataApiError) {
    super(`connection closed: ${reason.message}`);
    this.name = 'ConnectionLostError';
  }
}

export type MysqlFate =
  /** Pass the error on: core/mysql/errors.ts maps it to a MySQL code (1064, 1146, 1290 …). */
  | { kind: 'error'; error: unknown }
  /** The transaction is gone (rolled back with its instance): 1213, which clients retry whole. */
  | { kind: 'transaction-aborted'; error: DataApiError }
  /** The outcome is unknown, or nothing could be sent in time: close the connection (2013). */
  | { kind: 'connection-lost'; error: ConnectionLostError };

/** The text core/mysql/errors.ts (and MySQL clients' deadlock detection) reads as 1213. */
export const deadlockPrefix = 'Deadlock found when trying to get lock; try restarting transaction';

/**
 * Decides how a failed Data API call reaches the MySQL client:
 * - an autocommit statement or a COMMIT whose outcome is unknown ("may or may not have committed"):
 *   the connection is closed, never an error the client could read as "did not happen";
 * - a request held past --hold-ms (never sent) or a read that kept failing (DatabaseUnavailable):
 *   closed too — the client reconnects through the same endpoint, as after any lost connection;
 * - a statement of a transaction whose instance failed, or a transaction the proxy reports lost:
 *   1213, because the transaction has certainly not committed and must be run again from its start;
 * - anything else is the instance's own error, passed on.
 */
export function mysqlFate(error: unknown): MysqlFate {
  if (!(error instanceof DataApiError)) return { kind: 'error', error };
  const { name, message } = error;
  if (name === 'DatabaseUnavailableException') {
    return { kind: 'connection-lost', error: new ConnectionLostError(error) };
  }
  if (name === 'DatabaseErrorException' && /may or may not have committed/.test(message)) {
    return { kind: 'connection-lost', error: new ConnectionLostError(error) };
  }
  if (
    (name === 'DatabaseErrorException' && /roll the transaction back and begin a new one/.test(message)) ||
    (name === 'TransactionNotFoundException' && /it was rolled back/.test(message))
  ) {
    return { kind: 'transaction-aborted', error: databaseError(`${deadlockPrefix} (${message})`) };
  }
  return { kind: 'error', error };
}

/** Throws what mysqlFate decided. */
export function throwForMysql(error: unknown): never {
  const fate = mysqlFate(error);
  throw fate.error;
}
