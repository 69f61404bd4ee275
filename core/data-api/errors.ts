// Data API exceptions as the service sends them (name in x-amzn-ErrorType, HTTP status, message), and the
// one place where engine and Borealis errors are mapped onto them before they leave the process.
import { BorealisError, ErrorCode } from '../errors.ts';

/**
 * Every exception of the RDS Data API service model with its HTTP status, as shipped in
 * @aws-sdk/client-rds-data 3.1143.0 (the `httpError` traits). The SDK turns the name in
 * x-amzn-ErrorType into the matching exception class, so these names must never be spelled differently.
 */
export const dataApiErrorStatus = Object.freeze({
  AccessDeniedException: 403,
  BadRequestException: 400,
  DatabaseErrorException: 400,
  DatabaseNotFoundException: 404,
  DatabaseResumingException: 400,
  DatabaseUnavailableException: 504,
  ForbiddenException: 403,
  HttpEndpointNotEnabledException: 400,
  InternalServerErrorException: 500,
  InvalidResourceStateException: 400,
  InvalidSecretException: 400,
  NotFoundException: 404,
  SecretsErrorException: 400,
  ServiceUnavailableError: 503,
  StatementTimeoutException: 400,
  TransactionNotFoundException: 404,
  UnsupportedResultException: 400,
  /**
   * Not in the service model: what rest-json services answer for a path they do not route. The SDK
   * surfaces it as an RDSDataServiceException whose name is this string.
   */
  UnknownOperationException: 404,
} as const);

export type DataApiErrorName = keyof typeof dataApiErrorStatus;

export function isDataApiErrorName(value: unknown): value is DataApiErrorName {
  return typeof value === 'string' && Object.hasOwn(dataApiErrorStatus, value);
}

export interface DataApiErrorOptions {
  /** Overrides the status of the name, e.g. 413 for a BadRequestException about request size. */
  statusCode?: number;
  /** StatementTimeoutException only: the connection whose statement timed out. */
  dbConnectionId?: number;
  /** The original error, for logs only; it is never sent to the caller. */
  cause?: unknown;
}

/** An exception the edge sends as it is: `message` is shown to the caller, `cause` never is. */
export class DataApiError extends Error {
  override readonly name: DataApiErrorName;
  readonly statusCode: number;
  readonly dbConnectionId: number | undefined;

  constructor(name: DataApiErrorName, message: string, options: DataApiErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = name;
    this.statusCode = options.statusCode ?? dataApiErrorStatus[name];
    this.dbConnectionId = options.dbConnectionId;
  }
}

export function isDataApiError(error: unknown, name?: DataApiErrorName): error is DataApiError {
  return error instanceof DataApiError && (name === undefined || error.name === name);
}

// --- Factories, one per exception the layer or an engine is expected to raise -------------------------

export const badRequest = (message: string, options?: DataApiErrorOptions): DataApiError =>
  new DataApiError('BadRequestException', message, options);

export const statementTimeout = (message: string, dbConnectionId: number): DataApiError =>
  new DataApiError('StatementTimeoutException', message, { dbConnectionId });

export const forbidden = (message: string): DataApiError => new DataApiError('ForbiddenException', message);

export const notFound = (message: string): DataApiError => new DataApiError('NotFoundException', message);

export const transactionNotFound = (message: string): DataApiError =>
  new DataApiError('TransactionNotFoundException', message);

export const serviceUnavailable = (message: string, cause?: unknown): DataApiError =>
  new DataApiError('ServiceUnavailableError', message, { cause });

export const internalServerError = (cause?: unknown): DataApiError =>
  new DataApiError('InternalServerErrorException', internalErrorMessage, { cause });

export const databaseUnavailable = (message: string, cause?: unknown): DataApiError =>
  new DataApiError('DatabaseUnavailableException', message, { cause });

export const databaseNotFound = (message: string): DataApiError =>
  new DataApiError('DatabaseNotFoundException', message);

export const databaseError = (message: string): DataApiError =>
  new DataApiError('DatabaseErrorException', message);

export const unsupportedResult = (message: string): DataApiError =>
  new DataApiError('UnsupportedResultException', message);

export const accessDenied = (message: string): DataApiError =>
  new DataApiError('AccessDeniedException', message);

export const invalidResourceState = (message: string): DataApiError =>
  new DataApiError('InvalidResourceStateException', message);

export const secretsError = (message: string): DataApiError =>
  new DataApiError('SecretsErrorException', message);

export const unknownOperation = (method: string, path: string): DataApiError =>
  new DataApiError('UnknownOperationException', `Unknown operation: ${method} ${truncate(path, 200)}`);

/** The only text an unexpected failure ever shows the caller: no stack, no engine internals. */
export const internalErrorMessage = 'An internal error occurred';

// --- Mapping -----------------------------------------------------------------------------------------

/**
 * Maps anything thrown below the edge to the exception the caller sees. DataApiError passes through;
 * an engine error carrying `dataApiName` (a known exception name) and `message` maps 1:1; Borealis
 * availability errors map to the service's availability exceptions; everything else is an
 * InternalServerErrorException whose message says nothing about the cause (kept as `cause` for logs).
 */
export function toDataApiError(error: unknown): DataApiError {
  if (error instanceof DataApiError) return error;
  const fromEngine = fromEngineError(error);
  if (fromEngine !== undefined) return fromEngine;
  if (error instanceof BorealisError) return fromBorealisError(error);
  return internalServerError(error);
}

function fromEngineError(error: unknown): DataApiError | undefined {
  if (typeof error !== 'object' || error === null || !('dataApiName' in error)) return undefined;
  const { dataApiName } = error;
  const message = 'message' in error && typeof error.message === 'string' ? error.message : '';
  if (!isDataApiErrorName(dataApiName) || dataApiName === 'InternalServerErrorException') {
    // An unknown name is an engine bug, and an engine's internal error may carry internals: hide both.
    return internalServerError(error);
  }
  const dbConnectionId =
    'dbConnectionId' in error && typeof error.dbConnectionId === 'number' ? error.dbConnectionId : undefined;
  if (dataApiName === 'StatementTimeoutException') {
    return new DataApiError(dataApiName, message, { dbConnectionId: dbConnectionId ?? 0, cause: error });
  }
  return new DataApiError(dataApiName, message, { cause: error });
}

/**
 * Borealis errors that reach the edge unhandled. Availability problems (no quorum, not ready, fenced)
 * become 5xx exceptions, which the SDK's standard retry strategy treats as transient; the caller's own
 * mistakes become BadRequestException with the message; the rest is internal.
 */
function fromBorealisError(error: BorealisError): DataApiError {
  switch (error.code) {
    case ErrorCode.NOT_READY:
    case ErrorCode.QUORUM_LOST:
    case ErrorCode.UNAVAILABLE:
    case ErrorCode.NOT_COMPLETE:
    case ErrorCode.STALE_EPOCH:
      return serviceUnavailable(`The database is temporarily unavailable (${error.code})`, error);
    case ErrorCode.TIMEOUT:
      return databaseUnavailable(`The database did not answer in time (${error.code})`, error);
    case ErrorCode.INVALID_ARGUMENT:
      return badRequest(error.message, { cause: error });
    default:
      return internalServerError(error);
  }
}

/** Caps caller-supplied text echoed in messages, so an error never grows with the request. */
export function truncate(text: string, charsMax: number): string {
  return text.length <= charsMax ? text : `${text.slice(0, charsMax)}…`;
}
