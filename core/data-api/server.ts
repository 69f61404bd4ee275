// The RDS Data API over HTTP (rest-json, as @aws-sdk/client-rds-data speaks it), shared by the writer and
// the reader services: it validates and decodes requests, awaits a DataApiExecutor, encodes the answer.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assert } from '../assert.ts';
import type { Logger } from '../log.ts';
import {
  badRequest,
  type DataApiError,
  forbidden,
  toDataApiError,
  truncate,
  unknownOperation,
} from './errors.ts';
import type {
  ColumnMetadata,
  DataApiExecutor,
  LongReturnType,
  RecordsFormat,
  SqlValue,
  StatementRequest,
  StatementResult,
} from './types.ts';
import {
  columnMetadataFor,
  decimalAsStringFor,
  describeWireValue,
  fieldFromValue,
  formatRecordsAsJson,
  parametersFromWire,
  parseJsonLossless,
  stringifyJson,
} from './values.ts';

const KiB = 1024;
const MiB = 1024 * KiB;

/** Largest request body accepted; a larger one is answered 413 BadRequestException. */
export const requestBytesMaxDefault = 4 * MiB;
/** The service's response size limit for `records` (1 MiB); over it the call fails, as the service's does. */
export const resultBytesMaxDefault = 1 * MiB;
/** The service's limit for the `formattedRecords` string of formatRecordsAs JSON (10 MB). */
export const formattedRecordsBytesMaxDefault = 10 * MiB;
/** The service's limit on the SQL text of one statement. */
export const sqlCharsMax = 65_536;
/** Borealis's own ExecuteStatement member, `true` on statements of the proxy's MySQL endpoints (ADR 017). */
export const mysqlFrontEndMember = 'borealisMysqlFrontEnd';
/** The service's limit on a transaction id. */
export const transactionIdCharsMax = 192;
/**
 * An over-limit body is still read to its end (and dropped) so that the client gets the error instead
 * of a connection reset mid-upload; past this multiple of the limit the connection is cut instead.
 */
const requestDrainFactor = 4;

/** The message the service gives when a result exceeds its response size limit. */
export const responseTooLargeMessage = 'Database returned more than the allowed response size limit';

export interface DataApiServerOptions {
  /** 0 picks a free port; the chosen one is returned. */
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  executor: DataApiExecutor;
  /** The cluster ARN callers must name; any other is rejected (BadRequestException). */
  resourceArn: string;
  /** The secret ARN callers must present; any other is rejected (ForbiddenException). */
  secretArn: string;
  /** @default requestBytesMaxDefault (4 MiB) */
  requestBytesMax?: number;
  /** @default resultBytesMaxDefault (1 MiB) */
  resultBytesMax?: number;
  /** @default formattedRecordsBytesMaxDefault (10 MiB) */
  formattedRecordsBytesMax?: number;
  logger?: Logger;
}

export interface DataApiServer {
  server: Server;
  port: number;
  /**
   * Stops accepting, lets requests in flight finish (and those that start meanwhile on connections
   * already open), then closes every connection. Idempotent.
   */
  close(): Promise<void>;
  /** Requests being handled now (a clean stop waits for a quiet moment). */
  readonly requestsInFlight: number;
}

interface Settings {
  executor: DataApiExecutor;
  resourceArn: string;
  secretArn: string;
  requestBytesMax: number;
  resultBytesMax: number;
  formattedRecordsBytesMax: number;
  logger: Logger | undefined;
}

type Input = Record<string, unknown>;
type OperationHandler = (settings: Settings, input: Input) => Promise<string>;

interface Operation {
  name: string;
  handle: OperationHandler;
  /** Whether the request names this cluster and its secret (ExecuteSql uses other field names). */
  checksCaller: boolean;
}

/** POST paths of the service model (`@http` traits in the SDK's schemas) and their handlers. */
const operations: ReadonlyMap<string, Operation> = new Map([
  ['/Execute', { name: 'ExecuteStatement', handle: executeStatement, checksCaller: true }],
  ['/BatchExecute', { name: 'BatchExecuteStatement', handle: batchExecuteStatement, checksCaller: true }],
  ['/BeginTransaction', { name: 'BeginTransaction', handle: beginTransaction, checksCaller: true }],
  ['/CommitTransaction', { name: 'CommitTransaction', handle: commitTransaction, checksCaller: true }],
  ['/RollbackTransaction', { name: 'RollbackTransaction', handle: rollbackTransaction, checksCaller: true }],
  ['/ExecuteSql', { name: 'ExecuteSql', handle: executeSql, checksCaller: false }],
]);

/** POST path → operation, for a front end that checks and routes requests without serving them (proxy). */
export const dataApiRoutes: ReadonlyMap<string, { name: string; checksCaller: boolean }> = new Map(
  [...operations].map(([path, { name, checksCaller }]) => [path, { name, checksCaller }]),
);

export async function startDataApiServer(options: DataApiServerOptions): Promise<DataApiServer> {
  const settings = compileOptions(options);
  const inFlight = new Set<Promise<void>>();
  const server = createServer((req, res) => {
    const handling = handleRequest(settings, req, res).finally(() => inFlight.delete(handling));
    inFlight.add(handling);
  });
  server.on('error', (error) => settings.logger?.error({ err: error }, 'data api server error'));
  await listen(server, options.port, options.host ?? '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  settings.logger?.info({ port }, 'data api listening');
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    close: () => (closing ??= closeServer(server, inFlight)),
    get requestsInFlight() {
      return inFlight.size;
    },
  };
}

function compileOptions(options: DataApiServerOptions): Settings {
  const positive = (value: number, what: string) => {
    assert(Number.isSafeInteger(value) && value > 0, `${what} must be a positive integer, got ${value}`);
    return value;
  };
  assert(
    Number.isInteger(options.port) && options.port >= 0 && options.port <= 65535,
    `port must be 0..65535, got ${options.port}`,
  );
  assert(options.resourceArn.length > 0, 'resourceArn must not be empty');
  assert(options.secretArn.length > 0, 'secretArn must not be empty');
  return {
    executor: options.executor,
    resourceArn: options.resourceArn,
    secretArn: options.secretArn,
    requestBytesMax: positive(options.requestBytesMax ?? requestBytesMaxDefault, 'requestBytesMax'),
    resultBytesMax: positive(options.resultBytesMax ?? resultBytesMaxDefault, 'resultBytesMax'),
    formattedRecordsBytesMax: positive(
      options.formattedRecordsBytesMax ?? formattedRecordsBytesMaxDefault,
      'formattedRecordsBytesMax',
    ),
    logger: options.logger,
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** How long close() waits with no request in flight before it cuts the remaining connections. */
const closeQuietMs = 10;

async function closeServer(server: Server, inFlight: Set<Promise<void>>): Promise<void> {
  const closed = new Promise<void>((resolve, reject) =>
    server.close((error) => (error ? reject(error) : resolve())),
  );
  server.closeIdleConnections();
  // A keep-alive connection still carries requests after close() (one sent, or pipelined, once the
  // previous answer came): wait for those too, until none has been in flight for a moment — cutting
  // a connection under a request that ran would make its outcome unknown to the client.
  for (;;) {
    if (inFlight.size > 0) {
      await Promise.allSettled([...inFlight]);
      continue;
    }
    await new Promise((resolve) => setTimeout(resolve, closeQuietMs));
    if (inFlight.size === 0) break;
  }
  server.closeAllConnections();
  await closed;
}

// --- Request handling --------------------------------------------------------------------------------

/** Never rejects: every failure becomes an error response (or, if the socket is gone, a log line). */
async function handleRequest(settings: Settings, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const requestId = randomUUID();
  const method = req.method ?? 'GET';
  const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
  const operation = method === 'POST' ? operations.get(path) : undefined;
  res.on('error', (error) => settings.logger?.debug({ err: error, requestId }, 'response not delivered'));
  try {
    // The body is read (or drained) first even for an unknown path, so the answer is never a reset.
    const body = await readBody(req, settings.requestBytesMax);
    if (operation === undefined) throw unknownOperation(method, path);
    const input = parseInput(body);
    if (operation.checksCaller) checkCaller(settings, input);
    const output = await operation.handle(settings, input);
    send(req, res, 200, output, { 'x-amzn-RequestId': requestId });
  } catch (error) {
    const failure = toDataApiError(error);
    logFailure(settings.logger, failure, { operation: operation?.name ?? path, requestId });
    sendError(req, res, failure, requestId);
  }
}

export function readBody(req: IncomingMessage, bytesMax: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let settled = false;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      finish();
    };
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes <= bytesMax) {
        chunks.push(chunk);
        return;
      }
      chunks.length = 0;
      if (bytes > bytesMax * requestDrainFactor) {
        settle(() => reject(requestTooLarge(bytesMax)));
        req.destroy();
      }
    });
    req.on('end', () =>
      settle(() =>
        bytes > bytesMax ? reject(requestTooLarge(bytesMax)) : resolve(Buffer.concat(chunks, bytes)),
      ),
    );
    req.on('error', (error) =>
      settle(() => reject(badRequest(`The request body could not be read: ${error.message}`))),
    );
    req.on('close', () => settle(() => reject(badRequest('The request was aborted before its body ended'))));
  });
}

function requestTooLarge(bytesMax: number): DataApiError {
  return badRequest(`The request is too large: the limit is ${bytesMax} bytes`, { statusCode: 413 });
}

export function parseInput(body: Buffer): Input {
  const text = body.toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = parseJsonLossless(text);
  } catch (error) {
    throw badRequest(
      `The request body is not valid JSON: ${error instanceof Error ? error.message : 'parse error'}`,
    );
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw badRequest(`The request body must be a JSON object, got ${describeWireValue(parsed)}`);
  }
  return parsed as Input;
}

/** Borealis has no IAM: the cluster ARN and the secret ARN a caller names are its whole credential. */
export function checkCaller(settings: Pick<Settings, 'resourceArn' | 'secretArn'>, input: Input): void {
  const resourceArn = stringField(input, 'resourceArn', { required: true });
  if (resourceArn !== settings.resourceArn) {
    throw badRequest(`Invalid cluster arn: ${truncate(resourceArn, 200)}`);
  }
  const secretArn = stringField(input, 'secretArn', { required: true });
  if (secretArn !== settings.secretArn) {
    throw forbidden(`The secret ${truncate(secretArn, 200)} does not grant access to this cluster`);
  }
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string>,
): void {
  // A client that hung up (or a connection cut by readBody) has nobody left to answer.
  if (res.headersSent || res.destroyed || req.socket.destroyed) return;
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  });
  res.end(body);
}

/** The error shape the SDK's rest-json protocol reads: name in x-amzn-ErrorType, members in the body. */
export function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  error: DataApiError,
  requestId: string,
): void {
  const body = stringifyJson({ message: error.message, dbConnectionId: error.dbConnectionId });
  send(req, res, error.statusCode, body, { 'x-amzn-ErrorType': error.name, 'x-amzn-RequestId': requestId });
}

/** Logged here, where errors are handled: server faults with their cause, caller mistakes quietly. */
function logFailure(logger: Logger | undefined, error: DataApiError, context: Record<string, string>): void {
  if (logger === undefined) return;
  const fields = { ...context, error: error.name, status: error.statusCode, message: error.message };
  if (error.statusCode >= 500)
    logger.error({ ...fields, err: error.cause ?? error }, 'data api request failed');
  else logger.debug(fields, 'data api request rejected');
}

// --- Input fields --------------------------------------------------------------------------------------
// Smithy clients omit absent members, but a JSON null is read as absent too, as the service does.

export function stringField(
  input: Input,
  field: string,
  options: { required: true; charsMax?: number },
): string;
export function stringField(
  input: Input,
  field: string,
  options?: { required?: false; charsMax?: number },
): string | undefined;
export function stringField(
  input: Input,
  field: string,
  options: { required?: boolean; charsMax?: number } = {},
): string | undefined {
  const value = input[field];
  if (value === undefined || value === null) {
    if (options.required) throw badRequest(`Missing required field: ${field}`);
    return undefined;
  }
  if (typeof value !== 'string')
    throw badRequest(`${field} must be a string, got ${describeWireValue(value)}`);
  if (options.required && value === '') throw badRequest(`${field} must not be empty`);
  if (options.charsMax !== undefined && value.length > options.charsMax) {
    throw badRequest(`${field} is ${value.length} characters long; the limit is ${options.charsMax}`);
  }
  return value;
}

function booleanField(input: Input, field: string): boolean | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean')
    throw badRequest(`${field} must be a boolean, got ${describeWireValue(value)}`);
  return value;
}

function enumField<T extends string>(input: Input, field: string, allowed: readonly T[]): T | undefined {
  const value = input[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw badRequest(`${field} must be one of ${allowed.join(', ')}, got ${describeWireValue(value)}`);
  }
  return value as T;
}

function objectField(input: Input, field: string): Input {
  const value = input[field];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw badRequest(`${field} must be an object, got ${describeWireValue(value)}`);
  }
  return value as Input;
}

/** database and schema are accepted and ignored: a Borealis cluster has one of each. */
function checkDatabaseAndSchema(input: Input): { database?: string; schema?: string } {
  const database = stringField(input, 'database', { charsMax: 64 });
  const schema = stringField(input, 'schema', { charsMax: 64 });
  return { ...(database === undefined ? {} : { database }), ...(schema === undefined ? {} : { schema }) };
}

// --- Operations ----------------------------------------------------------------------------------------

async function executeStatement(settings: Settings, input: Input): Promise<string> {
  const request = statementRequestFrom(input);
  const result = await settings.executor.executeStatement(request);
  checkStatementResult(result);
  return executeStatementResponse(settings, request, result);
}

function statementRequestFrom(input: Input): StatementRequest {
  // A statement from the proxy's MySQL endpoints follows MySQL's limits (its packet), not the Data
  // API's 64 KiB of SQL: sysbench's bulk INSERT alone is ~190 KB (ADR 017). The request size still caps it.
  const charsMax = input[mysqlFrontEndMember] === true ? requestBytesMaxDefault : sqlCharsMax;
  const sql = stringField(input, 'sql', { required: true, charsMax });
  const resultSetOptions = objectField(input, 'resultSetOptions');
  const request: StatementRequest = {
    sql,
    parameters: parametersFromWire(input.parameters),
    includeResultMetadata: booleanField(input, 'includeResultMetadata') ?? false,
    formatRecordsAs: enumField<RecordsFormat>(input, 'formatRecordsAs', ['NONE', 'JSON']) ?? 'NONE',
    continueAfterTimeout: booleanField(input, 'continueAfterTimeout') ?? false,
    ...checkDatabaseAndSchema(input),
  };
  const transactionId = stringField(input, 'transactionId', { charsMax: transactionIdCharsMax });
  if (transactionId !== undefined) request.transactionId = transactionId;
  const decimalReturnType = enumField(resultSetOptions, 'decimalReturnType', ['STRING', 'DOUBLE_OR_LONG']);
  if (decimalReturnType !== undefined) request.decimalReturnType = decimalReturnType;
  const longReturnType = enumField<LongReturnType>(resultSetOptions, 'longReturnType', ['LONG', 'STRING']);
  if (longReturnType !== undefined) request.longReturnType = longReturnType;
  return request;
}

/** An executor that breaks its contract is a Borealis bug: the caller gets a 500, the log the detail. */
function checkStatementResult(result: StatementResult): void {
  assert(
    Array.isArray(result.columns) && Array.isArray(result.rows),
    'executor result lacks columns or rows',
  );
  const width = result.columns.length;
  for (const [index, row] of result.rows.entries()) {
    assert(
      Array.isArray(row) && row.length === width,
      () => `executor row ${index} does not have ${width} values`,
    );
  }
  assert(
    Number.isSafeInteger(result.numberOfRecordsUpdated) && result.numberOfRecordsUpdated >= 0,
    () => `executor numberOfRecordsUpdated is ${result.numberOfRecordsUpdated}`,
  );
  assert(
    result.generatedFields === undefined || Array.isArray(result.generatedFields),
    'executor generatedFields is not a list',
  );
}

/**
 * The ExecuteStatement response. As the service does: `records` only for a statement with a result
 * set, `formattedRecords` instead of `records` (and without `columnMetadata`) for formatRecordsAs JSON.
 */
function executeStatementResponse(
  settings: Settings,
  request: StatementRequest,
  result: StatementResult,
): string {
  const longReturnType = request.longReturnType ?? 'LONG';
  const members = [`"numberOfRecordsUpdated":${result.numberOfRecordsUpdated}`];
  const hasResultSet = result.columns.length > 0;
  if (hasResultSet && request.formatRecordsAs === 'JSON') {
    const formatted = formatRecordsAsJson(result.columns, result.rows, {
      longReturnType,
      decimalReturnType: request.decimalReturnType,
    });
    if (Buffer.byteLength(formatted) > settings.formattedRecordsBytesMax)
      throw badRequest(responseTooLargeMessage);
    members.push(`"formattedRecords":${JSON.stringify(formatted)}`);
  } else if (hasResultSet) {
    members.push(`"records":${encodeRecords(result, request, settings.resultBytesMax)}`);
    if (request.includeResultMetadata)
      members.push(`"columnMetadata":${stringifyJson(columnMetadata(result))}`);
  }
  if (result.generatedFields !== undefined) {
    const generated = result.generatedFields.map((value) => fieldFromValue(value, longReturnType));
    members.push(`"generatedFields":${stringifyJson(generated)}`);
  }
  const body = `{${members.join(',')}}`;
  if (request.formatRecordsAs !== 'JSON' && Buffer.byteLength(body) > settings.resultBytesMax) {
    throw badRequest(responseTooLargeMessage);
  }
  return body;
}

/** Rows as JSON arrays of Fields, stopping as soon as the size limit is passed rather than at the end. */
function encodeRecords(result: StatementResult, request: StatementRequest, bytesMax: number): string {
  const longReturnType = request.longReturnType ?? 'LONG';
  const decimalAsString = result.columns.map((column) =>
    decimalAsStringFor(column, request.decimalReturnType),
  );
  const encoded: string[] = [];
  let bytes = 0;
  for (const row of result.rows) {
    const fields = row.map((value, index) => fieldFromValue(value, longReturnType, decimalAsString[index]));
    const text = stringifyJson(fields);
    bytes += Buffer.byteLength(text) + 1;
    if (bytes > bytesMax) throw badRequest(responseTooLargeMessage);
    encoded.push(text);
  }
  return `[${encoded.join(',')}]`;
}

function columnMetadata(result: StatementResult): ColumnMetadata[] {
  return result.columns.map((column, index) =>
    columnMetadataFor(
      column,
      result.rows.map((row) => row[index] ?? null),
    ),
  );
}

async function batchExecuteStatement(settings: Settings, input: Input): Promise<string> {
  const sql = stringField(input, 'sql', { required: true, charsMax: sqlCharsMax });
  checkDatabaseAndSchema(input);
  const transactionId = stringField(input, 'transactionId', { charsMax: transactionIdCharsMax });
  const parameterSets = parameterSetsFrom(input.parameterSets);
  const result = await settings.executor.batchExecuteStatement(sql, parameterSets, transactionId);
  assert(
    Array.isArray(result.generatedFields) && result.generatedFields.every((fields) => Array.isArray(fields)),
    'executor batch generatedFields is not a list of lists',
  );
  const updateResults = result.generatedFields.map((fields: SqlValue[]) => ({
    generatedFields: fields.map((value) => fieldFromValue(value)),
  }));
  const body = stringifyJson({ updateResults });
  if (Buffer.byteLength(body) > settings.resultBytesMax) throw badRequest(responseTooLargeMessage);
  return body;
}

function parameterSetsFrom(raw: unknown): Map<string, SqlValue>[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw badRequest(`parameterSets must be a list, got ${describeWireValue(raw)}`);
  return raw.map((set: unknown, index) => parametersFromWire(set, `parameterSets[${index}]`));
}

async function beginTransaction(settings: Settings, input: Input): Promise<string> {
  checkDatabaseAndSchema(input);
  const transactionId = await settings.executor.beginTransaction();
  assert(
    typeof transactionId === 'string' &&
      transactionId.length > 0 &&
      transactionId.length <= transactionIdCharsMax,
    'executor transaction id is not a string of 1..192 characters',
  );
  // A string member: JSON.stringify writes it exactly (no 64-bit integers to keep).
  return JSON.stringify({ transactionId });
}

const committedBody = JSON.stringify({ transactionStatus: 'Transaction Committed' });
const rolledBackBody = JSON.stringify({ transactionStatus: 'Rollback Complete' });

async function commitTransaction(settings: Settings, input: Input): Promise<string> {
  const transactionId = stringField(input, 'transactionId', {
    required: true,
    charsMax: transactionIdCharsMax,
  });
  await settings.executor.commitTransaction(transactionId);
  return committedBody;
}

async function rollbackTransaction(settings: Settings, input: Input): Promise<string> {
  const transactionId = stringField(input, 'transactionId', {
    required: true,
    charsMax: transactionIdCharsMax,
  });
  await settings.executor.rollbackTransaction(transactionId);
  return rolledBackBody;
}

/** The SDK still ships the deprecated ExecuteSql (Serverless v1 only); answer it clearly, not with a 404. */
async function executeSql(): Promise<string> {
  throw badRequest('ExecuteSql is deprecated and not supported by Borealis: use ExecuteStatement');
}
