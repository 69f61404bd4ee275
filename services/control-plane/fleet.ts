// The fleet: what the control plane needs from wherever a cluster's processes run — start a storage
// node, start an instance as writer or reader (resolving with its advertised endpoints), stop it,
// kill it as a crash, replace it, and hear when one exits on its own. Two implementations: local
// processes on this machine (local-fleet.ts: `npm start`, tests) and ECS tasks (ecs-fleet.ts:
// compute=ecs). Decisions (who is writer, when to fail over) live in controller.ts.
import { assert } from '../../core/assert.ts';
import type { InstanceRole, InstanceState } from '../../core/cluster/topology.ts';
import { hostPort, httpUrl } from '../../core/process/address-flags.ts';
import type { StorageNodeAddress } from '../../core/volume.ts';

export type HealthDoc = { healthy: boolean; [key: string]: unknown };

/** One running incarnation of a storage node or instance: a local process or an ECS task. */
export interface FleetProcess {
  readonly running: boolean;
  /** The OS process id (local), or null (an ECS task has none: see `task`). */
  readonly pid: number | null;
  /** What it announced once it served (local: its ready line; ECS: its first healthy /health). */
  readonly ready: Record<string, unknown>;
  /** The ECS task ARN, when it is one. */
  readonly task?: string;
}

interface Tracked {
  process: FleetProcess | undefined;
  /** Last /health answer and when it came; a process that stops answering is declared failed. */
  health: HealthDoc | undefined;
  lastHealthyAt: number;
}

export interface StorageSlot extends Tracked {
  /** Where peers, instances and the control plane reach it (the volume config's host and ports). */
  node: StorageNodeAddress;
  starting: boolean;
}

export interface InstanceSlot extends Tracked {
  id: string;
  az: string;
  tier: number;
  /** Set when created through the RDS API: its DBInstanceIdentifier (the id itself). */
  rdsIdentifier?: string;
  role: InstanceRole;
  state: InstanceState;
  incarnation: number;
  restarts: number;
  /** The advertised address of the current process, and its Data API, redo stream (writers) and HTTP ports. */
  host: string | null;
  port: number | null;
  redoPort: number | null;
  httpPort: number | null;
  /** When a down instance is brought back (as a reader). */
  restartAt: number | undefined;
}

/** Where a started instance serves: its advertised host and ports. */
export interface InstanceEndpoints {
  host: string;
  port: number;
  redoPort: number | null;
  httpPort: number;
}

export type FleetKind = 'storage' | 'instance';

/** Called when a process exits on its own (or is killed as a crash), never for a stop the fleet asked. */
export type ExitListener = (
  kind: FleetKind,
  id: string,
  info: { code: number | null; signal: string | null },
) => void;

export interface Fleet {
  readonly storage: Map<string, StorageSlot>;
  readonly instances: Map<string, InstanceSlot>;
  storageSlot(id: string): StorageSlot | undefined;
  instance(id: string): InstanceSlot | undefined;
  /** Starts a storage node (no-op if it runs or is starting); resolves once it serves. */
  startStorage(id: string): Promise<void>;
  /**
   * Starts an instance as writer or reader (a reader needs the writer's redo address, HOST:PORT).
   * Resolves with its advertised endpoints once it serves; rejects if it exits first (a writer
   * that cannot reach a write quorum gives up and exits).
   */
  startInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<InstanceEndpoints>;
  /** A deliberate stop (promotion, planned failover, shutdown): no exit notification. */
  stopInstance(id: string, graceMs?: number): Promise<void>;
  /**
   * A crash (SIGKILL, or an ECS StopTask): the exit is reported through the exit listener like any
   * failure. Resolves with the pid (null for an ECS task), or undefined when nothing ran.
   */
  kill(kind: FleetKind, id: string): Promise<number | null | undefined>;
  /** A new instance slot, down until started (CreateDBInstance); the id must be new. */
  addInstance(i: { id: string; az: string; tier: number; rdsIdentifier?: string }): InstanceSlot;
  /** Stops an instance (cleanly) and forgets its slot (DeleteDBInstance). */
  removeInstance(id: string): Promise<void>;
  /** Stops an instance and starts it again in the given role: a new incarnation, new endpoints. */
  replaceInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<InstanceEndpoints>;
  stopAll(): Promise<void>;
  /** The pid of the loaded warm standby writer the next writer start takes (ADR 019), if any. */
  readonly standbyWriterPid?: number | undefined;
  /** Every loaded warm standby writer's pid, next to be taken first. */
  readonly standbyWriterPids?: readonly number[];
}

/** A reset slot for a fresh start of an instance (shared by the implementations). */
export function beginInstanceStart(slot: InstanceSlot, role: InstanceRole, incarnation: number): void {
  slot.role = role;
  slot.state = 'starting';
  slot.restartAt = undefined;
  slot.health = undefined;
  slot.host = null;
  slot.port = slot.redoPort = slot.httpPort = null;
  slot.incarnation = incarnation;
  slot.restarts++;
}

/** A new slot in `instances`, down until started (CreateDBInstance); the id must be new. */
export function addInstanceSlot(
  instances: Map<string, InstanceSlot>,
  i: { id: string; az: string; tier: number; rdsIdentifier?: string },
): InstanceSlot {
  assert(!instances.has(i.id), () => `instance ${i.id} exists already`);
  const slot = newInstanceSlot(i);
  instances.set(i.id, slot);
  return slot;
}

export function newInstanceSlot(i: {
  id: string;
  az: string;
  tier: number;
  rdsIdentifier?: string;
}): InstanceSlot {
  return {
    ...i,
    role: 'reader',
    state: 'down',
    incarnation: 0,
    restarts: -1,
    host: null,
    port: null,
    redoPort: null,
    httpPort: null,
    process: undefined,
    health: undefined,
    lastHealthyAt: 0,
    restartAt: undefined,
  };
}

export function newStorageSlot(node: StorageNodeAddress): StorageSlot {
  return { node, process: undefined, health: undefined, lastHealthyAt: 0, starting: false };
}

/** The Data API URL clients (the proxy) use for this instance, or null while it has none. */
export function instanceEndpoint(slot: InstanceSlot): string | null {
  return slot.port === null ? null : httpUrl(slot.host ?? '127.0.0.1', slot.port);
}

/** The writer's redo stream as readers connect to it (HOST:PORT), or undefined. */
export function instanceRedoAddress(slot: InstanceSlot): string | undefined {
  return slot.redoPort ? hostPort(slot.host ?? '127.0.0.1', slot.redoPort) : undefined;
}

export function storageRunning(slot: StorageSlot): boolean {
  return slot.process?.running ?? false;
}
