// MySQL error numbers and SQLSTATEs, and the mapping of what the one executor throws (Data API
// exceptions with SQLite's messages) onto the codes MySQL clients branch on. Pure.
import { toDataApiError } from '../data-api/errors.ts';
import { MysqlDialectError } from '../engine/mysql-dialect.ts';

export interface MysqlError {
  code: number;
  sqlState: string;
  message: string;
}

/** The MySQL errors this server sends, by name. */
export const ER = {
  ACCESS_DENIED: { code: 1045, sqlState: '28000' },
  UNKNOWN_COM: { code: 1047, sqlState: '08S01' },
  BAD_NULL: { code: 1048, sqlState: '23000' },
  BAD_DB: { code: 1049, sqlState: '42000' },
  TABLE_EXISTS: { code: 1050, sqlState: '42S01' },
  BAD_FIELD: { code: 1054, sqlState: '42S22' },
  DUP_ENTRY: { code: 1062, sqlState: '23000' },
  PARSE: { code: 1064, sqlState: '42000' },
  EMPTY_QUERY: { code: 1065, sqlState: '42000' },
  NO_SUCH_TABLE: { code: 1146, sqlState: '42S02' },
  NET_PACKET_TOO_LARGE: { code: 1153, sqlState: '08S01' },
  UNKNOWN_ERROR: { code: 1105, sqlState: 'HY000' },
  LOCK_WAIT_TIMEOUT: { code: 1205, sqlState: 'HY000' },
  LOCK_DEADLOCK: { code: 1213, sqlState: '40001' },
  NOT_SUPPORTED_YET: { code: 1235, sqlState: '42000' },
  UNKNOWN_SYSTEM_VARIABLE: { code: 1193, sqlState: 'HY000' },
  UNKNOWN_STMT_HANDLER: { code: 1243, sqlState: 'HY000' },
  OPTION_PREVENTS_STATEMENT: { code: 1290, sqlState: 'HY000' },
  NO_REFERENCED_ROW: { code: 1452, sqlState: '23000' },
  QUERY_TIMEOUT: { code: 3024, sqlState: 'HY000' },
  CHECK_CONSTRAINT_VIOLATED: { code: 3819, sqlState: 'HY000' },
  MALFORMED_PACKET: { code: 1835, sqlState: 'HY000' },
  WRONG_ARGUMENTS: { code: 1210, sqlState: 'HY000' },
  NET_READ_INTERRUPTED: { code: 1159, sqlState: '08S01' },
} as const;

export type MysqlErrorName = keyof typeof ER;

export const mysqlError = (name: MysqlErrorName, message: string): MysqlError => ({ ...ER[name], message });

/** A MysqlError thrown inside the server's statement handling (session statements, arguments). */
export class MysqlProtocolError extends Error {
  constructor(readonly error: MysqlError) {
    super(error.message);
    this.name = 'MysqlProtocolError';
  }
}

export const protocolError = (name: MysqlErrorName, message: string): MysqlProtocolError =>
  new MysqlProtocolError(mysqlError(name, message));

/**
 * An executor error that asks for the connection to be closed instead of answered (the proxy's MySQL
 * endpoints, when a statement's outcome is unknown): the client sees a lost connection (2013).
 */
export function closesConnection(error: unknown): boolean {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { closesConnection?: unknown }).closesConnection === true
  );
}

/** Text of the read-only refusal, as MySQL words it. */
export const readOnlyMessage =
  'The MySQL server is running with the --read-only option so it cannot execute this statement (this is a reader instance; send writes to the cluster endpoint)';

/**
 * The MySQL error for anything the executor (or the dialect) threw. SQLite's messages are matched
 * for the conditions clients branch on; the rest is 1105 with the message.
 */
export function mysqlErrorFor(error: unknown, database: string): MysqlError {
  if (error instanceof MysqlProtocolError) return error.error;
  if (error instanceof MysqlDialectError) {
    return {
      code: error.mysqlErrno,
      // 1064 and 1235 are both SQLSTATE 42000.
      sqlState: '42000',
      message: error.message,
    };
  }
  const failure = toDataApiError(error);
  const message = failure.message.replace(/^Database error: /, '');
  let m: RegExpExecArray | null;
  if (failure.name === 'StatementTimeoutException') {
    if (/write lock/.test(message)) {
      return mysqlError('LOCK_WAIT_TIMEOUT', 'Lock wait timeout exceeded; try restarting transaction');
    }
    return mysqlError(
      'QUERY_TIMEOUT',
      'Query execution was interrupted, maximum statement execution time exceeded',
    );
  }
  if (/read-only/.test(message)) return mysqlError('OPTION_PREVENTS_STATEMENT', readOnlyMessage);
  if (/^Deadlock found/.test(message)) return mysqlError('LOCK_DEADLOCK', message);
  m = /no such table: (?:\w+\.)?(\S+)/.exec(message);
  if (m) {
    return mysqlError('NO_SUCH_TABLE', `Table '${database}.${m[1]}' doesn't exist`);
  }
  m = /no such column: (\S+)/.exec(message);
  if (m) {
    return mysqlError('BAD_FIELD', `Unknown column '${m[1]}' in 'field list'`);
  }
  m = /(?:UNIQUE|PRIMARY KEY) constraint failed: (.+)/.exec(message);
  if (m) {
    return mysqlError('DUP_ENTRY', `Duplicate entry for key '${m[1]}'`);
  }
  m = /NOT NULL constraint failed: (?:\w+\.)?(\S+)/.exec(message);
  if (m) {
    return mysqlError('BAD_NULL', `Column '${m[1]}' cannot be null`);
  }
  if (/CHECK constraint failed/.test(message)) {
    return mysqlError(
      'CHECK_CONSTRAINT_VIOLATED',
      message.replace('CHECK constraint failed', 'Check constraint is violated'),
    );
  }
  if (/FOREIGN KEY constraint failed/.test(message)) {
    return mysqlError(
      'NO_REFERENCED_ROW',
      'Cannot add or update a child row: a foreign key constraint fails',
    );
  }
  m = /table (\S+) already exists/.exec(message);
  if (m) {
    return mysqlError('TABLE_EXISTS', `Table '${m[1]}' already exists`);
  }
  if (/syntax error|incomplete input|unrecognized token|no such function|near "/.test(message)) {
    return mysqlError(
      'PARSE',
      `You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use (${message})`,
    );
  }
  if (failure.name === 'InternalServerErrorException')
    return mysqlError('UNKNOWN_ERROR', 'An internal error occurred');
  return mysqlError('UNKNOWN_ERROR', message);
}
