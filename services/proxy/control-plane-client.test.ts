// The control-plane conversations against a local HTTP server that misbehaves first: the follower keeps
// polling through errors and bad documents, and registration retries until accepted.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Topology } from '../../core/cluster/topology.ts';
import { registerEndpoints, TopologyFollower } from './control-plane-client.ts';
import { topologyFixture } from './testing.ts';

const logger = pino({ level: 'silent' });
let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

/** Serves the answers in turn (the last one repeats), recording each request. */
async function serve(answers: { status: number; body?: unknown }[]) {
  const requests: { method: string; url: string; body: string }[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      requests.push({ method: req.method ?? '', url: req.url ?? '', body });
      const answer = answers[Math.min(requests.length - 1, answers.length - 1)]!;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(answer.body === undefined ? '' : JSON.stringify(answer.body));
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: new URL(`http://127.0.0.1:${(server!.address() as AddressInfo).port}`), requests };
}

describe('control-plane client', () => {
  it('follows the topology through errors and malformed documents, asking beyond what it has', async () => {
    const { url, requests } = await serve([
      { status: 503, body: { error: 'Unavailable', message: 'starting' } },
      { status: 200, body: { version: 'x' } },
      { status: 200, body: topologyFixture({ version: 3 }) },
      { status: 200, body: topologyFixture({ version: 3 }) },
      { status: 200, body: topologyFixture({ version: 4, writer: null }) },
    ]);
    const seen: Topology[] = [];
    const follower = new TopologyFollower({ controlPlane: url, logger, onTopology: (t) => seen.push(t) });
    follower.start();
    try {
      await expect.poll(() => seen.map((t) => t.version), { timeout: 5_000 }).toEqual([3, 4]);
    } finally {
      follower.stop();
    }
    expect(requests.slice(0, 5).map((r) => r.url)).toEqual([
      '/topology?after=0',
      '/topology?after=0',
      '/topology?after=0',
      '/topology?after=3',
      '/topology?after=3',
    ]);
  });

  it('registers the endpoints, retrying until the control plane accepts them', async () => {
    const { url, requests } = await serve([{ status: 500 }, { status: 204 }]);
    const endpoints = { writer: 'http://127.0.0.1:1', reader: 'http://127.0.0.1:2' };
    expect(await registerEndpoints({ controlPlane: url, endpoints, logger, stopped: () => false })).toBe(
      true,
    );
    expect(requests.map((r) => [r.method, r.url, JSON.parse(r.body)])).toEqual([
      ['POST', '/endpoints', endpoints],
      ['POST', '/endpoints', endpoints],
    ]);
  });
});
