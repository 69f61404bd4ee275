// The fleet as local processes (`npm start`, the CLI, tests): every storage node and instance is a
// child of the control plane, tracked by PID, logging to DIR/logs. Its advertised address is the one
// its ready line names (its bind address: 127.0.0.1, or the one its placement gives — placement.ts).
// Ports are free ones on this machine: with a placement, each process has its namespace to itself.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { InstanceRole } from '../../core/cluster/topology.ts';
import { type ManagedProcess, StandbyProcess, spawnProcess } from '../../core/process/spawn.ts';
import type { StorageNodeAddress } from '../../core/volume.ts';
import {
  addInstanceSlot,
  beginInstanceStart,
  type ExitListener,
  type Fleet,
  type FleetKind,
  type InstanceEndpoints,
  type InstanceSlot,
  newInstanceSlot,
  newStorageSlot,
  type StorageSlot,
} from './fleet.ts';
import type { Placement } from './placement.ts';

const entries = {
  storage: fileURLToPath(new URL('../storage-node/main.ts', import.meta.url)),
  writer: fileURLToPath(new URL('../writer/main.ts', import.meta.url)),
  reader: fileURLToPath(new URL('../reader/main.ts', import.meta.url)),
};

/** A recovering writer waits for a write quorum; its own recovery gives up first and exits. */
const writerReadyTimeoutMs = 120_000;
const readyTimeoutMs = 60_000;
/**
 * A new standby starts this long after the last writer start has finished: its ~1.3 s of CPU never
 * competes with the open it would speed up, and a second failover or backtrack soon after the first
 * finds it loaded or loading (3 s here left a gap of ~4 s without one: ADR 019).
 */
const standbyDelayMs = 500;
/** A writer start waits this long for a standby still loading, then starts a process of its own. */
const standbyTakeWaitMs = 5_000;
/**
 * Standbys kept once a writer start has used one: failovers and backtracks come in runs (a chaos test,
 * a search for the right moment back and forth), and a second one within ~2 s of the first would
 * otherwise wait for the replacement to load. A fleet that never switched keeps one.
 */
const standbysAfterFirstUse = 2;

export interface LocalFleetOptions {
  dir: string;
  volumePath: string;
  region: string;
  cluster: string;
  storageArgs: string[];
  instanceArgs: string[];
  /** Flags for writers only (the redo stream and backup bucket). */
  /** Called at each writer start: what it is started with can change (the backtrack window). */
  writerArgs?: () => string[];
  /**
   * What runs in the writer slot, if not the writer: a Global Database secondary runs its replica
   * applier there (services/replica-applier/main.ts), without writerArgs.
   */
  writerEntry?: string;
  /** Where each process runs, if not on 127.0.0.1 (network-partition tests). */
  placement?: Placement;
  /**
   * Keep a warm standby writer process (ADR 019): a failover or backtrack activates it instead of
   * starting Node. Off with a placement (a standby cannot move into a namespace) or a writerEntry.
   */
  writerStandby?: boolean;
  onExit: ExitListener;
}

export class LocalProcessFleet implements Fleet {
  readonly storage = new Map<string, StorageSlot>();
  readonly instances = new Map<string, InstanceSlot>();
  /** The child behind each slot's current process (slot.process is the same object). */
  readonly #children = new Map<StorageSlot | InstanceSlot, ManagedProcess>();
  /** Spawns waiting for their ready line: stopAll waits for them, so none outlives the fleet. */
  readonly #spawning = new Set<Promise<unknown>>();
  #stopped = false;
  #incarnations = 0;
  /** Flags for the next writer start only (a Global Database promotion's --global-promotion). */
  #nextWriterArgs: string[] = [];
  /** Warm standby writers, loading or loaded, oldest first; the next writer start takes one. */
  #standbys: StandbyProcess[] = [];
  readonly #standbysLoaded = new Set<StandbyProcess>();
  /** How many to keep: one, two once one was used (standbysAfterFirstUse). */
  #standbysWanted = 1;
  #standbyTimer: NodeJS.Timeout | undefined;
  /** Standbys taken and being activated: stopAll stops them too (they are in no slot yet). */
  readonly #activating = new Set<StandbyProcess>();

  constructor(
    private readonly options: LocalFleetOptions,
    nodes: readonly StorageNodeAddress[],
    instances: readonly { id: string; az: string; tier: number }[],
  ) {
    for (const node of nodes) this.storage.set(node.id, newStorageSlot(node));
    for (const i of instances) this.instances.set(i.id, newInstanceSlot(i));
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
      const placed = this.options.placement?.storage[id];
      const process = await this.#spawn({
        name: `storage-${id}`,
        entry: entries.storage,
        ...(placed && { launcher: placed.launcher }),
        args: [
          '--id',
          id,
          '--az',
          slot.node.az,
          '--data-dir',
          join(this.options.dir, 'nodes', id),
          '--volume-config',
          this.options.volumePath,
          ...(placed ? ['--bind-address', placed.host] : []),
          ...this.options.storageArgs,
        ],
        logFile: this.logFile(`storage-${id}`),
        readyTimeoutMs,
      });
      slot.process = process;
      this.#children.set(slot, process);
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

  async startInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<InstanceEndpoints> {
    const slot = this.instances.get(id)!;
    if (slot.process?.running) throw new Error(`instance ${id} already runs (pid ${slot.process.pid})`);
    beginInstanceStart(slot, role, ++this.#incarnations);
    const placed = this.options.placement?.instances[id];
    const common = [
      '--id',
      id,
      '--volume-config',
      this.options.volumePath,
      '--region',
      this.options.region,
      ...(placed ? ['--bind-address', placed.host] : []),
    ];
    const args =
      role === 'writer'
        ? [
            ...common,
            '--cluster',
            this.options.cluster,
            ...this.options.instanceArgs,
            ...(this.options.writerEntry === undefined
              ? [...(this.options.writerArgs?.() ?? []), ...this.#nextWriterArgs]
              : []),
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
      const standby = role === 'writer' && !placed ? await this.#takeStandby() : undefined;
      process = standby
        ? await this.#activate(standby, {
            name: id,
            args,
            logFile: this.logFile(id),
            readyTimeoutMs: writerReadyTimeoutMs,
          })
        : await this.#spawn({
            name: id,
            entry: role === 'writer' ? (this.options.writerEntry ?? entries.writer) : entries.reader,
            ...(placed && { launcher: placed.launcher }),
            args,
            logFile: this.logFile(id),
            readyTimeoutMs: role === 'writer' ? writerReadyTimeoutMs : readyTimeoutMs,
          });
    } catch (error) {
      slot.state = 'down';
      throw error;
    } finally {
      if (role === 'writer') this.#scheduleStandby();
    }
    if (this.#stopped) {
      await process.stop();
      throw new Error(`fleet stopped while ${id} started`);
    }
    // Kept until a writer opened: a start that failed before its recovery truncated must use them again.
    if (role === 'writer' && this.options.writerEntry === undefined) this.#nextWriterArgs = [];
    const ready = process.ready as Record<string, unknown>;
    slot.process = process;
    this.#children.set(slot, process);
    slot.host = typeof ready.host === 'string' ? ready.host : '127.0.0.1';
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
    return { host: slot.host, port: slot.port, redoPort: slot.redoPort, httpPort: slot.httpPort };
  }

  addInstance(i: { id: string; az: string; tier: number; rdsIdentifier?: string }): InstanceSlot {
    return addInstanceSlot(this.instances, i);
  }

  async removeInstance(id: string): Promise<void> {
    await this.stopInstance(id);
    this.instances.delete(id);
  }

  /** SIGTERM, then SIGKILL after graceMs. */
  async stopInstance(id: string, graceMs = 3_000): Promise<void> {
    const slot = this.instances.get(id)!;
    const process = this.#children.get(slot);
    if (!process?.running || slot.process !== process) return;
    slot.state = 'stopping';
    await process.stop(graceMs);
    slot.state = 'down';
    slot.health = undefined;
  }

  /** SIGKILL, as a crash: the exit is reported through onExit like any failure. Returns the pid. */
  async kill(kind: FleetKind, id: string): Promise<number | undefined> {
    const slot = kind === 'storage' ? this.storage.get(id) : this.instances.get(id);
    const process = slot && this.#children.get(slot);
    if (!process?.running || slot?.process !== process) return undefined;
    const pid = process.pid;
    await process.kill();
    return pid;
  }

  /**
   * A Global Database secondary promoted to primary: its writer slot runs the writer from now on, and
   * the first one opens with --global-promotion (LSNs from far above the volume's highest, ADR 016).
   */
  promoteToWriter(lsnFloor = '0'): void {
    delete this.options.writerEntry;
    this.#nextWriterArgs = ['--global-promotion', '--global-promotion-floor', lsnFloor];
  }

  /**
   * A Global Database primary demoted to secondary (switchover, rejoin): its writer slot runs `entry`,
   * the replica applier, from the next start on; the warm standby writers go at that start.
   */
  demoteToApplier(entry: string): void {
    this.options.writerEntry = entry;
    this.#nextWriterArgs = [];
  }

  async replaceInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<InstanceEndpoints> {
    await this.stopInstance(id);
    return this.startInstance(id, role, writerRedo);
  }

  async stopAll(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#standbyTimer);
    const standbys = this.#standbys;
    this.#standbys = [];
    this.#standbysLoaded.clear();
    for (const slot of this.instances.values()) if (slot.process?.running) slot.state = 'stopping';
    await Promise.all([
      ...[...this.#children.values()].map((p) => p.stop()),
      ...[...this.#spawning].map((p) => p.catch(() => undefined)),
      ...[...this.#activating].map((p) => p.stop()),
      ...standbys.map((p) => p.stop()),
    ]);
  }

  /** The pid of the loaded standby writer the next writer start takes (status, tests). */
  get standbyWriterPid(): number | undefined {
    return this.#nextLoadedStandby()?.pid;
  }

  get standbyWriterPids(): readonly number[] {
    return this.#loadedStandbys().map((p) => p.pid!);
  }

  /** Loaded and still running, oldest first: the next writer start takes the first. */
  #loadedStandbys(): StandbyProcess[] {
    return this.#standbys.filter((p) => this.#standbysLoaded.has(p) && p.running);
  }

  #nextLoadedStandby(): StandbyProcess | undefined {
    return this.#loadedStandbys()[0];
  }

  #dropStandby(standby: StandbyProcess): void {
    this.#standbys = this.#standbys.filter((p) => p !== standby);
    this.#standbysLoaded.delete(standby);
  }

  #standbyWanted(): boolean {
    return (
      this.options.writerStandby === true &&
      this.options.writerEntry === undefined &&
      this.options.placement === undefined &&
      !this.#stopped
    );
  }

  /**
   * A standby writer, taken at once (two starts never get the same one): a loaded one, else the oldest
   * still loading, waited for a while (sooner than a new start); one that died or hangs is dropped:
   * none then.
   */
  async #takeStandby(): Promise<StandbyProcess | undefined> {
    if (!this.#standbyWanted()) {
      for (const p of this.#standbys) void p.stop();
      this.#standbys = [];
      this.#standbysLoaded.clear();
      return undefined;
    }
    const standby = this.#nextLoadedStandby() ?? this.#standbys[0];
    if (!standby) return undefined;
    this.#dropStandby(standby);
    this.#standbysWanted = standbysAfterFirstUse;
    let timer: NodeJS.Timeout | undefined;
    const loaded = await Promise.race([
      standby.loaded.then(
        () => true,
        () => false,
      ),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), standbyTakeWaitMs);
      }),
    ]);
    clearTimeout(timer);
    if (loaded && standby.running) return standby;
    void standby.stop();
    return undefined;
  }

  /** A taken standby becomes the instance; tracked until ready so stopAll stops it too. */
  async #activate(standby: StandbyProcess, options: Parameters<StandbyProcess['activate']>[0]) {
    this.#activating.add(standby);
    try {
      return await standby.activate(options);
    } finally {
      this.#activating.delete(standby);
    }
  }

  #scheduleStandby(): void {
    clearTimeout(this.#standbyTimer);
    if (!this.#standbyWanted()) return;
    this.#standbyTimer = setTimeout(() => {
      if (!this.#standbyWanted() || this.#standbys.length >= this.#standbysWanted) return;
      // One loads at a time (each is ~1.3 s of CPU); the next is scheduled when it has loaded.
      if (this.#standbys.some((p) => !this.#standbysLoaded.has(p))) return;
      const standby = new StandbyProcess('standby-writer', {
        entry: entries.writer,
        logFile: this.logFile('standby-writer'),
      });
      this.#standbys.push(standby);
      standby.loaded.then(
        () => {
          if (!this.#standbys.includes(standby)) return;
          this.#standbysLoaded.add(standby);
          this.#scheduleStandby();
        },
        () => {
          // It died or hung while loading: the next writer start spawns one of its own.
          this.#dropStandby(standby);
          void standby.stop();
        },
      );
      // Gone while waiting (killed by hand, or it crashed): the next writer start spawns.
      void standby.started.exited.then(() => this.#dropStandby(standby));
    }, standbyDelayMs);
    this.#standbyTimer.unref();
  }

  /**
   * spawnProcess, tracked until ready: a process that becomes ready after stopAll began (a reader a
   * failover or backtrack was restarting) is stopped at once instead of outliving the fleet.
   */
  async #spawn(options: Parameters<typeof spawnProcess>[0]): Promise<ManagedProcess> {
    if (this.#stopped) throw new Error(`fleet stopped: ${options.name} not started`);
    const spawning = spawnProcess(options);
    this.#spawning.add(spawning);
    try {
      const process = await spawning;
      if (this.#stopped) {
        await process.stop();
        throw new Error(`fleet stopped while ${options.name} started`);
      }
      return process;
    } finally {
      this.#spawning.delete(spawning);
    }
  }
}
