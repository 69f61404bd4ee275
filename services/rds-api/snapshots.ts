// The RDS API's cluster snapshots (CreateDBClusterSnapshot, DescribeDBClusterSnapshots,
// DeleteDBClusterSnapshot) over Borealis's incremental snapshots in the region's backup bucket.
// A snapshot is taken by the snapshot function's own code, run here (as `borealis snapshot create`
// runs it): the cluster's published topology gives the volume and the writer's consistent point.
// Manual snapshots are the ones named by a caller; the scheduled function's (snap-<time>-<LSN>) are
// automated, as RDS names its own `rds:` ones.
import { DeleteObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { type SnapshotManifest, snapshotManifestKey } from '../../core/backup/archive.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { ReadPublishedTopology } from '../../core/cluster/topology-store.ts';
import type { Logger } from '../../core/log.ts';
import { RdsApiError, type XmlStruct } from '../../core/rds/query-protocol.ts';
import { auroraEngine, auroraEngineVersion } from '../../core/rds/shapes.ts';
import { regionalResources } from '../../core/resources.ts';
import { listManifests, lsnOfSnapshotId, readManifest } from '../../functions/snapshot/catalog.ts';
import { runSnapshot } from '../../functions/snapshot/run.ts';
import { publishedTopologySource } from '../../functions/snapshot/source.ts';

/** RDS's identifier rule: a letter, then letters, digits, hyphens; no '--', no trailing '-'. */
export const rdsIdentifierPattern = /^[A-Za-z](?:[A-Za-z0-9]|-(?!-)){0,254}$/;
/** Snapshots being taken here at once (each reads pages from storage). */
export const snapshotsInFlightMax = 4;

export type SnapshotType = 'manual' | 'automated';

export function snapshotTypeOf(snapshotId: string): SnapshotType {
  return lsnOfSnapshotId(snapshotId) === undefined ? 'manual' : 'automated';
}

export function checkIdentifier(name: string, value: string): void {
  if (!rdsIdentifierPattern.test(value) || value.endsWith('-')) {
    throw new RdsApiError(
      'InvalidParameterValue',
      `${name} '${value}' must begin with a letter, contain only ASCII letters, digits and hyphens, and not end with a hyphen or contain two consecutive hyphens`,
    );
  }
}

export interface SnapshotShapeInput {
  id: string;
  cluster: ClusterStatus | { cluster: string; region: string; resourceArn: string };
  status: 'creating' | 'available';
  manifest?: SnapshotManifest;
  startedAt?: Date;
}

export function dbClusterSnapshotShape(input: SnapshotShapeInput): XmlStruct {
  const { cluster, manifest } = input;
  const account = cluster.resourceArn.split(':')[4] ?? '000000000000';
  const type = snapshotTypeOf(input.id);
  return {
    DBClusterSnapshotIdentifier: type === 'automated' ? `rds:${input.id}` : input.id,
    DBClusterIdentifier: cluster.cluster,
    DBClusterSnapshotArn: `arn:aws:rds:${cluster.region}:${account}:cluster-snapshot:${type === 'automated' ? `rds:${input.id}` : input.id}`,
    SnapshotType: type,
    Status: input.status,
    Engine: auroraEngine,
    EngineVersion: auroraEngineVersion,
    SnapshotCreateTime: manifest ? new Date(manifest.createdAt) : input.startedAt,
    PercentProgress: input.status === 'available' ? 100 : 0,
    AllocatedStorage: manifest ? Math.ceil((manifest.pageCount * manifest.pageSizeBytes) / 2 ** 30) : 0,
    StorageEncrypted: false,
  };
}

/** An RDS snapshot identifier back to Borealis's (automated ones carry `rds:`). */
export function borealisSnapshotId(identifier: string): string {
  return identifier.startsWith('rds:') ? identifier.slice(4) : identifier;
}

export class ClusterSnapshots {
  /** Snapshots being taken here: cluster/id → when it started. */
  readonly #creating = new Map<string, { cluster: ClusterStatus; startedAt: Date }>();

  constructor(
    private readonly options: {
      region: string;
      s3: S3Client;
      readTopology: ReadPublishedTopology;
      logger: Logger;
    },
  ) {}

  bucketOf(cluster: string): string {
    return regionalResources(this.options.region, cluster).backupBucket;
  }

  async create(cluster: ClusterStatus, id: string): Promise<XmlStruct> {
    checkIdentifier('DBClusterSnapshotIdentifier', id);
    const key = `${cluster.cluster}/${id}`;
    const exists = () =>
      new RdsApiError(
        'DBClusterSnapshotAlreadyExistsFault',
        `Cannot create the cluster snapshot because one with the identifier ${id} already exists.`,
      );
    if (this.#creating.has(key)) throw exists();
    if (this.#creating.size >= snapshotsInFlightMax) {
      throw new RdsApiError(
        'SnapshotQuotaExceeded',
        `${snapshotsInFlightMax} snapshots are being created already: try again when one is available.`,
      );
    }
    // Taken before the bucket is asked: a second call for the same id meanwhile is refused.
    const startedAt = new Date();
    this.#creating.set(key, { cluster, startedAt });
    const stored = await this.#find(cluster.cluster, id).catch((error: Error) => {
      this.#creating.delete(key);
      throw error;
    });
    if (stored !== undefined) {
      this.#creating.delete(key);
      throw exists();
    }
    void runSnapshot({
      s3: this.options.s3,
      bucket: this.bucketOf(cluster.cluster),
      cluster: cluster.cluster,
      source: publishedTopologySource(cluster.cluster, this.options.readTopology),
      request: { snapshotId: id },
      log: (message, fields) =>
        this.options.logger.info({ cluster: cluster.cluster, snapshot: id, ...fields }, message),
    })
      .then((result) =>
        this.options.logger.info(
          { cluster: cluster.cluster, snapshot: id, lsn: result.manifest.lsn, pagesRead: result.pagesRead },
          'CreateDBClusterSnapshot: available',
        ),
      )
      .catch((error: Error) =>
        this.options.logger.error(
          { cluster: cluster.cluster, snapshot: id, err: error.message },
          'CreateDBClusterSnapshot failed',
        ),
      )
      .finally(() => this.#creating.delete(key));
    return { DBClusterSnapshot: dbClusterSnapshotShape({ id, cluster, status: 'creating', startedAt }) };
  }

  async #find(cluster: string, id: string): Promise<SnapshotManifest | undefined> {
    return readManifest(this.options.s3, this.bucketOf(cluster), cluster, id).catch((error: Error) => {
      if (error.name === 'NoSuchBucket') return undefined;
      throw error;
    });
  }

  /** Every snapshot of these clusters (being created here, then stored), oldest first per cluster. */
  async list(clusters: readonly ClusterStatus[]): Promise<{ id: string; shape: XmlStruct }[]> {
    const out: { id: string; shape: XmlStruct }[] = [];
    for (const cluster of clusters) {
      const stored = await listManifests(
        this.options.s3,
        this.bucketOf(cluster.cluster),
        cluster.cluster,
      ).catch((error: Error) => {
        if (error.name === 'NoSuchBucket') return [];
        throw error;
      });
      const storedIds = new Set(stored.map((m) => m.snapshotId));
      for (const m of stored)
        out.push({
          id: m.snapshotId,
          shape: dbClusterSnapshotShape({ id: m.snapshotId, cluster, status: 'available', manifest: m }),
        });
      for (const [key, c] of this.#creating) {
        const id = key.slice(cluster.cluster.length + 1);
        if (key.startsWith(`${cluster.cluster}/`) && !storedIds.has(id)) {
          out.push({
            id,
            shape: dbClusterSnapshotShape({
              id,
              cluster: c.cluster,
              status: 'creating',
              startedAt: c.startedAt,
            }),
          });
        }
      }
    }
    return out;
  }

  async delete(clusters: readonly ClusterStatus[], identifier: string): Promise<XmlStruct> {
    const id = borealisSnapshotId(identifier);
    for (const cluster of clusters) {
      if (this.#creating.has(`${cluster.cluster}/${id}`)) {
        throw new RdsApiError(
          'InvalidDBClusterSnapshotStateFault',
          `DBClusterSnapshot ${identifier} is being created: delete it once it is available.`,
        );
      }
      const manifest = await this.#find(cluster.cluster, id);
      if (manifest === undefined) continue;
      if (snapshotTypeOf(id) === 'automated') {
        throw new RdsApiError(
          'InvalidDBClusterSnapshotStateFault',
          `Only manual snapshots may be deleted; ${identifier} is automated (the backup retention period expires it).`,
        );
      }
      // Only the manifest: its page packs are shared with other snapshots, and the retention
      // function collects those no manifest refers to.
      await this.options.s3.send(
        new DeleteObjectCommand({
          Bucket: this.bucketOf(cluster.cluster),
          Key: snapshotManifestKey(cluster.cluster, id),
        }),
      );
      return { DBClusterSnapshot: dbClusterSnapshotShape({ id, cluster, status: 'available', manifest }) };
    }
    throw new RdsApiError(
      'DBClusterSnapshotNotFoundFault',
      `DBClusterSnapshot ${identifier} not found.`,
      404,
    );
  }
}
