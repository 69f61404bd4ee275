// Six real storage-node processes in three AZs on loopback, with a volume config of several PGs:
// the fixture for every test and benchmark that needs the quorum volume. Kill, restart, wipe by id.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Lsn } from '../../core/lsn.ts';
import { freePorts } from '../../core/process/ports.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { defaultPlacement, type StorageNodeAddress, type VolumeConfig } from '../../core/volume.ts';
import { expectReply, StorageClient } from '../../core/wire/client.ts';

const storageNodeEntry = fileURLToPath(new URL('../../services/storage-node/main.ts', import.meta.url));

export interface StorageClusterOptions {
  dir: string;
  region?: string;
  pgCount?: number;
  pagesPerPg?: number;
  pageSizeBytes?: number;
  /** Extra flags for every node (intervals, retention). */
  nodeArgs?: string[];
}

export class StorageCluster {
  readonly #processes = new Map<string, ManagedProcess>();
  readonly #clients = new Map<string, StorageClient>();

  private constructor(
    readonly dir: string,
    readonly volume: VolumeConfig,
    readonly volumePath: string,
    readonly nodeArgs: string[],
  ) {}

  static async start(options: StorageClusterOptions): Promise<StorageCluster> {
    const region = options.region ?? 'us-east-1';
    const ports = await freePorts(12);
    const azs = ['a', 'b', 'c'].map((x) => `${region}${x}`);
    const nodes: StorageNodeAddress[] = Array.from({ length: 6 }, (_, i) => ({
      id: `n${i + 1}`,
      az: azs[Math.floor(i / 2)]!,
      host: '127.0.0.1',
      port: ports[i]!,
      httpPort: ports[6 + i]!,
    }));
    const volume: VolumeConfig = {
      volumeId: 'test-volume',
      pageSizeBytes: options.pageSizeBytes ?? 4096,
      pagesPerPg: options.pagesPerPg ?? 64,
      nodes,
      placement: defaultPlacement(nodes, options.pgCount ?? 4),
    };
    mkdirSync(options.dir, { recursive: true });
    const volumePath = join(options.dir, 'volume.json');
    writeFileSync(volumePath, JSON.stringify(volume, null, 2));
    const cluster = new StorageCluster(options.dir, volume, volumePath, options.nodeArgs ?? []);
    try {
      await Promise.all(nodes.map((n) => cluster.start(n.id)));
      // A node on an empty dir takes appends once gossip has taught it the epoch (a round or two).
      await eventually(
        async () =>
          (await Promise.all(nodes.map((n) => cluster.health(n.id)))).every((h) => h.acceptsAppends),
        20_000,
        'storage nodes taking appends',
      );
    } catch (error) {
      await cluster.stopAll();
      throw error;
    }
    return cluster;
  }

  get nodeIds(): string[] {
    return this.volume.nodes.map((n) => n.id);
  }

  node(id: string): StorageNodeAddress {
    const node = this.volume.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no storage node ${id}`);
    return node;
  }

  dataDir(id: string): string {
    return join(this.dir, 'nodes', id);
  }

  logFile(id: string): string {
    return join(this.dir, 'logs', `${id}.log`);
  }

  isRunning(id: string): boolean {
    return this.#processes.get(id)?.running ?? false;
  }

  pid(id: string): number | undefined {
    return this.#processes.get(id)?.pid;
  }

  async start(id: string): Promise<ManagedProcess> {
    if (this.isRunning(id)) throw new Error(`storage node ${id} already runs`);
    const node = this.node(id);
    const process = await spawnProcess({
      name: `storage-${id}`,
      entry: storageNodeEntry,
      args: [
        '--id',
        id,
        '--az',
        node.az,
        '--data-dir',
        this.dataDir(id),
        '--volume-config',
        this.volumePath,
        ...this.nodeArgs,
      ],
      env: { BOREALIS_LOG_LEVEL: 'info' },
      logFile: this.logFile(id),
    });
    this.#processes.set(id, process);
    return process;
  }

  /** SIGKILL: the node gets no chance to flush or clean up. */
  async kill(id: string): Promise<void> {
    await this.#processes.get(id)?.kill();
  }

  async stop(id: string): Promise<void> {
    await this.#processes.get(id)?.stop();
  }

  /** Removes a stopped node's data dir (a replaced disk). */
  wipe(id: string): void {
    if (this.isRunning(id)) throw new Error(`stop storage node ${id} before wiping it`);
    rmSync(this.dataDir(id), { recursive: true, force: true });
  }

  client(id: string): StorageClient {
    let client = this.#clients.get(id);
    if (!client) {
      const node = this.node(id);
      client = new StorageClient({ host: node.host, port: node.port, name: id, requestTimeoutMs: 5_000 });
      this.#clients.set(id, client);
    }
    return client;
  }

  clients(): Map<string, StorageClient> {
    return new Map(this.nodeIds.map((id) => [id, this.client(id)]));
  }

  async health(id: string): Promise<Record<string, unknown>> {
    const response = await fetch(`http://127.0.0.1:${this.node(id).httpPort}/health`);
    return (await response.json()) as Record<string, unknown>;
  }

  async metrics(id: string): Promise<string> {
    const response = await fetch(`http://127.0.0.1:${this.node(id).httpPort}/metrics`);
    return response.text();
  }

  /** The sum of a metric's samples on this node: those carrying every label given. */
  async metric(id: string, name: string, labels: Record<string, string> = {}): Promise<number> {
    const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
    return (await this.metrics(id))
      .split('\n')
      .filter((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      .filter((l) => wanted.every((label) => l.includes(label)))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }

  /** Each PG's SCL on this node, from its recovery info. */
  async sclOf(id: string): Promise<Map<number, Lsn>> {
    const info = expectReply(
      await this.client(id).request({ type: 'recoveryInfo', epoch: 0n }),
      'recoveryInfoReply',
    );
    return new Map(info.segments.map((s) => [s.pg, s.scl]));
  }

  /** Waits until every segment on every node is complete up to its PG's last LSN. */
  async allCaughtUp(lastLsnByPg: ReadonlyMap<number, Lsn>, timeoutMs: number): Promise<void> {
    await eventually(
      async () => {
        for (const id of this.nodeIds) {
          for (const [pg, scl] of await this.sclOf(id)) if (scl < (lastLsnByPg.get(pg) ?? 0n)) return false;
        }
        return true;
      },
      timeoutMs,
      'every segment complete',
    );
  }

  async stopAll(): Promise<void> {
    for (const client of this.#clients.values()) client.close();
    this.#clients.clear();
    await Promise.all([...this.#processes.values()].map((p) => p.stop()));
  }
}

/** Polls until check() returns true (or throws the last failure after timeoutMs). */
export async function eventually(
  check: () => Promise<boolean> | boolean,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what} not reached within ${timeoutMs} ms${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
