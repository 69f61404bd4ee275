// RDS events (DescribeEvents) from what a control plane remembers, pure: each failover it ran (the
// last 20, core/cluster/topology.ts) is the pair of events Aurora emits for a cluster — a failover
// started, then completed to the new writer — with the instance events beside them; each instance
// created, deleted or rebooted through the RDS API is the instance event RDS emits for it.
import type { ClusterStatus } from '../cluster/topology.ts';
import type { XmlStruct } from './query-protocol.ts';
import { dbInstanceArn, dbInstanceIdentifier } from './shapes.ts';

export interface RdsEvent {
  sourceIdentifier: string;
  sourceType: 'db-cluster' | 'db-instance';
  sourceArn: string;
  message: string;
  categories: string[];
  date: Date;
}

export function clusterEvents(status: ClusterStatus): RdsEvent[] {
  const events: RdsEvent[] = [];
  const cluster = {
    sourceIdentifier: status.cluster,
    sourceType: 'db-cluster' as const,
    sourceArn: status.resourceArn,
  };
  for (const f of status.failovers) {
    // A writer restarted in place (a Global Database secondary's applier) or replaced by itself (a
    // backtrack, a global promotion or demotion: planned failovers to the same slot) is no failover.
    if (f.kind === 'restart' || f.from === f.to) continue;
    const completed = new Date(f.at);
    const started = new Date(completed.getTime() - f.durationMs);
    const to = dbInstanceIdentifier(status, f.to);
    events.push(
      {
        ...cluster,
        message: `Started cross AZ failover to DB instance: ${to}`,
        categories: ['failover'],
        date: started,
      },
      {
        ...cluster,
        message: `Completed failover to DB instance: ${to}`,
        categories: ['failover'],
        date: completed,
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
    created: { message: 'DB instance created', category: 'creation' },
    deleted: { message: 'DB instance deleted', category: 'deletion' },
    rebooted: { message: 'DB instance restarted', category: 'availability' },
  } as const;
  for (const e of status.instanceEvents ?? []) {
    const { message, category } = instanceMessages[e.action];
    events.push({
      sourceIdentifier: e.rdsIdentifier,
      sourceType: 'db-instance',
      sourceArn: `arn:aws:rds:${status.region}:${status.resourceArn.split(':')[4] ?? '000000000000'}:db:${e.rdsIdentifier}`,
      message,
      categories: [category],
      date: new Date(e.at),
    });
  }
  return events;
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
