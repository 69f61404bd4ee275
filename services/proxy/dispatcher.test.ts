// The request lifecycle against a scripted forwarder: what is sent where, how many times, and what the
// client is told — above all that a write that may have run is never sent twice.
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { Topology } from '../../core/cluster/topology.ts';
import { classifyRequest } from './classify.ts';
import { Dispatcher, type Reply, type Sender } from './dispatcher.ts';
import type { SendResult } from './forwarder.ts';
import { proxyMetrics } from './metrics.ts';
import { type Backend, type EndpointKind, Router } from './router.ts';
import { topologyFixture } from './testing.ts';
import { decodeTransactionId } from './transaction-id.ts';

interface Sent {
  instance: string;
  path: string;
  body: Record<string, unknown>;
}

type Script = (sent: Sent) => SendResult | Promise<SendResult>;

const ok = (body: unknown): SendResult => ({
  outcome: { kind: 'response', status: 200 },
  response: {
    status: 200,
    headers: { 'content-type': 'application/json', 'x-amzn-requestid': 'r1' },
    body: Buffer.from(JSON.stringify(body)),
  },
});
const failed = (status: number, name: string, message: string): SendResult => ({
  outcome: { kind: 'response', status },
  response: {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': name },
    body: Buffer.from(JSON.stringify({ message })),
  },
});
const broken: SendResult = { outcome: { kind: 'broken' }, error: new Error('socket hang up') };
const refused: SendResult = { outcome: { kind: 'not-sent' }, error: new Error('connect ECONNREFUSED') };

function harness(options: { holdMs?: number; queueMax?: number; topology?: Topology | null } = {}) {
  const sent: Sent[] = [];
  let script: Script = () => ok({ numberOfRecordsUpdated: 1 });
  const retired: string[] = [];
  const forwarder: Sender = {
    send: async (backend: Backend, _pool, path, body) => {
      const entry = {
        instance: `${backend.id}#${backend.incarnation}`,
        path,
        body: JSON.parse(body.toString()),
      };
      sent.push(entry);
      return script(entry);
    },
    retire: (backend: Backend) => retired.push(backend.id),
  };
  const router = new Router();
  const dispatcher = new Dispatcher({
    router,
    forwarder,
    metrics: proxyMetrics(new Registry(), {
      held: () => 0,
      topologyVersion: () => 0,
      inFlight: () => new Map(),
    }),
    logger: pino({ level: 'silent' }),
    holdMs: options.holdMs ?? 10_000,
    queueMax: options.queueMax ?? 100,
    probe: async () => false,
  });
  if (options.topology !== null) dispatcher.topologyChanged(options.topology ?? topologyFixture());
  const request = (
    operation: string,
    input: Record<string, unknown>,
    endpoint: EndpointKind = 'writer',
  ): Promise<Reply> =>
    new Promise((reply) => {
      const paths: Record<string, string> = {
        ExecuteStatement: '/Execute',
        BatchExecuteStatement: '/BatchExecute',
        BeginTransaction: '/BeginTransaction',
        CommitTransaction: '/CommitTransaction',
        RollbackTransaction: '/RollbackTransaction',
      };
      dispatcher.submit({
        endpoint,
        path: paths[operation]!,
        request: classifyRequest(operation, input),
        input,
        body: Buffer.from(JSON.stringify(input)),
        reply,
      });
    });
  return {
    sent,
    retired,
    dispatcher,
    request,
    script: (next: Script) => {
      script = next;
    },
  };
}

const errorOf = (reply: Reply) =>
  reply.kind === 'error' ? { name: reply.error.name, message: reply.error.message } : undefined;
const bodyOf = (reply: Reply) => (reply.kind === 'response' ? JSON.parse(reply.body.toString()) : undefined);
const newWriter = (version: number, incarnation = 2, id = 'instance-4') =>
  topologyFixture({
    version,
    writer: { id, endpoint: 'http://127.0.0.1:6001', redo: '127.0.0.1:6002', incarnation },
  });

describe('dispatcher', () => {
  it('answers a write whose connection broke with DatabaseErrorException and sends it only once', async () => {
    const h = harness();
    h.script(() => broken);
    const reply = await h.request('ExecuteStatement', { sql: 'insert into t values (1)' });
    expect(errorOf(reply)).toEqual({
      name: 'DatabaseErrorException',
      message: expect.stringMatching(
        /writer instance-1 failed while this statement ran; it may or may not have committed; it was not retried/,
      ),
    });
    expect(reply.kind === 'error' && reply.error.statusCode).toBe(400);
    expect(h.sent).toHaveLength(1);
  });

  it('turns a 5xx from the writer for a write into a 4xx, so the SDK does not replay it', async () => {
    const h = harness();
    h.script(() =>
      failed(503, 'ServiceUnavailableError', 'The database is temporarily unavailable (QUORUM_LOST)'),
    );
    const reply = await h.request('BatchExecuteStatement', { sql: 'insert into t values (:a)' });
    expect(errorOf(reply)?.name).toBe('DatabaseErrorException');
    expect(errorOf(reply)?.message).toMatch(
      /answered ServiceUnavailableError: The database is temporarily unavailable/,
    );
    expect(h.sent).toHaveLength(1);
  });

  it('resends a read whose connection broke', async () => {
    const h = harness();
    let calls = 0;
    h.script(() => (calls++ === 0 ? broken : ok({ records: [[{ longValue: 1 }]] })));
    const reply = await h.request('ExecuteStatement', { sql: 'select 1' });
    expect(bodyOf(reply)).toEqual({ records: [[{ longValue: 1 }]] });
    expect(h.sent).toHaveLength(2);
  });

  it('holds writes the writer refused and sends them, in order, to the new writer', async () => {
    const h = harness();
    h.script((s) => (s.instance === 'instance-1#1' ? refused : ok({ numberOfRecordsUpdated: 1 })));
    const replies = [1, 2, 3].map((n) =>
      h.request('ExecuteStatement', { sql: `insert into t values (${n})` }),
    );
    await new Promise((r) => setTimeout(r, 10));
    expect(h.dispatcher.held).toBe(3);
    h.dispatcher.topologyChanged(newWriter(2));
    for (const reply of await Promise.all(replies)) expect(reply.kind).toBe('response');
    const onNewWriter = h.sent.filter((s) => s.instance === 'instance-4#2').map((s) => s.body.sql);
    expect(onNewWriter).toEqual([
      'insert into t values (1)',
      'insert into t values (2)',
      'insert into t values (3)',
    ]);
    expect(h.retired).toEqual(['instance-1']);
  });

  it('holds while there is no writer, and a later arrival waits behind earlier ones', async () => {
    const h = harness({ topology: topologyFixture({ writer: null, readers: [] }) });
    const first = h.request('ExecuteStatement', { sql: 'insert into t values (1)' });
    const read = h.request('ExecuteStatement', { sql: 'select 1' }, 'reader');
    expect(h.sent).toHaveLength(0);
    h.dispatcher.topologyChanged(newWriter(2));
    await Promise.all([first, read]);
    expect(h.sent.map((s) => s.body.sql)).toEqual(['insert into t values (1)', 'select 1']);
  });

  it('expires held requests with DatabaseUnavailableException and refuses beyond the queue limit', async () => {
    const h = harness({ holdMs: 30, queueMax: 1, topology: topologyFixture({ writer: null, readers: [] }) });
    const held = h.request('ExecuteStatement', { sql: 'insert into t values (1)' });
    const refusedReply = await h.request('ExecuteStatement', { sql: 'insert into t values (2)' });
    expect(errorOf(refusedReply)?.name).toBe('ServiceUnavailableError');
    const expired = await held;
    expect(errorOf(expired)).toEqual({
      name: 'DatabaseUnavailableException',
      message: expect.stringMatching(/not sent to any instance, so it is safe to retry/),
    });
    expect(expired.kind === 'error' && expired.error.statusCode).toBe(504);
    expect(h.sent).toHaveLength(0);
  });

  it('drops a held request whose client went away', () => {
    const h = harness({ topology: topologyFixture({ writer: null, readers: [] }) });
    let replied = false;
    const cancel = h.dispatcher.submit({
      endpoint: 'writer',
      path: '/Execute',
      request: classifyRequest('ExecuteStatement', { sql: 'insert into t values (1)' }),
      input: {},
      body: Buffer.from('{}'),
      reply: () => {
        replied = true;
      },
    });
    expect(h.dispatcher.held).toBe(1);
    cancel();
    expect(h.dispatcher.held).toBe(0);
    h.dispatcher.topologyChanged(newWriter(2));
    expect(h.sent).toHaveLength(0);
    expect(replied).toBe(false);
  });

  it('pins a transaction to its writer incarnation and reports it lost after a failover', async () => {
    const h = harness();
    h.script((s) =>
      s.path === '/BeginTransaction'
        ? ok({ transactionId: 'backend-txn-1' })
        : ok({ numberOfRecordsUpdated: 1 }),
    );
    const begun = bodyOf(await h.request('BeginTransaction', {}));
    const transactionId = begun.transactionId as string;
    expect(decodeTransactionId(transactionId)).toEqual({
      instanceId: 'instance-1',
      incarnation: 1,
      role: 'writer',
      backendTransactionId: 'backend-txn-1',
    });
    await h.request('ExecuteStatement', { sql: 'insert into t values (1)', transactionId }, 'reader');
    expect(h.sent.at(-1)).toEqual({
      instance: 'instance-1#1',
      path: '/Execute',
      body: { sql: 'insert into t values (1)', transactionId: 'backend-txn-1' },
    });
    h.dispatcher.topologyChanged(newWriter(2));
    const lost = await h.request('ExecuteStatement', { sql: 'insert into t values (2)', transactionId });
    expect(errorOf(lost)).toEqual({
      name: 'TransactionNotFoundException',
      message: expect.stringMatching(
        /was open on writer instance-1, which failed over \(the writer is now instance-4\); it was rolled back — begin a new transaction/,
      ),
    });
    expect(errorOf(await h.request('CommitTransaction', { transactionId }))?.name).toBe(
      'TransactionNotFoundException',
    );
    expect(bodyOf(await h.request('RollbackTransaction', { transactionId }))).toEqual({
      transactionStatus: 'Rollback Complete',
    });
    expect(h.sent).toHaveLength(2);
  });

  it('reports a transaction lost when its writer refuses connections, before the topology says so', async () => {
    const h = harness();
    h.script((s) => (s.path === '/BeginTransaction' ? ok({ transactionId: 'b1' }) : refused));
    const transactionId = bodyOf(await h.request('BeginTransaction', {})).transactionId as string;
    const lost = await h.request('CommitTransaction', { transactionId });
    expect(errorOf(lost)?.message).toMatch(/which no longer accepts connections/);
  });

  it('answers a commit broken in flight as unknown, and a foreign transaction id as not found', async () => {
    const h = harness();
    h.script((s) => (s.path === '/BeginTransaction' ? ok({ transactionId: 'b1' }) : broken));
    const transactionId = bodyOf(await h.request('BeginTransaction', {})).transactionId as string;
    const commit = await h.request('CommitTransaction', { transactionId });
    expect(errorOf(commit)?.message).toMatch(
      /this commit ran; the transaction may or may not have committed/,
    );
    const foreign = await h.request('ExecuteStatement', { sql: 'select 1', transactionId: 'abc' });
    expect(errorOf(foreign)).toEqual({
      name: 'TransactionNotFoundException',
      message: 'Transaction abc is not found: it was not issued by this proxy',
    });
  });

  it('puts the client’s transaction id back into an instance’s error message', async () => {
    const h = harness();
    h.script((s) =>
      s.path === '/BeginTransaction'
        ? ok({ transactionId: 'b1xyz' })
        : failed(404, 'TransactionNotFoundException', 'Transaction b1xyz is not found'),
    );
    const transactionId = bodyOf(await h.request('BeginTransaction', {})).transactionId as string;
    const reply = await h.request('CommitTransaction', { transactionId });
    expect(reply.kind === 'response' && reply.status).toBe(404);
    expect(bodyOf(reply)).toEqual({ message: `Transaction ${transactionId} is not found` });
  });
});
