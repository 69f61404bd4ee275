import { describe, expect, it } from 'vitest';
import { isDataApiError } from '../../core/data-api/errors.ts';
import { classifyRequest, isReadOnlySql, operationOf } from './classify.ts';

describe('request classification', () => {
  it('knows the Data API routes and nothing else', () => {
    expect(operationOf('POST', '/Execute')).toEqual({ name: 'ExecuteStatement', checksCaller: true });
    expect(operationOf('POST', '/BatchExecute')).toEqual({
      name: 'BatchExecuteStatement',
      checksCaller: true,
    });
    expect(operationOf('POST', '/BeginTransaction')).toEqual({
      name: 'BeginTransaction',
      checksCaller: true,
    });
    expect(operationOf('POST', '/CommitTransaction')).toEqual({
      name: 'CommitTransaction',
      checksCaller: true,
    });
    expect(operationOf('POST', '/RollbackTransaction')).toEqual({
      name: 'RollbackTransaction',
      checksCaller: true,
    });
    expect(operationOf('POST', '/ExecuteSql')).toEqual({ name: 'ExecuteSql', checksCaller: false });
    expect(operationOf('GET', '/Execute')).toBeUndefined();
    expect(operationOf('POST', '/execute')).toBeUndefined();
    expect(operationOf('POST', '/')).toBeUndefined();
  });

  it('takes only certain reads as read-only', () => {
    for (const sql of [
      'select 1',
      '  SELECT * from t',
      '\nvalues (1)',
      'explain select 1',
      'select 1;',
      'select 1 ; \n',
    ]) {
      expect(isReadOnlySql(sql), sql).toBe(true);
    }
    for (const sql of [
      'insert into t values (1)',
      'selected',
      'with x as (select 1) insert into t select * from x',
      'select 1; delete from t',
      "select ';'",
      'update t set a = 1',
      '',
      '-- select\ninsert into t values (1)',
    ]) {
      expect(isReadOnlySql(sql), sql).toBe(false);
    }
  });

  it('extracts the transaction and whether the statement only reads', () => {
    expect(classifyRequest('ExecuteStatement', { sql: 'select 1' })).toEqual({
      operation: 'ExecuteStatement',
      kind: 'execute',
      transactionId: undefined,
      readOnly: true,
    });
    expect(
      classifyRequest('BatchExecuteStatement', { sql: 'insert into t values (:a)', transactionId: 'x' }),
    ).toEqual({
      operation: 'BatchExecuteStatement',
      kind: 'batch',
      transactionId: 'x',
      readOnly: false,
    });
    expect(classifyRequest('BeginTransaction', { transactionId: 'ignored' }).transactionId).toBeUndefined();
    expect(classifyRequest('CommitTransaction', { transactionId: 't' }).kind).toBe('commit');
    expect(classifyRequest('ExecuteSql', {}).kind).toBe('other');
    expect(classifyRequest('ExecuteStatement', { sql: 42 }).readOnly).toBe(false);
  });

  it('refuses a transaction id of the wrong type or size as an instance does', () => {
    const refused = (input: Record<string, unknown>, operation = 'ExecuteStatement') => {
      try {
        classifyRequest(operation, input);
      } catch (error) {
        return isDataApiError(error, 'BadRequestException') ? error.message : 'other error';
      }
      return 'accepted';
    };
    expect(refused({ sql: 'select 1', transactionId: 7 })).toMatch(/transactionId must be a string/);
    expect(refused({ sql: 'select 1', transactionId: 'x'.repeat(193) })).toMatch(/limit is 192/);
    expect(refused({}, 'CommitTransaction')).toMatch(/Missing required field: transactionId/);
    expect(refused({ transactionId: '' }, 'RollbackTransaction')).toMatch(/must not be empty/);
  });
});
