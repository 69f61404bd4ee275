// What the proxy must know about a Data API request to route it and to decide, when its connection
// breaks, whether sending it again is safe: the operation, the transaction it belongs to, and whether
// the statement only reads. Pure: the body is already parsed.
import { dataApiRoutes, stringField, transactionIdCharsMax } from '../../core/data-api/server.ts';

export type OperationKind = 'execute' | 'batch' | 'begin' | 'commit' | 'rollback' | 'other';

export interface ClassifiedRequest {
  /** The Data API operation name, e.g. ExecuteStatement. */
  operation: string;
  kind: OperationKind;
  /** The client's transaction id (a proxy id, or something foreign), when the request names one. */
  transactionId: string | undefined;
  /** The statement cannot change data, whatever instance runs it (so running it twice is harmless). */
  readOnly: boolean;
}

const kinds: Readonly<Record<string, OperationKind>> = {
  ExecuteStatement: 'execute',
  BatchExecuteStatement: 'batch',
  BeginTransaction: 'begin',
  CommitTransaction: 'commit',
  RollbackTransaction: 'rollback',
};

/** The operation a POST path names, or undefined for a path the Data API does not route. */
export function operationOf(
  method: string,
  path: string,
): { name: string; checksCaller: boolean } | undefined {
  return method === 'POST' ? dataApiRoutes.get(path) : undefined;
}

/**
 * Throws the DataApiError an instance would give for a transactionId of the wrong type or length, so
 * a bad id is answered here and never forwarded. Other fields are left to the instance to check.
 */
export function classifyRequest(operation: string, input: Record<string, unknown>): ClassifiedRequest {
  const kind = kinds[operation] ?? 'other';
  const transactionId =
    kind === 'commit' || kind === 'rollback'
      ? stringField(input, 'transactionId', { required: true, charsMax: transactionIdCharsMax })
      : kind === 'execute' || kind === 'batch'
        ? stringField(input, 'transactionId', { charsMax: transactionIdCharsMax })
        : undefined;
  const sql = input.sql;
  const readOnly = (kind === 'execute' || kind === 'batch') && typeof sql === 'string' && isReadOnlySql(sql);
  return { operation, kind, transactionId, readOnly };
}

const readOnlyStart = /^\s*(select|values|explain)\b/i;
const trailingSemicolons = /[\s;]*$/;

/**
 * Whether SQL text is certainly a read: it starts with SELECT, VALUES or EXPLAIN and is one statement.
 * Conservative by design — a `;` anywhere but the end (even inside a string literal) makes it "maybe a
 * write", because a wrong "read-only" would let the proxy run a write twice.
 */
export function isReadOnlySql(sql: string): boolean {
  if (!readOnlyStart.test(sql)) return false;
  return !sql.replace(trailingSemicolons, '').includes(';');
}
