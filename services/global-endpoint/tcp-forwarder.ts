// The global writer endpoint's MySQL port: protocol-agnostic TCP forwarding, one upstream connection
// per client connection, to the current primary's cluster endpoint (its proxy's MySQL writer port).
// A connection opened while no primary is known waits (bounded in time and number), then is closed;
// when the primary changes, every connection to the old one is closed, so clients reconnect to the
// new one — as a DNS name repointed by Aurora makes new connections go elsewhere.
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { assert } from '../../core/assert.ts';
import type { Logger } from '../../core/log.ts';
import type { GlobalEndpointMetrics } from './metrics.ts';

export interface TcpTarget {
  /** The member region: connections move when it changes. */
  region: string;
  host: string;
  port: number;
}

export interface TcpForwarderOptions {
  protocol: 'mysql';
  /** How long a connection opened with no primary known waits for one before it is closed. */
  waitMs: number;
  /** Connections waiting at once; more are closed at once. */
  waitingMax: number;
  /** Forwarded connections at once; more are closed at once. */
  connectionsMax: number;
  logger: Logger;
  metrics: GlobalEndpointMetrics;
}

interface Pair {
  client: Socket;
  upstream: Socket;
  target: TcpTarget;
}

interface Waiting {
  client: Socket;
  timer: NodeJS.Timeout;
}

/** `host:port` (IPv6 in brackets) into its parts; undefined when it is not one. */
export function parseHostPort(endpoint: string): { host: string; port: number } | undefined {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(endpoint);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: match[1]!, port };
}

export class TcpForwarder {
  readonly #pairs = new Set<Pair>();
  readonly #waiting = new Set<Waiting>();
  #target: TcpTarget | undefined;
  #server: Server | undefined;

  constructor(private readonly options: TcpForwarderOptions) {
    assert(
      options.waitMs >= 0 && options.waitingMax > 0 && options.connectionsMax > 0,
      'bad forwarder bounds',
    );
  }

  get active(): number {
    return this.#pairs.size;
  }

  get waiting(): number {
    return this.#waiting.size;
  }

  async listen(port: number, host: string): Promise<number> {
    const server = createServer((client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    assert(address !== null && typeof address === 'object', 'the server listens on a TCP port');
    return address.port;
  }

  /** The primary changed (or is unknown now): cut connections to the old one, release the waiting. */
  setTarget(target: TcpTarget | undefined): void {
    const before = this.#target;
    this.#target = target;
    const moved = [...this.#pairs].filter(
      (p) =>
        target === undefined ||
        p.target.region !== target.region ||
        p.target.host !== target.host ||
        p.target.port !== target.port,
    );
    if (moved.length > 0) {
      this.options.logger.warn(
        {
          protocol: this.options.protocol,
          connections: moved.length,
          from: before?.region,
          to: target?.region,
        },
        'global writer endpoint: closing connections to the old primary',
      );
    }
    for (const pair of moved) {
      this.#count('closed_on_switch');
      this.#end(pair);
    }
    if (target === undefined) return;
    for (const w of [...this.#waiting]) {
      this.#waiting.delete(w);
      clearTimeout(w.timer);
      this.#forward(w.client, target);
    }
  }

  async close(): Promise<void> {
    for (const w of this.#waiting) {
      clearTimeout(w.timer);
      w.client.destroy();
    }
    this.#waiting.clear();
    for (const pair of this.#pairs) this.#end(pair);
    await new Promise<void>((resolve) => (this.#server ? this.#server.close(() => resolve()) : resolve()));
  }

  #accept(client: Socket): void {
    client.on('error', () => undefined);
    if (this.#pairs.size + this.#waiting.size >= this.options.connectionsMax) {
      this.#count('refused');
      client.destroy();
      return;
    }
    if (this.#target !== undefined) {
      this.#forward(client, this.#target);
      return;
    }
    if (this.#waiting.size >= this.options.waitingMax) {
      this.#count('refused');
      client.destroy();
      return;
    }
    // No primary known (a global failover is under way): hold the connection unread for a while.
    const entry: Waiting = {
      client,
      timer: setTimeout(() => {
        this.#waiting.delete(entry);
        this.#count('refused');
        this.options.logger.info(
          { protocol: this.options.protocol, waitMs: this.options.waitMs },
          'global writer endpoint: no primary known in time, connection closed',
        );
        client.destroy();
      }, this.options.waitMs),
    };
    this.#waiting.add(entry);
    client.once('close', () => {
      if (this.#waiting.delete(entry)) clearTimeout(entry.timer);
    });
  }

  #forward(client: Socket, target: TcpTarget): void {
    if (client.destroyed) return;
    const upstream = tcpConnect({ host: target.host, port: target.port });
    const pair: Pair = { client, upstream, target };
    this.#pairs.add(pair);
    this.#count('forwarded');
    upstream.on('error', (error) => {
      this.options.logger.debug(
        { protocol: this.options.protocol, region: target.region, err: error.message },
        'upstream connection failed',
      );
    });
    // Either side closing closes the other: a client never talks to half a pair.
    upstream.once('close', () => this.#end(pair));
    client.once('close', () => this.#end(pair));
    client.pipe(upstream);
    upstream.pipe(client);
  }

  #end(pair: Pair): void {
    if (!this.#pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream.destroy();
  }

  #count(outcome: 'forwarded' | 'refused' | 'closed_on_switch'): void {
    this.options.metrics.connections.inc({ protocol: this.options.protocol, outcome });
  }
}
