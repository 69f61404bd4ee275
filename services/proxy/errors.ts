// The Data API exceptions the proxy itself raises, with messages that say what happened to the request
// and what the application should do. The names are chosen by how the SDK treats them: 5xx only where
// the request never ran (the SDK's automatic retry is then safe), 4xx wherever it may have run.
import {
  type DataApiError,
  databaseError,
  databaseUnavailable,
  serviceUnavailable,
  transactionNotFound,
  truncate,
} from '../../core/data-api/errors.ts';
import type { OperationKind } from './classify.ts';
import type { PinnedTransaction } from './transaction-id.ts';

export interface InstanceRef {
  id: string;
  role: 'writer' | 'reader';
}

const shortId = (transactionId: string) => truncate(transactionId, 24);

/**
 * The request may have taken effect on an instance that then failed: DatabaseErrorException (400), so
 * that no SDK replays it. `answered` is the instance's own 5xx, when it answered one.
 */
export function unknownOutcome(
  kind: OperationKind,
  instance: InstanceRef,
  options: { transactionId?: string | undefined; answered?: string | undefined } = {},
): DataApiError {
  const what = kind === 'commit' ? 'this commit' : 'this statement';
  const where = `${instance.role} ${instance.id}`;
  const failure =
    options.answered === undefined
      ? `Communications link failure: ${where} failed while ${what} ran`
      : `${where} answered ${truncate(options.answered, 300)} to ${what}`;
  if (kind === 'commit') {
    return databaseError(`${failure}; the transaction may or may not have committed; it was not retried`);
  }
  if (options.transactionId !== undefined) {
    return databaseError(
      `${failure} in transaction ${shortId(options.transactionId)}; its effect is unknown and it was not ` +
        'retried; roll the transaction back and begin a new one',
    );
  }
  return databaseError(`${failure}; it may or may not have committed; it was not retried`);
}

/** The instance incarnation that held the transaction is gone: the transaction was rolled back with it. */
export function transactionLost(
  transactionId: string,
  pinned: PinnedTransaction,
  now: { writerId: string | undefined; refused: boolean },
): DataApiError {
  const where = `${pinned.role} ${pinned.instanceId}`;
  let fate: string;
  if (now.refused) fate = 'which no longer accepts connections (it failed)';
  else if (pinned.role === 'reader') fate = 'which is no longer available';
  else if (now.writerId === undefined) fate = 'which failed; a failover is in progress';
  else if (now.writerId === pinned.instanceId) fate = 'which restarted';
  else fate = `which failed over (the writer is now ${now.writerId})`;
  return transactionNotFound(
    `Transaction ${shortId(transactionId)} was open on ${where}, ${fate}; it was rolled back — begin a new transaction`,
  );
}

/** An id this proxy did not issue: the instance's own answer for an unknown id, plus why. */
export function unknownTransaction(transactionId: string): DataApiError {
  return transactionNotFound(
    `Transaction ${truncate(transactionId, 64)} is not found: it was not issued by this proxy`,
  );
}

/** DatabaseUnavailableException (504): the request never ran, so the SDK's retry of it is safe. */
export function holdExpired(holdMs: number, why: string): DataApiError {
  return databaseUnavailable(
    `No writer took this request within ${holdMs} ms (${why}); it was not sent to any instance, so it is safe to retry`,
  );
}

/** ServiceUnavailableError (503): refused before being sent anywhere; the SDK retries it with backoff. */
export function holdQueueFull(queueMax: number): DataApiError {
  return serviceUnavailable(
    `The proxy already holds ${queueMax} requests waiting for a writer (its limit); this one was not sent to any instance: retry later`,
  );
}

/** A read whose connection kept breaking: running it again is harmless, so a 5xx (SDK retry) is right. */
export function readKeptFailing(instance: InstanceRef, attempts: number): DataApiError {
  return databaseUnavailable(
    `The connection to ${instance.role} ${instance.id} broke ${attempts} times while this request ran; it only reads, so retrying it is safe`,
  );
}
