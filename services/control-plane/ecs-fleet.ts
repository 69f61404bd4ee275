// The fleet as ECS tasks (compute=ecs). Instances are tasks the control plane runs itself: RunTask
// with the role's task definition (writer or reader) in the instance's AZ, overrides carrying its id,
// AZ, role and the writer's redo address; DescribeTasks tells when it runs and its private IP (the
// address it is advertised at); StopTask stops it. Storage nodes are one ECS service each (CDK makes
// them, with a durable EFS access point and a Cloud Map name the volume config holds — an address
// must outlive a task, because the writer and every peer read it once): starting one sets its
// service's desired count to 1, a kill sets it to 0 and stops its task. Exits are learned by polling
// DescribeTasks (one call for every tracked task, every pollIntervalMs), as ECS pushes nothing to a task.
import {
  DescribeTasksCommand,
  type ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  StopTaskCommand,
  type Task,
  UpdateServiceCommand,
} from '@aws-sdk/client-ecs';
import { assert } from '../../core/assert.ts';
import { ecsContainerCommand, ecsContainerName, ecsPorts } from '../../core/cluster/ecs-layout.ts';
import type { InstanceRole } from '../../core/cluster/topology.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import type { StorageNodeAddress } from '../../core/volume.ts';
import {
  addInstanceSlot,
  beginInstanceStart,
  type ExitListener,
  type Fleet,
  type FleetKind,
  type FleetProcess,
  type HealthDoc,
  type InstanceEndpoints,
  type InstanceSlot,
  newInstanceSlot,
  newStorageSlot,
  type StorageSlot,
} from './fleet.ts';

/** How often running tasks are described to learn of exits (one DescribeTasks per round). */
export const ecsPollIntervalMsDefault = 5_000;
/** A Fargate task takes tens of seconds to pull and start; a recovering writer needs more. */
export const ecsStartTimeoutMsDefault = 180_000;
/** StopTask: ECS sends SIGTERM, then SIGKILL after the container's stop timeout. */
export const ecsStopTimeoutMsDefault = 60_000;
/** DescribeTasks takes at most 100 tasks per call. */
export const describeTasksBatchMax = 100;
/** An instance count, a storage node count: the fleet never tracks more tasks than this. */
export const ecsTrackedTasksMax = 64;

const healthProbeTimeoutMs = 2_000;

export interface EcsFleetOptions {
  /** The real SDK client (tests stub its `send`). */
  ecs: Pick<ECSClient, 'send'>;
  /** The ECS cluster (name or ARN). */
  ecsCluster: string;
  /** The Borealis cluster and region (instance flags). */
  cluster: string;
  region: string;
  taskDefinitions: { writer: string; reader: string };
  /** Private subnets per AZ: an instance runs in its own AZ. */
  subnets: Readonly<Record<string, readonly string[]>>;
  securityGroups: readonly string[];
  /** One ECS service per storage node id. */
  storageServices: Readonly<Record<string, string>>;
  /** Extra flags for every instance (e.g. --cache-pages) and for writers (redo stream, bucket). */
  instanceArgs: string[];
  /** Called at each writer start: what it is started with can change (the backtrack window). */
  writerArgs?: () => string[];
  logger: Logger;
  onExit: ExitListener;
  /** GET /health of a task; the default asks over HTTP. */
  probe: (host: string, port: number, timeoutMs: number) => Promise<HealthDoc>;
  pollIntervalMs?: number;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Injected so that tests do not wait. */
  sleep?: (ms: number) => Promise<void>;
}

/** One ECS task as the fleet tracks it. */
class EcsTask implements FleetProcess {
  running = true;
  readonly pid = null;
  ready: Record<string, unknown> = {};
  /** A stop the fleet asked for (no exit notification). */
  stopping = false;
  constructor(readonly task: string) {}
}

const entries = { writer: 'services/writer/main.ts', reader: 'services/reader/main.ts' };
const idPattern = /^[A-Za-z0-9._-]{1,64}$/;
const redoPattern = /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/;

export class EcsFleet implements Fleet {
  readonly storage = new Map<string, StorageSlot>();
  readonly instances = new Map<string, InstanceSlot>();
  #incarnations = 0;
  /** Instance tasks a previous control plane left running, stopped before this one runs its own. */
  #orphansStopped: Promise<void> | undefined;
  #poller: NodeJS.Timeout | undefined;
  #polling = false;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly options: EcsFleetOptions,
    nodes: readonly StorageNodeAddress[],
    instances: readonly { id: string; az: string; tier: number }[],
  ) {
    assert(nodes.length + instances.length <= ecsTrackedTasksMax, 'too many tasks for one fleet');
    for (const node of nodes) {
      assert(
        options.storageServices[node.id] !== undefined,
        () => `no ECS service for storage node ${node.id}`,
      );
      this.storage.set(node.id, newStorageSlot(node));
    }
    for (const i of instances) {
      assert(idPattern.test(i.id), () => `bad instance id ${i.id}`);
      assert((options.subnets[i.az]?.length ?? 0) > 0, () => `no subnet for AZ ${i.az} (instance ${i.id})`);
      this.instances.set(i.id, newInstanceSlot(i));
    }
    this.#sleep = options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
  }

  storageSlot(id: string): StorageSlot | undefined {
    return this.storage.get(id);
  }

  instance(id: string): InstanceSlot | undefined {
    return this.instances.get(id);
  }

  // --- storage nodes: one service each -----------------------------------------------------------

  async startStorage(id: string): Promise<void> {
    const slot = this.storage.get(id)!;
    if (slot.process?.running || slot.starting) return;
    slot.starting = true;
    try {
      const service = this.options.storageServices[id]!;
      await this.#call('UpdateService', `storage node ${id}`, () =>
        this.options.ecs.send(
          new UpdateServiceCommand({
            cluster: this.options.ecsCluster,
            service,
            desiredCount: 1,
          }),
        ),
      );
      const task = await this.#waitForServiceTask(id, service);
      slot.process = task;
      task.ready = await this.#waitHealthy(`storage node ${id}`, task, slot.node.host, slot.node.httpPort);
      slot.lastHealthyAt = Date.now();
      this.#ensurePolling();
    } finally {
      slot.starting = false;
    }
  }

  /** The service's RUNNING task, once ECS has placed and started one. */
  async #waitForServiceTask(id: string, service: string): Promise<EcsTask> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? ecsStartTimeoutMsDefault);
    while (Date.now() < deadline) {
      const listed = await this.#call('ListTasks', `storage node ${id}`, () =>
        this.options.ecs.send(
          new ListTasksCommand({
            cluster: this.options.ecsCluster,
            serviceName: service,
            desiredStatus: 'RUNNING',
          }),
        ),
      );
      const arns = listed.taskArns ?? [];
      if (arns.length > 0) {
        const tasks = await this.#describe(arns, `storage node ${id}`);
        const running = tasks.find((t) => t.lastStatus === 'RUNNING');
        if (running?.taskArn) return new EcsTask(running.taskArn);
      }
      await this.#sleep(this.#pollMs);
    }
    throw new BorealisError(ErrorCode.TIMEOUT, `storage node ${id}: service ${service} ran no task in time`, {
      context: { node: id, service },
    });
  }

  // --- instances: one task each ------------------------------------------------------------------

  async startInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<InstanceEndpoints> {
    const slot = this.instances.get(id)!;
    if (slot.process?.running) throw new Error(`instance ${id} already runs (task ${slot.process.task})`);
    if (role === 'reader' && (writerRedo === undefined || !redoPattern.test(writerRedo))) {
      throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `reader ${id} needs the writer's redo HOST:PORT`, {
        context: { instance: id, writerRedo },
      });
    }
    beginInstanceStart(slot, role, ++this.#incarnations);
    try {
      this.#orphansStopped ??= this.#stopOrphans().catch((error: unknown) => {
        this.#orphansStopped = undefined; // asked again at the next start
        throw error;
      });
      await this.#orphansStopped;
      const started = await this.#call('RunTask', `instance ${id}`, () =>
        this.options.ecs.send(this.runTaskCommand(slot, role, writerRedo)),
      );
      const failure = started.failures?.[0];
      const arn = started.tasks?.[0]?.taskArn;
      if (failure || arn === undefined) {
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `ECS RunTask for ${role} ${id} failed: ${failure?.reason ?? 'no task started'}${failure?.detail ? ` (${failure.detail})` : ''}`,
          { context: { instance: id, role, reason: failure?.reason, arn: failure?.arn } },
        );
      }
      const task = new EcsTask(arn);
      slot.process = task;
      const host = await this.#waitRunning(id, task);
      const endpoints: InstanceEndpoints = {
        host,
        port: ecsPorts.dataApi,
        redoPort: role === 'writer' ? ecsPorts.redo : null,
        httpPort: ecsPorts.instanceHttp,
      };
      task.ready = await this.#waitHealthy(`instance ${id}`, task, host, endpoints.httpPort);
      Object.assign(slot, endpoints);
      slot.lastHealthyAt = Date.now();
      slot.state = 'running';
      this.#ensurePolling();
      return endpoints;
    } catch (error) {
      const task = slot.process as EcsTask | undefined;
      if (task?.running) await this.#stopTask(task, `borealis: ${id} did not start`).catch(() => undefined);
      if (task) task.running = false;
      slot.state = 'down';
      throw error;
    }
  }

  /**
   * A control plane that restarts (its task replaced) finds the writer and readers its predecessor
   * ran: they are this cluster's tasks (startedBy) that this fleet does not track. They are stopped —
   * a new writer fences the old one anyway (epoch), but it must not linger as a billed, unmanaged task.
   */
  async #stopOrphans(): Promise<void> {
    const listed = await this.#call('ListTasks', 'tasks left by a previous control plane', () =>
      this.options.ecs.send(
        new ListTasksCommand({
          cluster: this.options.ecsCluster,
          startedBy: this.#startedBy,
          desiredStatus: 'RUNNING',
        }),
      ),
    );
    const ours = new Set([...this.instances.values()].map((s) => s.process?.task));
    const orphans = (listed.taskArns ?? []).filter((arn) => !ours.has(arn)).slice(0, ecsTrackedTasksMax);
    for (const arn of orphans) {
      this.options.logger.warn({ task: arn }, 'stopping an instance task left by a previous control plane');
      await this.#call('StopTask', 'an orphaned instance task', () =>
        this.options.ecs.send(
          new StopTaskCommand({
            cluster: this.options.ecsCluster,
            task: arn,
            reason: 'borealis: left by a previous control plane',
          }),
        ),
      );
    }
  }

  get #startedBy(): string {
    return `borealis-${this.options.cluster}`.slice(0, 36);
  }

  /** Pure: the RunTask input for an instance (exported through the fleet for tests and logs). */
  runTaskCommand(slot: InstanceSlot, role: InstanceRole, writerRedo?: string): RunTaskCommand {
    const o = this.options;
    const flags = [
      '--id',
      slot.id,
      '--region',
      o.region,
      '--cluster',
      o.cluster,
      '--port',
      String(ecsPorts.dataApi),
      '--http-port',
      String(ecsPorts.instanceHttp),
      ...(role === 'writer'
        ? ['--redo-port', String(ecsPorts.redo), ...o.instanceArgs, ...(o.writerArgs?.() ?? [])]
        : ['--writer-redo', writerRedo!, ...o.instanceArgs]),
    ];
    return new RunTaskCommand({
      cluster: o.ecsCluster,
      taskDefinition: role === 'writer' ? o.taskDefinitions.writer : o.taskDefinitions.reader,
      launchType: 'FARGATE',
      count: 1,
      startedBy: this.#startedBy,
      group: `borealis:${o.cluster}`,
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: [...o.subnets[slot.az]!],
          securityGroups: [...o.securityGroups],
          assignPublicIp: 'DISABLED',
        },
      },
      overrides: {
        containerOverrides: [
          {
            name: ecsContainerName,
            command: ecsContainerCommand(entries[role], flags, { advertise: 'self' }),
            environment: [
              { name: 'BOREALIS_INSTANCE_ID', value: slot.id },
              { name: 'BOREALIS_AZ', value: slot.az },
              { name: 'BOREALIS_ROLE', value: role },
              ...(writerRedo && role === 'reader'
                ? [{ name: 'BOREALIS_WRITER_REDO', value: writerRedo }]
                : []),
            ],
          },
        ],
      },
      tags: [
        { key: 'borealis:cluster', value: o.cluster },
        { key: 'borealis:instance', value: slot.id },
        { key: 'borealis:role', value: role },
      ],
    });
  }

  /** Until DescribeTasks says RUNNING; resolves with the task's private IP. */
  async #waitRunning(id: string, task: EcsTask): Promise<string> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? ecsStartTimeoutMsDefault);
    while (Date.now() < deadline) {
      const [described] = await this.#describe([task.task], `instance ${id}`);
      if (described?.lastStatus === 'STOPPED') {
        task.running = false;
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `instance ${id}: task stopped before it ran: ${stopReason(described)}`,
          {
            context: { instance: id, task: task.task },
          },
        );
      }
      const ip = described && taskPrivateIp(described);
      if (described?.lastStatus === 'RUNNING' && ip) return ip;
      await this.#sleep(this.#pollMs);
    }
    throw new BorealisError(ErrorCode.TIMEOUT, `instance ${id}: task ${task.task} not RUNNING in time`, {
      context: { instance: id, task: task.task },
    });
  }

  /** Until its /health answers healthy (the writer: once recovered); resolves with that document. */
  async #waitHealthy(what: string, task: EcsTask, host: string, port: number): Promise<HealthDoc> {
    const deadline = Date.now() + (this.options.startTimeoutMs ?? ecsStartTimeoutMsDefault);
    let last = 'no answer';
    while (Date.now() < deadline && task.running) {
      try {
        const doc = await this.options.probe(host, port, healthProbeTimeoutMs);
        if (doc.healthy) return doc;
        last = 'unhealthy';
      } catch (error) {
        last = (error as Error).message;
      }
      await this.#sleep(this.#pollMs);
      await this.pollOnce();
    }
    throw new BorealisError(
      task.running ? ErrorCode.TIMEOUT : ErrorCode.UNAVAILABLE,
      `${what}: ${task.running ? `no healthy answer at ${host}:${port} in time (${last})` : 'its task stopped before it served'}`,
      { context: { task: task.task, host, port } },
    );
  }

  addInstance(i: { id: string; az: string; tier: number; rdsIdentifier?: string }): InstanceSlot {
    assert(idPattern.test(i.id), () => `bad instance id ${i.id}`);
    assert(
      (this.options.subnets[i.az]?.length ?? 0) > 0,
      () => `no subnet for AZ ${i.az} (instance ${i.id})`,
    );
    assert(this.storage.size + this.instances.size < ecsTrackedTasksMax, 'too many tasks for one fleet');
    return addInstanceSlot(this.instances, i);
  }

  async removeInstance(id: string): Promise<void> {
    await this.stopInstance(id);
    this.instances.delete(id);
  }

  async stopInstance(id: string): Promise<void> {
    const slot = this.instances.get(id)!;
    const task = slot.process as EcsTask | undefined;
    if (!task?.running) return;
    slot.state = 'stopping';
    task.stopping = true;
    await this.#stopTask(task, `borealis: stop ${id}`);
    await this.#waitStopped(task);
    slot.state = 'down';
    slot.health = undefined;
  }

  /** StopTask, as a crash (ECS: SIGTERM, SIGKILL after the container's stop timeout); the exit is reported by polling. */
  async kill(kind: FleetKind, id: string): Promise<null | undefined> {
    const slot = kind === 'storage' ? this.storage.get(id) : this.instances.get(id);
    const task = slot?.process as EcsTask | undefined;
    if (!task?.running) return undefined;
    if (kind === 'storage') {
      // Down until started again, as a local kill: the service must not replace the task meanwhile.
      await this.#call('UpdateService', `storage node ${id}`, () =>
        this.options.ecs.send(
          new UpdateServiceCommand({
            cluster: this.options.ecsCluster,
            service: this.options.storageServices[id]!,
            desiredCount: 0,
          }),
        ),
      );
    }
    await this.#stopTask(task, `borealis: kill ${kind} ${id}`);
    return null;
  }

  async replaceInstance(id: string, role: InstanceRole, writerRedo?: string): Promise<InstanceEndpoints> {
    await this.stopInstance(id);
    return this.startInstance(id, role, writerRedo);
  }

  /** Stops the instance tasks (the control plane's own); storage services keep running with their volumes. */
  async stopAll(): Promise<void> {
    clearInterval(this.#poller);
    this.#poller = undefined;
    await Promise.all(
      [...this.instances.values()].map(async (slot) => {
        const task = slot.process as EcsTask | undefined;
        if (!task?.running) return;
        slot.state = 'stopping';
        task.stopping = true;
        await this.#stopTask(task, 'borealis: control plane stopping').catch((error: Error) =>
          this.options.logger.error({ instance: slot.id, err: error.message }, 'could not stop a task'),
        );
      }),
    );
  }

  // --- exit notification ---------------------------------------------------------------------------

  /** One round: describe every tracked task; a STOPPED one is down, reported unless the fleet stopped it. */
  async pollOnce(): Promise<void> {
    if (this.#polling) return;
    this.#polling = true;
    try {
      const tracked = new Map<string, { kind: FleetKind; id: string; task: EcsTask }>();
      for (const [id, slot] of this.storage) {
        const task = slot.process as EcsTask | undefined;
        if (task?.running) tracked.set(task.task, { kind: 'storage', id, task });
      }
      for (const [id, slot] of this.instances) {
        const task = slot.process as EcsTask | undefined;
        if (task?.running) tracked.set(task.task, { kind: 'instance', id, task });
      }
      const arns = [...tracked.keys()];
      for (let i = 0; i < arns.length; i += describeTasksBatchMax) {
        const batch = arns.slice(i, i + describeTasksBatchMax);
        for (const described of await this.#describe(batch, 'exit poll')) {
          const entry = described.taskArn ? tracked.get(described.taskArn) : undefined;
          if (!entry || described.lastStatus !== 'STOPPED' || !entry.task.running) continue;
          this.#exited(entry.kind, entry.id, entry.task, described);
        }
      }
    } finally {
      this.#polling = false;
    }
  }

  #exited(kind: FleetKind, id: string, task: EcsTask, described: Task): void {
    task.running = false;
    const slot = kind === 'storage' ? this.storage.get(id)! : this.instances.get(id)!;
    if (slot.process !== task) return;
    slot.health = undefined;
    const code = described.containers?.find((c) => c.name === ecsContainerName)?.exitCode ?? null;
    if (kind === 'instance') {
      const instance = slot as InstanceSlot;
      if (instance.state === 'starting') return; // startInstance reports it as its failure
      instance.state = 'down';
    }
    if (task.stopping) return;
    this.options.logger.warn({ kind, id, task: task.task, reason: stopReason(described) }, 'task stopped');
    this.options.onExit(kind, id, { code, signal: null });
  }

  #ensurePolling(): void {
    if (this.#poller !== undefined) return;
    this.#poller = setInterval(() => {
      this.pollOnce().catch((error: Error) =>
        this.options.logger.error({ err: error.message }, 'ECS exit poll failed'),
      );
    }, this.#pollMs);
    this.#poller.unref();
  }

  get #pollMs(): number {
    return this.options.pollIntervalMs ?? ecsPollIntervalMsDefault;
  }

  async #waitStopped(task: EcsTask): Promise<void> {
    const deadline = Date.now() + (this.options.stopTimeoutMs ?? ecsStopTimeoutMsDefault);
    while (task.running && Date.now() < deadline) {
      const [described] = await this.#describe([task.task], 'stop');
      if (described === undefined || described.lastStatus === 'STOPPED') {
        task.running = false;
        return;
      }
      await this.#sleep(this.#pollMs);
    }
    if (task.running) {
      throw new BorealisError(ErrorCode.TIMEOUT, `task ${task.task} did not stop in time`, {
        context: { task: task.task },
      });
    }
  }

  #stopTask(task: EcsTask, reason: string) {
    return this.#call('StopTask', reason, () =>
      this.options.ecs.send(
        new StopTaskCommand({
          cluster: this.options.ecsCluster,
          task: task.task,
          reason,
        }),
      ),
    );
  }

  async #describe(arns: string[], what: string): Promise<Task[]> {
    const out = await this.#call('DescribeTasks', what, () =>
      this.options.ecs.send(
        new DescribeTasksCommand({
          cluster: this.options.ecsCluster,
          tasks: arns,
        }),
      ),
    );
    // A task ECS no longer knows (MISSING) is gone: report it as stopped.
    const missing = (out.failures ?? [])
      .filter((f) => f.reason === 'MISSING' && f.arn !== undefined)
      .map((f): Task => ({ taskArn: f.arn, lastStatus: 'STOPPED', stoppedReason: 'MISSING' }));
    return [...(out.tasks ?? []), ...missing];
  }

  /** One ECS call; a failure becomes a BorealisError naming the call and what it was for. */
  async #call<T>(action: string, what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      const name = (error as Error).name;
      const throttled = name === 'ThrottlingException' || name === 'TooManyRequestsException';
      throw new BorealisError(
        throttled ? ErrorCode.UNAVAILABLE : ErrorCode.INTERNAL,
        `ECS ${action} (${what}) ${throttled ? 'was throttled' : 'failed'}: ${name}: ${(error as Error).message}`,
        {
          retryable: throttled || name === 'ServerException',
          context: { action, what, awsError: name },
          cause: error,
        },
      );
    }
  }
}

/** The task's private IPv4 address (awsvpc: its ENI), if ECS has attached one yet. */
export function taskPrivateIp(task: Task): string | undefined {
  const eni = task.attachments?.find((a) => a.type === 'ElasticNetworkInterface');
  const fromAttachment = eni?.details?.find((d) => d.name === 'privateIPv4Address')?.value;
  return fromAttachment ?? task.containers?.[0]?.networkInterfaces?.[0]?.privateIpv4Address;
}

function stopReason(task: Task): string {
  const container = task.containers?.find((c) => c.name === ecsContainerName);
  const exit = container?.exitCode === undefined ? '' : ` (exit code ${container.exitCode})`;
  return `${task.stoppedReason ?? task.stopCode ?? 'stopped'}${exit}`;
}
