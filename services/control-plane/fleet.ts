// The processes of one cluster as the control plane owns them: six storage nodes and the database
// instances (one writer, readers). Starting, stopping and SIGKILLing them, and remembering what each
// last said on /health. Decisions (who is writer, when to fail over) live in controller.ts.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstanceRole, InstanceState } from '../../core/cluster/topology.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import type { StorageNodeAddress } from '../../core/volume.ts';

const entries = {
  storage: fileURLToPath(new URL('../storage-node/main.ts', import.meta.url)),
  writer: fileURLToPath(new URL('../writer/main.ts', import.meta.url)),
  reader: fileURLToPath(new URL('../reader/main.ts', import.meta.url)),
};

/** A recovering writer waits for a write quorum; its own recovery gives up first and exits. */
const writerReadyTimeoutMs = 120_000;
const readyTimeoutMs = 60_000;

export type HealthDoc = { healthy: boolean; [key: string]: unknown };

interface Tracked {
  process: ManagedProcess | undefined;
  /** Last /health answer and when it came; a process that stops answering is declared failed. */
  health: HealthDoc | undefined;
  lastHealthyAt: number;
}

export interface StorageSlot extends Tracked {
  node: StorageNodeAddress;
  starting: boolean;
}

export interface InstanceSlot extends Tracked {
  id: string;
  az: string;
  tier: number;
  role: InstanceRole;
  state: InstanceState;
  incarnation: number;
  restarts: number;
  /** Data API, redo stream (writers) and HTTP ports of the current process. */
  port: number | null;
  redoPort: number | null;
  httpPort: number | null;
  /** When a down instance is brought back (as a reader). */
  restartAt: number | undefined;
}

export interface FleetOptions {
  dir: string;
  volumePath: string;
  region: string;
  cluster: string;
  storageArgs: string[];
  instanceArgs: string[];
  /** Flags for writers only (the redo stream and backup bucket). */
  writerArgs?: string[];
  /** Called when a process exits on its own (or by SIGKILL), never for a stop the fleet asked. */
  onExit: (
    kind: 'storage' | 'instance',
    id: string,
    info: { code: number | null; signal: string | null },
  ) => void;
}

export class Fleet {
  readonly storage = new Map<string, StorageSlot>();
  readonly instances = new Map<string, InstanceSlot>();
  #incarnations = 0;

  constructor(
    private readonly options: FleetOptions,
    nodes: readonly StorageNodeAddress[],
    instances: readonly { id: string; az: string; tier: number }[],
  ) {
    for (const node of nodes) {
      this.storage.set(node.id, {
        node,
        process: undefined,
        health: undefined,
        lastHealthyAt: 0,
        starting: false,
      });
    }
    for (const i of instances) {
      this.instances.set(i.id, {
        ...i,
        role: 'reader',
        state: 'down',
        incarnation: 0,
        restarts: -1,
        port: null,
        redoPort: null,
        httpPort: null,
        process: undefined,
        health: undefined,
        lastHealthyAt: 0,
        restartAt: undefined,
      });
    }
  }

  logFile(name: string): string {
    return join(this.options.dir, 'logs', `${name}.log`);
  }

  storageSlot(id: string): StorageSlot | undefined {
    return this.storage.get(id);
  }

  instance(id: string): InstanceSlot | undefined {
    return this.instances.get(id);
  }

  async startStorage(id: string): Promise<void> {
    const slot = this.storage.get(id)!;
    if (slot.process?.running || slot.starting) return;
    slot.starting = true;
    try {
      const process = await spawnProcess({
        name: `storage-${id}`,
        entry: entries.storage,
        args: [
          '--id',
          id,
          '--az',
          slot.node.az,
          '--data-dir',
          join(this.options.dir, 'nodes', id),
          '--volume-config',
          this.options.volumePath,
          ...this.options.storageArgs,
        ],
        logFile: this.logFile(`storage-${id}`),
        readyTimeoutMs,
      });
      slot.process = process;
      slot.lastHealthyAt = Date.now();
      void process.exited.then((info) => {
        if (slot.process !== process) return;
        slot.health = undefined;
        this.options.onExit('storage', id, info);
      });
    } finally {
      slot.starting = false;
    }
  }

  /**
   * Starts an instance as writer or reader. A reader needs the writer's redo address. Resolves when
   * it serves; rejects if it exits first (a writer that cannot reach a quorum gives up and exits).
   */
  async startInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<void> {
    const slot = this.instances.get(id)!;
    if (slot.process?.running) throw new Error(`instance ${id} already runs (pid ${slot.process.pid})`);
    slot.role = role;
    slot.state = 'starting';
    slot.restartAt = undefined;
    slot.health = undefined;
    slot.port = slot.redoPort = slot.httpPort = null;
    slot.incarnation = ++this.#incarnations;
    slot.restarts++;
    const common = ['--id', id, '--volume-config', this.options.volumePath, '--region', this.options.region];
    const args =
      role === 'writer'
        ? [
            ...common,
            '--cluster',
            this.options.cluster,
            ...this.options.instanceArgs,
            ...(this.options.writerArgs ?? []),
          ]
        : [
            ...common,
            '--cluster',
            this.options.cluster,
            '--writer-redo',
            writerRedo!,
            ...this.options.instanceArgs,
          ];
    let process: ManagedProcess;
    try {
      process = await spawnProcess({
        name: id,
        entry: role === 'writer' ? entries.writer : entries.reader,
        args,
        logFile: this.logFile(id),
        readyTimeoutMs: role === 'writer' ? writerReadyTimeoutMs : readyTimeoutMs,
      });
    } catch (error) {
      slot.state = 'down';
      throw error;
    }
    const ready = process.ready as Record<string, unknown>;
    slot.process = process;
    slot.port = ready.port as number;
    slot.redoPort = (ready.redoPort as number | undefined) ?? null;
    slot.httpPort = ready.httpPort as number;
    slot.lastHealthyAt = Date.now();
    slot.state = 'running';
    void process.exited.then((info) => {
      if (slot.process !== process) return;
      const wasStopping = slot.state === 'stopping';
      slot.state = 'down';
      slot.health = undefined;
      if (!wasStopping) this.options.onExit('instance', id, info);
    });
  }

  /** A deliberate stop (promotion, planned failover, shutdown): SIGTERM, then SIGKILL. */
  async stopInstance(id: string, graceMs = 3_000): Promise<void> {
    const slot = this.instances.get(id)!;
    const process = slot.process;
    if (!process?.running) return;
    slot.state = 'stopping';
    await process.stop(graceMs);
    slot.state = 'down';
    slot.health = undefined;
  }

  /** SIGKILL, as a crash: the exit is reported through onExit like any failure. Returns the pid. */
  async kill(kind: 'storage' | 'instance', id: string): Promise<number | undefined> {
    const slot = kind === 'storage' ? this.storage.get(id) : this.instances.get(id);
    const process = slot?.process;
    if (!process?.running) return undefined;
    const pid = process.pid;
    await process.kill();
    return pid;
  }

  async stopAll(): Promise<void> {
    const all = [...this.instances.values(), ...this.storage.values()];
    for (const slot of this.instances.values()) if (slot.process?.running) slot.state = 'stopping';
    await Promise.all(all.map((s) => s.process?.stop()));
  }
}

export function instanceEndpoint(slot: InstanceSlot): string | null {
  return slot.port === null ? null : `http://127.0.0.1:${slot.port}`;
}

export function storageRunning(slot: StorageSlot): boolean {
  return slot.process?.running ?? false;
}
