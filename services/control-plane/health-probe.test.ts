// The control plane's /health probe against real HTTP servers on loopback: answers (200 and 503),
// kept-alive connections, and the failures a fleet process can show — hung, malformed, oversized.
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HealthProber, healthDocBytesMax, parseHealthDoc } from './health-probe.ts';

const servers: Server[] = [];
const probers: HealthProber[] = [];

afterEach(async () => {
  for (const p of probers.splice(0)) p.close();
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(
  handler: Parameters<typeof createServer>[1],
): Promise<{ port: number; connections: () => number }> {
  const server = createServer(handler);
  let connections = 0;
  server.on('connection', (_socket: Socket) => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { port: (server.address() as AddressInfo).port, connections: () => connections };
}

function prober(): HealthProber {
  const p = new HealthProber();
  probers.push(p);
  return p;
}

describe('parseHealthDoc', () => {
  it('takes a JSON object with a boolean healthy, and nothing else', () => {
    expect(parseHealthDoc('{"healthy":true,"vdl":"7"}')).toEqual({ healthy: true, vdl: '7' });
    expect(() => parseHealthDoc('[]')).toThrow(/not a JSON object/);
    expect(() => parseHealthDoc('null')).toThrow(/not a JSON object/);
    expect(() => parseHealthDoc('{"healthy":"yes"}')).toThrow(/boolean "healthy"/);
    expect(() => parseHealthDoc('{"healthy":tr')).toThrow();
  });
});

describe('HealthProber', () => {
  it('reads the document (a 503 carries one too) and reuses one connection per process', async () => {
    let healthy = true;
    const server = await serve((_req, res) => {
      res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ healthy, epoch: '3' }));
    });
    const p = prober();
    expect(await p.probe(server.port, 1_000)).toEqual({ healthy: true, epoch: '3' });
    healthy = false;
    expect(await p.probe(server.port, 1_000)).toEqual({ healthy: false, epoch: '3' });
    for (let i = 0; i < 5; i++) await p.probe(server.port, 1_000);
    expect(server.connections()).toBe(1);
  });

  it('gives up on a process that does not answer within the timeout, and asks anew afterwards', async () => {
    let hang = true;
    const server = await serve((_req, res) => {
      if (hang) return; // accepted, never answered: a stopped or wedged process
      res.end('{"healthy":true}');
    });
    const p = prober();
    const started = Date.now();
    await expect(p.probe(server.port, 200)).rejects.toThrow(/no answer within 200 ms/);
    expect(Date.now() - started).toBeLessThan(1_000);
    hang = false;
    expect(await p.probe(server.port, 1_000)).toEqual({ healthy: true });
  });

  it('rejects a malformed or oversized answer, and a port nobody listens on', async () => {
    const bad = await serve((_req, res) => res.end('<html>not health</html>'));
    const big = await serve((_req, res) => res.end(Buffer.alloc(healthDocBytesMax + 1, 0x20)));
    const p = prober();
    await expect(p.probe(bad.port, 1_000)).rejects.toThrow(new RegExp(`127.0.0.1:${bad.port}/health`));
    await expect(p.probe(big.port, 5_000)).rejects.toThrow(/answer over/);
    const closed = await serve(() => undefined);
    const port = closed.port;
    const server = servers.pop()!;
    await new Promise((r) => server.close(r));
    await expect(p.probe(port, 1_000)).rejects.toThrow(/ECONNREFUSED/);
  });
});
