// The HTTP side port every Borealis service has: /health (JSON) and /metrics (Prometheus text).
// Control and observation only — hot paths never go through HTTP.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Registry } from 'prom-client';

export interface ServiceHttpOptions {
  port: number;
  host?: string;
  registry: Registry;
  /** Returns the health document; `healthy: false` answers 503. */
  health: () => { healthy: boolean; [key: string]: unknown };
}

export function newRegistry(service: string, labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, ...labels });
  collectDefaultMetrics({ register: registry, prefix: 'borealis_process_' });
  return registry;
}

export async function startServiceHttp(
  options: ServiceHttpOptions,
): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.method === 'GET' && req.url === '/metrics') {
          const text = await options.registry.metrics();
          res.writeHead(200, { 'content-type': options.registry.contentType });
          res.end(text);
          return;
        }
        if (req.method === 'GET' && req.url === '/health') {
          const doc = options.health();
          res.writeHead(doc.healthy ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify(doc, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
          return;
        }
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'NotFound', message: `no route ${req.method} ${req.url}` }));
      } catch (error) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'InternalError', message: (error as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
