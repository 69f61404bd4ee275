// The global writer endpoint's Data API port: each request goes to the current primary's cluster
// endpoint (its proxy's writer port). Unlike the MySQL port this one reads the request, because a
// Data API request names its cluster: the global cluster's ARN or a member's ARNs are made the current
// primary's (core/global/writer-target.ts translateCallerArns), so an application configured before a
// failover goes on unchanged. A request that arrives while no primary is known waits (bounded), then
// gets ServiceUnavailableError; when the primary changes, requests in flight to the old one are cut.
import { randomUUID } from 'node:crypto';
import {
  Agent,
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from 'node:http';
import { assert } from '../../core/assert.ts';
import type { Logger } from '../../core/log.ts';
import type { GlobalEndpointMetrics } from './metrics.ts';

export interface DataApiTarget {
  region: string;
  /** The primary's cluster endpoint, `http://host:port`. */
  url: string;
}

export interface DataApiForwarderOptions {
  waitMs: number;
  /** Requests waiting for a primary at once; more get ServiceUnavailableError at once. */
  waitingMax: number;
  /** Requests forwarded at once (upstream sockets); more get ServiceUnavailableError at once. */
  inFlightMax: number;
  requestBytesMax: number;
  responseBytesMax: number;
  /** The request body's fields with the caller's ARNs made the target's (pure). */
  translate: (input: Record<string, unknown>, target: DataApiTarget) => Record<string, unknown>;
  logger: Logger;
  metrics: GlobalEndpointMetrics;
}

type Outcome = 'forwarded' | 'no_primary' | 'upstream_failed' | 'too_large' | 'refused';

/** Errors that mean the request never reached the primary: safe for the SDK to retry (503). */
const notSentCodes = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);

class TooLarge extends Error {}

export class DataApiForwarder {
  #target: DataApiTarget | undefined;
  /** One agent per target: destroying it cuts every request in flight to that member. */
  #agent: Agent | undefined;
  readonly #waiters = new Set<() => void>();
  #inFlight = 0;
  #server: Server | undefined;

  constructor(private readonly options: DataApiForwarderOptions) {
    assert(options.waitingMax > 0 && options.inFlightMax > 0, 'bad forwarder bounds');
  }

  get active(): number {
    return this.#inFlight;
  }

  get waiting(): number {
    return this.#waiters.size;
  }

  async listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => void this.#handle(req, res));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    assert(address !== null && typeof address === 'object', 'the server listens on a TCP port');
    return address.port;
  }

  setTarget(target: DataApiTarget | undefined): void {
    const before = this.#target;
    if (before?.region === target?.region && before?.url === target?.url) return;
    this.#target = target;
    this.#agent?.destroy();
    this.#agent =
      target === undefined
        ? undefined
        : new Agent({ keepAlive: false, maxSockets: this.options.inFlightMax });
    if (target === undefined) return;
    for (const wake of [...this.#waiters]) wake();
  }

  async close(): Promise<void> {
    for (const wake of [...this.#waiters]) wake();
    this.#agent?.destroy();
    await new Promise<void>((resolve) => {
      if (!this.#server) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer;
    try {
      body = await readBounded(req, this.options.requestBytesMax);
    } catch (error) {
      if (error instanceof TooLarge) {
        this.#fail(
          res,
          'too_large',
          413,
          'BadRequestException',
          `request body larger than ${this.options.requestBytesMax} bytes`,
        );
      } else res.destroy();
      return;
    }
    const target = await this.#awaitTarget();
    if (target === undefined) {
      this.#fail(
        res,
        'no_primary',
        503,
        'ServiceUnavailableError',
        `the global writer endpoint knows no primary region (a global failover under way?) after ${this.options.waitMs} ms: retry`,
      );
      return;
    }
    if (this.#inFlight >= this.options.inFlightMax) {
      this.#fail(
        res,
        'refused',
        503,
        'ServiceUnavailableError',
        `more than ${this.options.inFlightMax} requests in flight: retry`,
      );
      return;
    }
    this.#inFlight++;
    try {
      await this.#forward(req, res, target, this.#translated(body, target));
    } finally {
      this.#inFlight--;
    }
  }

  #translated(body: Buffer, target: DataApiTarget): Buffer {
    let input: unknown;
    try {
      input = JSON.parse(body.toString('utf8'));
    } catch {
      return body; // Not JSON: the member answers BadRequestException, as it would directly.
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input)) return body;
    return Buffer.from(JSON.stringify(this.options.translate(input as Record<string, unknown>, target)));
  }

  #awaitTarget(): Promise<DataApiTarget | undefined> {
    if (this.#target !== undefined) return Promise.resolve(this.#target);
    if (this.#waiters.size >= this.options.waitingMax) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const wake = () => {
        this.#waiters.delete(wake);
        clearTimeout(timer);
        resolve(this.#target);
      };
      const timer = setTimeout(wake, this.options.waitMs);
      this.#waiters.add(wake);
    });
  }

  #forward(req: IncomingMessage, res: ServerResponse, target: DataApiTarget, body: Buffer): Promise<void> {
    const headers: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined || ['host', 'content-length', 'connection', 'transfer-encoding'].includes(name))
        continue;
      headers[name] = value;
    }
    headers['content-length'] = String(body.length);
    return new Promise((resolve) => {
      const upstream = request(new URL(req.url ?? '/', target.url), {
        method: req.method ?? 'POST',
        headers,
        agent: this.#agent,
      });
      upstream.on('response', (answer) => {
        readBounded(answer, this.options.responseBytesMax).then(
          (payload) => {
            const out: Record<string, string | string[]> = {};
            for (const [name, value] of Object.entries(answer.headers)) {
              if (
                value === undefined ||
                ['content-length', 'connection', 'transfer-encoding', 'keep-alive'].includes(name)
              )
                continue;
              out[name] = value;
            }
            out['content-length'] = String(payload.length);
            this.options.metrics.requests.inc({ outcome: 'forwarded' });
            if (!res.destroyed) {
              res.writeHead(answer.statusCode ?? 502, out);
              res.end(payload);
            }
            resolve();
          },
          (error: Error) => {
            this.#broken(res, target, error);
            resolve();
          },
        );
      });
      upstream.on('error', (error: NodeJS.ErrnoException) => {
        if (notSentCodes.has(error.code ?? '')) {
          this.#fail(
            res,
            'upstream_failed',
            503,
            'ServiceUnavailableError',
            `the primary's cluster endpoint in ${target.region} refused the connection (${error.code}): retry`,
          );
        } else this.#broken(res, target, error);
        resolve();
      });
      upstream.end(body);
    });
  }

  /** The request may have reached the primary: a 4xx, so the SDK does not run it a second time. */
  #broken(res: ServerResponse, target: DataApiTarget, error: Error): void {
    this.options.logger.warn({ region: target.region, err: error.message }, 'request to the primary broke');
    this.#fail(
      res,
      'upstream_failed',
      400,
      'DatabaseErrorException',
      `the connection to the primary in ${target.region} broke (${error.message}): the statement may or may not have taken effect`,
    );
  }

  #fail(res: ServerResponse, outcome: Outcome, status: number, name: string, message: string): void {
    this.options.metrics.requests.inc({ outcome });
    if (res.headersSent || res.destroyed) return;
    const payload = JSON.stringify({ message });
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      'x-amzn-ErrorType': name,
      'x-amzn-RequestId': randomUUID(),
    });
    res.end(payload);
  }
}

async function readBounded(stream: IncomingMessage, bytesMax: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > bytesMax) throw new TooLarge();
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}
