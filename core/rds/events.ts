// RDS events (DescribeEvents, and the `aws.rds` events on EventBridge) from what Borealis records,
// pure. A control plane's status gives each failover it ran (the last 20, core/cluster/topology.ts)
// as the pair of events Aurora emits for a cluster — a failover started, then completed to the new
// writer — with the instance events beside them, each instance created, deleted or rebooted through
// the RDS API, and the restore that created the cluster; its backtrack history gives each backtrack
// started and completed (or failed); a cluster's snapshots give the snapshot events; the RDS API's
// own restores the ones that failed. Message wording and event IDs are those of Aurora's event list
// ("Amazon RDS event categories and event messages for Aurora") where it has them.
import { createHash } from 'node:crypto';
import type { DbClusterBacktrack } from '../backtrack/request.ts';
import type { ClusterStatus } from '../cluster/topology.ts';
import type { XmlStruct } from './query-protocol.ts';
import { dbInstanceArn, dbInstanceIdentifier } from './shapes.ts';

export type RdsEventSourceType = 'db-cluster' | 'db-instance' | 'db-cluster-snapshot';

export interface RdsEvent {
  sourceIdentifier: string;
  sourceType: RdsEventSourceType;
  sourceArn: string;
  message: string;
  categories: string[];
  date: Date;
  /**
   * The RDS event ID (EventBridge's `detail.EventID`) where Aurora's event list documents this event;
   * absent where it documents none (backtrack started/completed, a cluster restored, a restore failed).
   */
  eventId?: string;
}

/** What an event on a cluster needs of it. */
export type ClusterRef = Pick<ClusterStatus, 'cluster' | 'region' | 'resourceArn'>;

export function accountOf(cluster: Pick<ClusterStatus, 'resourceArn'>): string {
  return cluster.resourceArn.split(':')[4] || '000000000000';
}

function onCluster(cluster: ClusterRef): Pick<RdsEvent, 'sourceIdentifier' | 'sourceType' | 'sourceArn'> {
  return { sourceIdentifier: cluster.cluster, sourceType: 'db-cluster', sourceArn: cluster.resourceArn };
}

export function clusterEvents(
  status: ClusterStatus,
  options: {
    /** A Borealis snapshot id as RDS names it (automated ones carry `rds:`); default: as it is. */
    snapshotIdentifier?: (snapshotId: string) => string;
  } = {},
): RdsEvent[] {
  const events: RdsEvent[] = [];
  const cluster = onCluster(status);
  const azOf = (id: string | null) => status.instances.find((i) => i.id === id)?.az;
  for (const f of status.failovers) {
    // A writer restarted in place (a Global Database secondary's applier) or replaced by itself (a
    // backtrack, a global promotion or demotion: planned failovers to the same slot) is no failover.
    if (f.kind === 'restart' || f.from === f.to) continue;
    const completed = new Date(f.at);
    const started = new Date(completed.getTime() - f.durationMs);
    const to = dbInstanceIdentifier(status, f.to);
    // Same AZ only when both instances are known here and share one (the old writer may be gone).
    const fromAz = azOf(f.from);
    const sameAz = fromAz !== undefined && fromAz === azOf(f.to);
    events.push(
      {
        ...cluster,
        message: `Started ${sameAz ? 'same' : 'cross'} AZ failover to DB instance: ${to}`,
        categories: ['failover'],
        date: started,
        eventId: sameAz ? 'RDS-EVENT-0072' : 'RDS-EVENT-0073',
      },
      {
        ...cluster,
        message: `Completed failover to DB instance: ${to}`,
        categories: ['failover'],
        date: completed,
        eventId: 'RDS-EVENT-0071',
      },
      {
        sourceIdentifier: to,
        sourceType: 'db-instance',
        sourceArn: dbInstanceArn(status, f.to),
        message:
          f.kind === 'planned'
            ? 'The user requested a failover of the DB cluster.'
            : `Writer failed: ${f.reason}`,
        categories: ['failover'],
        date: completed,
      },
    );
  }
  // As RDS words them (RDS-EVENT-0005, -0003, -0006).
  const instanceMessages = {
    created: { message: 'DB instance created', category: 'creation', eventId: 'RDS-EVENT-0005' },
    deleted: { message: 'DB instance deleted', category: 'deletion', eventId: 'RDS-EVENT-0003' },
    rebooted: { message: 'DB instance restarted', category: 'availability', eventId: 'RDS-EVENT-0006' },
  } as const;
  for (const e of status.instanceEvents ?? []) {
    const { message, category, eventId } = instanceMessages[e.action];
    events.push({
      sourceIdentifier: e.rdsIdentifier,
      sourceType: 'db-instance',
      sourceArn: `arn:aws:rds:${status.region}:${accountOf(status)}:db:${e.rdsIdentifier}`,
      message,
      categories: [category],
      date: new Date(e.at),
      eventId,
    });
  }
  // A cluster a restore created exists once its volume is loaded: RDS's "DB cluster created"
  // (RDS-EVENT-0170), and what it was restored from, worded as RDS words an instance's restores
  // (RDS-EVENT-0043 "Restored from snapshot", RDS-EVENT-0019 "Restored from DB instance X to Y").
  const restore = status.restore;
  if (restore?.phase === 'done' && restore.finishedAt !== undefined) {
    const date = new Date(restore.finishedAt);
    const snapshot = restore.snapshotId && (options.snapshotIdentifier ?? ((id) => id))(restore.snapshotId);
    events.push(
      {
        ...cluster,
        message: 'DB cluster created',
        categories: ['creation'],
        date,
        eventId: 'RDS-EVENT-0170',
      },
      {
        ...cluster,
        message: snapshot
          ? `Restored from snapshot ${snapshot}`
          : `Restored from DB cluster ${restore.sourceCluster} to ${status.cluster} at point in time ${restore.restoreTime}`,
        categories: ['restoration'],
        date,
      },
    );
  }
  return events;
}

/** What a backtrack event needs of a DBClusterBacktrack (the control plane's GET /backtracks). */
export type BacktrackRecord = Pick<
  DbClusterBacktrack,
  | 'BacktrackIdentifier'
  | 'BacktrackTo'
  | 'BacktrackRequestCreationTime'
  | 'Status'
  | 'StatusReason'
  | 'EndTime'
>;

/**
 * Each backtrack as a started event when asked and a completed (or failed) one when it ended, on the
 * cluster, category `backtrack` (Aurora's; its list documents no started/completed IDs). An ended
 * backtrack recorded before its end time was kept has no end event.
 */
export function backtrackEvents(cluster: ClusterRef, backtracks: readonly BacktrackRecord[]): RdsEvent[] {
  const events: RdsEvent[] = [];
  for (const b of backtracks) {
    const to = b.BacktrackTo;
    events.push({
      ...onCluster(cluster),
      message: `Backtrack to ${to} started (${b.BacktrackIdentifier})`,
      categories: ['backtrack'],
      date: new Date(b.BacktrackRequestCreationTime),
    });
    if ((b.Status === 'completed' || b.Status === 'failed') && b.EndTime !== undefined) {
      events.push({
        ...onCluster(cluster),
        message:
          b.Status === 'completed'
            ? `Backtrack to ${to} completed (${b.BacktrackIdentifier})`
            : `Backtrack to ${to} failed (${b.BacktrackIdentifier}): ${b.StatusReason ?? 'unknown'}`,
        categories: b.Status === 'completed' ? ['backtrack'] : ['backtrack', 'failure'],
        date: new Date(b.EndTime),
      });
    }
  }
  return events;
}

/** A cluster snapshot as far as its events go: when it was started here, when it was stored. */
export interface SnapshotFact {
  /** Borealis's id (an automated one's RDS identifier is `rds:<id>`). */
  id: string;
  type: 'manual' | 'automated';
  /** When CreateDBClusterSnapshot started it here (unknown for the scheduled function's). */
  startedAt?: Date;
  /** When its manifest was stored: the snapshot is complete. */
  createdAt?: Date;
}

/**
 * A snapshot's "creating" event when it was started, its "created" event when it was stored, on the
 * snapshot (RDS-EVENT-0074/0075 manual, RDS-EVENT-0168/0169 automated; category `backup`).
 */
export function snapshotEvents(cluster: ClusterRef, snapshots: readonly SnapshotFact[]): RdsEvent[] {
  const events: RdsEvent[] = [];
  for (const s of snapshots) {
    const identifier = s.type === 'automated' ? `rds:${s.id}` : s.id;
    const source = {
      sourceIdentifier: identifier,
      sourceType: 'db-cluster-snapshot' as const,
      sourceArn: `arn:aws:rds:${cluster.region}:${accountOf(cluster)}:cluster-snapshot:${identifier}`,
      categories: ['backup'],
    };
    const manual = s.type === 'manual';
    if (s.startedAt !== undefined) {
      events.push({
        ...source,
        message: manual ? 'Creating manual cluster snapshot' : 'Creating automated cluster snapshot',
        date: s.startedAt,
        eventId: manual ? 'RDS-EVENT-0074' : 'RDS-EVENT-0168',
      });
    }
    if (s.createdAt !== undefined) {
      events.push({
        ...source,
        message: manual ? 'Manual cluster snapshot created' : 'Automated cluster snapshot created',
        date: s.createdAt,
        eventId: manual ? 'RDS-EVENT-0075' : 'RDS-EVENT-0169',
      });
    }
  }
  return events;
}

/** A restore the restore function reported failed: its new cluster never ran. */
export interface RestoreFailure {
  target: string;
  source: ClusterRef;
  reason: string;
  at: Date;
}

/** A failed restore as a `failure` event on the cluster it was to create (no RDS event ID fits it). */
export function restoreFailureEvents(failures: readonly RestoreFailure[]): RdsEvent[] {
  return failures.map((f) => ({
    sourceIdentifier: f.target,
    sourceType: 'db-cluster',
    sourceArn: `arn:aws:rds:${f.source.region}:${accountOf(f.source)}:cluster:${f.target}`,
    message: `Restore of DB cluster ${f.target} from ${f.source.cluster} failed: ${f.reason}`,
    categories: ['failure'],
    date: f.at,
  }));
}

/** DescribeEvents' filters: source, type, time window (Duration minutes back from EndTime), categories. */
export function selectEvents(
  events: readonly RdsEvent[],
  filter: {
    sourceIdentifier?: string;
    sourceType?: string;
    startTime?: Date;
    endTime?: Date;
    categories?: readonly string[];
  },
): RdsEvent[] {
  return events
    .filter(
      (e) =>
        (filter.sourceIdentifier === undefined || e.sourceIdentifier === filter.sourceIdentifier) &&
        (filter.sourceType === undefined || e.sourceType === filter.sourceType) &&
        (filter.startTime === undefined || e.date >= filter.startTime) &&
        (filter.endTime === undefined || e.date <= filter.endTime) &&
        (filter.categories === undefined ||
          filter.categories.length === 0 ||
          e.categories.some((c) => filter.categories!.includes(c))),
    )
    .sort((a, b) => a.date.getTime() - b.date.getTime());
}

export function eventShape(e: RdsEvent): XmlStruct {
  return {
    SourceIdentifier: e.sourceIdentifier,
    SourceType: e.sourceType,
    Message: e.message,
    EventCategories: { EventCategory: e.categories },
    Date: e.date,
    SourceArn: e.sourceArn,
  };
}

/** The event's identity: the same event derived twice has the same key (what a publisher dedupes by). */
export function eventKey(e: RdsEvent): string {
  // A cluster snapshot has each of its events once, but its date is derived two ways (the manifest's
  // own time while this process remembers starting it, S3's whole-second LastModified after a
  // restart): keyed without it, so a restarted publisher does not put it again.
  const date = e.sourceType === 'db-cluster-snapshot' ? '' : e.date.toISOString();
  return [e.sourceType, e.sourceIdentifier, date, e.message].join('\n');
}

/** A stable EventBridge event id from the key (UUID-shaped), so a restarted publisher knows its own. */
export function eventBridgeEventId(e: RdsEvent): string {
  const h = createHash('sha256').update(eventKey(e)).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** RDS's EventBridge detail-types and detail SourceTypes, by DescribeEvents SourceType. */
const eventBridgeTypes = {
  'db-cluster': { detailType: 'RDS DB Cluster Event', sourceType: 'CLUSTER' },
  'db-instance': { detailType: 'RDS DB Instance Event', sourceType: 'DB_INSTANCE' },
  'db-cluster-snapshot': { detailType: 'RDS DB Cluster Snapshot Event', sourceType: 'CLUSTER_SNAPSHOT' },
} as const satisfies Record<RdsEventSourceType, { detailType: string; sourceType: string }>;

export const rdsEventSource = 'aws.rds';

export interface RdsEventBridgeDetail {
  EventCategories: string[];
  SourceType: string;
  SourceArn: string;
  Date: string;
  Message: string;
  SourceIdentifier: string;
  EventID?: string;
}

/** The event as RDS puts it on EventBridge (the Aurora user guide's examples of RDS events). */
export function eventBridgeEvent(e: RdsEvent): {
  id: string;
  source: typeof rdsEventSource;
  detailType: string;
  time: Date;
  resources: string[];
  detail: RdsEventBridgeDetail;
} {
  const types = eventBridgeTypes[e.sourceType];
  return {
    id: eventBridgeEventId(e),
    source: rdsEventSource,
    detailType: types.detailType,
    time: e.date,
    resources: [e.sourceArn],
    detail: {
      EventCategories: e.categories,
      SourceType: types.sourceType,
      SourceArn: e.sourceArn,
      Date: e.date.toISOString(),
      Message: e.message,
      SourceIdentifier: e.sourceIdentifier,
      ...(e.eventId === undefined ? {} : { EventID: e.eventId }),
    },
  };
}
