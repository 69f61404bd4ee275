import { describe, expect, it } from 'vitest';
import { classifyRequest } from './classify.ts';
import { readerSuspectMs } from './limits.ts';
import { Router } from './router.ts';
import { topologyFixture } from './testing.ts';
import { encodeTransactionId } from './transaction-id.ts';

const select = classifyRequest('ExecuteStatement', { sql: 'select 1' });
const insert = classifyRequest('ExecuteStatement', { sql: 'insert into t values (1)' });
const none = new Set<string>();

function twoReaders() {
  return topologyFixture({
    readers: [
      { id: 'instance-2', endpoint: 'http://127.0.0.1:5003', incarnation: 1, healthy: true, lagMs: 1 },
      { id: 'instance-3', endpoint: 'http://127.0.0.1:5004', incarnation: 1, healthy: true, lagMs: 2 },
    ],
  });
}

const idOf = (route: ReturnType<Router['route']>) =>
  route.kind === 'instance' ? route.backend.id : route.kind;

describe('router', () => {
  it('holds everything until the first topology', () => {
    expect(new Router().route('writer', insert, none, 0)).toEqual({ kind: 'hold', why: 'no topology yet' });
  });

  it('sends the cluster endpoint to the writer and spreads the reader endpoint', () => {
    const router = new Router();
    router.apply(twoReaders());
    expect(idOf(router.route('writer', select, none, 0))).toBe('instance-1');
    const chosen = [0, 1, 2, 3].map(() => idOf(router.route('reader', select, none, 0)));
    expect(new Set(chosen)).toEqual(new Set(['instance-2', 'instance-3']));
  });

  it('sends reader-endpoint requests to the reader with fewer in flight', () => {
    const router = new Router();
    const topology = twoReaders();
    router.apply(topology);
    const busy = router.backends().find((b) => b.id === 'instance-2')!;
    router.started(busy.key);
    for (let i = 0; i < 3; i++) expect(idOf(router.route('reader', select, none, 0))).toBe('instance-3');
    router.finished(busy.key);
    expect(router.inFlight(busy.key)).toBe(0);
  });

  it('falls back to the writer when no reader is healthy or reachable, and holds without a writer', () => {
    const router = new Router();
    router.apply(topologyFixture({ readers: [{ ...topologyFixture().readers[0]!, healthy: false }] }));
    expect(idOf(router.route('reader', select, none, 0))).toBe('instance-1');
    router.apply(topologyFixture({ version: 2, writer: null, readers: [] }));
    expect(router.route('reader', select, none, 0)).toEqual({ kind: 'hold', why: 'failover in progress' });
  });

  it('skips a reader that refused a connection for a while, and a writer until it accepts or changes', () => {
    const router = new Router();
    router.apply(twoReaders());
    const reader = router.backends().find((b) => b.id === 'instance-2')!;
    router.refused(reader, 1_000);
    for (let i = 0; i < 3; i++) expect(idOf(router.route('reader', select, none, 1_000))).toBe('instance-3');
    expect(
      new Set([0, 1].map(() => idOf(router.route('reader', select, none, 1_000 + readerSuspectMs)))),
    ).toEqual(new Set(['instance-2', 'instance-3']));
    expect(idOf(router.route('reader', select, new Set([reader.key]), 5_000))).toBe('instance-3');
    const writer = router.writer!;
    router.refused(writer, 0);
    expect(router.route('writer', insert, none, 0)).toEqual({
      kind: 'hold',
      why: 'writer instance-1 refuses connections',
    });
    router.writerAccepts(writer.key);
    expect(idOf(router.route('writer', insert, none, 0))).toBe('instance-1');
  });

  it('routes a transaction to the incarnation that began it, or says it is gone', () => {
    const router = new Router();
    router.apply(topologyFixture());
    const transactionId = encodeTransactionId({
      instanceId: 'instance-1',
      incarnation: 1,
      role: 'writer',
      backendTransactionId: 'abc',
    })!;
    const inTransaction = classifyRequest('ExecuteStatement', {
      sql: 'insert into t values (1)',
      transactionId,
    });
    // Pinned, whichever endpoint carries it.
    expect(idOf(router.route('reader', inTransaction, none, 0))).toBe('instance-1');
    const change = router.apply(
      topologyFixture({ version: 2, writer: { ...topologyFixture().writer!, incarnation: 2 } }),
    );
    expect(change?.writerChanged).toBe(true);
    expect(change?.removed.map((b) => `${b.id}#${b.incarnation}`)).toEqual(['instance-1#1']);
    expect(router.route('writer', inTransaction, none, 0)).toMatchObject({
      kind: 'transaction-gone',
      writerId: 'instance-1',
    });
    const foreign = classifyRequest('CommitTransaction', { transactionId: 'not-ours' });
    expect(router.route('writer', foreign, none, 0)).toEqual({ kind: 'unknown-transaction' });
  });

  it('ignores a topology that is not newer', () => {
    const router = new Router();
    router.apply(topologyFixture({ version: 5 }));
    expect(router.apply(topologyFixture({ version: 5, writer: null }))).toBeUndefined();
    expect(router.writer?.id).toBe('instance-1');
  });
});
