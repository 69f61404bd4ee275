// The global writer endpoint's Prometheus metrics (its /metrics): which member it routes to, how often
// that changed, and what became of each connection and Data API request.
import { Counter, Gauge, type Registry } from 'prom-client';

export interface GlobalEndpointMetrics {
  primary: Gauge<'region'>;
  targetChanges: Counter<string>;
  overruledClaims: Counter<'region'>;
  connections: Counter<'protocol' | 'outcome'>;
  requests: Counter<'outcome'>;
}

export function globalEndpointMetrics(
  registry: Registry,
  live: { active: () => Record<string, number>; waiting: () => Record<string, number> },
): GlobalEndpointMetrics {
  new Gauge({
    name: 'borealis_global_writer_endpoint_connections_active',
    help: 'Client connections forwarded to the primary now, by protocol',
    labelNames: ['protocol'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [protocol, n] of Object.entries(live.active())) this.set({ protocol }, n);
    },
  });
  new Gauge({
    name: 'borealis_global_writer_endpoint_waiting',
    help: 'Connections (mysql) or requests (data-api) waiting for a primary to be known',
    labelNames: ['protocol'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [protocol, n] of Object.entries(live.waiting())) this.set({ protocol }, n);
    },
  });
  return {
    primary: new Gauge({
      name: 'borealis_global_writer_endpoint_primary',
      help: '1 for the member region the endpoint routes to; no series while no primary is known',
      labelNames: ['region'],
      registers: [registry],
    }),
    targetChanges: new Counter({
      name: 'borealis_global_writer_endpoint_target_changes_total',
      help: 'Times the endpoint moved to another primary (or to none)',
      registers: [registry],
    }),
    overruledClaims: new Counter({
      name: 'borealis_global_writer_endpoint_overruled_claims_total',
      help: 'Times a member claimed the writer but another was promoted later (never routed to)',
      labelNames: ['region'],
      registers: [registry],
    }),
    connections: new Counter({
      name: 'borealis_global_writer_endpoint_connections_total',
      help: 'Client connections by protocol and outcome (forwarded, refused, closed_on_switch)',
      labelNames: ['protocol', 'outcome'],
      registers: [registry],
    }),
    requests: new Counter({
      name: 'borealis_global_writer_endpoint_data_api_requests_total',
      help: 'Data API requests by outcome (forwarded, no_primary, upstream_failed, too_large, refused)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
}
