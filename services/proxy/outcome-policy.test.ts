import { describe, expect, it } from 'vitest';
import type { ClassifiedRequest } from './classify.ts';
import { resendsMax } from './limits.ts';
import { nextStep, type SendOutcome } from './outcome-policy.ts';

const insert: ClassifiedRequest = {
  operation: 'ExecuteStatement',
  kind: 'execute',
  transactionId: undefined,
  readOnly: false,
};
const select: ClassifiedRequest = { ...insert, readOnly: true };
const batch: ClassifiedRequest = { ...insert, operation: 'BatchExecuteStatement', kind: 'batch' };
const begin: ClassifiedRequest = { ...insert, operation: 'BeginTransaction', kind: 'begin' };
const commit: ClassifiedRequest = {
  ...insert,
  operation: 'CommitTransaction',
  kind: 'commit',
  transactionId: 't',
};
const rollback: ClassifiedRequest = { ...commit, operation: 'RollbackTransaction', kind: 'rollback' };
const insertInTransaction: ClassifiedRequest = { ...insert, transactionId: 't' };
const selectInTransaction: ClassifiedRequest = { ...select, transactionId: 't' };

const broken: SendOutcome = { kind: 'broken' };
const notSent: SendOutcome = { kind: 'not-sent' };
const status = (code: number): SendOutcome => ({ kind: 'response', status: code });

describe('outcome policy', () => {
  it('never sends a write again once it may have run, and never answers it with a retryable 5xx', () => {
    for (const request of [insert, batch, commit, insertInTransaction]) {
      expect(nextStep(request, 'writer', broken, 0), request.operation).toBe('unknown-outcome');
      for (const code of [500, 502, 503, 504]) {
        expect(nextStep(request, 'writer', status(code), 0)).toBe('unknown-outcome');
      }
    }
  });

  it('sends what never reached the instance again, wherever routing says', () => {
    for (const request of [insert, batch, select, begin]) {
      expect(nextStep(request, 'writer', notSent, 0)).toBe('reroute');
    }
    expect(nextStep(insert, 'reader', notSent, 0)).toBe('reroute');
  });

  it('resends what is harmless to run twice, a bounded number of times', () => {
    expect(nextStep(select, 'writer', broken, 0)).toBe('resend');
    expect(nextStep(begin, 'writer', broken, 0)).toBe('resend');
    expect(nextStep(insert, 'reader', broken, 0)).toBe('resend');
    expect(nextStep(selectInTransaction, 'writer', broken, 0)).toBe('resend');
    expect(nextStep(select, 'writer', broken, resendsMax)).toBe('unavailable');
  });

  it('treats a transaction whose instance refuses connections as lost, and its rollback as done', () => {
    expect(nextStep(insertInTransaction, 'writer', notSent, 0)).toBe('transaction-lost');
    expect(nextStep(selectInTransaction, 'reader', notSent, 0)).toBe('transaction-lost');
    expect(nextStep(commit, 'writer', notSent, 0)).toBe('transaction-lost');
    expect(nextStep(rollback, 'writer', notSent, 0)).toBe('rollback-complete');
    expect(nextStep(rollback, 'writer', broken, 0)).toBe('rollback-complete');
  });

  it('passes every answer through otherwise', () => {
    for (const request of [insert, select, begin, commit, rollback, insertInTransaction]) {
      for (const code of [200, 400, 403, 404, 413])
        expect(nextStep(request, 'writer', status(code), 0)).toBe('pass');
    }
    for (const request of [select, begin, rollback])
      expect(nextStep(request, 'writer', status(503), 0)).toBe('pass');
    expect(nextStep(insert, 'reader', status(503), 0)).toBe('pass');
  });
});
