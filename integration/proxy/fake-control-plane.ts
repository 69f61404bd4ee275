// The control plane's proxy-facing contract (core/cluster/topology.ts), served by a test: GET /topology
// long-poll and POST /endpoints, with the topology driven by the test itself — so the proxy is tested
// against the contract, not against one control plane's timing.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { controlPlaneRoutes, type Topology } from '../../core/cluster/topology.ts';

/** How long GET /topology waits for a newer version before answering with the current one. */
const longPollMs = 10_000;

export class FakeControlPlane {
  readonly endpoints: { writer: string; reader: string }[] = [];
  readonly #waiting = new Set<() => void>();
  readonly #open = new Set<ServerResponse>();
  #topology: Topology;

  private constructor(
    readonly server: Server,
    initial: Topology,
  ) {
    this.#topology = initial;
  }

  static async start(initial: Topology): Promise<FakeControlPlane> {
    let plane: FakeControlPlane | undefined;
    const server = createServer((req, res) => void plane?.handle(req, res));
    plane = new FakeControlPlane(server, initial);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return plane;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  get topology(): Topology {
    return this.#topology;
  }

  /** Publishes a change: the version goes up by one and every waiting poll is answered. */
  publish(change: Partial<Omit<Topology, 'version'>>): Topology {
    this.#topology = {
      ...this.#topology,
      ...change,
      version: this.#topology.version + 1,
      updatedAt: new Date().toISOString(),
    };
    for (const wake of this.#waiting) wake();
    return this.#topology;
  }

  async close(): Promise<void> {
    for (const wake of this.#waiting) wake();
    for (const res of this.#open) res.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: import('node:http').IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://control-plane');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    if (req.method === 'GET' && url.pathname === controlPlaneRoutes.topology) {
      const after = Number(url.searchParams.get('after') ?? '-1');
      if (!(this.#topology.version > after)) {
        this.#open.add(res);
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            this.#waiting.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, longPollMs);
          this.#waiting.add(wake);
        });
        this.#open.delete(res);
      }
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(this.#topology));
      return;
    }
    if (req.method === 'POST' && url.pathname === controlPlaneRoutes.endpoints) {
      this.endpoints.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'NotFound', message: `no route ${req.method} ${url.pathname}` }));
  }
}
