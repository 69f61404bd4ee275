// The published topology as functions read it: strict parsing of what they act on, the file reader
// of embedded mode, the SSM reader (its client stubbed at `send`), and which one an environment picks.
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import type { Topology } from './topology.ts';
import {
  fileTopologyReader,
  isTopologyNotFound,
  parsePublishedTopology,
  ssmTopologyReader,
  topologyDirVariable,
  topologyFilePath,
  topologyParameterName,
  topologyReaderFromEnv,
} from './topology-store.ts';

const published: Topology = {
  version: 3,
  cluster: 'c1',
  region: 'us-east-1',
  epoch: '2',
  writer: {
    id: 'instance-1',
    endpoint: 'http://127.0.0.1:9001/',
    redo: '127.0.0.1:9003',
    incarnation: 1,
    httpUrl: 'http://127.0.0.1:9002',
  },
  readers: [],
  failoverInProgress: false,
  resourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:c1',
  secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:c1-admin',
  controlPlaneUrl: 'http://127.0.0.1:9000',
  volumeUrl: 'http://127.0.0.1:9000/volume',
  endpoints: { writer: 'http://127.0.0.1:9100', reader: 'http://127.0.0.1:9101' },
  updatedAt: '2026-12-02T00:00:00.000Z',
};

describe('parsePublishedTopology', () => {
  it('returns a well-formed topology as published', () => {
    expect(parsePublishedTopology(JSON.stringify(published), 'p')).toEqual(published);
  });

  it("accepts CDK's unpublished placeholder (version 0, no writer, no epoch)", () => {
    const placeholder = JSON.stringify({ cluster: 'c1', version: 0, writer: null, readers: [] });
    expect(parsePublishedTopology(placeholder, 'p').writer).toBeNull();
  });

  it('names the source and the first bad field', () => {
    const bad = (patch: Record<string, unknown>) => JSON.stringify({ ...published, ...patch });
    expect(() => parsePublishedTopology('{', '/borealis/c1/topology')).toThrow(
      /^topology in \/borealis\/c1\/topology: not JSON/,
    );
    expect(() => parsePublishedTopology('[]', 'p')).toThrow('topology in p: not an object');
    expect(() => parsePublishedTopology(bad({ cluster: '' }), 'p')).toThrow('cluster is required');
    expect(() => parsePublishedTopology(bad({ version: -1 }), 'p')).toThrow('version must be');
    expect(() => parsePublishedTopology(bad({ readers: {} }), 'p')).toThrow('readers must be a list');
    expect(() => parsePublishedTopology(bad({ writer: { id: 'w' } }), 'p')).toThrow(
      'writer must be null or have an id and an endpoint URL',
    );
    expect(() =>
      parsePublishedTopology(bad({ writer: { ...published.writer, httpUrl: 'not a url' } }), 'p'),
    ).toThrow('writer.httpUrl must be a URL');
    expect(() => parsePublishedTopology(bad({ volumeUrl: 'file:///etc/passwd' }), 'p')).toThrow(
      'volumeUrl must be a URL',
    );
    expect(() => parsePublishedTopology(bad({ epoch: 2 }), 'p')).toThrow('epoch must be a decimal string');
  });
});

describe('topology readers', () => {
  it('embedded: reads <dir>/<cluster>/topology.json; a missing file is "not found"', async () => {
    const dir = join(tmpdir(), `topology-store-${process.pid}-${Date.now()}`);
    mkdirSync(join(dir, 'c1'), { recursive: true });
    writeFileSync(topologyFilePath(dir, 'c1'), JSON.stringify(published));
    const read = fileTopologyReader(dir);
    expect(await read('c1')).toEqual(published);
    const missing = await read('c2').catch((e: unknown) => e);
    expect(isTopologyNotFound(missing)).toBe(true);
    expect((missing as Error).message).toBe(
      `no cluster 'c2': ${join(dir, 'c2', 'topology.json')} does not exist`,
    );
  });

  it('SSM: GetParameter on /borealis/<cluster>/topology; ParameterNotFound is "not found"', async () => {
    const asked: string[] = [];
    const ssm = {
      send: async (command: GetParameterCommand) => {
        asked.push(command.input.Name!);
        if (command.input.Name === topologyParameterName('c1'))
          return { Parameter: { Value: JSON.stringify(published) } };
        throw Object.assign(new Error('not there'), { name: 'ParameterNotFound' });
      },
    } as unknown as SSMClient;
    const read = ssmTopologyReader(ssm);
    expect(await read('c1')).toEqual(published);
    const missing = await read('c2').catch((e: unknown) => e);
    expect(isTopologyNotFound(missing)).toBe(true);
    expect((missing as Error).message).toBe(
      "no cluster 'c2': SSM parameter /borealis/c2/topology does not exist",
    );
    expect(asked).toEqual(['/borealis/c1/topology', '/borealis/c2/topology']);
  });

  it('SSM: any other failure is a retryable read error, not "not found"', async () => {
    const ssm = {
      send: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { name: 'Error' });
      },
    } as unknown as SSMClient;
    const error = await ssmTopologyReader(ssm)('c1').catch((e: unknown) => e);
    expect(isTopologyNotFound(error)).toBe(false);
    expect((error as Error).message).toBe(
      'cannot read SSM parameter /borealis/c1/topology: connect ECONNREFUSED',
    );
  });

  it(`picks the file reader when ${topologyDirVariable} is set, else SSM in the region`, () => {
    const embedded = topologyReaderFromEnv('us-east-1', { [topologyDirVariable]: '/s/clusters' });
    expect(embedded.source).toBe(`${topologyDirVariable}=/s/clusters`);
    const deployed = topologyReaderFromEnv('us-west-2', { AWS_ENDPOINT_URL: 'http://127.0.0.1:1' });
    expect(deployed.source).toBe('SSM (us-west-2)');
    embedded.close();
    deployed.close();
  });
});
