import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transactionIdCharsMax } from '../../core/data-api/server.ts';
import { backendTransactionIdBytesMax, instanceIdBytesMax } from './limits.ts';
import {
  decodeTransactionId,
  encodeTransactionId,
  type PinnedTransaction,
  proxyTransactionIdPrefix,
} from './transaction-id.ts';

const pinned: PinnedTransaction = {
  instanceId: 'instance-1',
  incarnation: 3,
  role: 'writer',
  backendTransactionId: 'sD1r0nTz4j1cZ3a9QkN8Lw2xYb7VfE5u',
};

describe('proxy transaction ids', () => {
  it('round-trips instance, incarnation, role and the instance’s own id', () => {
    const id = encodeTransactionId(pinned)!;
    expect(id.startsWith(proxyTransactionIdPrefix)).toBe(true);
    expect(decodeTransactionId(id)).toEqual(pinned);
    expect(decodeTransactionId(encodeTransactionId({ ...pinned, role: 'reader' })!)?.role).toBe('reader');
  });

  it('fits the Data API limit with the longest parts it accepts', () => {
    const longest = encodeTransactionId({
      instanceId: 'i'.repeat(instanceIdBytesMax),
      incarnation: Number.MAX_SAFE_INTEGER,
      role: 'reader',
      backendTransactionId: 't'.repeat(backendTransactionIdBytesMax),
    });
    expect(longest).toBeDefined();
    expect(longest!.length).toBeLessThanOrEqual(transactionIdCharsMax);
  });

  it('refuses parts too long to carry rather than handing out an id the SDK would reject', () => {
    expect(
      encodeTransactionId({ ...pinned, instanceId: 'i'.repeat(instanceIdBytesMax + 1) }),
    ).toBeUndefined();
    expect(
      encodeTransactionId({ ...pinned, backendTransactionId: 't'.repeat(backendTransactionIdBytesMax + 1) }),
    ).toBeUndefined();
    expect(encodeTransactionId({ ...pinned, incarnation: -1 })).toBeUndefined();
    expect(encodeTransactionId({ ...pinned, instanceId: '' })).toBeUndefined();
  });

  it('does not recognise foreign, malformed or tampered ids', () => {
    const id = encodeTransactionId(pinned)!;
    for (const foreign of [
      '',
      'sD1r0nTz4j1cZ3a9QkN8Lw2xYb7VfE5u',
      'bx1.',
      'bx1.!!!',
      `bx1.${Buffer.from('not json').toString('base64url')}`,
      `bx1.${Buffer.from('{"i":"a"}').toString('base64url')}`,
      `bx1.${Buffer.from('["a",1,"x","t"]').toString('base64url')}`,
      `bx1.${Buffer.from('["a",1.5,"w","t"]').toString('base64url')}`,
      `bx2.${id.slice(4)}`,
      `${id}=`,
      `${id}A`,
    ]) {
      expect(decodeTransactionId(foreign), foreign).toBeUndefined();
    }
  });

  it('decodes only what it encoded, for any string (property)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        const decoded = decodeTransactionId(text);
        if (decoded !== undefined) expect(encodeTransactionId(decoded)).toBe(text);
      }),
    );
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 30 }),
        fc.nat(),
        fc.constantFrom('writer' as const, 'reader' as const),
        fc.string({ minLength: 1, maxLength: 40 }),
        (instanceId, incarnation, role, backendTransactionId) => {
          const parts = { instanceId, incarnation, role, backendTransactionId };
          const id = encodeTransactionId(parts);
          if (id !== undefined) expect(decodeTransactionId(id)).toEqual(parts);
        },
      ),
    );
  });
});
