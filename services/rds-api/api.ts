// The RDS API's operations over the region's clusters (ADR 020): each does what it does on AWS, with
// Aurora's statuses and error codes, by asking the clusters' control planes — the same routes the
// `borealis` CLI uses, so the two never differ. Bad input is an RDS error and changes nothing.
import type { ClusterStatus, InstanceStatus } from '../../core/cluster/topology.ts';
import { controlPlaneRoutes } from '../../core/cluster/topology.ts';
import type { Logger } from '../../core/log.ts';
import { clusterEvents, eventShape, selectEvents } from '../../core/rds/events.ts';
import {
  page,
  parseQueryRequest,
  QueryParams,
  queryErrorXml,
  queryResponseXml,
  RdsApiError,
  type XmlStruct,
} from '../../core/rds/query-protocol.ts';
import {
  auroraEngine,
  type ClusterExtras,
  dbClusterShape,
  dbInstanceIdentifier,
  dbInstanceShape,
  instanceOf,
} from '../../core/rds/shapes.ts';
import { allClusterStatuses, type ClusterDirectory, clusterStatus } from './clusters.ts';
import type { RegionEvents } from './events.ts';
import type { ClusterRestores } from './restores.ts';
import { borealisSnapshotId, type ClusterSnapshots, checkIdentifier, snapshotTypeOf } from './snapshots.ts';

/** One RDS action: its request's parameters in, its result's fields out (an error is an RdsApiError). */
export type RdsAction = (params: QueryParams) => Promise<XmlStruct>;

/** How long a FailoverDBCluster waits for the control plane to take it (the failover goes on after). */
const failoverAcceptMs = 120_000;

export class RdsApi {
  /** Failovers asked here that the control plane has not finished: those clusters are failing over. */
  readonly #failingOver = new Set<string>();
  /** Backtracks running through here: those clusters are backtracking. */
  readonly #backtracking = new Set<string>();
  /** DBInstanceIdentifiers of CreateDBInstance calls under way (unique in the region). */
  readonly #creatingInstances = new Set<string>();
  readonly #actions: Record<string, RdsAction>;
  requests = 0;

  constructor(
    private readonly options: {
      region: string;
      directory: ClusterDirectory;
      logger: Logger;
      /** This API's own URL, registered with each cluster's control plane (`endpoints.rds`). */
      selfUrl?: string;
      snapshots: ClusterSnapshots;
      restores: ClusterRestores;
      /** Actions served by modules of their own (export tasks: exports.ts), by action name. */
      actions?: Record<string, RdsAction>;
      /** DBCluster fields known elsewhere (backup retention, restorable times), per cluster. */
      clusterExtras?: (status: ClusterStatus) => Promise<ClusterExtras>;
      /** The region's events (events.ts: backtracks, snapshots, restores too); default: the statuses'. */
      events?: Pick<RegionEvents, 'of'>;
    },
  ) {
    this.#actions = {
      DescribeDBClusters: (p) => this.#describeClusters(p),
      DescribeDBInstances: (p) => this.#describeInstances(p),
      FailoverDBCluster: (p) => this.#failover(p),
      CreateDBInstance: (p) => this.#createInstance(p),
      DeleteDBInstance: (p) => this.#deleteInstance(p),
      RebootDBInstance: (p) => this.#rebootInstance(p),
      DescribeEvents: (p) => this.#describeEvents(p),
      BacktrackDBCluster: (p) => this.#backtrack(p),
      DescribeDBClusterBacktracks: (p) => this.#describeBacktracks(p),
      RestoreDBClusterToPointInTime: (p) => this.#restoreToTime(p),
      RestoreDBClusterFromSnapshot: (p) => this.#restoreFromSnapshot(p),
      CreateDBClusterSnapshot: (p) => this.#createSnapshot(p),
      DescribeDBClusterSnapshots: (p) => this.#describeSnapshots(p),
      DeleteDBClusterSnapshot: async (p) =>
        this.options.snapshots.delete(
          await allClusterStatuses(this.options.directory),
          p.required('DBClusterSnapshotIdentifier'),
        ),
      ...options.actions,
    };
  }

  /** One request body in, the status and XML out (an error is an ErrorResponse, never a throw). */
  async handle(body: string): Promise<{ status: number; xml: string; action: string | undefined }> {
    this.requests++;
    let action: string | undefined;
    try {
      const request = parseQueryRequest(body);
      action = request.action;
      const run = this.#actions[request.action];
      if (run === undefined) {
        throw new RdsApiError(
          'InvalidAction',
          `The action ${request.action} is not valid for this web service.`,
        );
      }
      const result = await run(new QueryParams(request.params));
      return { status: 200, xml: queryResponseXml(request.action, result), action };
    } catch (error) {
      if (error instanceof RdsApiError) return { status: error.status, xml: queryErrorXml(error), action };
      this.options.logger.error({ action, err: error }, 'RDS API request failed');
      const internal = new RdsApiError('InternalFailure', (error as Error).message, 500);
      return { status: 500, xml: queryErrorXml(internal), action };
    }
  }

  /** Statuses with this API's own view: a failover asked here shows until the control plane ends it. */
  #view(status: ClusterStatus): ClusterStatus {
    void this.#register(status);
    return this.#failingOver.has(status.cluster) ? { ...status, failoverInProgress: true } : status;
  }

  async #register(status: ClusterStatus): Promise<void> {
    const url = this.options.selfUrl;
    if (url === undefined || status.endpoints.rds === url) return;
    const topology = await this.options.directory.read(status.cluster).catch(() => undefined);
    if (topology?.controlPlaneUrl === undefined) return;
    await fetch(new URL(controlPlaneRoutes.rdsEndpoint, topology.controlPlaneUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rds: url }),
      signal: AbortSignal.timeout(2_000),
    }).catch(() => undefined);
  }

  async #cluster(identifier: string): Promise<ClusterStatus> {
    const status = await clusterStatus(this.options.directory, identifier);
    if (status === undefined)
      throw new RdsApiError('DBClusterNotFoundFault', `DBCluster ${identifier} not found.`, 404);
    return this.#view(status);
  }

  /** Every running cluster, and the restores settled by what runs now. */
  async #statuses(): Promise<ClusterStatus[]> {
    const statuses = (await allClusterStatuses(this.options.directory)).map((s) => this.#view(s));
    this.options.restores.sweep(new Set(statuses.map((s) => s.cluster)));
    return statuses;
  }

  async #describeClusters(params: QueryParams): Promise<XmlStruct> {
    const id = params.string('DBClusterIdentifier');
    const all = await this.#statuses();
    // Restores asked here whose cluster does not run yet: `creating`, as on RDS.
    const creating = this.options.restores.creating().filter((c) => id === undefined || c.name === id);
    if (id !== undefined && creating.length > 0) {
      return { DBClusters: { DBCluster: creating.map((c) => c.shape) } };
    }
    const statuses = id !== undefined ? [await this.#cluster(id)] : all;
    const filters = params.filters();
    const matching = statuses.filter((s) =>
      filters.every((f) => {
        if (f.name === 'db-cluster-id')
          return f.values.includes(s.cluster) || f.values.includes(s.resourceArn);
        if (f.name === 'engine') return f.values.includes('aurora-mysql');
        throw new RdsApiError('InvalidParameterValue', `Unrecognized filter name: ${f.name}`);
      }),
    );
    const extras = await Promise.all(
      matching.map((s) => this.options.clusterExtras?.(s) ?? Promise.resolve({})),
    );
    const shapes = [
      ...matching.map((s, i) => ({
        name: s.cluster,
        shape: dbClusterShape(s, {
          ...extras[i],
          ...(this.#backtracking.has(s.cluster) ? { status: 'backtracking' } : {}),
        }),
      })),
      ...(id === undefined && filters.length === 0 ? creating : []),
    ];
    const { items, marker } = page(shapes, (s) => s.name, params);
    return { DBClusters: { DBCluster: items.map((s) => s.shape) }, Marker: marker };
  }

  async #describeInstances(params: QueryParams): Promise<XmlStruct> {
    const id = params.string('DBInstanceIdentifier')?.toLowerCase();
    const statuses = (await allClusterStatuses(this.options.directory)).map((s) => this.#view(s));
    const filters = params.filters();
    let instances = statuses.flatMap((s) => s.instances.map((i) => ({ status: s, instance: i })));
    if (id !== undefined) {
      instances = instances.filter(
        ({ status, instance }) => dbInstanceIdentifier(status, instance.id) === id,
      );
      if (instances.length === 0)
        throw new RdsApiError('DBInstanceNotFoundFault', `DBInstance ${id} not found.`, 404);
    }
    instances = instances.filter(({ status, instance }) =>
      filters.every((f) => {
        if (f.name === 'db-cluster-id')
          return f.values.includes(status.cluster) || f.values.includes(status.resourceArn);
        if (f.name === 'db-instance-id') return f.values.includes(dbInstanceIdentifier(status, instance.id));
        if (f.name === 'engine') return f.values.includes('aurora-mysql');
        throw new RdsApiError('InvalidParameterValue', `Unrecognized filter name: ${f.name}`);
      }),
    );
    const { items, marker } = page(
      instances,
      ({ status, instance }) => dbInstanceIdentifier(status, instance.id),
      params,
    );
    return {
      DBInstances: { DBInstance: items.map(({ status, instance }) => dbInstanceShape(status, instance)) },
      Marker: marker,
    };
  }

  async #describeEvents(params: QueryParams): Promise<XmlStruct> {
    const sourceType = params.string('SourceType');
    if (
      sourceType !== undefined &&
      sourceType !== 'db-cluster' &&
      sourceType !== 'db-instance' &&
      sourceType !== 'db-cluster-snapshot'
    ) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `SourceType must be db-cluster, db-instance or db-cluster-snapshot here, got '${sourceType}'`,
      );
    }
    const time = (name: string) => {
      const raw = params.string(name);
      if (raw === undefined) return undefined;
      const t = new Date(raw);
      if (Number.isNaN(t.getTime()))
        throw new RdsApiError('InvalidParameterValue', `${name} '${raw}' is not a time`);
      return t;
    };
    // RDS: the last hour unless told otherwise; Duration (minutes) counts back from EndTime.
    const endTime = time('EndTime') ?? new Date();
    const duration = params.integer('Duration', 0, 14 * 24 * 60);
    const startTime = time('StartTime') ?? new Date(endTime.getTime() - (duration ?? 60) * 60_000);
    const statuses = (await allClusterStatuses(this.options.directory)).map((s) => this.#view(s));
    const all = this.options.events
      ? await this.options.events.of(statuses)
      : statuses.flatMap((s) => clusterEvents(s));
    const events = selectEvents(all, {
      ...(params.string('SourceIdentifier') === undefined
        ? {}
        : { sourceIdentifier: params.string('SourceIdentifier')! }),
      ...(sourceType === undefined ? {} : { sourceType }),
      startTime,
      endTime,
      categories: params.list('EventCategories', 'EventCategory'),
    });
    const { items, marker } = page(
      events.map((e, i) => ({ e, key: `${e.date.toISOString()}#${String(i).padStart(6, '0')}` })),
      (x) => x.key,
      params,
    );
    return { Events: { Event: items.map((x) => eventShape(x.e)) }, Marker: marker };
  }

  async #restoreToTime(params: QueryParams): Promise<XmlStruct> {
    const source = await this.#cluster(params.required('SourceDBClusterIdentifier'));
    const statuses = await this.#statuses();
    return this.#asNewCluster(params, statuses, (target) => this.#restoreToTimeAs(source, target, params));
  }

  /**
   * Runs a restore with DBClusterIdentifier reserved as the new cluster's name (refused when any
   * cluster, running or stopped, has it), given back once the restore was asked or refused.
   */
  async #asNewCluster(
    params: QueryParams,
    statuses: readonly ClusterStatus[],
    restore: (target: string) => Promise<XmlStruct>,
  ): Promise<XmlStruct> {
    const target = this.options.restores.reserve(
      params.required('DBClusterIdentifier'),
      new Set([...statuses.map((s) => s.cluster), ...(await this.options.directory.names())]),
    );
    try {
      return await restore(target);
    } finally {
      this.options.restores.release(target);
    }
  }

  async #restoreToTimeAs(source: ClusterStatus, target: string, params: QueryParams): Promise<XmlStruct> {
    const useLatest = params.boolean('UseLatestRestorableTime') === true;
    const raw = params.string('RestoreToTime');
    if (useLatest === (raw !== undefined)) {
      throw new RdsApiError(
        'InvalidParameterCombination',
        'Give exactly one of RestoreToTime and UseLatestRestorableTime=true.',
      );
    }
    const latest = await this.options.restores.latestRestorableTime(source.cluster);
    if (latest === undefined) {
      throw new RdsApiError(
        'InvalidRestoreFault',
        `DBCluster ${source.cluster} has nothing restorable yet (its continuous backup has archived no commit).`,
      );
    }
    let restoreTime = latest;
    if (raw !== undefined) {
      restoreTime = new Date(raw);
      if (Number.isNaN(restoreTime.getTime()))
        throw new RdsApiError('InvalidParameterValue', `RestoreToTime '${raw}' is not a time`);
      if (restoreTime > latest) {
        throw new RdsApiError(
          'InvalidRestoreFault',
          `RestoreToTime ${restoreTime.toISOString()} is after the latest restorable time ${latest.toISOString()} of DBCluster ${source.cluster}.`,
        );
      }
    }
    return this.options.restores.start(source, target, { restoreTime });
  }

  async #restoreFromSnapshot(params: QueryParams): Promise<XmlStruct> {
    const engine = params.required('Engine');
    if (engine !== auroraEngine) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `Engine must be ${auroraEngine} (the snapshot's), got '${engine}'`,
      );
    }
    const snapshotId = params.required('SnapshotIdentifier');
    const statuses = await this.#statuses();
    return this.#asNewCluster(params, statuses, (target) =>
      this.#restoreFromSnapshotAs(statuses, target, snapshotId),
    );
  }

  async #restoreFromSnapshotAs(
    statuses: ClusterStatus[],
    target: string,
    snapshotId: string,
  ): Promise<XmlStruct> {
    const found = (await this.options.snapshots.list(statuses)).find(
      (s) =>
        s.shape.Status === 'available' &&
        (s.shape.DBClusterSnapshotIdentifier === snapshotId || s.shape.DBClusterSnapshotArn === snapshotId),
    );
    if (found === undefined)
      throw new RdsApiError(
        'DBClusterSnapshotNotFoundFault',
        `DBClusterSnapshot ${snapshotId} not found.`,
        404,
      );
    const source = statuses.find((s) => s.cluster === found.shape.DBClusterIdentifier)!;
    return this.options.restores.start(source, target, { snapshotId: borealisSnapshotId(found.id) });
  }

  /** A control plane route's JSON answer; its refusals (`Code: message`) become RDS errors. */
  async #controlPlane(
    cluster: string,
    method: 'GET' | 'POST',
    route: string,
    body?: unknown,
  ): Promise<unknown> {
    const topology = await this.options.directory.read(cluster);
    const response = await fetch(new URL(route, topology.controlPlaneUrl!), {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(failoverAcceptMs),
    });
    const text = await response.text();
    if (response.ok) return JSON.parse(text);
    let message = text.slice(0, 500);
    try {
      message = String((JSON.parse(text) as { message?: unknown }).message ?? message);
    } catch {
      // not JSON: quoted as it is
    }
    const coded = /^([A-Z][A-Za-z]+): (.*)$/s.exec(message);
    // An uncoded refusal (4xx) is the cluster's state; an uncoded 5xx is the control plane failing.
    const server = response.status >= 500;
    throw new RdsApiError(
      coded?.[1] ?? (server ? 'InternalFailure' : 'InvalidDBClusterStateFault'),
      coded?.[2] ?? message,
      server ? 500 : 400,
    );
  }

  async #backtrack(params: QueryParams): Promise<XmlStruct> {
    const cluster = await this.#cluster(params.required('DBClusterIdentifier'));
    const to = params.required('BacktrackTo');
    if (Number.isNaN(Date.parse(to)))
      throw new RdsApiError('InvalidParameterValue', `BacktrackTo '${to}' is not a time`);
    if (cluster.failoverInProgress || this.#backtracking.has(cluster.cluster)) {
      throw new RdsApiError(
        'InvalidDBClusterStateFault',
        `DBCluster ${cluster.cluster} is not available (failing over or backtracking).`,
      );
    }
    const force = params.boolean('Force');
    const earliest = params.boolean('UseEarliestTimeOnPointInTimeUnavailable');
    this.#backtracking.add(cluster.cluster);
    try {
      // The control plane runs it to its end (a planned failover with a storage step: seconds).
      const record = (await this.#controlPlane(cluster.cluster, 'POST', '/backtrack', {
        to: new Date(Date.parse(to)).toISOString(),
        ...(force === undefined ? {} : { force }),
        ...(earliest === undefined ? {} : { useEarliestTimeOnPointInTimeUnavailable: earliest }),
      })) as Record<string, string>;
      return { ...backtrackShape(record), DBClusterIdentifier: cluster.cluster };
    } finally {
      this.#backtracking.delete(cluster.cluster);
    }
  }

  async #describeBacktracks(params: QueryParams): Promise<XmlStruct> {
    const cluster = await this.#cluster(params.required('DBClusterIdentifier'));
    const id = params.string('BacktrackIdentifier');
    const { backtracks } = (await this.#controlPlane(cluster.cluster, 'GET', '/backtracks')) as {
      backtracks: Record<string, string>[];
    };
    let list = backtracks;
    if (id !== undefined) {
      list = list.filter((b) => b.BacktrackIdentifier === id);
      if (list.length === 0)
        throw new RdsApiError(
          'DBClusterBacktrackNotFoundFault',
          `Backtrack ${id} not found for DBCluster ${cluster.cluster}.`,
          404,
        );
    }
    for (const f of params.filters()) {
      if (f.name !== 'db-cluster-backtrack-status' && f.name !== 'db-cluster-backtrack-id') {
        throw new RdsApiError('InvalidParameterValue', `Unrecognized filter name: ${f.name}`);
      }
      list = list.filter((b) =>
        f.values.includes(f.name === 'db-cluster-backtrack-id' ? b.BacktrackIdentifier! : b.Status!),
      );
    }
    const { items, marker } = page(
      list,
      (b) => `${b.BacktrackRequestCreationTime}#${b.BacktrackIdentifier}`,
      params,
    );
    return {
      DBClusterBacktracks: {
        DBClusterBacktrack: items.map((b) => ({
          ...backtrackShape(b),
          DBClusterIdentifier: cluster.cluster,
        })),
      },
      Marker: marker,
    };
  }

  async #createSnapshot(params: QueryParams): Promise<XmlStruct> {
    const cluster = await this.#cluster(params.required('DBClusterIdentifier'));
    const id = params.required('DBClusterSnapshotIdentifier');
    if (cluster.failoverInProgress) {
      throw new RdsApiError(
        'InvalidDBClusterStateFault',
        `DBCluster ${cluster.cluster} is failing-over: snapshot it once it is available.`,
      );
    }
    return this.options.snapshots.create(cluster, id);
  }

  async #describeSnapshots(params: QueryParams): Promise<XmlStruct> {
    const clusterId = params.string('DBClusterIdentifier');
    const snapshotId = params.string('DBClusterSnapshotIdentifier');
    const type = params.string('SnapshotType');
    if (type !== undefined && type !== 'manual' && type !== 'automated') {
      throw new RdsApiError(
        'InvalidParameterValue',
        `SnapshotType must be manual or automated (this API keeps no shared or public ones), got '${type}'`,
      );
    }
    // Clusters with only a backup bucket here (copies of another region's snapshots) are listed too.
    const stored = await this.options.snapshots.withStoredClusters(
      await allClusterStatuses(this.options.directory),
    );
    const named = stored.filter((c) => c.cluster === clusterId);
    const clusters =
      clusterId === undefined ? stored : named.length > 0 ? named : [await this.#cluster(clusterId)];
    let snapshots = await this.options.snapshots.list(clusters);
    if (snapshotId !== undefined) {
      snapshots = snapshots.filter(
        (s) => s.shape.DBClusterSnapshotIdentifier === snapshotId || s.id === snapshotId,
      );
      if (snapshots.length === 0)
        throw new RdsApiError(
          'DBClusterSnapshotNotFoundFault',
          `DBClusterSnapshot ${snapshotId} not found.`,
          404,
        );
    }
    if (type !== undefined) snapshots = snapshots.filter((s) => snapshotTypeOf(s.id) === type);
    const { items, marker } = page(snapshots, (s) => `${s.shape.DBClusterIdentifier}/${s.id}`, params);
    return { DBClusterSnapshots: { DBClusterSnapshot: items.map((s) => s.shape) }, Marker: marker };
  }

  /** Every instance of the region with its cluster's status, by DBInstanceIdentifier. */
  async #findInstance(identifier: string): Promise<{ status: ClusterStatus; instance: InstanceStatus }> {
    for (const status of await this.#statuses()) {
      const instance = instanceOf(status, identifier);
      if (instance) return { status, instance };
    }
    throw new RdsApiError('DBInstanceNotFoundFault', `DBInstance ${identifier} not found.`, 404);
  }

  /** CreateDBInstance: a reader in an Aurora cluster (its own process), with its promotion tier. */
  async #createInstance(params: QueryParams): Promise<XmlStruct> {
    const identifier = params.required('DBInstanceIdentifier').toLowerCase();
    checkIdentifier('DBInstanceIdentifier', identifier);
    // The control plane names the instances --readers gives instance-N: an API-made one must not
    // take such a name (a later --readers would claim it, and instances.json could not tell them apart).
    if (/^instance-\d+$/.test(identifier)) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `DBInstanceIdentifier ${identifier} is reserved here (instance-N names the instances --readers starts)`,
      );
    }
    if (identifier.length > 63)
      throw new RdsApiError('InvalidParameterValue', 'DBInstanceIdentifier is at most 63 characters');
    const instanceClass = params.required('DBInstanceClass');
    if (!/^db\.[a-z0-9-]+\.[a-z0-9-]+$/.test(instanceClass))
      throw new RdsApiError('InvalidParameterValue', `Invalid DB Instance class: ${instanceClass}`);
    const engine = params.required('Engine');
    if (engine !== auroraEngine)
      throw new RdsApiError(
        'InvalidParameterValue',
        `Engine must be ${auroraEngine} (the cluster's), got '${engine}'`,
      );
    const clusterId = params.string('DBClusterIdentifier');
    if (clusterId === undefined) {
      throw new RdsApiError(
        'InvalidParameterCombination',
        'DBClusterIdentifier is required: Borealis instances belong to an Aurora cluster',
      );
    }
    const tier = params.integer('PromotionTier', 0, 15) ?? 1;
    const az = params.string('AvailabilityZone');
    const exists = () =>
      new RdsApiError('DBInstanceAlreadyExistsFault', `DB instance already exists: ${identifier}`);
    // Identifiers are unique in the region: one taken by a call still under way is refused too (two
    // calls for two clusters would each pass the check against the statuses).
    if (this.#creatingInstances.has(identifier)) throw exists();
    this.#creatingInstances.add(identifier);
    try {
      const statuses = await this.#statuses();
      const status = statuses.find((s) => s.cluster === clusterId.toLowerCase());
      if (status === undefined)
        throw new RdsApiError('DBClusterNotFoundFault', `DBCluster ${clusterId} not found.`, 404);
      if (statuses.some((s) => s.instances.some((i) => dbInstanceIdentifier(s, i.id) === identifier)))
        throw exists();
      if (status.failoverInProgress || this.#backtracking.has(status.cluster)) {
        throw new RdsApiError(
          'InvalidDBClusterStateFault',
          `DBCluster ${status.cluster} is not available (failing over or backtracking).`,
        );
      }
      const instance = (await this.#controlPlane(status.cluster, 'POST', controlPlaneRoutes.addInstance, {
        id: identifier,
        tier,
        ...(az === undefined ? {} : { az }),
      })) as InstanceStatus;
      const after = { ...status, instances: [...status.instances, instance] };
      return { DBInstance: { ...dbInstanceShape(after, instance), DBInstanceStatus: 'creating' } };
    } finally {
      this.#creatingInstances.delete(identifier);
    }
  }

  /** DeleteDBInstance: the instance stops and is gone; the writer is failed over first (as RDS does). */
  async #deleteInstance(params: QueryParams): Promise<XmlStruct> {
    const { status, instance } = await this.#findInstance(params.required('DBInstanceIdentifier'));
    const shape = { ...dbInstanceShape(status, instance), DBInstanceStatus: 'deleting' };
    await this.#controlPlane(status.cluster, 'POST', controlPlaneRoutes.removeInstance, { id: instance.id });
    return { DBInstance: shape };
  }

  /** RebootDBInstance: the instance's process restarts (ForceFailover: the writer fails over instead). */
  async #rebootInstance(params: QueryParams): Promise<XmlStruct> {
    const { status, instance } = await this.#findInstance(params.required('DBInstanceIdentifier'));
    const forceFailover = params.boolean('ForceFailover') === true;
    if (forceFailover && instance.id !== status.writer) {
      throw new RdsApiError(
        'InvalidParameterCombination',
        `ForceFailover applies to the writer; ${params.required('DBInstanceIdentifier')} is a reader.`,
      );
    }
    const after = (await this.#controlPlane(status.cluster, 'POST', controlPlaneRoutes.rebootInstance, {
      id: instance.id,
      forceFailover,
    })) as InstanceStatus;
    const now = await this.#cluster(status.cluster);
    return { DBInstance: dbInstanceShape(now, now.instances.find((i) => i.id === after.id) ?? after) };
  }

  async #failover(params: QueryParams): Promise<XmlStruct> {
    const status = await this.#cluster(params.required('DBClusterIdentifier'));
    if (status.failoverInProgress || this.#backtracking.has(status.cluster)) {
      throw new RdsApiError(
        'InvalidDBClusterStateFault',
        `DBCluster ${status.cluster} is failing-over: wait until it is available.`,
      );
    }
    const targetId = params.string('TargetDBInstanceIdentifier');
    let target: string | undefined;
    if (targetId !== undefined) {
      const instance = instanceOf(status, targetId);
      if (instance === undefined)
        throw new RdsApiError(
          'DBInstanceNotFoundFault',
          `DBInstance ${targetId} not found in DBCluster ${status.cluster}.`,
          404,
        );
      if (instance.id === status.writer) {
        throw new RdsApiError(
          'InvalidParameterCombination',
          `DBInstance ${targetId} is already the writer of DBCluster ${status.cluster}.`,
        );
      }
      if (instance.state !== 'running' || !instance.healthy) {
        throw new RdsApiError(
          'InvalidDBInstanceStateFault',
          `DBInstance ${targetId} is not available (${instance.state}).`,
        );
      }
      target = instance.id;
    } else if (!status.instances.some((i) => i.role === 'reader' && i.state === 'running')) {
      throw new RdsApiError(
        'InvalidDBClusterStateFault',
        `DBCluster ${status.cluster} has no available reader to fail over to.`,
      );
    }
    const cluster = status.cluster;
    // Taken before the next await: a second FailoverDBCluster meanwhile is refused.
    this.#failingOver.add(cluster);
    const topology = await this.options.directory.read(cluster).catch((error: Error) => {
      this.#failingOver.delete(cluster);
      throw error;
    });
    const started = Date.now();
    // The failover runs on: RDS answers at once with the cluster failing over.
    void fetch(new URL(controlPlaneRoutes.failover, topology.controlPlaneUrl!), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(target === undefined ? {} : { target }),
      signal: AbortSignal.timeout(failoverAcceptMs),
    })
      .then(async (response) => {
        const body = await response.text();
        if (!response.ok)
          this.options.logger.error(
            { cluster, status: response.status, body: body.slice(0, 300) },
            'FailoverDBCluster: the control plane refused',
          );
        else
          this.options.logger.info({ cluster, target, ms: Date.now() - started }, 'FailoverDBCluster: done');
      })
      .catch((error: Error) =>
        this.options.logger.error(
          { cluster, err: error.message },
          'FailoverDBCluster: the control plane did not answer',
        ),
      )
      .finally(() => this.#failingOver.delete(cluster));
    return { DBCluster: dbClusterShape({ ...status, failoverInProgress: true }) };
  }
}

/** A control plane's backtrack record (Aurora's field names already) as the RDS API returns it. */
function backtrackShape(b: Record<string, string>): XmlStruct {
  return {
    BacktrackIdentifier: b.BacktrackIdentifier,
    BacktrackTo: b.BacktrackTo,
    BacktrackedFrom: b.BacktrackedFrom,
    BacktrackRequestCreationTime: b.BacktrackRequestCreationTime,
    Status: b.Status,
  };
}
