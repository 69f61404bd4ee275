// Sends a request to one instance over pooled keep-alive connections and reports what became of it —
// an answer, never sent, or broken in flight — which is all the outcome policy needs. Responses are
// buffered whole (they are bounded by the Data API's own limits) so that a backend dying mid-answer
// is a broken request, never a truncated answer to the client.
import type { IncomingHttpHeaders } from 'node:http';
import type { Logger } from '../../core/log.ts';
import { BackendPool, type Exchange } from './backend-pool.ts';
import {
  autocommitSocketsPerInstanceMax,
  backendIdleSocketMs,
  backendResponseBytesMax,
  retireGraceMs,
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
  autocommit: BackendPool;
  transaction: BackendPool;
  /** Exchanges in flight, so that retiring the backend can cut them (a hung instance never answers). */
  inFlight: Set<Exchange>;
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
      const exchange = pools[pool].send(path, body, (result) => {
        pools.inFlight.delete(exchange);
        if (result.kind === 'response') {
          const { response } = result;
          resolve({ outcome: { kind: 'response', status: response.status }, response });
        } else {
          resolve({ outcome: { kind: result.reached ? 'broken' : 'not-sent' }, error: result.error });
        }
      });
      pools.inFlight.add(exchange);
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
    const cut = () => {
      if (pools.inFlight.size > 0) {
        this.logger.warn(
          { instance: backend.id, incarnation: backend.incarnation, inFlight: pools.inFlight.size },
          'instance left the topology with requests in flight: cutting them',
        );
      }
      const gone = new BackendGoneError(`${backend.role} ${backend.id} left the topology`);
      for (const exchange of [...pools.inFlight]) exchange.cancel(gone);
      pools.inFlight.clear();
      pools.autocommit.close(gone);
      pools.transaction.close(gone);
    };
    // Nothing is routed here any more; what is in flight gets retireGraceMs to finish (a planned
    // failover's drain) — cutting it at once would turn a commit about to succeed into an unknown outcome.
    if (pools.inFlight.size === 0) cut();
    else setTimeout(cut, retireGraceMs).unref();
  }

  close(): void {
    const closed = new BackendGoneError('the proxy is stopping');
    for (const pools of this.#pools.values()) {
      for (const exchange of [...pools.inFlight]) exchange.cancel(closed);
      pools.autocommit.close(closed);
      pools.transaction.close(closed);
    }
    this.#pools.clear();
  }

  #poolsOf(backend: Backend): Pools {
    let pools = this.#pools.get(backend.key);
    if (pools === undefined) {
      const pool = (socketsMax: number) =>
        new BackendPool({
          // An IPv6 literal comes bracketed in a URL, and bare to connect().
          host: backend.url.hostname.replace(/^\[(.*)\]$/, '$1'),
          port: Number(backend.url.port || 80),
          socketsMax,
          idleMs: backendIdleSocketMs,
          responseBytesMax: backendResponseBytesMax,
        });
      pools = {
        autocommit: pool(autocommitSocketsPerInstanceMax),
        transaction: pool(transactionSocketsPerInstanceMax),
        inFlight: new Set(),
      };
      this.#pools.set(backend.key, pools);
    }
    return pools;
  }
}
