import { describe, expect, it } from 'vitest';
import { badRequest, serviceUnavailable, statementTimeout } from '../data-api/errors.ts';
import { MysqlDialectError } from '../engine/mysql-dialect.ts';
import { mysqlErrorFor, protocolError } from './errors.ts';

/** What the executor throws (sql-executor.ts #throwMapped), mapped to what MySQL clients branch on. */
describe('mysqlErrorFor', () => {
  it.each([
    [
      badRequest('Database error: UNIQUE constraint failed: t.id'),
      1062,
      '23000',
      "Duplicate entry for key 't.id'",
    ],
    [badRequest('Database error: no such table: nope'), 1146, '42S02', "Table 'borealis.nope' doesn't exist"],
    [
      badRequest('Database error: no such table: main.nope'),
      1146,
      '42S02',
      "Table 'borealis.nope' doesn't exist",
    ],
    [badRequest('Database error: no such column: x'), 1054, '42S22', "Unknown column 'x' in 'field list'"],
    [badRequest('Database error: near "SELEKT": syntax error'), 1064, '42000', undefined],
    [
      badRequest('Database error: NOT NULL constraint failed: t.name'),
      1048,
      '23000',
      "Column 'name' cannot be null",
    ],
    [badRequest('Database error: table t already exists'), 1050, '42S01', "Table 't' already exists"],
    [badRequest('Database error: CHECK constraint failed: role IN (1)'), 3819, 'HY000', undefined],
    [
      badRequest(
        'Deadlock found when trying to get lock; try restarting transaction (another transaction committed a change this one had not seen)',
      ),
      1213,
      '40001',
      undefined,
    ],
    [statementTimeout('Timed out waiting for the write lock', 0), 1205, 'HY000', undefined],
    [
      statementTimeout('The statement exceeded the timeout (set continueAfterTimeout to let it run)', 3),
      3024,
      'HY000',
      undefined,
    ],
    [
      badRequest(
        'The database is read-only: this is a reader instance; send writes to the cluster (writer) endpoint',
      ),
      1290,
      'HY000',
      undefined,
    ],
    [
      serviceUnavailable('This writer was replaced by a newer one (fenced); retry on the cluster endpoint'),
      1105,
      'HY000',
      undefined,
    ],
    [
      new MysqlDialectError(1235, "This version of Borealis doesn't yet support 'PARTITION BY'"),
      1235,
      '42000',
      undefined,
    ],
    [protocolError('BAD_DB', "Unknown database 'x'"), 1049, '42000', "Unknown database 'x'"],
  ])('%s → %i', (error, code, sqlState, message) => {
    const mapped = mysqlErrorFor(error, 'borealis');
    expect(mapped.code).toBe(code);
    expect(mapped.sqlState).toBe(sqlState);
    if (message !== undefined) expect(mapped.message).toBe(message);
  });

  it('an unexpected error says nothing about its cause', () => {
    const mapped = mysqlErrorFor(new Error('secret internals at /path'), 'borealis');
    expect(mapped).toEqual({ code: 1105, sqlState: 'HY000', message: 'An internal error occurred' });
  });
});
