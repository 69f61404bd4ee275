// The RDS API's restores (RestoreDBClusterToPointInTime, RestoreDBClusterFromSnapshot): each is a
// `Borealis Restore Requested` event on the region's bus — the one `borealis restore` puts — for the
// region's restore function, which plans it from the backup bucket and has the new cluster created.
// Until that cluster publishes its topology, this API shows it as `creating` itself (as RDS does from
// the call on); a restore the function reports failed is dropped, with the reason in this log.

import { randomUUID } from 'node:crypto';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { S3Client } from '@aws-sdk/client-s3';
import { readRestorableState } from '../../core/backup/commit-horizon-store.ts';
import { latestRestorableTimeMs } from '../../core/backup/restorable-window.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { type BusEvent, listFileEvents, makeEvent, putFileEvent } from '../../core/events/file-bus.ts';
import { borealisEventSource, eventDetailTypes } from '../../core/functions.ts';
import type { Logger } from '../../core/log.ts';
import type { RestoreFailure } from '../../core/rds/events.ts';
import { RdsApiError, type XmlStruct } from '../../core/rds/query-protocol.ts';
import { auroraEngine, auroraEngineVersion } from '../../core/rds/shapes.ts';
import { regionalResources } from '../../core/resources.ts';

/** Borealis's cluster names (the restore function's rule): RDS identifiers, lowercased, short. */
const clusterNamePattern = /^[a-z][a-z0-9-]{0,40}$/;
/** Restores asked here at once. */
export const restoresInFlightMax = 4;
/** A restore whose cluster never appears (its answer not seen: EventBridge) is dropped after this. */
const pendingMaxMs = 30 * 60_000;
/** Failed restores remembered for their RDS events (the newest). */
export const restoreFailuresKept = 20;

/** Where restore requests go and their answers come back. */
export interface RestoreBus {
  put(event: BusEvent): Promise<void>;
  /** The restore function's answer, when this bus can see it. */
  failure(requestId: string): string | undefined;
}

export function fileRestoreBus(busDir: string): RestoreBus {
  return {
    put: async (event) => {
      putFileEvent(busDir, 'inbox', event);
    },
    failure: (requestId) => {
      const answer = listFileEvents(busDir, 'emitted').find(
        (e) =>
          (e.event.detail as { requestId?: string }).requestId === requestId &&
          e.event['detail-type'] === eventDetailTypes.restoreFailed,
      );
      return answer ? String((answer.event.detail as { reason?: unknown }).reason) : undefined;
    },
  };
}

export function eventBridgeRestoreBus(events: EventBridgeClient): RestoreBus {
  return {
    put: async (event) => {
      const out = await events.send(
        new PutEventsCommand({
          Entries: [
            { Source: event.source, DetailType: event['detail-type'], Detail: JSON.stringify(event.detail) },
          ],
        }),
      );
      if ((out.FailedEntryCount ?? 0) > 0)
        throw new Error(`PutEvents: ${out.Entries?.[0]?.ErrorMessage ?? 'failed'}`);
    },
    failure: () => undefined,
  };
}

interface Pending {
  requestId: string;
  target: string;
  source: ClusterStatus;
  startedAt: Date;
}

export class ClusterRestores {
  readonly #pending = new Map<string, Pending>();
  /** Names taken by a call still checking its input: a second call for the same name is refused. */
  readonly #reserved = new Set<string>();
  /** Restores the function reported failed, oldest first (at most restoreFailuresKept). */
  readonly #failures: RestoreFailure[] = [];

  constructor(private readonly options: { region: string; s3: S3Client; bus: RestoreBus; logger: Logger }) {}

  /**
   * A new cluster's name from DBClusterIdentifier (RDS keeps identifiers lowercase), reserved at once:
   * the caller passes it to start() or gives it back with release().
   */
  reserve(identifier: string, existing: ReadonlySet<string>): string {
    const name = identifier.toLowerCase();
    if (!clusterNamePattern.test(name) || name.endsWith('-') || name.includes('--')) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `DBClusterIdentifier '${identifier}' must be 1-41 letters, digits or hyphens, start with a letter, and not end with a hyphen or contain two consecutive hyphens`,
      );
    }
    if (existing.has(name) || this.#pending.has(name) || this.#reserved.has(name)) {
      throw new RdsApiError('DBClusterAlreadyExistsFault', `DB cluster already exists: ${name}`);
    }
    if (this.#pending.size + this.#reserved.size >= restoresInFlightMax) {
      throw new RdsApiError(
        'InsufficientDBClusterCapacityFault',
        `${restoresInFlightMax} restores are running already on this machine: try again when one is available.`,
      );
    }
    this.#reserved.add(name);
    return name;
  }

  release(name: string): void {
    this.#reserved.delete(name);
  }

  /**
   * The source's latest restorable time (undefined: nothing yet): its archive watermark's commit, or
   * later while it is idle — a commit horizon the watermark has passed (core/backup/commit-horizon.ts,
   * checked by DescribeDBClusters). The restore function accepts the same (core/backup/restore-plan.ts).
   */
  async latestRestorableTime(source: string): Promise<Date | undefined> {
    const bucket = regionalResources(this.options.region, source).backupBucket;
    const state = await readRestorableState(this.options.s3, bucket, source).catch(() => undefined);
    const ms = state && latestRestorableTimeMs(state);
    return ms === undefined ? undefined : new Date(ms);
  }

  async start(
    source: ClusterStatus,
    target: string,
    to: { restoreTime: Date } | { snapshotId: string },
  ): Promise<XmlStruct> {
    const requestId = randomUUID();
    await this.options.bus.put(
      makeEvent(
        borealisEventSource,
        eventDetailTypes.restoreRequested,
        {
          requestId,
          sourceCluster: source.cluster,
          targetCluster: target,
          ...('restoreTime' in to
            ? { restoreTime: to.restoreTime.toISOString() }
            : { snapshotId: to.snapshotId }),
        },
        this.options.region,
      ),
    );
    const pending = { requestId, target, source, startedAt: new Date() };
    this.#pending.set(target, pending);
    this.#reserved.delete(target);
    this.options.logger.info({ requestId, source: source.cluster, target, ...to }, 'restore requested');
    return { DBCluster: this.#shape(pending) };
  }

  /** Drops what is settled: a cluster that now exists, a failed restore, one too old to wait for. */
  sweep(existing: ReadonlySet<string>): void {
    for (const [target, p] of this.#pending) {
      const failed = this.options.bus.failure(p.requestId);
      if (failed !== undefined) {
        this.options.logger.warn({ target, requestId: p.requestId, reason: failed }, 'restore failed');
        this.#failures.push({ target, source: p.source, reason: failed, at: new Date() });
        if (this.#failures.length > restoreFailuresKept) this.#failures.shift();
      }
      if (existing.has(target) || failed !== undefined || Date.now() - p.startedAt.getTime() > pendingMaxMs) {
        this.#pending.delete(target);
      }
    }
  }

  /** Restores the function reported failed (seen by sweep), oldest first: their RDS events. */
  failures(): readonly RestoreFailure[] {
    return this.#failures;
  }

  /** Clusters being restored that do not run yet, as DescribeDBClusters shows them. */
  creating(): { name: string; shape: XmlStruct }[] {
    return [...this.#pending.values()].map((p) => ({ name: p.target, shape: this.#shape(p) }));
  }

  #shape(p: Pending): XmlStruct {
    const account = p.source.resourceArn.split(':')[4] ?? '000000000000';
    return {
      DBClusterIdentifier: p.target,
      DBClusterArn: `arn:aws:rds:${this.options.region}:${account}:cluster:${p.target}`,
      Status: 'creating',
      Engine: auroraEngine,
      EngineVersion: auroraEngineVersion,
      EngineMode: 'provisioned',
      DBClusterMembers: {},
      ClusterCreateTime: p.startedAt,
    };
  }
}
