import { describe, expect, it } from 'vitest';
import { MysqlProtocolError } from './errors.ts';
import { type ServerVariables, type SessionState, sessionAction } from './session.ts';

const server: ServerVariables = {
  version: '8.0.36-borealis',
  versionComment: 'Borealis',
  maxAllowedPacket: 1024,
  waitTimeoutSeconds: 60,
  port: 3306,
};

const fresh = (): SessionState => ({
  database: 'borealis',
  autocommit: true,
  isolation: 'REPEATABLE-READ',
  readOnly: false,
  variables: new Map(),
  connectionId: 9,
  user: 'admin',
});

function errno(sql: string, state = fresh()): number | undefined {
  try {
    sessionAction(sql, state, server);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(MysqlProtocolError);
    return (error as MysqlProtocolError).error.code;
  }
}

describe('sessionAction', () => {
  it.each([
    ['BEGIN', 'begin'],
    ['begin work;', 'begin'],
    ['START TRANSACTION READ WRITE', 'begin'],
    ['START TRANSACTION WITH CONSISTENT SNAPSHOT', 'begin'],
    ['COMMIT', 'commit'],
    ['commit work and no chain', 'commit'],
    ['ROLLBACK', 'rollback'],
    ['/* comment */ ROLLBACK ;', 'rollback'],
    ['SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci', 'ok'],
    ['UNLOCK TABLES', 'ok'],
    ['', 'ok'],
    ['/*!40101 SET NAMES utf8 */', 'ok'],
    ['USE `borealis`', 'use'],
  ])('%s → %s', (sql, kind) => {
    expect(sessionAction(sql, fresh(), server)?.kind).toBe(kind);
  });

  it('passes ordinary SQL to the executor', () => {
    for (const sql of [
      'SELECT 1',
      'SELECT c FROM t WHERE id = :1',
      'INSERT INTO t VALUES (1)',
      'EXPLAIN SELECT 1',
    ]) {
      expect(sessionAction(sql, fresh(), server)).toBeUndefined();
    }
  });

  it('SET changes the session: autocommit, isolation (both spellings), other variables', () => {
    const state = fresh();
    sessionAction(
      "SET autocommit=0, SESSION sql_mode = 'ANSI', @@session.net_write_timeout = 600",
      state,
      server,
    );
    expect(state.autocommit).toBe(false);
    expect(state.variables.get('sql_mode')).toBe('ANSI');
    sessionAction('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', state, server);
    expect(state.isolation).toBe('READ-COMMITTED');
    sessionAction("SET @@transaction_isolation = 'SERIALIZABLE'", state, server);
    expect(state.isolation).toBe('SERIALIZABLE');
    sessionAction('SET @x = 5', state, server);
    expect(errno('SET autocommit = maybe')).toBe(1210);
    expect(errno("SET transaction_isolation = 'SOMETIMES'")).toBe(1210);
  });

  it('SELECT of variables and session functions, with aliases and LIMIT', () => {
    const state = fresh();
    expect(sessionAction('select @@version_comment limit 1', state, server)).toEqual({
      kind: 'rows',
      columns: ['@@version_comment'],
      rows: [['Borealis']],
    });
    expect(
      sessionAction(
        'SELECT @@session.autocommit AS ac, DATABASE(), CONNECTION_ID() id, USER()',
        state,
        server,
      ),
    ).toEqual({
      kind: 'rows',
      columns: ['ac', 'DATABASE()', 'id', 'USER()'],
      rows: [[1n, 'borealis', 9n, 'admin@%']],
    });
    expect(sessionAction('SELECT @@max_allowed_packet', state, server)).toMatchObject({ rows: [[1024n]] });
    expect(errno('SELECT @@nope')).toBe(1193);
  });

  it('SHOW: databases, tables, columns, create table, warnings, variables; unknown forms are 1235', () => {
    const state = fresh();
    expect(sessionAction('SHOW DATABASES', state, server)).toEqual({
      kind: 'rows',
      columns: ['Database'],
      rows: [['borealis']],
    });
    expect(sessionAction("SHOW TABLES LIKE 'sb%'", state, server)).toMatchObject({
      kind: 'sql',
      sql: expect.stringContaining("name LIKE 'sb%'"),
    });
    expect(sessionAction('SHOW FULL COLUMNS FROM `borealis`.`t`', state, server)).toMatchObject({
      kind: 'sql',
      sql: expect.stringContaining("pragma_table_info('t')"),
    });
    expect(sessionAction('DESCRIBE t', state, server)).toMatchObject({ kind: 'sql' });
    expect(sessionAction("SHOW CREATE TABLE `it's`", state, server)).toMatchObject({
      sql: expect.stringContaining("name = 'it''s'"),
    });
    expect(sessionAction("SHOW VARIABLES LIKE 'max_allowed%'", state, server)).toEqual({
      kind: 'rows',
      columns: ['Variable_name', 'Value'],
      rows: [['max_allowed_packet', '1024']],
    });
    expect(sessionAction('SHOW WARNINGS', state, server)).toMatchObject({ rows: [] });
    expect(errno('SHOW PROCESSLIST')).toBe(1235);
    expect(errno('SHOW TABLES FROM other')).toBe(1049);
    expect(errno('USE other')).toBe(1049);
    expect(errno('SAVEPOINT a')).toBe(1235);
    expect(errno('ROLLBACK TO SAVEPOINT a')).toBe(1235);
  });
});
