import { describe, expect, it } from 'vitest';
import { DataApiError, isDataApiError } from '../../../core/data-api/errors.ts';
import { mysqlFrontEndMember } from '../../../core/data-api/server.ts';
import { parseJsonLossless } from '../../../core/data-api/values.ts';
import {
  answerBody,
  batchResult,
  beginCall,
  endCall,
  errorFromAnswer,
  executeCall,
  statementResult,
  transactionIdOf,
} from './wire.ts';

const arns = { resourceArn: 'arn:aws:rds:us-east-1:0:cluster:c', secretArn: 'arn:aws:secretsmanager:s' };

describe('Data API calls for MySQL executor calls', () => {
  it('ExecuteStatement names the ARNs, every parameter type, the transaction, metadata and the MySQL marker', () => {
    const call = executeCall(arns, {
      sql: 'SELECT :1, :2, :3, :4, :5, :6',
      parameters: new Map<string, null | bigint | number | string | boolean | Uint8Array>([
        ['1', null],
        ['2', 9_007_199_254_740_993n],
        ['3', 1.5],
        ['4', 'x'],
        ['5', true],
        ['6', new Uint8Array([0, 255])],
      ]),
      transactionId: 'bx1.t',
      includeResultMetadata: false,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: false,
    });
    expect(call.path).toBe('/Execute');
    expect(call.operation).toBe('ExecuteStatement');
    // The body keeps 64-bit integers exact; the parsed input is what the dispatcher classifies.
    expect(call.body.toString()).toContain('"longValue":9007199254740993');
    expect(parseJsonLossless(call.body.toString())).toEqual({
      ...arns,
      sql: 'SELECT :1, :2, :3, :4, :5, :6',
      parameters: [
        { name: '1', value: { isNull: true } },
        { name: '2', value: { longValue: 9_007_199_254_740_993n } },
        { name: '3', value: { doubleValue: 1.5 } },
        { name: '4', value: { stringValue: 'x' } },
        { name: '5', value: { booleanValue: true } },
        { name: '6', value: { blobValue: 'AP8=' } },
      ],
      transactionId: 'bx1.t',
      includeResultMetadata: true,
      decimalReturnType: 'DOUBLE_OR_LONG',
      [mysqlFrontEndMember]: true,
    });
    expect(call.input.transactionId).toBe('bx1.t');
  });

  it('autocommit without parameters has neither member; begin, commit and rollback name the transaction', () => {
    const call = executeCall(arns, {
      sql: 'SELECT 1',
      parameters: new Map(),
      includeResultMetadata: false,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: false,
    });
    expect(call.input).not.toHaveProperty('parameters');
    expect(call.input).not.toHaveProperty('transactionId');
    expect(beginCall(arns)).toMatchObject({ path: '/BeginTransaction', input: arns });
    expect(endCall(arns, 'commit', 't1')).toMatchObject({
      path: '/CommitTransaction',
      input: { ...arns, transactionId: 't1' },
    });
    expect(endCall(arns, 'rollback', 't1')).toMatchObject({
      path: '/RollbackTransaction',
      operation: 'RollbackTransaction',
    });
  });
});

describe('answers back to executor results', () => {
  const ok = (body: string) => answerBody({ status: 200, errorType: undefined, body: Buffer.from(body) });

  it('records become rows with exact integers, columns come from columnMetadata labels', () => {
    const result = statementResult(
      ok(
        '{"numberOfRecordsUpdated":0,"records":[[{"longValue":12345678901234567},{"stringValue":"a"},{"doubleValue":2.5},{"isNull":true},{"blobValue":"AP8="}]],' +
          '"columnMetadata":[{"name":"id","label":"id","typeName":"INTEGER","tableName":"t"},{"name":"c","label":"alias"},{"name":"d","label":""},{"name":"n"},{"name":"b"}]}',
      ),
    );
    expect(result.columns.map((c) => c.name)).toEqual(['id', 'alias', 'd', 'n', 'b']);
    expect(result.columns[0]).toEqual({ name: 'id', declaredType: 'INTEGER', tableName: 't' });
    expect(result.rows).toEqual([[12_345_678_901_234_567n, 'a', 2.5, null, new Uint8Array([0, 255])]]);
  });

  it('an empty result set keeps its columns; DML keeps its count and generated fields', () => {
    const empty = statementResult(
      ok('{"numberOfRecordsUpdated":0,"records":[],"columnMetadata":[{"name":"c"}]}'),
    );
    expect(empty.columns).toEqual([{ name: 'c' }]);
    expect(empty.rows).toEqual([]);
    const dml = statementResult(ok('{"numberOfRecordsUpdated":3,"generatedFields":[{"longValue":7}]}'));
    expect(dml).toEqual({ columns: [], rows: [], numberOfRecordsUpdated: 3, generatedFields: [7n] });
    expect(batchResult(ok('{"updateResults":[{"generatedFields":[{"longValue":1}]},{}]}'))).toEqual({
      generatedFields: [[1n], []],
    });
    expect(transactionIdOf(ok('{"transactionId":"bx1.abc"}'))).toBe('bx1.abc');
    expect(() => transactionIdOf(ok('{}'))).toThrow();
  });

  it('records that do not match the columns are refused, not guessed', () => {
    const causeOf = (fn: () => unknown) => {
      try {
        fn();
      } catch (error) {
        expect(isDataApiError(error, 'InternalServerErrorException')).toBe(true);
        return ((error as Error).cause as Error).message;
      }
      throw new Error('did not throw');
    };
    expect(
      causeOf(() =>
        statementResult(ok('{"numberOfRecordsUpdated":0,"records":[[{"longValue":1}]],"columnMetadata":[]}')),
      ),
    ).toMatch(/columnMetadata/);
    expect(
      causeOf(() =>
        statementResult(ok('{"records":[[{"longValue":1}]],"columnMetadata":[{"name":"a"},{"name":"b"}]}')),
      ),
    ).toMatch(/2 fields/);
  });

  it("an error answer becomes the instance's exception: name from x-amzn-ErrorType, message from the body", () => {
    const error = (() => {
      try {
        answerBody({
          status: 400,
          errorType: 'DatabaseErrorException',
          body: Buffer.from('{"message":"no such table: t"}'),
        });
      } catch (e) {
        return e;
      }
    })();
    expect(isDataApiError(error, 'DatabaseErrorException')).toBe(true);
    expect((error as DataApiError).message).toBe('no such table: t');
    expect(errorFromAnswer(404, 'TransactionNotFoundException:http://x', 'gone').name).toBe(
      'TransactionNotFoundException',
    );
    // Unknown names and internal errors do not leak their text.
    expect(errorFromAnswer(500, 'Weird', 'secret').name).toBe('InternalServerErrorException');
    expect(errorFromAnswer(500, 'InternalServerErrorException', 'secret').message).not.toContain('secret');
    expect(() => answerBody({ status: 200, errorType: undefined, body: Buffer.from('[1]') })).toThrow(
      DataApiError,
    );
  });
});
