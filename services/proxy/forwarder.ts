// Sends a request to one instance over pooled keep-alive connections and reports what became of it —
// an answer, never sent, or broken in flight — which is all the outcome policy needs. Responses are
// buffered whole (they are bounded by the Data API's own limits) so that a backend dying mid-answer
// is a broken request, never a truncated answer to the client.
import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../core/log.ts';
import {
  autocommitSocketsPerInstanceMax,
  backendIdleSocketMs,
  backendResponseBytesMax,
  transactionSocketsPerInstanceMax,
} from './limits.ts';
import type { SendOutcome } from './outcome-policy.ts';
import type { Backend } from './router.ts';

/** Autocommit statements and transaction work use separate pools: see autocommitSocketsPerInstanceMax. */
export type PoolKind = 'autocommit' | 'transaction';

export interface BackendResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type SendResult =
  | { outcome: { kind: 'response'; status: number }; response: BackendResponse }
  | { outcome: Exclude<SendOutcome, { kind: 'response' }>; error: Error };

interface Pools {
  autocommit: Agent;
  transaction: Agent;
  /** Requests in flight, so that retiring the backend can cut them (a hung instance never answers). */
  inFlight: Set<import('node:http').ClientRequest>;
}

export class BackendGoneError extends Error {
  override readonly name = 'BackendGoneError';
}

export class Forwarder {
  readonly #pools = new Map<string, Pools>();

  constructor(private readonly logger: Logger) {}

  send(backend: Backend, pool: PoolKind, path: string, body: Buffer): Promise<SendResult> {
    const pools = this.#poolsOf(backend);
    return new Promise((resolve) => {
      let reached = false;
      let settled = false;
      const settle = (result: SendResult) => {
        if (settled) return;
        settled = true;
        pools.inFlight.delete(req);
        resolve(result);
      };
      const failed = (error: Error) => settle({ outcome: { kind: reached ? 'broken' : 'not-sent' }, error });
      const req = httpRequest({
        agent: pools[pool],
        host: backend.url.hostname,
        port: backend.url.port,
        method: 'POST',
        path,
        headers: { 'content-type': 'application/json', 'content-length': String(body.length) },
      });
      pools.inFlight.add(req);
      req.on('socket', (socket) => {
        // Until the connection exists nothing was sent; a pooled connection may carry bytes at once.
        if (socket.connecting) socket.once('connect', () => (reached = true));
        else reached = true;
      });
      req.on('error', failed);
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > backendResponseBytesMax) {
            req.destroy(new Error(`response of ${backend.id} exceeds ${backendResponseBytesMax} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        res.on('error', failed);
        res.on('close', () => {
          if (!res.complete) {
            failed(new Error(`connection to ${backend.id} closed before its answer ended`));
            return;
          }
          settle({
            outcome: { kind: 'response', status: res.statusCode ?? 502 },
            response: {
              status: res.statusCode ?? 502,
              headers: res.headers,
              body: Buffer.concat(chunks, bytes),
            },
          });
        });
      });
      req.end(body);
    });
  }

  /**
   * The backend left the topology: cut its requests in flight (a hung or fenced instance would hold
   * them forever) and close its connections. Requests still waiting for a connection were never sent.
   */
  retire(backend: Backend): void {
    const pools = this.#pools.get(backend.key);
    if (pools === undefined) return;
    this.#pools.delete(backend.key);
    if (pools.inFlight.size > 0) {
      this.logger.warn(
        { instance: backend.id, incarnation: backend.incarnation, inFlight: pools.inFlight.size },
        'instance left the topology with requests in flight: cutting them',
      );
    }
    const gone = new BackendGoneError(`${backend.role} ${backend.id} left the topology`);
    for (const req of pools.inFlight) req.destroy(gone);
    pools.autocommit.destroy();
    pools.transaction.destroy();
  }

  close(): void {
    for (const pools of this.#pools.values()) {
      pools.autocommit.destroy();
      pools.transaction.destroy();
    }
    this.#pools.clear();
  }

  #poolsOf(backend: Backend): Pools {
    let pools = this.#pools.get(backend.key);
    if (pools === undefined) {
      const agent = (maxSockets: number) =>
        new Agent({
          keepAlive: true,
          maxSockets,
          maxFreeSockets: Math.min(maxSockets, 16),
          timeout: backendIdleSocketMs,
          scheduling: 'lifo',
        });
      pools = {
        autocommit: agent(autocommitSocketsPerInstanceMax),
        transaction: agent(transactionSocketsPerInstanceMax),
        inFlight: new Set(),
      };
      this.#pools.set(backend.key, pools);
    }
    return pools;
  }
}
