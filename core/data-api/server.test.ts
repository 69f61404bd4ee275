// The Data API edge driven by the real @aws-sdk/client-rds-data client against an in-memory fake executor:
// this layer's wire contract (routes, fields, limits, errors), not the SQL engine, which is tested elsewhere.

import { connect } from 'node:net';
import * as sdk from '@aws-sdk/client-rds-data';
import {
  BadRequestException,
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  DatabaseErrorException,
  ExecuteSqlCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandInput,
  ForbiddenException,
  InternalServerErrorException,
  RDSDataClient,
  RollbackTransactionCommand,
  ServiceUnavailableError,
  StatementTimeoutException,
  TransactionNotFoundException,
} from '@aws-sdk/client-rds-data';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BorealisError, ErrorCode } from '../errors.ts';
import {
  DataApiError,
  type DataApiErrorName,
  dataApiErrorStatus,
  internalErrorMessage,
  toDataApiError,
  transactionNotFound,
} from './errors.ts';
import { type DataApiServer, responseTooLargeMessage, startDataApiServer } from './server.ts';
import type { DataApiExecutor, SqlValue, StatementRequest, StatementResult } from './types.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const resourceArn = 'arn:aws:rds:us-east-1:000000000000:cluster:borealis';
const secretArn = 'arn:aws:secretsmanager:us-east-1:000000000000:secret:borealis-admin';
const int64Max = 2n ** 63n - 1n;

function engineError(dataApiName: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { dataApiName, ...extra });
}

/** Canned statements, keyed by SQL text. */
const statements: Record<string, (req: StatementRequest) => StatementResult | Promise<StatementResult>> = {
  // Returns the decoded parameters as one row, so a test sees exactly what the executor was given.
  ECHO: (req) => ({
    columns: [...req.parameters.keys()].map((name) => ({ name })),
    rows: [[...req.parameters.values()]],
    numberOfRecordsUpdated: 0,
  }),
  TYPED: () => ({
    columns: [
      { name: 'id', declaredType: 'INTEGER', tableName: 'items' },
      { name: 'price', declaredType: 'DECIMAL(10,2)', tableName: 'items' },
      { name: 'ratio', declaredType: 'REAL', tableName: 'items' },
      { name: 'title', declaredType: 'VARCHAR(20)', tableName: 'items' },
      { name: 'photo', declaredType: 'BLOB', tableName: 'items' },
      { name: 'active', declaredType: 'BOOLEAN', tableName: 'items' },
      { name: 'nothing' },
      { name: 'big', declaredType: 'BIGINT', tableName: 'items' },
    ],
    rows: [
      [1n, 9.5, 0.25, 'ada', new Uint8Array([0, 1, 254, 255]), true, null, int64Max],
      [2n, null, -1e300, 'grace', null, false, null, -(2n ** 63n)],
    ],
    numberOfRecordsUpdated: 0,
  }),
  INSERT: () => ({ columns: [], rows: [], numberOfRecordsUpdated: 1, generatedFields: [42n] }),
  // About 1.2 MB of records: over the Data API's 1 MiB response limit, well under the 10 MB JSON one.
  BIG: () => ({
    columns: [{ name: 'text', declaredType: 'TEXT' }],
    rows: Array.from({ length: 1200 }, () => ['x'.repeat(1000)]),
    numberOfRecordsUpdated: 0,
  }),
  SLOW: () => {
    throw engineError('StatementTimeoutException', 'The statement timed out', { dbConnectionId: 7 });
  },
  CRASH: () => {
    throw new Error('engine exploded in /srv/borealis/secret.ts:42');
  },
  NO_TABLE: () => {
    throw engineError('DatabaseErrorException', 'no such table: missing');
  },
  BROKEN: () => ({ columns: [{ name: 'a' }], rows: [[1n, 2n]], numberOfRecordsUpdated: 0 }),
};

class FakeExecutor implements DataApiExecutor {
  readonly requests: StatementRequest[] = [];
  readonly batches: { sql: string; parameterSets: Map<string, SqlValue>[]; transactionId?: string }[] = [];
  readonly open = new Set<string>();
  /** When set, the next executeStatement waits for it: lets a test hold a request in flight. */
  gate: Promise<void> | undefined;
  /** When set, executeStatement throws it (for the error-name sweep). */
  nextError: unknown;
  private transactionsStarted = 0;

  async executeStatement(req: StatementRequest): Promise<StatementResult> {
    this.requests.push(req);
    if (this.gate !== undefined) await this.gate;
    if (this.nextError !== undefined) {
      const error = this.nextError;
      this.nextError = undefined;
      throw error;
    }
    if (req.transactionId !== undefined) this.requireOpen(req.transactionId);
    const statement = statements[req.sql];
    if (statement === undefined) throw engineError('DatabaseErrorException', `unknown statement ${req.sql}`);
    return statement(req);
  }

  async batchExecuteStatement(sql: string, parameterSets: Map<string, SqlValue>[], transactionId?: string) {
    this.batches.push({ sql, parameterSets, ...(transactionId === undefined ? {} : { transactionId }) });
    return { generatedFields: parameterSets.map((_, index) => [BigInt(index + 1)]) };
  }

  async beginTransaction(): Promise<string> {
    this.transactionsStarted++;
    const id = `tx-${this.transactionsStarted}`;
    this.open.add(id);
    return id;
  }

  async commitTransaction(id: string): Promise<void> {
    this.requireOpen(id);
    this.open.delete(id);
  }

  async rollbackTransaction(id: string): Promise<void> {
    this.requireOpen(id);
    this.open.delete(id);
  }

  private requireOpen(id: string): void {
    if (!this.open.has(id)) throw transactionNotFound(`Transaction ${id} is not found`);
  }
}

let executor: FakeExecutor;
let api: DataApiServer;
let client: RDSDataClient;
let endpoint: string;

function clientFor(url: string): RDSDataClient {
  return new RDSDataClient({
    endpoint: url,
    region: 'us-east-1',
    credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
    // One attempt: 5xx answers are retried by default, and these tests check single answers.
    maxAttempts: 1,
  });
}

beforeAll(async () => {
  executor = new FakeExecutor();
  api = await startDataApiServer({ port: 0, executor, resourceArn, secretArn });
  endpoint = `http://127.0.0.1:${api.port}`;
  client = clientFor(endpoint);
});

afterAll(async () => {
  client.destroy();
  await api.close();
});

const execute = (input: Omit<ExecuteStatementCommandInput, 'resourceArn' | 'secretArn'>) =>
  client.send(new ExecuteStatementCommand({ resourceArn, secretArn, ...input }));

/** Runs `call`, expecting it to fail; returns the error for inspection. */
async function failure(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

function httpStatusOf(error: unknown): number | undefined {
  return error instanceof sdk.RDSDataServiceException ? error.$metadata.httpStatusCode : undefined;
}

async function rawPost(
  path: string,
  body: string,
): Promise<{ status: number; errorType: string | null; body: unknown }> {
  const response = await fetch(`${endpoint}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return {
    status: response.status,
    errorType: response.headers.get('x-amzn-errortype'),
    body: await response.json(),
  };
}

describe('ExecuteStatement', () => {
  it('decodes every parameter type and returns each value as its Field', async () => {
    const blob = new Uint8Array([0, 1, 127, 128, 254, 255]);
    const output = await execute({
      sql: 'ECHO',
      parameters: [
        { name: 'nothing', value: { isNull: true } },
        { name: 'count', value: { longValue: 42 } },
        { name: 'ratio', value: { doubleValue: 1.5 } },
        { name: 'title', value: { stringValue: 'héllo ✓ "quoted"' } },
        { name: 'active', value: { booleanValue: true } },
        { name: 'photo', value: { blobValue: blob } },
        { name: 'price', value: { stringValue: '12.50' }, typeHint: 'DECIMAL' },
        { name: 'at', value: { stringValue: '2024-02-29 12:34:56.789' }, typeHint: 'TIMESTAMP' },
        { name: 'weird', value: { doubleValue: Number.NEGATIVE_INFINITY } },
      ],
    });
    const received = executor.requests.at(-1)?.parameters;
    expect(received).toEqual(
      new Map<string, SqlValue>([
        ['nothing', null],
        ['count', 42n],
        ['ratio', 1.5],
        ['title', 'héllo ✓ "quoted"'],
        ['active', true],
        ['photo', blob],
        ['price', '12.50'],
        ['at', '2024-02-29 12:34:56.789'],
        ['weird', Number.NEGATIVE_INFINITY],
      ]),
    );
    expect(output.records).toEqual([
      [
        { isNull: true },
        { longValue: 42 },
        { doubleValue: 1.5 },
        { stringValue: 'héllo ✓ "quoted"' },
        { booleanValue: true },
        { blobValue: blob },
        { stringValue: '12.50' },
        { stringValue: '2024-02-29 12:34:56.789' },
        { doubleValue: Number.NEGATIVE_INFINITY },
      ],
    ]);
    expect(output.numberOfRecordsUpdated).toBe(0);
    expect(output.columnMetadata).toBeUndefined();
    expect(output.formattedRecords).toBeUndefined();
  });

  it('returns typed results, DECIMAL as a string unless DOUBLE_OR_LONG is asked for', async () => {
    const output = await execute({ sql: 'TYPED' });
    expect(output.records?.[0]).toEqual([
      { longValue: 1 },
      { stringValue: '9.5' },
      { doubleValue: 0.25 },
      { stringValue: 'ada' },
      { blobValue: new Uint8Array([0, 1, 254, 255]) },
      { booleanValue: true },
      { isNull: true },
      // The SDK parses longValue as a JS number: beyond 2^53 it rounds (see the raw body test below).
      { longValue: Number(int64Max) },
    ]);
    expect(output.records?.[1]?.[2]).toEqual({ doubleValue: -1e300 });
    const asNumbers = await execute({
      sql: 'TYPED',
      resultSetOptions: { decimalReturnType: 'DOUBLE_OR_LONG' },
    });
    expect(asNumbers.records?.[0]?.[1]).toEqual({ doubleValue: 9.5 });
  });

  it('writes a BIGINT beyond 2^53 with every digit, and as an exact string for longReturnType STRING', async () => {
    const body = JSON.stringify({ resourceArn, secretArn, sql: 'TYPED' });
    const response = await fetch(`${endpoint}/Execute`, { method: 'POST', body });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('{"longValue":9223372036854775807}');
    expect(text).toContain('{"longValue":-9223372036854775808}');
    const output = await execute({ sql: 'TYPED', resultSetOptions: { longReturnType: 'STRING' } });
    expect(output.records?.[0]?.[0]).toEqual({ stringValue: '1' });
    expect(output.records?.[0]?.[7]).toEqual({ stringValue: '9223372036854775807' });
    expect(output.records?.[1]?.[7]).toEqual({ stringValue: '-9223372036854775808' });
  });

  it('receives a bigint longValue parameter exactly, even beyond 2^53', async () => {
    const exact = 2n ** 62n + 1n;
    // The SDK types longValue as number but writes a bigint's digits as they are.
    await execute({
      sql: 'ECHO',
      parameters: [{ name: 'id', value: { longValue: exact as unknown as number } }],
    });
    expect(executor.requests.at(-1)?.parameters.get('id')).toBe(exact);
  });

  it('returns column metadata when includeResultMetadata is set', async () => {
    const output = await execute({ sql: 'TYPED', includeResultMetadata: true });
    const metadata = output.columnMetadata ?? [];
    expect(metadata.map((column) => [column.name, column.type, column.typeName])).toEqual([
      ['id', -5, 'INTEGER'],
      ['price', 3, 'DECIMAL'],
      ['ratio', 8, 'REAL'],
      ['title', 12, 'VARCHAR'],
      ['photo', 2004, 'BLOB'],
      ['active', -7, 'BOOLEAN'],
      ['nothing', 12, 'VARCHAR'],
      ['big', -5, 'BIGINT'],
    ]);
    expect(metadata[1]).toMatchObject({
      precision: 10,
      scale: 2,
      nullable: 1,
      isSigned: true,
      tableName: 'items',
    });
    expect(metadata[3]).toMatchObject({ label: 'title', precision: 20, isCaseSensitive: true, nullable: 2 });
    expect(metadata[0]).toMatchObject({ arrayBaseColumnType: 0, isAutoIncrement: false, isCurrency: false });
  });

  it('returns formattedRecords instead of records and metadata for formatRecordsAs JSON', async () => {
    const output = await execute({ sql: 'TYPED', formatRecordsAs: 'JSON', includeResultMetadata: true });
    expect(output.records).toBeUndefined();
    expect(output.columnMetadata).toBeUndefined();
    const formatted = output.formattedRecords ?? '';
    expect(formatted).toContain('"big":9223372036854775807');
    expect(JSON.parse(formatted)).toEqual([
      {
        id: 1,
        price: '9.5',
        ratio: 0.25,
        title: 'ada',
        photo: 'AAH+/w==',
        active: true,
        nothing: null,
        big: Number(int64Max),
      },
      {
        id: 2,
        price: null,
        ratio: -1e300,
        title: 'grace',
        photo: null,
        active: false,
        nothing: null,
        big: Number(-(2n ** 63n)),
      },
    ]);
  });

  it('returns numberOfRecordsUpdated and generatedFields, without records, for DML', async () => {
    const output = await execute({ sql: 'INSERT' });
    expect(output.numberOfRecordsUpdated).toBe(1);
    expect(output.generatedFields).toEqual([{ longValue: 42 }]);
    expect(output.records).toBeUndefined();
  });

  it('fails a result over 1 MiB with the service message, but allows it as JSON (10 MB limit)', async () => {
    const error = await failure(() => execute({ sql: 'BIG' }));
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toBe(responseTooLargeMessage);
    const json = await execute({ sql: 'BIG', formatRecordsAs: 'JSON' });
    expect(JSON.parse(json.formattedRecords ?? '[]')).toHaveLength(1200);
  });

  it('passes the request options through to the executor', async () => {
    await execute({ sql: 'ECHO', database: 'main', schema: 'public', continueAfterTimeout: true });
    expect(executor.requests.at(-1)).toEqual({
      sql: 'ECHO',
      parameters: new Map(),
      includeResultMetadata: false,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: true,
      database: 'main',
      schema: 'public',
    });
  });
});

describe('BatchExecuteStatement', () => {
  it('runs one parameter set per entry and returns their generated fields', async () => {
    const output = await client.send(
      new BatchExecuteStatementCommand({
        resourceArn,
        secretArn,
        sql: 'INSERT INTO t VALUES (:a, :b)',
        parameterSets: [
          [
            { name: 'a', value: { longValue: 1 } },
            { name: 'b', value: { stringValue: 'one' } },
          ],
          [
            { name: 'a', value: { longValue: 2 } },
            { name: 'b', value: { isNull: true } },
          ],
        ],
      }),
    );
    expect(output.updateResults).toEqual([
      { generatedFields: [{ longValue: 1 }] },
      { generatedFields: [{ longValue: 2 }] },
    ]);
    expect(executor.batches.at(-1)).toEqual({
      sql: 'INSERT INTO t VALUES (:a, :b)',
      parameterSets: [
        new Map<string, SqlValue>([
          ['a', 1n],
          ['b', 'one'],
        ]),
        new Map<string, SqlValue>([
          ['a', 2n],
          ['b', null],
        ]),
      ],
    });
  });
});

describe('transactions', () => {
  it('begins, runs statements in, commits and rolls back a transaction', async () => {
    const begun = await client.send(
      new BeginTransactionCommand({ resourceArn, secretArn, database: 'main' }),
    );
    const transactionId = begun.transactionId ?? '';
    expect(transactionId).toMatch(/^tx-\d+$/);
    await execute({ sql: 'ECHO', transactionId });
    expect(executor.requests.at(-1)?.transactionId).toBe(transactionId);
    const committed = await client.send(
      new CommitTransactionCommand({ resourceArn, secretArn, transactionId }),
    );
    expect(committed.transactionStatus).toBe('Transaction Committed');

    const second = await client.send(new BeginTransactionCommand({ resourceArn, secretArn }));
    const rolledBack = await client.send(
      new RollbackTransactionCommand({ resourceArn, secretArn, transactionId: second.transactionId }),
    );
    expect(rolledBack.transactionStatus).toBe('Rollback Complete');
  });

  it('surfaces an unknown transaction as the SDK TransactionNotFoundException (404)', async () => {
    const error = await failure(() =>
      client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId: 'tx-nope' })),
    );
    expect(error).toBeInstanceOf(TransactionNotFoundException);
    expect((error as TransactionNotFoundException).name).toBe('TransactionNotFoundException');
    expect((error as TransactionNotFoundException).message).toBe('Transaction tx-nope is not found');
    expect(httpStatusOf(error)).toBe(404);
    const inStatement = await failure(() => execute({ sql: 'ECHO', transactionId: 'tx-gone' }));
    expect(inStatement).toBeInstanceOf(TransactionNotFoundException);
  });
});

describe('errors', () => {
  it('maps engine errors 1:1: StatementTimeoutException keeps dbConnectionId', async () => {
    const error = await failure(() => execute({ sql: 'SLOW' }));
    expect(error).toBeInstanceOf(StatementTimeoutException);
    expect((error as StatementTimeoutException).dbConnectionId).toBe(7);
    expect((error as StatementTimeoutException).message).toBe('The statement timed out');
    expect(httpStatusOf(error)).toBe(400);
    const sqlError = await failure(() => execute({ sql: 'NO_TABLE' }));
    expect(sqlError).toBeInstanceOf(DatabaseErrorException);
    expect((sqlError as Error).message).toBe('no such table: missing');
  });

  it('hides an unexpected engine failure behind a generic InternalServerErrorException', async () => {
    for (const sql of ['CRASH', 'BROKEN']) {
      const error = await failure(() => execute({ sql }));
      expect(error).toBeInstanceOf(InternalServerErrorException);
      expect((error as Error).message).toBe(internalErrorMessage);
      expect(httpStatusOf(error)).toBe(500);
    }
  });

  it('sends every exception name with the status of the service model, as the SDK class', async () => {
    const names = Object.keys(dataApiErrorStatus).filter((name) => name !== 'UnknownOperationException');
    for (const name of names as DataApiErrorName[]) {
      // The SDK's own schema for the exception carries the model's httpError trait.
      const schema: unknown = (sdk as Record<string, unknown>)[`${name}$`];
      const traits = Array.isArray(schema) ? (schema[3] as { httpError?: number }) : undefined;
      expect(traits?.httpError, name).toBe(dataApiErrorStatus[name]);

      executor.nextError = new DataApiError(name, `test ${name}`, { dbConnectionId: 3 });
      const error = await failure(() => execute({ sql: 'ECHO' }));
      const errorClass = (sdk as Record<string, unknown>)[name];
      expect(typeof errorClass, name).toBe('function');
      expect(error, name).toBeInstanceOf(errorClass as new () => unknown);
      expect((error as Error).name).toBe(name);
      expect((error as Error).message).toBe(`test ${name}`);
      expect(httpStatusOf(error), name).toBe(dataApiErrorStatus[name]);
    }
  });

  it('rejects a wrong secretArn with ForbiddenException and a wrong resourceArn with BadRequestException', async () => {
    const before = executor.requests.length;
    const wrongSecret = await failure(() =>
      client.send(new ExecuteStatementCommand({ resourceArn, secretArn: `${secretArn}-other`, sql: 'ECHO' })),
    );
    expect(wrongSecret).toBeInstanceOf(ForbiddenException);
    expect(httpStatusOf(wrongSecret)).toBe(403);
    const wrongCluster = await failure(() =>
      client.send(new BeginTransactionCommand({ resourceArn: `${resourceArn}-other`, secretArn })),
    );
    expect(wrongCluster).toBeInstanceOf(BadRequestException);
    expect((wrongCluster as Error).message).toMatch(/^Invalid cluster arn: /);
    expect(httpStatusOf(wrongCluster)).toBe(400);
    expect(executor.requests.length).toBe(before);
  });

  it('rejects bad parameters with BadRequestException before the executor sees them', async () => {
    const before = executor.requests.length;
    const cases: [ExecuteStatementCommandInput['parameters'], RegExp][] = [
      [[{ name: 'list', value: { arrayValue: { longValues: [1, 2] } } }], /arrays are not supported/],
      [[{ name: ':id', value: { longValue: 1 } }], /invalid name/],
      [[{ name: 'id' }], /has no value/],
      [[{ name: 'day', value: { stringValue: '2024-13-01' }, typeHint: 'DATE' }], /YYYY-MM-DD/],
      [[{ name: 'n', value: { longValue: 1.5 } }], /must be an integer/],
      [
        [
          { name: 'a', value: { longValue: 1 } },
          { name: 'a', value: { longValue: 2 } },
        ],
        /more than once/,
      ],
    ];
    for (const [parameters, message] of cases) {
      const error = await failure(() => execute({ sql: 'ECHO', parameters }));
      expect(error).toBeInstanceOf(BadRequestException);
      expect((error as Error).message).toMatch(message);
    }
    expect(executor.requests.length).toBe(before);
  });

  it('answers a request over 4 MiB with a 413 BadRequestException and keeps serving', async () => {
    const big = new Uint8Array(5 * 1024 * 1024);
    const error = await failure(() =>
      execute({ sql: 'ECHO', parameters: [{ name: 'b', value: { blobValue: big } }] }),
    );
    expect(error).toBeInstanceOf(BadRequestException);
    expect((error as Error).message).toMatch(/too large/);
    expect(httpStatusOf(error)).toBe(413);
    expect((await execute({ sql: 'INSERT' })).numberOfRecordsUpdated).toBe(1);
  });

  it('answers malformed bodies with 400 and the x-amzn-ErrorType header', async () => {
    const cases: [string, RegExp][] = [
      ['{"resourceArn": ', /not valid JSON/],
      ['[1, 2]', /must be a JSON object/],
      ['null', /must be a JSON object/],
      [JSON.stringify({ resourceArn, secretArn }), /Missing required field: sql/],
      [JSON.stringify({ secretArn, sql: 'ECHO' }), /Missing required field: resourceArn/],
      [JSON.stringify({ resourceArn, sql: 'ECHO' }), /Missing required field: secretArn/],
      [JSON.stringify({ resourceArn, secretArn, sql: 7 }), /sql must be a string/],
      [
        JSON.stringify({ resourceArn, secretArn, sql: 'ECHO', formatRecordsAs: 'XML' }),
        /formatRecordsAs must be one of/,
      ],
      [JSON.stringify({ resourceArn, secretArn, sql: 'x'.repeat(65_537) }), /limit is 65536/],
      [
        JSON.stringify({
          resourceArn,
          secretArn,
          sql: 'ECHO',
          resultSetOptions: { longReturnType: 'SHORT' },
        }),
        /longReturnType must be one of/,
      ],
    ];
    for (const [body, message] of cases) {
      const response = await rawPost('/Execute', body);
      expect(response.status, body.slice(0, 40)).toBe(400);
      expect(response.errorType).toBe('BadRequestException');
      expect((response.body as { message: string }).message).toMatch(message);
    }
  });

  it('answers an unknown path or method with 404 UnknownOperationException, and ExecuteSql clearly', async () => {
    const unknown = await rawPost('/Nope', '{}');
    expect(unknown.status).toBe(404);
    expect(unknown.errorType).toBe('UnknownOperationException');
    expect(unknown.body).toEqual({ message: 'Unknown operation: POST /Nope' });
    const get = await fetch(`${endpoint}/Execute`);
    expect(get.status).toBe(404);
    expect(get.headers.get('x-amzn-errortype')).toBe('UnknownOperationException');

    const deprecated = await failure(() =>
      client.send(
        new ExecuteSqlCommand({
          dbClusterOrInstanceArn: resourceArn,
          awsSecretStoreArn: secretArn,
          sqlStatements: 'x',
        }),
      ),
    );
    expect(deprecated).toBeInstanceOf(BadRequestException);
    expect((deprecated as Error).message).toMatch(/ExecuteSql is deprecated/);

    const elsewhere = clientFor(`${endpoint}/prefix`);
    const misrouted = await failure(() =>
      elsewhere.send(new BeginTransactionCommand({ resourceArn, secretArn })),
    );
    elsewhere.destroy();
    expect(misrouted).toBeInstanceOf(sdk.RDSDataServiceException);
    expect((misrouted as Error).name).toBe('UnknownOperationException');
    expect(httpStatusOf(misrouted)).toBe(404);
  });
});

describe('server lifecycle', () => {
  it('cuts a body far over the limit without answering, and keeps serving', async () => {
    const own = await startDataApiServer({
      port: 0,
      executor: new FakeExecutor(),
      resourceArn,
      secretArn,
      requestBytesMax: 1024,
    });
    const url = `http://127.0.0.1:${own.port}/Execute`;
    const nearLimit = await fetch(url, { method: 'POST', body: 'x'.repeat(2048) });
    expect([nearLimit.status, nearLimit.headers.get('x-amzn-errortype')]).toEqual([
      413,
      'BadRequestException',
    ]);
    // Cut without an answer: fetch fails on the closed connection (no status at all).
    await expect(fetch(url, { method: 'POST', body: 'x'.repeat(64 * 1024) })).rejects.toThrow(/fetch failed/);
    const after = await fetch(url, {
      method: 'POST',
      body: JSON.stringify({ resourceArn, secretArn, sql: 'INSERT' }),
    });
    expect(after.status).toBe(200);
    await own.close();
  });

  it('logs a server fault with its cause, and never sends the cause', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const own = await startDataApiServer({
      port: 0,
      executor: new FakeExecutor(),
      resourceArn,
      secretArn,
      logger,
    });
    const response = await fetch(`http://127.0.0.1:${own.port}/Execute`, {
      method: 'POST',
      body: JSON.stringify({ resourceArn, secretArn, sql: 'CRASH' }),
    });
    expect(await response.text()).toBe(`{"message":"${internalErrorMessage}"}`);
    await own.close();
    const failures = lines
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((l) => l.level === 50);
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({
      operation: 'ExecuteStatement',
      error: 'InternalServerErrorException',
    });
    expect(JSON.stringify(failures[0])).toContain('engine exploded in /srv/borealis/secret.ts:42');
  });

  it('finishes a request in flight before close() resolves', async () => {
    const own = new FakeExecutor();
    const server = await startDataApiServer({ port: 0, executor: own, resourceArn, secretArn });
    const ownClient = clientFor(`http://127.0.0.1:${server.port}`);
    let release = () => {};
    own.gate = new Promise((resolve) => {
      release = resolve;
    });
    const pending = ownClient.send(new ExecuteStatementCommand({ resourceArn, secretArn, sql: 'INSERT' }));
    while (own.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const closing = server.close();
    release();
    expect((await pending).numberOfRecordsUpdated).toBe(1);
    await closing;
    await server.close();
    ownClient.destroy();
  });

  it('also answers a request that starts on an open connection while close() waits (keep-alive)', async () => {
    const own = new FakeExecutor();
    const server = await startDataApiServer({ port: 0, executor: own, resourceArn, secretArn });
    let release = () => {};
    own.gate = new Promise((resolve) => {
      release = resolve;
    });
    // Two requests pipelined on one connection: the second starts only once the first is answered.
    const body = JSON.stringify({ resourceArn, secretArn, sql: 'INSERT' });
    const request = `POST /Execute HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString();
    });
    const ended = new Promise((resolve) => socket.on('close', resolve));
    socket.write(request + request);
    while (own.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const closing = server.close();
    release();
    await closing;
    await ended;
    expect(own.requests).toHaveLength(2);
    expect(received.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(2);
  });
});

describe('toDataApiError', () => {
  it('passes a DataApiError through unchanged', () => {
    const error = new DataApiError('NotFoundException', 'gone');
    expect(toDataApiError(error)).toBe(error);
  });

  it('maps an engine error carrying dataApiName 1:1 and keeps it as the cause', () => {
    const engine = engineError('DatabaseNotFoundException', 'no database x');
    const mapped = toDataApiError(engine);
    expect([mapped.name, mapped.message, mapped.statusCode, mapped.cause]).toEqual([
      'DatabaseNotFoundException',
      'no database x',
      404,
      engine,
    ]);
    const timeout = toDataApiError(engineError('StatementTimeoutException', 'slow', { dbConnectionId: 9 }));
    expect(timeout.dbConnectionId).toBe(9);
  });

  it('turns anything else into a generic InternalServerErrorException', () => {
    for (const thrown of [
      new Error('stack here'),
      'a string',
      undefined,
      engineError('MadeUpException', 'x'),
    ]) {
      const mapped = toDataApiError(thrown);
      expect([mapped.name, mapped.message, mapped.statusCode]).toEqual([
        'InternalServerErrorException',
        internalErrorMessage,
        500,
      ]);
      expect(mapped.cause).toBe(thrown);
    }
  });

  it('maps Borealis availability errors to retryable 5xx exceptions and INVALID_ARGUMENT to 400', () => {
    const quorum = toDataApiError(new BorealisError(ErrorCode.QUORUM_LOST, 'pg 3 lost quorum'));
    expect([quorum.name, quorum.statusCode]).toEqual(['ServiceUnavailableError', 503]);
    expect(quorum.message).not.toContain('pg 3');
    const timeout = toDataApiError(new BorealisError(ErrorCode.TIMEOUT, 'no answer'));
    expect([timeout.name, timeout.statusCode]).toEqual(['DatabaseUnavailableException', 504]);
    const invalid = toDataApiError(new BorealisError(ErrorCode.INVALID_ARGUMENT, 'bad page size'));
    expect([invalid.name, invalid.message]).toEqual(['BadRequestException', 'bad page size']);
    const crc = toDataApiError(new BorealisError(ErrorCode.BAD_CRC, 'crc'));
    expect(crc.name).toBe('InternalServerErrorException');
  });

  it('surfaces ServiceUnavailableError through the SDK', async () => {
    executor.nextError = new BorealisError(ErrorCode.NOT_READY, 'recovering');
    const error = await failure(() => execute({ sql: 'ECHO' }));
    expect(error).toBeInstanceOf(ServiceUnavailableError);
    expect(httpStatusOf(error)).toBe(503);
  });
});
