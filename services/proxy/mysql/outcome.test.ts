import { describe, expect, it } from 'vitest';
import { databaseError } from '../../../core/data-api/errors.ts';
import { closesConnection, mysqlErrorFor } from '../../../core/mysql/errors.ts';
import {
  holdExpired,
  holdQueueFull,
  readKeptFailing,
  transactionLost,
  unknownOutcome,
  unknownTransaction,
} from '../errors.ts';
import { ConnectionLostError, mysqlFate } from './outcome.ts';

const writer = { id: 'instance-1', role: 'writer' as const };
const pinned = {
  instanceId: 'instance-1',
  incarnation: 1,
  role: 'writer' as const,
  backendTransactionId: 't',
};

describe("the proxy's failover errors in MySQL's terms", () => {
  it('an autocommit statement or a commit whose outcome is unknown closes the connection (2013), never an error', () => {
    for (const error of [
      unknownOutcome('execute', writer),
      unknownOutcome('batch', writer, { answered: 'ServiceUnavailableError: fenced' }),
      unknownOutcome('commit', writer, { transactionId: 'bx1.t' }),
    ]) {
      const fate = mysqlFate(error);
      expect(fate.kind).toBe('connection-lost');
      expect(fate.error).toBeInstanceOf(ConnectionLostError);
      expect(closesConnection(fate.error)).toBe(true);
    }
  });

  it('a request never sent in time, or a read that kept failing, closes the connection too', () => {
    expect(mysqlFate(holdExpired(30_000, 'no writer')).kind).toBe('connection-lost');
    expect(mysqlFate(readKeptFailing(writer, 3)).kind).toBe('connection-lost');
  });

  it('a transaction lost with its instance, or a statement of it whose connection broke, is 1213', () => {
    for (const error of [
      transactionLost('bx1.t', pinned, { writerId: 'instance-2', refused: false }),
      transactionLost('bx1.t', pinned, { writerId: undefined, refused: true }),
      unknownOutcome('execute', writer, { transactionId: 'bx1.t' }),
    ]) {
      const fate = mysqlFate(error);
      expect(fate.kind).toBe('transaction-aborted');
      expect(closesConnection(fate.error)).toBe(false);
      expect(mysqlErrorFor(fate.error, 'borealis')).toMatchObject({ code: 1213, sqlState: '40001' });
      expect(mysqlErrorFor(fate.error, 'borealis').message).toContain(error.message);
    }
  });

  it("everything else is passed on as the instance's error", () => {
    for (const error of [
      unknownTransaction('foreign'),
      holdQueueFull(1000),
      databaseError('no such table: t'),
      new Error('plain'),
    ]) {
      expect(mysqlFate(error)).toEqual({ kind: 'error', error });
    }
    expect(mysqlErrorFor(mysqlFate(databaseError('no such table: t')).error, 'db').code).toBe(1146);
  });
});
