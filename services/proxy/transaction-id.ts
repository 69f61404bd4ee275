// The transaction ids the proxy hands to clients. An instance's own id means nothing once the proxy may
// route elsewhere, so the client's id carries where the transaction lives — instance, incarnation (a
// restarted process has lost every transaction) and the instance's own id — and the proxy keeps no
// per-transaction state: nothing to lose, nothing to bound.
import type { InstanceRole } from '../../core/cluster/topology.ts';
import { transactionIdCharsMax } from '../../core/data-api/server.ts';
import { backendTransactionIdBytesMax, instanceIdBytesMax } from './limits.ts';

/** Versioned, so a later format can be told apart; `bx` = Borealis proxy. */
export const proxyTransactionIdPrefix = 'bx1.';

/** Where a transaction lives: the instance incarnation that began it. */
export interface PinnedTransaction {
  instanceId: string;
  incarnation: number;
  /** The role the instance had when the transaction began (for messages; routing uses id + incarnation). */
  role: InstanceRole;
  /** The id the instance itself gave the transaction. */
  backendTransactionId: string;
}

type Wire = [instanceId: string, incarnation: number, role: 'w' | 'r', backendTransactionId: string];

/**
 * The client's id for a transaction, or undefined when the parts are too long to fit the Data API's
 * transaction id limit (the caller must then roll the transaction back: it cannot be handed out).
 */
export function encodeTransactionId(pinned: PinnedTransaction): string | undefined {
  if (!fits(pinned)) return undefined;
  const wire: Wire = [
    pinned.instanceId,
    pinned.incarnation,
    pinned.role === 'writer' ? 'w' : 'r',
    pinned.backendTransactionId,
  ];
  const id = proxyTransactionIdPrefix + Buffer.from(JSON.stringify(wire)).toString('base64url');
  return id.length <= transactionIdCharsMax ? id : undefined;
}

function fits(pinned: PinnedTransaction): boolean {
  return (
    pinned.instanceId.length > 0 &&
    Buffer.byteLength(pinned.instanceId) <= instanceIdBytesMax &&
    Number.isSafeInteger(pinned.incarnation) &&
    pinned.incarnation >= 0 &&
    pinned.backendTransactionId.length > 0 &&
    Buffer.byteLength(pinned.backendTransactionId) <= backendTransactionIdBytesMax
  );
}

const base64urlPattern = /^[A-Za-z0-9_-]+$/;

/**
 * The parts of a proxy transaction id, or undefined for anything the proxy did not issue (a foreign
 * id, a typo, a tampered id). Only the canonical encoding is accepted, so one transaction has one id.
 */
export function decodeTransactionId(id: string): PinnedTransaction | undefined {
  if (!id.startsWith(proxyTransactionIdPrefix) || id.length > transactionIdCharsMax) return undefined;
  const payload = id.slice(proxyTransactionIdPrefix.length);
  if (!base64urlPattern.test(payload)) return undefined;
  let wire: unknown;
  try {
    wire = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!isWire(wire)) return undefined;
  const pinned: PinnedTransaction = {
    instanceId: wire[0],
    incarnation: wire[1],
    role: wire[2] === 'w' ? 'writer' : 'reader',
    backendTransactionId: wire[3],
  };
  return encodeTransactionId(pinned) === id ? pinned : undefined;
}

function isWire(value: unknown): value is Wire {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    typeof value[0] === 'string' &&
    typeof value[1] === 'number' &&
    (value[2] === 'w' || value[2] === 'r') &&
    typeof value[3] === 'string'
  );
}

const transactionIdKey = Buffer.from('"transactionId"');

/**
 * The client's request body with the instance's transaction id in place of the proxy's, rewritten in
 * place of the one `"transactionId": "<proxy id>"` member it holds — no parse and re-serialisation of
 * the whole body per statement. Undefined when the proxy id's literal is not there exactly once, as a
 * "transactionId" member's value (escaped characters, duplicates): the caller then re-serialises the
 * parsed body. A proxy id is base64url after its prefix, so its JSON literal needs no escapes. A body
 * that spells the top-level member with escapes and has a plain one nested elsewhere gets the nested
 * one rewritten: the instance is then sent the proxy id, which it does not know, and refuses.
 */
export function withBackendTransactionId(
  body: Buffer,
  proxyTransactionId: string,
  backendTransactionId: string,
): Buffer | undefined {
  if (!/^[A-Za-z0-9._-]+$/.test(proxyTransactionId)) return undefined;
  const literal = Buffer.from(`"${proxyTransactionId}"`);
  const at = body.indexOf(literal);
  if (at < 0 || body.indexOf(literal, at + 1) >= 0) return undefined;
  // It must be the value of a "transactionId" member: `"transactionId"`, blanks, `:`, blanks, value.
  let i = skipBlanksBackwards(body, at - 1);
  if (i < 0 || body[i] !== 0x3a) return undefined; // ':'
  i = skipBlanksBackwards(body, i - 1);
  const keyStart = i - transactionIdKey.length + 1;
  if (keyStart < 0 || !body.subarray(keyStart, i + 1).equals(transactionIdKey)) return undefined;
  // A backslash before it: that quote is escaped, inside a longer key that merely ends the same way.
  if (keyStart > 0 && body[keyStart - 1] === 0x5c) return undefined;
  return Buffer.concat([
    body.subarray(0, at),
    Buffer.from(JSON.stringify(backendTransactionId)),
    body.subarray(at + literal.length),
  ]);
}

function skipBlanksBackwards(body: Buffer, from: number): number {
  let i = from;
  // JSON whitespace: space, tab, line feed, carriage return.
  while (i >= 0 && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0a || body[i] === 0x0d)) i--;
  return i;
}
