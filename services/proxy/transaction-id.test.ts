import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { transactionIdCharsMax } from '../../core/data-api/server.ts';
import { backendTransactionIdBytesMax, instanceIdBytesMax } from './limits.ts';
import {
  decodeTransactionId,
  encodeTransactionId,
  type PinnedTransaction,
  proxyTransactionIdPrefix,
  withBackendTransactionId,
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

describe('withBackendTransactionId', () => {
  const proxyId = encodeTransactionId(pinned)!;
  const backendId = pinned.backendTransactionId;
  const rewrite = (body: unknown) =>
    withBackendTransactionId(
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      proxyId,
      backendId,
    );

  it('puts the instance’s id in place of the proxy’s and leaves every other member as it was', () => {
    const input = {
      resourceArn: 'arn:a',
      secretArn: 'arn:s',
      sql: 'select :x',
      parameters: [{ name: 'x', value: { longValue: 1234567 } }],
      transactionId: proxyId,
    };
    // The rest of the body is kept byte for byte, a 21-digit integer included.
    const text = JSON.stringify(input).replace('1234567', '123456789012345678901');
    const rewritten = rewrite(text)!;
    expect(rewritten.toString()).toBe(text.replace(`"${proxyId}"`, `"${backendId}"`));
    expect(JSON.parse(rewritten.toString()).transactionId).toBe(backendId);
    // The id quoted inside the SQL text is escaped there, so only the member matches.
    const quoted = { sql: `select '"${proxyId}"'`, transactionId: proxyId };
    expect(JSON.parse(rewrite(quoted)!.toString())).toEqual({ ...quoted, transactionId: backendId });
    expect(rewrite(`{"transactionId" :\n "${proxyId}", "sql": "select 1"}`)?.toString()).toBe(
      `{"transactionId" :\n "${backendId}", "sql": "select 1"}`,
    );
  });

  it('declines, for the caller to re-serialise, whenever the member is not there once in plain form', () => {
    // Escaped characters in the id, or in the key.
    expect(rewrite(`{"transactionId":"\\u0062${proxyId.slice(1)}"}`)).toBeUndefined();
    expect(rewrite(`{"transaction\\u0049d":"${proxyId}"}`)).toBeUndefined();
    // The id twice, as a duplicate member.
    expect(rewrite(`{"transactionId":"${proxyId}","transactionId":"${proxyId}"}`)).toBeUndefined();
    // The literal only inside a string (its quotes escaped), or as another member's value.
    expect(rewrite({ sql: `"${proxyId}"`, transactionId: 'x' })).toBeUndefined();
    expect(rewrite({ database: proxyId })).toBeUndefined();
    expect(rewrite(`{"x\\"transactionId":"${proxyId}"}`)).toBeUndefined();
  });

  it('rewrites exactly the transactionId member of any body the proxy could be sent', () => {
    fc.assert(
      fc.property(fc.string(), fc.boolean(), (sql, idFirst) => {
        const body = idFirst ? { transactionId: proxyId, sql } : { sql, transactionId: proxyId };
        const rewritten = rewrite(body);
        // Declining is always safe; a rewrite must change that member and nothing else.
        if (rewritten !== undefined)
          expect(JSON.parse(rewritten.toString())).toEqual({ ...body, transactionId: backendId });
      }),
    );
  });
});
