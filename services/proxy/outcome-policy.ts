// What the proxy does with the outcome of sending a request to an instance. The one rule everything
// here serves: a request that may have taken effect is never sent again unless running it twice is
// harmless, and the caller is never given an error its SDK would retry on its own (5xx) for such a
// request — the SDK's retry would be the second run. Pure.
import type { InstanceRole } from '../../core/cluster/topology.ts';
import type { ClassifiedRequest } from './classify.ts';
import { resendsMax } from './limits.ts';

export type SendOutcome =
  /** The instance answered (any status). */
  | { kind: 'response'; status: number }
  /** The request never reached the instance: refused or failed before a connection existed. */
  | { kind: 'not-sent' }
  /** The request reached the instance (or may have) and no complete answer came back. */
  | { kind: 'broken' };

export type NextStep =
  /** Answer the client with the instance's response as it is. */
  | 'pass'
  /** It never ran: send it again wherever routing says (a held request waits for the new writer). */
  | 'reroute'
  /** It may have run, but running it again is harmless: send it again. */
  | 'resend'
  /** It may or may not have taken effect: DatabaseErrorException (4xx, so the SDK does not retry). */
  | 'unknown-outcome'
  /** The instance holding the transaction is gone, and the transaction with it. */
  | 'transaction-lost'
  /** A rollback whose instance is gone or unreachable: the transaction can never commit. */
  | 'rollback-complete'
  /** A harmless request kept breaking: DatabaseUnavailableException (the SDK may retry it; harmless). */
  | 'unavailable';

/**
 * Whether running the request twice leaves the database as running it once would: reads, anything a
 * reader instance runs (it refuses writes), Begin (a half-begun transaction on a dead instance is gone;
 * on a live one it is rolled back when idle) and Rollback.
 */
export function harmlessTwice(request: ClassifiedRequest, role: InstanceRole): boolean {
  return (
    request.readOnly ||
    role === 'reader' ||
    request.kind === 'begin' ||
    request.kind === 'rollback' ||
    request.kind === 'other'
  );
}

export function nextStep(
  request: ClassifiedRequest,
  role: InstanceRole,
  outcome: SendOutcome,
  resends: number,
): NextStep {
  const inTransaction = request.transactionId !== undefined && request.kind !== 'begin';
  const harmless = harmlessTwice(request, role);
  switch (outcome.kind) {
    case 'response':
      // A 5xx invites the SDK to retry: harmless requests may have that; others get a 4xx instead.
      return outcome.status < 500 || harmless ? 'pass' : 'unknown-outcome';
    case 'not-sent':
      // Never reached: a transaction's instance refusing connections has lost the transaction.
      if (!inTransaction) return 'reroute';
      return request.kind === 'rollback' ? 'rollback-complete' : 'transaction-lost';
    case 'broken':
      if (request.kind === 'rollback') return 'rollback-complete';
      if (!harmless) return 'unknown-outcome';
      return resends < resendsMax ? 'resend' : 'unavailable';
  }
}
