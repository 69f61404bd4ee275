// The proxy's HTTP/1.1 client against real servers on loopback: keep-alive reuse, the connection limit,
// every body framing, and what a send became (answered, never sent, broken) when things go wrong.
import { createServer as createHttpServer, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Server as NetServer } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BackendPool, type ExchangeResult, type PoolOptions, ResponseParser } from './backend-pool.ts';

const servers: (Server | NetServer)[] = [];
const pools: BackendPool[] = [];

afterEach(async () => {
  for (const pool of pools.splice(0)) pool.close(new Error('test over'));
  for (const server of servers.splice(0)) {
    (server as Server).closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen<T extends Server | NetServer>(server: T): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function pool(port: number, options: Partial<PoolOptions> = {}): BackendPool {
  const p = new BackendPool({
    host: '127.0.0.1',
    port,
    socketsMax: 4,
    idleMs: 4_000,
    responseBytesMax: 1024 * 1024,
    ...options,
  });
  pools.push(p);
  return p;
}

function send(p: BackendPool, body = '{}', path = '/Execute'): Promise<ExchangeResult> {
  return new Promise((resolve) => p.send(path, Buffer.from(body), resolve));
}

/** An echo server: answers with the request's path and body, and counts connections. */
async function echoServer(): Promise<{ port: number; connections: () => number; server: Server }> {
  let connections = 0;
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.stringify({ path: req.url, body: Buffer.concat(chunks).toString() });
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
        'x-amzn-RequestId': 'r-1',
      });
      res.end(body);
    });
  });
  server.on('connection', () => connections++);
  return { port: await listen(server), connections: () => connections, server };
}

function answer(result: ExchangeResult): { status: number; body: string } {
  if (result.kind !== 'response') throw new Error(`expected an answer, got ${result.error.message}`);
  return { status: result.response.status, body: result.response.body.toString() };
}

describe('BackendPool', () => {
  it('sends POSTs on one kept-alive connection and returns status, headers and body', async () => {
    const echo = await echoServer();
    const p = pool(echo.port);
    for (let i = 0; i < 5; i++) {
      const result = await send(p, `{"i":${i}}`);
      expect(answer(result)).toEqual({
        status: 200,
        body: JSON.stringify({ path: '/Execute', body: `{"i":${i}}` }),
      });
      if (result.kind === 'response') expect(result.response.headers['x-amzn-requestid']).toBe('r-1');
    }
    expect(echo.connections()).toBe(1);
  });

  it('opens at most socketsMax connections; the other sends wait their turn', async () => {
    const echo = await echoServer();
    const p = pool(echo.port, { socketsMax: 2 });
    const results = await Promise.all(Array.from({ length: 10 }, (_, i) => send(p, `{"i":${i}}`)));
    expect(results.map((r) => JSON.parse(answer(r).body).body)).toEqual(
      Array.from({ length: 10 }, (_, i) => `{"i":${i}}`),
    );
    expect(echo.connections()).toBe(2);
  });

  it('reads chunked answers and answers that end with the connection', async () => {
    const chunked = createHttpServer((_req, res) => {
      res.writeHead(503, { 'x-amzn-ErrorType': 'ServiceUnavailableError' });
      res.write('{"message":');
      setTimeout(() => res.end('"busy"}'), 5);
    });
    const p = pool(await listen(chunked));
    const result = await send(p);
    expect(answer(result)).toEqual({ status: 503, body: '{"message":"busy"}' });
    if (result.kind === 'response')
      expect(result.response.headers['x-amzn-errortype']).toBe('ServiceUnavailableError');

    const untilClose = createNetServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{"ok":true}')),
    );
    expect(answer(await send(pool(await listen(untilClose))))).toEqual({ status: 200, body: '{"ok":true}' });
  });

  it('reports never sent when nothing listens, broken when the connection dies after the request', async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    servers.pop();
    const refused = await send(pool(port));
    expect(refused).toMatchObject({ kind: 'failed', reached: false });

    const dies = createNetServer((socket) => socket.once('data', () => socket.destroy()));
    expect(await send(pool(await listen(dies)))).toMatchObject({ kind: 'failed', reached: true });

    const halfAnswer = createNetServer((socket) =>
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"partial"')),
    );
    expect(await send(pool(await listen(halfAnswer)))).toMatchObject({ kind: 'failed', reached: true });
  });

  it('fails an answer larger than the limit, and a cancelled send, as broken; a waiting one as never sent', async () => {
    const echo = await echoServer();
    const small = pool(echo.port, { responseBytesMax: 16 });
    expect(await send(small, '{"too":"long for sixteen bytes"}')).toMatchObject({
      kind: 'failed',
      reached: true,
    });

    const hangs = createNetServer((socket) => socket.resume());
    const p = pool(await listen(hangs), { socketsMax: 1 });
    const results: ExchangeResult[] = [];
    const first = p.send('/Execute', Buffer.from('{}'), (r) => results.push(r));
    const second = p.send('/Execute', Buffer.from('{}'), (r) => results.push(r));
    await new Promise((resolve) => setTimeout(resolve, 50));
    second.cancel(new Error('client went away'));
    first.cancel(new Error('instance left the topology'));
    expect(results).toMatchObject([
      { kind: 'failed', reached: false, error: { message: 'client went away' } },
      { kind: 'failed', reached: true, error: { message: 'instance left the topology' } },
    ]);
  });

  it('closes a connection idle past idleMs, and opens another for the next send', async () => {
    const echo = await echoServer();
    let closedByClient = 0;
    echo.server.on('connection', (socket) => socket.on('end', () => closedByClient++));
    const p = pool(echo.port, { idleMs: 50 });
    answer(await send(p));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(closedByClient).toBe(1);
    answer(await send(p));
    expect(echo.connections()).toBe(2);
  });
});

describe('ResponseParser', () => {
  const responses = [
    'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nKeep-Alive: timeout=5\r\n\r\n{"ok":true}',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 400 Bad Request\r\nX-A: 1\r\nx-a: 2\r\nContent-Length: 2\r\n\r\n{}',
    'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\n{"a":\r\n3\r\n"b"\r\n1\r\n}\r\n0\r\nTrailer: x\r\n\r\n',
  ];
  const expected = [
    { status: 200, body: '{"ok":true}', keepAlive: true },
    { status: 400, body: '{}', keepAlive: true },
    { status: 200, body: '{"a":"b"}', keepAlive: true },
  ];

  it('gives the same answer however the bytes are split', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 }),
        fc.array(fc.integer({ min: 1, max: 40 }), { maxLength: 20 }),
        (which, cuts) => {
          const bytes = Buffer.from(responses[which]!);
          const parser = new ResponseParser(1024);
          let offset = 0;
          let result: ReturnType<ResponseParser['push']> = 'more';
          for (const cut of [...cuts, bytes.length]) {
            if (offset >= bytes.length) break;
            const end = Math.min(bytes.length, offset + cut);
            result = parser.push(bytes.subarray(offset, end));
            offset = end;
            if (result !== 'more') break;
          }
          expect(offset).toBe(bytes.length);
          expect(result).not.toBe('more');
          if (result === 'more') return;
          expect({
            status: result.response.status,
            body: result.response.body.toString(),
            keepAlive: result.keepAlive,
          }).toEqual(expected[which]);
          if (which === 1) expect(result.response.headers['x-a']).toBe('1, 2');
        },
      ),
    );
  });

  it('refuses malformed or oversized answers', () => {
    expect(() => new ResponseParser(1024).push(Buffer.from('HTTX/1.1 200 OK\r\n\r\n'))).toThrow(
      /status line/,
    );
    expect(() =>
      new ResponseParser(4).push(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n')),
    ).toThrow(/exceeds/);
    expect(() =>
      new ResponseParser(1024).push(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n')),
    ).toThrow(/transfer-encoding/);
    expect(() =>
      new ResponseParser(1024).push(
        Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'),
      ),
    ).toThrow(/chunk size/);
    const closing = new ResponseParser(1024);
    expect(closing.push(Buffer.from('HTTP/1.0 200 OK\r\n\r\nab'))).toBe('more');
    expect(closing.end()?.body.toString()).toBe('ab');
  });
});
