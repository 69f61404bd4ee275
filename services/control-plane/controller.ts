// The control plane's decisions: health checks of every instance and storage node, failover of the
// writer (promote the reader with the lowest tier, ties by least lag; with no reader, a new writer
// on the volume), failed instances brought back as readers, readers pointed at the new writer, and
// the topology the proxy routes by. Opening the volume as writer bumps the epoch on storage — that
// is what fences the old writer, so the control plane needs no consensus of its own.
import { assert } from '../../core/assert.ts';
import {
  type ClusterEndpoints,
  type ClusterStatus,
  controlPlaneRoutes,
  type FailoverEvent,
  type InstanceEvent,
  type InstanceStatus,
  type RestoreProgress,
  type StorageNodeLogStatus,
  type StorageNodeStatus,
  type TopologyReader,
} from '../../core/cluster/topology.ts';
import { instancesPerClusterMax } from '../../core/limits.ts';
import type { Logger } from '../../core/log.ts';
import { mysqlAccount } from '../../core/mysql/instance.ts';
import { httpUrl } from '../../core/process/address-flags.ts';
import { failoverTarget, silentProcesses } from './decisions.ts';
import {
  type Fleet,
  type HealthDoc,
  type InstanceSlot,
  instanceEndpoint,
  instanceRedoAddress,
  storageRunning,
} from './fleet.ts';
import { HealthProber } from './health-probe.ts';
import type { TopologyContent, TopologyPublisher } from './topology-publisher.ts';

export interface ControllerOptions {
  fleet: Fleet;
  logger: Logger;
  cluster: string;
  region: string;
  resourceArn: string;
  secretArn: string;
  /** How often each process is asked for /health (a probe still in flight is not sent again). */
  healthIntervalMs: number;
  healthTimeoutMs: number;
  /** A process that has not answered /health for this long is declared failed (and SIGKILLed). */
  failureThresholdMs: number;
  /** How long a failed instance stays down before it comes back as a reader. */
  restartDelayMs: number;
  /**
   * Planned failover: the most it waits for the proxy to take the topology without a writer before the
   * old writer stops (which finishes statements in flight itself); a long-polling proxy says sooner.
   */
  drainMs: number;
  /**
   * A failed writer slot starts again in place instead of promoting a reader: a Global Database
   * secondary's replica applier (--global-secondary) holds nothing a reader could take over, and its
   * readers must keep serving the secondary's reads meanwhile.
   */
  restartWriterInPlace?: () => boolean;
  /** A Global Database member's role now, published in the topology (undefined: not a member). */
  globalRole?: () => 'primary' | 'secondary' | undefined;
  onEvent?: (event: FailoverEvent) => void;
  /** Called after an instance was added or removed (the control plane persists the set). */
  onInstancesChanged?: () => void;
}

export class ControlPlaneError extends Error {
  constructor(
    readonly code: 'NotFound' | 'BadRequest' | 'Conflict' | 'Unavailable',
    message: string,
  ) {
    super(message);
  }
}

const failoversKept = 20;
/** Instance ids the control plane takes (an RDS instance identifier is one). */
const instanceIdPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** Where a new instance goes when not told: the AZ with the fewest instances (the first on a tie). */
export function leastUsedAz(azs: readonly string[], used: readonly string[]): string {
  assert(azs.length > 0, 'a cluster spans at least one AZ');
  const count = (az: string) => used.filter((u) => u === az).length;
  return azs.reduce((best, az) => (count(az) < count(best) ? az : best));
}
const topologyLagStepMs = 50;

/** What a health probe reads and writes of a storage or instance slot. */
type Probed = {
  process?: { running: boolean } | undefined;
  health: HealthDoc | undefined;
  lastHealthyAt: number;
};

export class Controller {
  readonly fleet: Fleet;
  #publisher: TopologyPublisher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failover: Promise<FailoverEvent | undefined> | undefined;
  #stopping = false;
  #failingOver = false;
  #epoch = '0';
  #endpoints: ClusterEndpoints = { writer: null, reader: null };
  #controlPlaneUrl: string | undefined;
  readonly failovers: FailoverEvent[] = [];
  /** The last instance changes (RDS events), bounded as failovers are. */
  readonly instanceEvents: InstanceEvent[] = [];
  /** Progress of the restore that creates this cluster, while and after it runs. */
  restore: RestoreProgress | undefined;
  readonly #retargetedAt = new Map<string, number>();
  readonly #prober = new HealthProber();
  /** Processes (their slots) with a /health request in flight: a hung one holds its probe until the timeout. */
  readonly #probing = new Set<Probed>();
  /** Instances being added, deleted or rebooted: one change per instance at a time. */
  readonly #changing = new Set<string>();

  constructor(private readonly options: ControllerOptions) {
    this.fleet = options.fleet;
    assert(
      options.healthIntervalMs > 0 && options.healthIntervalMs < options.failureThresholdMs,
      () =>
        `the health interval (${options.healthIntervalMs} ms) must be under the failure threshold (${options.failureThresholdMs} ms)`,
    );
  }

  get writer(): InstanceSlot | undefined {
    for (const slot of this.fleet.instances.values()) {
      if (slot.role === 'writer' && slot.state === 'running') return slot;
    }
    return undefined;
  }

  get failoverInProgress(): boolean {
    return this.#failingOver;
  }

  attach(publisher: TopologyPublisher): void {
    this.#publisher = publisher;
  }

  start(): void {
    // Silence is judged from the last healthy answer, but nobody asked before now: a process that
    // became ready while the rest of the fleet was still starting (seconds, on a loaded machine) must
    // not count that wait as silence — it was killed one round after start, a spurious failover.
    const now = Date.now();
    for (const slot of [...this.fleet.storage.values(), ...this.fleet.instances.values()]) {
      if (slot.process?.running) slot.lastHealthyAt = Math.max(slot.lastHealthyAt, now);
    }
    this.#timer = setInterval(() => void this.#tick(), this.options.healthIntervalMs);
  }

  /**
   * Stops every reader at once (a short grace: a reader has nothing to flush) and brings each back as
   * soon as a writer serves: their caches and read points hold history the volume no longer has (a
   * Global Database member discarding its lost suffix).
   */
  async stopReaders(graceMs = 300): Promise<void> {
    const readers = [...this.fleet.instances.values()].filter(
      (s) => s.role === 'reader' && s.state !== 'down',
    );
    await Promise.all(readers.map((slot) => this.fleet.stopInstance(slot.id, graceMs)));
    for (const slot of readers) slot.restartAt = Date.now();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#prober.close();
    await this.fleet.stopAll();
  }

  /** The proxy's endpoints (the RDS API's, registered on its own, stays). */
  setEndpoints(endpoints: ClusterEndpoints): void {
    this.#endpoints = {
      ...endpoints,
      ...(this.#endpoints.rds !== undefined && { rds: this.#endpoints.rds }),
    };
  }

  setRdsEndpoint(url: string): void {
    this.#endpoints = { ...this.#endpoints, rds: url };
  }

  /** The control plane's own API URL, published in the topology once it serves (with the volume's URL). */
  setControlPlaneUrl(url: string): void {
    this.#controlPlaneUrl = url;
  }

  /**
   * Starts the cluster: every storage node, then `beforeInstances` (a restore hydrates the volume
   * there), the writer (recovers the volume), then the readers.
   */
  async bootstrap(writerId: string, beforeInstances?: () => Promise<void>): Promise<void> {
    const log = this.options.logger;
    await Promise.all([...this.fleet.storage.keys()].map((id) => this.fleet.startStorage(id)));
    log.info('storage nodes up');
    await beforeInstances?.();
    const started = performance.now();
    await this.#startWriter(writerId);
    log.info({ writer: writerId, ms: Math.round(performance.now() - started) }, 'writer open');
    const writerRedo = this.#writerRedo()!;
    await Promise.all(
      [...this.fleet.instances.values()]
        .filter((s) => s.id !== writerId)
        .map((s) => this.fleet.startInstance(s.id, 'reader', writerRedo)),
    );
    this.publish();
  }

  /** Recomputes the topology from the fleet and publishes it if it changed. */
  publish(): void {
    this.#publisher?.update(this.#topology());
    this.#publisher?.retryPending();
  }

  #writerRedo(): string | undefined {
    const w = this.writer;
    return w ? instanceRedoAddress(w) : undefined;
  }

  #topology(): TopologyContent {
    const writer = this.failoverInProgress ? undefined : this.writer;
    const readers: TopologyReader[] = [...this.fleet.instances.values()]
      .filter((s) => s.role === 'reader' && s.state === 'running')
      .map((s) => ({
        id: s.id,
        endpoint: instanceEndpoint(s)!,
        incarnation: s.incarnation,
        healthy: s.health?.healthy === true,
        // In 50 ms steps: the proxy treats closer lags as equal, and an exact figure would publish a
        // new topology version (file, SSM, every long-poll) at every health check under load.
        lagMs:
          typeof s.health?.lagMs === 'number'
            ? Math.round(s.health.lagMs / topologyLagStepMs) * topologyLagStepMs
            : null,
      }));
    return {
      cluster: this.options.cluster,
      region: this.options.region,
      epoch: this.#epoch,
      writer: writer
        ? {
            id: writer.id,
            endpoint: instanceEndpoint(writer)!,
            redo: instanceRedoAddress(writer)!,
            incarnation: writer.incarnation,
            ...(writerHttpUrl(writer) === null ? {} : { httpUrl: writerHttpUrl(writer)! }),
          }
        : null,
      readers,
      failoverInProgress: this.failoverInProgress,
      ...(this.options.globalRole?.() === undefined ? {} : { globalRole: this.options.globalRole()! }),
      resourceArn: this.options.resourceArn,
      secretArn: this.options.secretArn,
      // What deployed functions need to find the cluster (core/cluster/topology-store.ts).
      ...(this.#controlPlaneUrl === undefined
        ? {}
        : {
            controlPlaneUrl: this.#controlPlaneUrl,
            volumeUrl: new URL(controlPlaneRoutes.volume, this.#controlPlaneUrl).toString(),
          }),
      endpoints: { ...this.#endpoints },
    };
  }

  // --- the control loop --------------------------------------------------------------------------
  //
  // One round per healthIntervalMs: first the silence verdicts (from when each process last answered
  // healthy, so a hung process's probe timing out does not delay them), then a /health probe to every
  // process not already being asked, then — on the fresh answers — reconcile and publish. A crashed
  // process needs no round: its exit is seen at once (onExit).

  async #tick(): Promise<void> {
    if (this.#stopping) return;
    try {
      this.#judgeSilence(Date.now());
      await this.#probeAll();
      if (this.#stopping) return;
      const epoch = this.writer?.health?.epoch;
      if (typeof epoch === 'string' && !this.failoverInProgress) this.#epoch = epoch;
      this.#reconcile();
      this.publish();
    } catch (error) {
      this.options.logger.error({ err: (error as Error).message }, 'control loop failed');
    }
  }

  /** A round now rather than at the next interval: a process just started shows in status and topology. */
  #roundSoon(): void {
    if (this.#timer !== undefined && !this.#stopping) void this.#tick();
  }

  /** Processes silent (no healthy answer) for failureThresholdMs: instances killed, storage reported. */
  #judgeSilence(now: number): void {
    const verdicts = silentProcesses(
      [...this.fleet.storage.values()].map((s) => ({ ...s, id: s.node.id })),
      [...this.fleet.instances.values()],
      now,
      this.options.failureThresholdMs,
    );
    for (const id of verdicts.storageToReport) {
      // A slow storage node is only reported: the quorum tolerates it, and killing a node that is
      // merely busy (coalescing a backlog) could turn one slow node into a lost quorum.
      const slot = this.fleet.storageSlot(id)!;
      this.options.logger.warn({ node: id }, 'storage node stopped answering');
      slot.health = { ...slot.health!, healthy: false };
    }
    for (const id of verdicts.instancesToKill) {
      const slot = this.fleet.instance(id)!;
      // Fail-stop: a hung instance is killed so it can never serve again (a hung writer is also
      // fenced by the next writer's epoch, but a process we gave up on must not linger).
      this.options.logger.warn(
        { instance: slot.id, role: slot.role },
        'instance stopped answering: killing it',
      );
      this.fleet
        .kill('instance', slot.id)
        .catch((error: Error) =>
          this.options.logger.error(
            { instance: slot.id, err: error.message },
            'could not kill a silent instance',
          ),
        );
    }
  }

  async #probeAll(): Promise<void> {
    const probes: Promise<void>[] = [];
    for (const slot of this.fleet.storage.values()) {
      probes.push(this.#probe(slot, slot.node.host, slot.node.httpPort));
    }
    for (const slot of this.fleet.instances.values()) {
      if (slot.state === 'running') probes.push(this.#probe(slot, slot.host, slot.httpPort));
    }
    await Promise.all(probes);
  }

  async #probe(slot: Probed, host: string | null, httpPort: number | null): Promise<void> {
    const process = slot.process;
    if (!process?.running || host === null || httpPort === null || this.#probing.has(slot)) return;
    this.#probing.add(slot);
    try {
      const health = await this.#prober.probe(httpPort, this.options.healthTimeoutMs, host);
      if (slot.process !== process) return; // restarted meanwhile: the answer was the old process's
      slot.health = health;
      if (health.healthy === true) slot.lastHealthyAt = Date.now();
    } catch {
      // No answer: judged against failureThresholdMs in the coming rounds.
    } finally {
      this.#probing.delete(slot);
    }
  }

  #reconcile(): void {
    const writer = this.writer;
    if (!writer && !this.failoverInProgress) {
      void this.failover({ planned: false, reason: 'no writer is running' });
      return;
    }
    if (!writer || this.failoverInProgress) return;
    const writerRedo = this.#writerRedo()!;
    const now = Date.now();
    for (const slot of this.fleet.instances.values()) {
      if (
        slot.state === 'down' &&
        slot.restartAt !== undefined &&
        slot.restartAt <= now &&
        // One being deleted (or added, rebooted) is the change's own business.
        !this.#changing.has(slot.id)
      ) {
        slot.restartAt = undefined;
        this.options.logger.info({ instance: slot.id }, 'bringing a failed instance back as a reader');
        this.fleet.startInstance(slot.id, 'reader', writerRedo).then(
          () => this.#roundSoon(),
          (error: Error) => {
            this.options.logger.error({ instance: slot.id, err: error.message }, 'reader restart failed');
            slot.restartAt = Date.now() + this.options.restartDelayMs;
          },
        );
      }
      // Readers follow the writer's redo stream; after a failover each is pointed at the new one.
      if (
        slot.role === 'reader' &&
        slot.state === 'running' &&
        slot.health !== undefined &&
        slot.health.writerRedo !== writerRedo &&
        now - (this.#retargetedAt.get(slot.id) ?? 0) > 1_000
      ) {
        this.#retargetedAt.set(slot.id, now);
        void fetch(`${httpUrl(slot.host!, slot.httpPort!)}/admin/writer-redo`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ writerRedo }),
          signal: AbortSignal.timeout(this.options.healthTimeoutMs),
        }).catch(() => undefined);
      }
    }
  }

  /** A process exited without being asked to (crash, SIGKILL, fenced writer). */
  onExit(
    kind: 'storage' | 'instance',
    id: string,
    info: { code: number | null; signal: string | null },
  ): void {
    if (this.#stopping) return;
    const log = this.options.logger;
    if (kind === 'storage') {
      log.warn({ node: id, ...info }, 'storage node exited');
      this.publish();
      return;
    }
    const slot = this.fleet.instance(id);
    if (!slot) return; // deleted meanwhile (DeleteDBInstance): nothing to bring back
    log.warn({ instance: id, role: slot.role, ...info }, 'instance exited');
    slot.restartAt = Date.now() + this.options.restartDelayMs;
    if (slot.role === 'writer') {
      void this.failover({
        planned: false,
        reason: `writer ${id} failed`,
        ...(this.options.restartWriterInPlace?.() && { target: id }),
      });
    }
    this.publish();
  }

  // --- failover ------------------------------------------------------------------------------------

  /**
   * Makes another instance the writer. Unplanned: the writer is gone. Planned: once the proxy holds
   * new requests (at most `drainMs`), the old writer stops cleanly, finishing statements in flight.
   * Concurrent calls share the failover in progress.
   */
  failover(request: {
    planned: boolean;
    reason: string;
    target?: string;
    /** An instance never to promote (the writer being deleted). */
    exclude?: string;
    /** Runs once no writer is open and before the new one starts (backtrack's storage work, ADR 015). */
    beforeStart?: () => Promise<void>;
  }): Promise<FailoverEvent | undefined> {
    if (this.#failover) return this.#failover;
    this.#failingOver = true;
    const run = this.#runFailover(request).finally(() => {
      this.#failingOver = false;
      this.#failover = undefined;
      this.publish();
      // The new writer's health and the readers' retargeting now, not at the next interval.
      this.#roundSoon();
    });
    this.#failover = run;
    return run;
  }

  async #runFailover(request: {
    planned: boolean;
    reason: string;
    target?: string;
    exclude?: string;
    beforeStart?: () => Promise<void>;
  }): Promise<FailoverEvent | undefined> {
    const log = this.options.logger;
    const started = performance.now();
    const old = [...this.fleet.instances.values()].find((s) => s.role === 'writer' && s.state !== 'down');
    const from = old?.id ?? [...this.fleet.instances.values()].find((s) => s.role === 'writer')?.id ?? null;
    this.publish(); // writer: null — the proxy holds requests from here on
    if (request.planned && old) {
      // Once the proxy has the topology without a writer it holds new requests; statements it sent
      // before finish on the old writer, whose clean stop waits for them (bounded). A follower that
      // cannot confirm (none long-polling: SSM, the file) gets the whole drainMs, as before.
      const version = this.#publisher?.current.version;
      const taken = version !== undefined && (await this.#publisher!.taken(version, this.options.drainMs));
      if (!taken)
        await new Promise((r) => setTimeout(r, this.options.drainMs - (performance.now() - started)));
      await this.fleet.stopInstance(old.id);
      old.restartAt = Date.now(); // a planned failover brings the old writer back as a reader at once
    }
    await request.beforeStart?.();
    for (let attempt = 1; !this.#stopping; attempt++) {
      const target = this.#chooseTarget(request.target, from, request.exclude);
      if (!target) {
        log.error('no instance can become the writer; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
        continue;
      }
      log.warn({ from, to: target, reason: request.reason, attempt }, 'failover: promoting');
      try {
        await this.fleet.stopInstance(target);
        await this.#startWriter(target);
      } catch (error) {
        // E.g. no write quorum yet (an AZ and a node down): the writer gives up and exits; try again.
        log.error({ target, err: (error as Error).message }, 'failover: the new writer did not open');
        // It comes back as a reader once a writer serves (or is chosen again while none can).
        this.fleet.instance(target)!.restartAt = Date.now() + this.options.restartDelayMs;
        request.target = undefined;
        await new Promise((r) => setTimeout(r, 500));
        continue;
      }
      const event: FailoverEvent = {
        at: new Date().toISOString(),
        kind: request.planned ? 'planned' : from === target ? 'restart' : 'unplanned',
        from,
        to: target,
        reason: request.reason,
        durationMs: Math.round(performance.now() - started),
        epoch: this.#epoch,
      };
      this.failovers.push(event);
      if (this.failovers.length > failoversKept) this.failovers.shift();
      log.warn(event, 'failover complete');
      this.options.onEvent?.(event);
      return event;
    }
    return undefined;
  }

  async #startWriter(id: string): Promise<void> {
    await this.fleet.startInstance(id, 'writer');
    const slot = this.fleet.instance(id)!;
    const ready = slot.process!.ready as Record<string, unknown>;
    if (typeof ready.epoch === 'string') this.#epoch = ready.epoch;
    this.#retargetedAt.clear();
  }

  /**
   * The instance to promote: the asked target, else the best healthy reader by tier and lag, else
   * (no reader) a new writer on the volume — in the failed writer's slot if nothing else is free.
   */
  #chooseTarget(asked: string | undefined, from: string | null, exclude?: string): string | undefined {
    return failoverTarget(
      [...this.fleet.instances.values()].filter((s) => s.id !== exclude),
      asked,
      from,
    );
  }

  // --- operator actions (the CLI through the HTTP API) ---------------------------------------------

  async kill(target: { node?: string; az?: string; writer?: boolean; instance?: string }) {
    const killed: { id: string; pid: number | null }[] = [];
    const killOne = async (kind: 'storage' | 'instance', id: string) => {
      const pid = await this.fleet.kill(kind, id);
      if (pid !== undefined) killed.push({ id, pid });
    };
    if (target.node !== undefined) {
      if (!this.fleet.storageSlot(target.node))
        throw new ControlPlaneError('NotFound', `no storage node ${target.node}`);
      if (!storageRunning(this.fleet.storageSlot(target.node)!)) {
        throw new ControlPlaneError('Conflict', `storage node ${target.node} is not running`);
      }
      await killOne('storage', target.node);
    } else if (target.instance !== undefined) {
      const slot = this.fleet.instance(target.instance);
      if (!slot) throw new ControlPlaneError('NotFound', `no instance ${target.instance}`);
      if (!slot.process?.running)
        throw new ControlPlaneError('Conflict', `instance ${target.instance} is not running`);
      await killOne('instance', target.instance);
    } else if (target.writer === true) {
      const writer = this.writer;
      if (!writer)
        throw new ControlPlaneError('Conflict', 'no writer is running (a failover is in progress)');
      await killOne('instance', writer.id);
    } else if (target.az !== undefined) {
      const az = target.az;
      const nodes = [...this.fleet.storage.values()].filter((s) => s.node.az === az);
      const instances = [...this.fleet.instances.values()].filter((s) => s.az === az);
      if (nodes.length === 0 && instances.length === 0) {
        const azs = [...new Set([...this.fleet.storage.values()].map((s) => s.node.az))].join(', ');
        throw new ControlPlaneError('NotFound', `no AZ ${az} (the cluster spans ${azs})`);
      }
      // An AZ fails at once: every process in it together.
      await Promise.all([
        ...nodes.map((s) => killOne('storage', s.node.id)),
        ...instances.map((s) => killOne('instance', s.id)),
      ]);
    } else {
      throw new ControlPlaneError('BadRequest', 'name one target: node, az, writer or instance');
    }
    return { killed };
  }

  async startProcess(target: {
    node?: string;
    instance?: string;
  }): Promise<{ started: string; role: string }> {
    if (target.node !== undefined) {
      const slot = this.fleet.storageSlot(target.node);
      if (!slot) throw new ControlPlaneError('NotFound', `no storage node ${target.node}`);
      if (storageRunning(slot))
        throw new ControlPlaneError('Conflict', `storage node ${target.node} already runs`);
      await this.fleet.startStorage(target.node);
      this.publish();
      this.#roundSoon();
      return { started: target.node, role: 'storage' };
    }
    if (target.instance !== undefined) {
      const slot = this.fleet.instance(target.instance);
      if (!slot) throw new ControlPlaneError('NotFound', `no instance ${target.instance}`);
      if (slot.state !== 'down') {
        throw new ControlPlaneError('Conflict', `instance ${target.instance} is ${slot.state}, not down`);
      }
      const writerRedo = this.#writerRedo();
      if (!writerRedo || this.failoverInProgress) {
        throw new ControlPlaneError(
          'Unavailable',
          'no writer yet (failover in progress): it comes back on its own',
        );
      }
      slot.restartAt = undefined;
      await this.fleet.startInstance(slot.id, 'reader', writerRedo);
      this.publish();
      this.#roundSoon();
      return { started: slot.id, role: 'reader' };
    }
    throw new ControlPlaneError('BadRequest', 'name one target: node or instance');
  }

  async plannedFailover(target: string | undefined): Promise<FailoverEvent> {
    if (this.failoverInProgress) throw new ControlPlaneError('Conflict', 'a failover is already in progress');
    const writer = this.writer;
    if (!writer) throw new ControlPlaneError('Unavailable', 'no writer is running');
    if (target !== undefined) {
      const slot = this.fleet.instance(target);
      if (!slot) throw new ControlPlaneError('NotFound', `no instance ${target}`);
      if (slot.id === writer.id) throw new ControlPlaneError('BadRequest', `${target} is already the writer`);
      if (slot.state !== 'running')
        throw new ControlPlaneError('Conflict', `instance ${target} is ${slot.state}`);
    } else if (
      ![...this.fleet.instances.values()].some((s) => s.role === 'reader' && s.state === 'running')
    ) {
      throw new ControlPlaneError('Conflict', 'no running reader to fail over to');
    }
    const event = await this.failover({ planned: true, reason: 'planned failover', target });
    if (!event) throw new ControlPlaneError('Unavailable', 'the control plane is stopping');
    return event;
  }

  // --- instances (the RDS API's CreateDBInstance, DeleteDBInstance, RebootDBInstance) ------------

  /**
   * A new reader (CreateDBInstance): its slot at once, its process started now if a writer serves
   * (else by the control loop once one does). Refusals carry RDS's error names.
   */
  async addInstance(spec: { id: string; tier: number; az?: string }): Promise<InstanceStatus> {
    const { id, tier } = spec;
    if (!instanceIdPattern.test(id))
      throw new ControlPlaneError('BadRequest', `InvalidParameterValue: bad instance id ${id}`);
    if (!Number.isInteger(tier) || tier < 0 || tier > 15)
      throw new ControlPlaneError(
        'BadRequest',
        `InvalidParameterValue: PromotionTier must be 0-15, got ${tier}`,
      );
    if (this.fleet.instance(id) || this.#changing.has(id))
      throw new ControlPlaneError('Conflict', `DBInstanceAlreadyExistsFault: instance ${id} already exists`);
    if (this.fleet.instances.size >= instancesPerClusterMax) {
      throw new ControlPlaneError(
        'Conflict',
        `InstanceQuotaExceededFault: a cluster has at most ${instancesPerClusterMax} instances (a writer and 15 readers)`,
      );
    }
    const azs = [...new Set([...this.fleet.storage.values()].map((s) => s.node.az))].sort();
    const az =
      spec.az ??
      leastUsedAz(
        azs,
        [...this.fleet.instances.values()].map((s) => s.az),
      );
    if (!azs.includes(az))
      throw new ControlPlaneError(
        'BadRequest',
        `InvalidParameterValue: AvailabilityZone ${az} is not one of ${azs.join(', ')}`,
      );
    this.fleet.addInstance({ id, az, tier, rdsIdentifier: id });
    this.options.onInstancesChanged?.();
    this.options.logger.info({ instance: id, az, tier }, 'instance added');
    this.#noteInstanceEvent('created', id);
    const writerRedo = this.#writerRedo();
    if (writerRedo && !this.failoverInProgress) {
      this.#changing.add(id);
      this.fleet
        .startInstance(id, 'reader', writerRedo)
        .then(
          () => this.#roundSoon(),
          (error: Error) => {
            this.options.logger.error({ instance: id, err: error.message }, 'new reader did not start');
            const slot = this.fleet.instance(id);
            if (slot) slot.restartAt = Date.now() + this.options.restartDelayMs;
          },
        )
        .finally(() => this.#changing.delete(id));
    } else {
      this.fleet.instance(id)!.restartAt = Date.now();
    }
    this.publish();
    return this.status().instances.find((i) => i.id === id)!;
  }

  /**
   * Deletes an instance (DeleteDBInstance). The writer is failed over first (planned: to the reader
   * Aurora would pick), as Aurora does; the last instance of a cluster is refused.
   */
  async removeInstance(id: string): Promise<{ removed: string }> {
    const slot = this.fleet.instance(id);
    if (!slot) throw new ControlPlaneError('NotFound', `DBInstanceNotFoundFault: no instance ${id}`);
    // One starting or stopping has a process on its way: deleting its slot now would orphan it.
    if (this.#changing.has(id) || slot.state === 'starting' || slot.state === 'stopping')
      throw new ControlPlaneError(
        'Conflict',
        `InvalidDBInstanceStateFault: instance ${id} is ${this.#changing.has(id) ? 'being changed' : slot.state}`,
      );
    if (this.fleet.instances.size === 1) {
      throw new ControlPlaneError(
        'Conflict',
        `InvalidDBClusterStateFault: ${id} is the cluster's only instance: delete the cluster instead`,
      );
    }
    this.#changing.add(id);
    try {
      if (this.failoverInProgress)
        throw new ControlPlaneError('Conflict', 'InvalidDBClusterStateFault: a failover is in progress');
      if (this.writer?.id === id) {
        const others = [...this.fleet.instances.values()].filter((s) => s.id !== id && s.state === 'running');
        if (others.length === 0) {
          throw new ControlPlaneError(
            'Conflict',
            `InvalidDBClusterStateFault: ${id} is the writer and no reader runs to take over`,
          );
        }
        await this.failover({ planned: true, reason: `instance ${id} deleted`, exclude: id });
      }
      await this.fleet.removeInstance(id);
      this.#retargetedAt.delete(id);
      this.options.onInstancesChanged?.();
      this.options.logger.info({ instance: id }, 'instance removed');
      this.#noteInstanceEvent('deleted', id, slot.rdsIdentifier);
      this.publish();
      return { removed: id };
    } finally {
      this.#changing.delete(id);
    }
  }

  /**
   * Restarts an instance (RebootDBInstance): a reader in place; the writer in place too (a restart
   * of its process: the volume is recovered, nothing is replayed), or — forceFailover — by a planned
   * failover to a reader.
   */
  async rebootInstance(id: string, forceFailover: boolean): Promise<InstanceStatus> {
    const slot = this.fleet.instance(id);
    if (!slot) throw new ControlPlaneError('NotFound', `DBInstanceNotFoundFault: no instance ${id}`);
    if (this.#changing.has(id) || slot.state !== 'running')
      throw new ControlPlaneError(
        'Conflict',
        `InvalidDBInstanceStateFault: instance ${id} is ${slot.state}, not available`,
      );
    if (this.failoverInProgress)
      throw new ControlPlaneError('Conflict', 'InvalidDBClusterStateFault: a failover is in progress');
    this.#changing.add(id);
    try {
      if (this.writer?.id === id) {
        if (forceFailover) await this.plannedFailover(undefined);
        else await this.failover({ planned: true, reason: `instance ${id} rebooted`, target: id });
      } else {
        const writerRedo = this.#writerRedo();
        if (!writerRedo) throw new ControlPlaneError('Unavailable', 'no writer is running');
        await this.fleet.replaceInstance(id, 'reader', writerRedo).catch((error: Error) => {
          // Its stop was a planned one (no exit notification): the control loop brings it back.
          slot.restartAt = Date.now() + this.options.restartDelayMs;
          throw error;
        });
      }
      this.#roundSoon();
      this.#noteInstanceEvent('rebooted', id);
      return this.status().instances.find((i) => i.id === id)!;
    } finally {
      this.#changing.delete(id);
    }
  }

  #noteInstanceEvent(action: InstanceEvent['action'], id: string, rdsIdentifier?: string): void {
    const identifier =
      rdsIdentifier ?? this.fleet.instance(id)?.rdsIdentifier ?? `${this.options.cluster}-${id}`;
    this.instanceEvents.push({
      at: new Date().toISOString(),
      action,
      instance: id,
      rdsIdentifier: identifier,
    });
    if (this.instanceEvents.length > failoversKept) this.instanceEvents.shift();
  }

  // --- status ---------------------------------------------------------------------------------------

  status(): ClusterStatus {
    const writer = this.failoverInProgress ? undefined : this.writer;
    const instances: InstanceStatus[] = [...this.fleet.instances.values()].map((s) => ({
      id: s.id,
      az: s.az,
      role: s.role,
      tier: s.tier,
      ...(s.rdsIdentifier === undefined ? {} : { rdsIdentifier: s.rdsIdentifier }),
      state: s.state,
      healthy: s.state === 'running' && s.health?.healthy === true,
      pid: s.process?.running ? s.process.pid : null,
      endpoint: s.state === 'running' ? instanceEndpoint(s) : null,
      mysql:
        s.state === 'running' && s.host !== null && typeof s.health?.mysqlPort === 'number'
          ? `${s.host}:${s.health.mysqlPort}`
          : null,
      httpPort: s.state === 'running' ? s.httpPort : null,
      lagMs:
        s.role === 'writer' ? 0 : typeof s.health?.lagMs === 'number' ? Math.round(s.health.lagMs) : null,
      incarnation: s.incarnation,
      restarts: Math.max(0, s.restarts),
    }));
    const storageNodes: StorageNodeStatus[] = [...this.fleet.storage.values()].map((s) => {
      const running = storageRunning(s);
      const segments =
        (running ? (s.health?.segments as { pg: number; scl: string }[] | undefined) : undefined) ?? [];
      return {
        id: s.node.id,
        az: s.node.az,
        role: 'storage',
        healthy: running && s.health?.healthy === true,
        pid: running ? s.process!.pid : null,
        port: s.node.port,
        httpPort: s.node.httpPort,
        scl: Object.fromEntries(segments.map((x) => [String(x.pg), x.scl])),
        epoch: running && typeof s.health?.epoch === 'string' ? s.health.epoch : null,
        log: running && typeof s.health?.log === 'object' ? (s.health.log as StorageNodeLogStatus) : null,
      };
    });
    const vdl = writer?.health?.vdl;
    return {
      cluster: this.options.cluster,
      region: this.options.region,
      epoch: this.#epoch,
      vdl: typeof vdl === 'string' ? vdl : null,
      writer: writer?.id ?? null,
      failoverInProgress: this.failoverInProgress,
      endpoints: this.#endpoints,
      // The account the instances (and the proxy's MySQL endpoints) are started with.
      mysql: mysqlAccount({}, this.options.cluster),
      resourceArn: this.options.resourceArn,
      secretArn: this.options.secretArn,
      instances,
      storageNodes,
      failovers: [...this.failovers],
      ...(this.instanceEvents.length > 0 ? { instanceEvents: [...this.instanceEvents] } : {}),
      standbyWriter: this.fleet.standbyWriterPid === undefined ? null : { pid: this.fleet.standbyWriterPid },
      standbyWriters: (this.fleet.standbyWriterPids ?? []).map((pid) => ({ pid })),
      ...(this.restore ? { restore: this.restore } : {}),
      ...(writer?.health?.binlogFormat === 'ROW' || writer?.health?.binlogFormat === 'OFF'
        ? { binlogFormat: writer.health.binlogFormat }
        : {}),
      ...(this.options.globalRole?.() === undefined ? {} : { globalRole: this.options.globalRole()! }),
      updatedAt: new Date().toISOString(),
    };
  }
}

/** The writer's HTTP side port on the host of its Data API endpoint (whatever address that advertises). */
function writerHttpUrl(slot: InstanceSlot): string | null {
  const endpoint = instanceEndpoint(slot);
  if (endpoint === null || slot.httpPort === null) return null;
  const url = new URL(endpoint);
  url.port = String(slot.httpPort);
  return url.origin;
}
