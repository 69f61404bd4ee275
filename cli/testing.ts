// Test helpers shared by the CLI's unit tests and integration/cli (never imported by production code):
// a ClusterStatus document as a control plane would publish it, and an in-memory CliIo.
import type { ClusterStatus } from '../core/cluster/topology.ts';
import type { CliIo } from './io.ts';

export function sampleStatus(overrides: Partial<ClusterStatus> = {}): ClusterStatus {
  const region = 'us-east-1';
  return {
    cluster: 'borealis',
    region,
    epoch: '4',
    vdl: '123456',
    writer: 'instance-2',
    failoverInProgress: false,
    endpoints: { writer: 'http://127.0.0.1:9001', reader: 'http://127.0.0.1:9002' },
    resourceArn: `arn:aws:rds:${region}:000000000000:cluster:borealis`,
    secretArn: `arn:aws:secretsmanager:${region}:000000000000:secret:borealis`,
    instances: [
      {
        id: 'instance-1',
        az: 'us-east-1a',
        role: 'reader',
        tier: 0,
        state: 'running',
        healthy: true,
        pid: 4101,
        endpoint: 'http://127.0.0.1:9101',
        httpPort: 9111,
        lagMs: 12,
        incarnation: 3,
        restarts: 1,
      },
      {
        id: 'instance-2',
        az: 'us-east-1b',
        role: 'writer',
        tier: 1,
        state: 'running',
        healthy: true,
        pid: 4102,
        endpoint: 'http://127.0.0.1:9102',
        httpPort: 9112,
        lagMs: 0,
        incarnation: 2,
        restarts: 0,
      },
      {
        id: 'instance-3',
        az: 'us-east-1c',
        role: 'reader',
        tier: 15,
        state: 'down',
        healthy: false,
        pid: null,
        endpoint: null,
        httpPort: null,
        lagMs: null,
        incarnation: 1,
        restarts: 0,
      },
    ],
    storageNodes: ['a', 'a', 'b', 'b', 'c', 'c'].map((az, i) => ({
      id: `sn-${i + 1}`,
      az: `us-east-1${az}`,
      role: 'storage' as const,
      healthy: i !== 5,
      pid: i === 5 ? null : 4200 + i,
      port: 9200 + i,
      httpPort: 9300 + i,
      scl: { '0': '5120', '1': '5120', '2': '5120', '3': '4999' },
      epoch: i === 5 ? null : '4',
    })),
    failovers: [
      {
        at: '2025-01-01T00:00:00.000Z',
        kind: 'unplanned',
        from: 'instance-1',
        to: 'instance-2',
        reason: 'writer process exited',
        durationMs: 812,
        epoch: '4',
      },
    ],
    updatedAt: '2025-01-01T00:00:01.000Z',
    ...overrides,
  };
}

/** A CliIo that keeps what a command wrote. */
export function memoryIo(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (text) => {
      out += text;
    },
    err: (text) => {
      err += text;
    },
    stdout: () => out,
    stderr: () => err,
  };
}
