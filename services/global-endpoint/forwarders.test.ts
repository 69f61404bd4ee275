// The global writer endpoint's two forwarders over real loopback sockets: where connections and
// requests go as the primary changes, what waits and what is refused. Two small servers stand in for
// two regions' cluster endpoints, each telling which one it is.
import { once } from 'node:events';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { type AddressInfo, createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataApiForwarder } from './data-api-forwarder.ts';
import { globalEndpointMetrics } from './metrics.ts';
import { parseHostPort, TcpForwarder } from './tcp-forwarder.ts';

const logger = pino({ level: 'silent' });
const metrics = () => globalEndpointMetrics(new Registry(), { active: () => ({}), waiting: () => ({}) });

/** A TCP server that greets each connection with its region, as a MySQL server speaks first. */
async function greeter(region: string): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => socket.end(`${region}\n`, () => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** A TCP server that greets and keeps the connection open. */
async function holder(region: string): Promise<{ server: Server; port: number }> {
  const server = createServer((socket) => {
    socket.on('error', () => undefined);
    socket.write(`${region}\n`);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port };
}

/** Everything the client receives until the connection closes. */
async function received(socket: Socket): Promise<string> {
  let text = '';
  socket.on('data', (chunk: Buffer) => {
    text += chunk.toString();
  });
  socket.on('error', () => undefined);
  await once(socket, 'close');
  return text;
}

describe('parseHostPort', () => {
  it('reads host:port and [v6]:port', () => {
    expect(parseHostPort('127.0.0.1:3306')).toEqual({ host: '127.0.0.1', port: 3306 });
    expect(parseHostPort('db.example:1')).toEqual({ host: 'db.example', port: 1 });
    expect(parseHostPort('[::1]:3306')).toEqual({ host: '::1', port: 3306 });
  });

  it('refuses anything else', () => {
    expect(parseHostPort('127.0.0.1')).toBeUndefined();
    expect(parseHostPort('127.0.0.1:0')).toBeUndefined();
    expect(parseHostPort('127.0.0.1:65536')).toBeUndefined();
    expect(parseHostPort(':3306')).toBeUndefined();
  });
});

describe('TcpForwarder (the MySQL port)', () => {
  const servers: Server[] = [];
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it('a connection opened with no primary known waits, then goes to the primary once it is known', async () => {
    const east = await greeter('us-east-1');
    servers.push(east.server);
    const forwarder = new TcpForwarder({
      protocol: 'mysql',
      waitMs: 30_000,
      waitingMax: 4,
      connectionsMax: 8,
      logger,
      metrics: metrics(),
    });
    const port = await forwarder.listen(0, '127.0.0.1');
    const client = tcpConnect({ host: '127.0.0.1', port });
    const text = received(client);
    await once(client, 'connect');
    await expect.poll(() => forwarder.waiting).toBe(1);
    forwarder.setTarget({ region: 'us-east-1', host: '127.0.0.1', port: east.port });
    expect(await text).toBe('us-east-1\n');
    expect(forwarder.waiting).toBe(0);
    await forwarder.close();
  });

  it('a connection that waits longer than waitMs is closed unanswered', async () => {
    const forwarder = new TcpForwarder({
      protocol: 'mysql',
      waitMs: 50,
      waitingMax: 4,
      connectionsMax: 8,
      logger,
      metrics: metrics(),
    });
    const port = await forwarder.listen(0, '127.0.0.1');
    const text = await received(tcpConnect({ host: '127.0.0.1', port }));
    expect(text).toBe('');
    expect(forwarder.waiting).toBe(0);
    await forwarder.close();
  });

  it('beyond waitingMax a connection is closed at once', async () => {
    const forwarder = new TcpForwarder({
      protocol: 'mysql',
      waitMs: 30_000,
      waitingMax: 1,
      connectionsMax: 8,
      logger,
      metrics: metrics(),
    });
    const port = await forwarder.listen(0, '127.0.0.1');
    const first = tcpConnect({ host: '127.0.0.1', port });
    first.on('error', () => undefined);
    await expect.poll(() => forwarder.waiting).toBe(1);
    expect(await received(tcpConnect({ host: '127.0.0.1', port }))).toBe('');
    expect(forwarder.waiting).toBe(1);
    first.destroy();
    await forwarder.close();
  });

  it('when the primary changes, connections to the old one are closed and new ones go to the new one', async () => {
    const east = await holder('us-east-1');
    const west = await greeter('us-west-2');
    servers.push(east.server, west.server);
    const forwarder = new TcpForwarder({
      protocol: 'mysql',
      waitMs: 30_000,
      waitingMax: 4,
      connectionsMax: 8,
      logger,
      metrics: metrics(),
    });
    const port = await forwarder.listen(0, '127.0.0.1');
    forwarder.setTarget({ region: 'us-east-1', host: '127.0.0.1', port: east.port });
    const old = tcpConnect({ host: '127.0.0.1', port });
    const oldText = received(old);
    await expect.poll(() => forwarder.active).toBe(1);
    // Setting the same target again moves nothing.
    forwarder.setTarget({ region: 'us-east-1', host: '127.0.0.1', port: east.port });
    expect(forwarder.active).toBe(1);
    forwarder.setTarget({ region: 'us-west-2', host: '127.0.0.1', port: west.port });
    expect(await oldText).toBe('us-east-1\n');
    expect(await received(tcpConnect({ host: '127.0.0.1', port }))).toBe('us-west-2\n');
    await forwarder.close();
  });
});

describe('DataApiForwarder (the Data API port)', () => {
  let east: HttpServer;
  let eastUrl: string;
  const arns = {
    east: { resourceArn: 'arn:aws:rds:us-east-1:0:cluster:c', secretArn: 'arn:east-secret' },
    west: { resourceArn: 'arn:aws:rds:us-west-2:0:cluster:c', secretArn: 'arn:west-secret' },
  };

  beforeAll(async () => {
    // Answers with the region, the path and the body it received.
    east = createHttpServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ region: 'us-east-1', path: req.url, body: JSON.parse(body) }));
      });
    });
    east.listen(0, '127.0.0.1');
    await once(east, 'listening');
    eastUrl = `http://127.0.0.1:${(east.address() as AddressInfo).port}`;
  });
  afterAll(() => east.close());

  function forwarder(waitMs: number) {
    return new DataApiForwarder({
      waitMs,
      waitingMax: 4,
      inFlightMax: 4,
      requestBytesMax: 1024,
      responseBytesMax: 1024 * 1024,
      logger,
      metrics: metrics(),
      // As main.ts wires it: a member's ARNs become the target's.
      translate: (input) =>
        input.resourceArn === arns.west.resourceArn ? { ...input, ...arns.east } : input,
    });
  }

  it('a request goes to the primary with its ARNs made the primary`s; path and other fields unchanged', async () => {
    const f = forwarder(30_000);
    const port = await f.listen(0, '127.0.0.1');
    f.setTarget({ region: 'us-east-1', url: eastUrl });
    const response = await fetch(`http://127.0.0.1:${port}/Execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...arns.west, sql: 'select 1' }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      region: 'us-east-1',
      path: '/Execute',
      body: { ...arns.east, sql: 'select 1' },
    });
    await f.close();
  });

  it('with no primary known a request waits, then gets ServiceUnavailableError (503)', async () => {
    const f = forwarder(50);
    const port = await f.listen(0, '127.0.0.1');
    const response = await fetch(`http://127.0.0.1:${port}/Execute`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(503);
    expect(response.headers.get('x-amzn-errortype')).toBe('ServiceUnavailableError');
    expect(((await response.json()) as { message: string }).message).toMatch(/knows no primary region/);
    await f.close();
  });

  it('a request waiting for a primary goes there once it is known', async () => {
    const f = forwarder(30_000);
    const port = await f.listen(0, '127.0.0.1');
    const pending = fetch(`http://127.0.0.1:${port}/Execute`, {
      method: 'POST',
      body: JSON.stringify({ sql: 'select 2' }),
    });
    await expect.poll(() => f.waiting).toBe(1);
    f.setTarget({ region: 'us-east-1', url: eastUrl });
    const response = await pending;
    expect(((await response.json()) as { body: unknown }).body).toEqual({ sql: 'select 2' });
    await f.close();
  });

  it('a request larger than requestBytesMax is refused with BadRequestException (413)', async () => {
    const f = forwarder(30_000);
    const port = await f.listen(0, '127.0.0.1');
    f.setTarget({ region: 'us-east-1', url: eastUrl });
    const response = await fetch(`http://127.0.0.1:${port}/Execute`, {
      method: 'POST',
      body: 'x'.repeat(2048),
    });
    expect(response.status).toBe(413);
    expect(response.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    await f.close();
  });

  it('a primary that refuses connections: ServiceUnavailableError, which the SDK may retry (never sent)', async () => {
    const gone = createServer();
    gone.listen(0, '127.0.0.1');
    await once(gone, 'listening');
    const deadPort = (gone.address() as AddressInfo).port;
    gone.close();
    await once(gone, 'close');
    const f = forwarder(30_000);
    const port = await f.listen(0, '127.0.0.1');
    f.setTarget({ region: 'us-east-1', url: `http://127.0.0.1:${deadPort}` });
    const response = await fetch(`http://127.0.0.1:${port}/Execute`, { method: 'POST', body: '{}' });
    expect(response.status).toBe(503);
    expect(((await response.json()) as { message: string }).message).toMatch(/refused the connection/);
    await f.close();
  });
});
