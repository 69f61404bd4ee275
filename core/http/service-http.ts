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
  /** Control routes of the service (admin API): undefined means "not mine" (404). */
  routes?: (request: ServiceRequest) => Promise<ServiceResponse | undefined>;
}

export interface ServiceRequest {
  method: string;
  url: URL;
  /** Parsed JSON body of a POST (undefined when empty). */
  body: unknown;
}

export interface ServiceResponse {
  status: number;
  body?: unknown;
}

/** Control requests are small; anything bigger is a mistake or an attack. */
const controlBodyBytesMax = 64 * 1024;
/**
 * How often the event-loop lag metric samples. prom-client's default (10 ms) wakes every process 100
 * times a second, about 0.3 % of a core each, idle or not, across the ~15 processes of one machine;
 * at 100 ms a stall still shows in the lag histogram.
 */
const eventLoopSampleMs = 100;

class BadControlRequest extends Error {}

async function readJsonBody(req: import('node:http').IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > controlBodyBytesMax)
      throw new BadControlRequest(`body larger than ${controlBodyBytesMax} bytes`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new BadControlRequest('body is not valid JSON');
  }
}

function sendJson(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  if (body === undefined) {
    res.writeHead(status);
    res.end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
}

export function newRegistry(service: string, labels: Record<string, string> = {}): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service, ...labels });
  collectDefaultMetrics({
    register: registry,
    prefix: 'borealis_process_',
    eventLoopMonitoringPrecision: eventLoopSampleMs,
  });
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
        if (options.routes) {
          const url = new URL(req.url ?? '/', 'http://service.local');
          const body = req.method === 'POST' ? await readJsonBody(req) : undefined;
          const response = await options.routes({ method: req.method ?? 'GET', url, body });
          if (response) {
            sendJson(res, response.status, response.body);
            return;
          }
        }
        sendJson(res, 404, { error: 'NotFound', message: `no route ${req.method} ${req.url}` });
      } catch (error) {
        if (error instanceof BadControlRequest)
          sendJson(res, 400, { error: 'BadRequest', message: error.message });
        else sendJson(res, 500, { error: 'Internal', message: (error as Error).message });
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
  });
  return { server, port: (server.address() as AddressInfo).port };
}
