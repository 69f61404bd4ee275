// The MySQL front end of the proxy speaks to the instances through the proxy's own Data API path (ADR
// 017): this module turns the executor calls the MySQL protocol server makes into Data API request
// bodies, and the instances' answers back into executor results and errors. Pure.
import {
  type DataApiError,
  DataApiError as DataApiErrorClass,
  internalServerError,
  isDataApiErrorName,
} from '../../../core/data-api/errors.ts';
import { mysqlFrontEndMember } from '../../../core/data-api/server.ts';
import type { SqlValue, StatementRequest, StatementResult } from '../../../core/data-api/types.ts';
import {
  fieldFromValue,
  parseJsonLossless,
  stringifyJson,
  valueFromField,
} from '../../../core/data-api/values.ts';

/** The cluster's ARNs every request must name, as the instances check them. */
export interface CallerArns {
  resourceArn: string;
  secretArn: string;
}

/** A Data API request ready for the dispatcher: its path, parsed input and serialised body. */
export interface DataApiCall {
  path: '/Execute' | '/BatchExecute' | '/BeginTransaction' | '/CommitTransaction' | '/RollbackTransaction';
  operation: string;
  input: Record<string, unknown>;
  body: Buffer;
}

function call(path: DataApiCall['path'], operation: string, input: Record<string, unknown>): DataApiCall {
  return { path, operation, input, body: Buffer.from(stringifyJson(input)) };
}

/** SqlParameters with the MySQL server's names (`1` … `n` for a prepared statement's `?`s). */
export function wireParameters(
  parameters: ReadonlyMap<string, SqlValue>,
): { name: string; value: unknown }[] {
  return [...parameters].map(([name, value]) => ({ name, value: fieldFromValue(value) }));
}

/**
 * ExecuteStatement for one MySQL statement. Result metadata is always asked for (the MySQL server
 * needs the column names); DECIMAL comes back as numbers, as it does from an instance's own MySQL
 * port; 64-bit integers come back exact (the body is parsed with parseJsonLossless).
 */
export function executeCall(arns: CallerArns, request: StatementRequest): DataApiCall {
  return call('/Execute', 'ExecuteStatement', {
    ...arns,
    sql: request.sql,
    ...(request.parameters.size > 0 && { parameters: wireParameters(request.parameters) }),
    ...(request.transactionId !== undefined && { transactionId: request.transactionId }),
    includeResultMetadata: true,
    decimalReturnType: 'DOUBLE_OR_LONG',
    // MySQL's statement size limit (max_allowed_packet, up to the request size), not the Data API's.
    [mysqlFrontEndMember]: true,
  });
}

export function batchCall(
  arns: CallerArns,
  sql: string,
  parameterSets: ReadonlyMap<string, SqlValue>[],
  transactionId: string | undefined,
): DataApiCall {
  return call('/BatchExecute', 'BatchExecuteStatement', {
    ...arns,
    sql,
    parameterSets: parameterSets.map(wireParameters),
    ...(transactionId !== undefined && { transactionId }),
  });
}

export const beginCall = (arns: CallerArns): DataApiCall =>
  call('/BeginTransaction', 'BeginTransaction', { ...arns });

export const endCall = (arns: CallerArns, how: 'commit' | 'rollback', transactionId: string): DataApiCall =>
  how === 'commit'
    ? call('/CommitTransaction', 'CommitTransaction', { ...arns, transactionId })
    : call('/RollbackTransaction', 'RollbackTransaction', { ...arns, transactionId });

/** An instance's (or the proxy's) HTTP answer as the dispatcher replies it. */
export interface HttpAnswer {
  status: number;
  /** The x-amzn-ErrorType header, for an error. */
  errorType: string | undefined;
  body: Buffer;
}

/** The parsed body of a 2xx answer, or the DataApiError of any other. */
export function answerBody(answer: HttpAnswer): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = answer.body.length === 0 ? {} : parseJsonLossless(answer.body.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (answer.status >= 200 && answer.status < 300) {
    if (!isRecord(parsed))
      throw internalServerError(new Error(`an instance answered ${answer.status} without a JSON object`));
    return parsed;
  }
  throw errorFromAnswer(answer.status, answer.errorType, isRecord(parsed) ? parsed.message : undefined);
}

/** The DataApiError an error answer stands for: the name from the header, the message from the body. */
export function errorFromAnswer(
  status: number,
  errorType: string | undefined,
  message: unknown,
): DataApiError {
  // rest-json error types may carry a namespace or a ':' suffix (`Name:http://…`).
  const name = errorType?.split(':', 1)[0]?.split('#').pop();
  const text = typeof message === 'string' ? message : `HTTP ${status}`;
  if (!isDataApiErrorName(name) || name === 'InternalServerErrorException') {
    return internalServerError(new Error(`${errorType ?? 'no error type'} (HTTP ${status}): ${text}`));
  }
  return new DataApiErrorClass(name, text, { statusCode: status });
}

/** An ExecuteStatement answer as the executor's result: columns from columnMetadata, values from Fields. */
export function statementResult(body: Record<string, unknown>): StatementResult {
  const metadata = Array.isArray(body.columnMetadata) ? body.columnMetadata : [];
  const records = Array.isArray(body.records) ? body.records : undefined;
  const columns = metadata.map((c: unknown, i) => {
    const m = isRecord(c) ? c : {};
    const name =
      typeof m.label === 'string' && m.label !== ''
        ? m.label
        : typeof m.name === 'string'
          ? m.name
          : `col${i}`;
    return {
      name,
      ...(typeof m.typeName === 'string' && m.typeName !== '' && { declaredType: m.typeName }),
      ...(typeof m.tableName === 'string' && m.tableName !== '' && { tableName: m.tableName }),
    };
  });
  if (records !== undefined && columns.length === 0 && records.length > 0) {
    throw internalServerError(new Error('an instance answered records without columnMetadata'));
  }
  const rows = (records ?? []).map((record: unknown, r) => {
    if (!Array.isArray(record) || record.length !== columns.length) {
      throw internalServerError(new Error(`record ${r} does not have ${columns.length} fields`));
    }
    return record.map((field: unknown, c) => valueFromField(field, `record ${r} field ${c}`));
  });
  const updated = body.numberOfRecordsUpdated;
  const generated = Array.isArray(body.generatedFields)
    ? body.generatedFields.map((field: unknown, i) => valueFromField(field, `generatedFields[${i}]`))
    : undefined;
  return {
    columns,
    rows,
    numberOfRecordsUpdated:
      typeof updated === 'number' ? updated : typeof updated === 'bigint' ? Number(updated) : 0,
    ...(generated !== undefined && { generatedFields: generated }),
  };
}

/** A BatchExecuteStatement answer: the generated fields of each run. */
export function batchResult(body: Record<string, unknown>): { generatedFields: SqlValue[][] } {
  const results = Array.isArray(body.updateResults) ? body.updateResults : [];
  return {
    generatedFields: results.map((r: unknown, i) => {
      const fields = isRecord(r) && Array.isArray(r.generatedFields) ? r.generatedFields : [];
      return fields.map((f: unknown, j) => valueFromField(f, `updateResults[${i}].generatedFields[${j}]`));
    }),
  };
}

export function transactionIdOf(body: Record<string, unknown>): string {
  const id = body.transactionId;
  if (typeof id !== 'string' || id === '') {
    throw internalServerError(new Error('BeginTransaction answered without a transactionId'));
  }
  return id;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
