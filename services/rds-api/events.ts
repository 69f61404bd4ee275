// The region's RDS events, gathered: what DescribeEvents answers from and what the event publisher
// (event-publisher.ts) puts on the bus. The I/O half of core/rds/events.ts — each cluster's control
// plane (GET /status, GET /backtracks), its backup bucket's snapshot manifests (their S3 listing:
// a manifest is written last, so its LastModified is when the snapshot was complete), and what this
// process saw itself (snapshots it started, restores reported failed). A source that does not answer
// costs its events this time only, logged: the others are still returned.
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { snapshotPrefix } from '../../core/backup/archive.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { Logger } from '../../core/log.ts';
import {
  type BacktrackRecord,
  backtrackEvents,
  clusterEvents,
  type RdsEvent,
  restoreFailureEvents,
  type SnapshotFact,
  snapshotEvents,
} from '../../core/rds/events.ts';
import { regionalResources } from '../../core/resources.ts';
import type { ClusterDirectory } from './clusters.ts';
import type { ClusterRestores } from './restores.ts';
import { type ClusterSnapshots, snapshotTypeOf } from './snapshots.ts';

/** Manifest keys listed per cluster at most (hourly snapshots for 35 days are 840). */
export const snapshotListingMax = 5_000;
const controlPlaneTimeoutMs = 2_000;

export class RegionEvents {
  constructor(
    private readonly options: {
      region: string;
      s3: S3Client;
      directory: ClusterDirectory;
      snapshots: Pick<ClusterSnapshots, 'startedHere'>;
      restores: Pick<ClusterRestores, 'failures' | 'sweep'>;
      logger: Logger;
    },
  ) {}

  /** Every event of these running clusters (and of the restores asked here), in no order. */
  async of(statuses: readonly ClusterStatus[]): Promise<RdsEvent[]> {
    // The restores the function answered meanwhile (the file bus): their failures are events too.
    this.options.restores.sweep(new Set(statuses.map((s) => s.cluster)));
    const started = this.options.snapshots.startedHere();
    const perCluster = await Promise.all(
      statuses.map(async (status) => {
        const [backtracks, stored] = await Promise.all([
          this.#backtracks(status),
          this.#storedSnapshots(status.cluster),
        ]);
        const facts = new Map<string, SnapshotFact>();
        for (const s of stored) {
          facts.set(s.id, { id: s.id, type: snapshotTypeOf(s.id), createdAt: s.createdAt });
        }
        // Started here: the start, and the manifest's own time (S3 lists whole seconds) once stored.
        for (const s of started) {
          if (s.cluster !== status.cluster) continue;
          const listedAt = facts.get(s.id)?.createdAt;
          facts.set(s.id, {
            id: s.id,
            type: snapshotTypeOf(s.id),
            startedAt: s.startedAt,
            ...(listedAt === undefined ? {} : { createdAt: s.createdAt ?? listedAt }),
          });
        }
        return [
          ...clusterEvents(status, {
            snapshotIdentifier: (id) => (snapshotTypeOf(id) === 'automated' ? `rds:${id}` : id),
          }),
          ...backtrackEvents(status, backtracks),
          ...snapshotEvents(status, [...facts.values()]),
        ];
      }),
    );
    return [...perCluster.flat(), ...restoreFailureEvents(this.options.restores.failures())];
  }

  async #backtracks(status: ClusterStatus): Promise<BacktrackRecord[]> {
    try {
      const topology = await this.options.directory.read(status.cluster);
      if (topology.controlPlaneUrl === undefined) return [];
      const response = await fetch(new URL('/backtracks', topology.controlPlaneUrl), {
        signal: AbortSignal.timeout(controlPlaneTimeoutMs),
      });
      if (!response.ok) throw new Error(`GET /backtracks answered ${response.status}`);
      return ((await response.json()) as { backtracks?: BacktrackRecord[] }).backtracks ?? [];
    } catch (error) {
      this.options.logger.warn(
        { cluster: status.cluster, err: (error as Error).message },
        'RDS events: no backtrack history from the control plane this time',
      );
      return [];
    }
  }

  /** The cluster's stored snapshots: id and when its manifest was written. */
  async #storedSnapshots(cluster: string): Promise<{ id: string; createdAt: Date }[]> {
    const bucket = regionalResources(this.options.region, cluster).backupBucket;
    const prefix = snapshotPrefix(cluster);
    const out: { id: string; createdAt: Date }[] = [];
    try {
      let token: string | undefined;
      do {
        const page = await this.options.s3.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) {
          const rest = o.Key?.slice(prefix.length) ?? '';
          if (!rest.endsWith('.json') || rest.includes('/') || o.LastModified === undefined) continue;
          out.push({ id: rest.slice(0, -'.json'.length), createdAt: o.LastModified });
        }
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined && out.length < snapshotListingMax);
    } catch (error) {
      // A cluster without a backup bucket (none made yet) has no snapshots.
      if ((error as Error).name !== 'NoSuchBucket') {
        this.options.logger.warn(
          { cluster, bucket, err: (error as Error).message },
          'RDS events: the snapshots were not listed this time',
        );
      }
    }
    return out;
  }
}
