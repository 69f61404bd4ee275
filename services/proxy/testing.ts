// Fixtures for the proxy's unit tests.
import type { Topology } from '../../core/cluster/topology.ts';

/** A valid topology (one writer, one healthy reader), with fields overridden as a test needs. */
export function topologyFixture(overrides: Partial<Topology> = {}): Topology {
  return {
    version: 1,
    cluster: 'borealis',
    region: 'us-east-1',
    epoch: '1',
    writer: { id: 'instance-1', endpoint: 'http://127.0.0.1:5001', redo: '127.0.0.1:5002', incarnation: 1 },
    readers: [
      { id: 'instance-2', endpoint: 'http://127.0.0.1:5003', incarnation: 1, healthy: true, lagMs: 3 },
    ],
    failoverInProgress: false,
    resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:borealis',
    secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:borealis',
    updatedAt: '2024-01-01T00:00:00.000Z',
    ...overrides,
  };
}
