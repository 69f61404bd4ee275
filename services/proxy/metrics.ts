// Prometheus metrics of the proxy: what clients asked and how each request ended, what waited during a
// failover and for how long, and which topology the proxy routes by.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** How a client request ended, as the `outcome` label. */
export type RequestOutcome =
  /** The instance's answer passed through: 2xx. */
  | 'ok'
  /** The instance's answer passed through: an error (4xx, or a 5xx on a request harmless to retry). */
  | 'instance_error'
  | 'unknown_outcome'
  | 'transaction_lost'
  | 'rollback_complete'
  | 'unknown_transaction'
  | 'hold_expired'
  | 'queue_full'
  | 'unavailable'
  /** Refused by the proxy before routing: bad route, body, JSON or field. */
  | 'bad_request'
  | 'internal_error'
  /** The client went away while its request was held; it was never sent. */
  | 'client_gone';

/** A counter bumped once or more per request: see batchedCounter. */
export interface RequestCounter<L extends string> {
  inc(labels: Record<L, string>): void;
}

export interface ProxyMetrics {
  requests: RequestCounter<'endpoint' | 'operation' | 'outcome'>;
  holdSeconds: Histogram;
  failovers: Counter;
  sends: RequestCounter<'instance' | 'role'>;
  resends: Counter<'reason'>;
}

export function proxyMetrics(
  registry: Registry,
  live: { held: () => number; topologyVersion: () => number; inFlight: () => Map<string, number> },
): ProxyMetrics {
  const registers = [registry];
  new Gauge({
    name: 'borealis_proxy_held_requests',
    help: 'Requests held waiting for a writer (failover)',
    registers,
    collect() {
      this.set(live.held());
    },
  });
  new Gauge({
    name: 'borealis_proxy_topology_version',
    help: 'Version of the topology the proxy routes by (-1 before the first)',
    registers,
    collect() {
      this.set(live.topologyVersion());
    },
  });
  new Gauge({
    name: 'borealis_proxy_backend_in_flight',
    help: 'Requests in flight to each instance',
    labelNames: ['instance'],
    registers,
    collect() {
      this.reset();
      for (const [instance, count] of live.inFlight()) this.set({ instance }, count);
    },
  });
  return {
    requests: batchedCounter({
      name: 'borealis_proxy_requests_total',
      help: 'Client requests by endpoint, Data API operation and how they ended',
      labelNames: ['endpoint', 'operation', 'outcome'],
      registers,
    }),
    holdSeconds: new Histogram({
      name: 'borealis_proxy_hold_seconds',
      help: 'Time a request was held waiting for a writer, until sent or expired',
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60],
      registers,
    }),
    failovers: new Counter({
      name: 'borealis_proxy_failovers_seen_total',
      help: 'Writer changes seen in the topology (a new writer instance or incarnation, or none)',
      registers,
    }),
    sends: batchedCounter({
      name: 'borealis_proxy_backend_requests_total',
      help: 'Requests sent to each instance (resends included)',
      labelNames: ['instance', 'role'],
      registers,
    }),
    resends: new Counter({
      name: 'borealis_proxy_resends_total',
      help: 'Requests sent again: rerouted (never reached an instance) or resent (harmless to run twice)',
      labelNames: ['reason'],
      registers,
    }),
  };
}

/**
 * A Prometheus counter whose increments are tallied in a plain map and handed to prom-client when it
 * is scraped: prom-client hashes and validates the labels on every inc(), which per request is a
 * measurable share of the proxy's CPU. A scrape sees every increment made before it.
 */
function batchedCounter<L extends string>(config: {
  name: string;
  help: string;
  labelNames: readonly L[];
  registers: Registry[];
}): RequestCounter<L> {
  const tallies = new Map<string, { labels: Record<L, string>; count: number }>();
  new Counter<L>({
    ...config,
    collect() {
      for (const tally of tallies.values()) {
        if (tally.count === 0) continue;
        this.inc(tally.labels, tally.count);
        tally.count = 0;
      }
    },
  });
  const names = config.labelNames;
  return {
    inc(labels) {
      let key = '';
      for (const name of names) key += `${labels[name]}\u0000`;
      const tally = tallies.get(key);
      if (tally) tally.count++;
      else tallies.set(key, { labels: { ...labels }, count: 1 });
    },
  };
}
