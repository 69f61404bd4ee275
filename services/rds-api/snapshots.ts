// The RDS API's cluster snapshots (CreateDBClusterSnapshot, DescribeDBClusterSnapshots,
// DeleteDBClusterSnapshot) over Borealis's incremental snapshots in the region's backup bucket.
// A snapshot is taken by the snapshot function's own code, run here (as `borealis snapshot create`
// runs it): the cluster's published topology gives the volume and the writer's consistent point.
// Manual snapshots are the ones named by a caller; the scheduled function's (snap-<time>-<LSN>) are
// automated, as RDS names its own `rds:` ones. Copies (copy-snapshot.ts) are listed here too, also
// those of a cluster that does not run in this region: every `<cluster>-backup-<region>` bucket is
// looked into.
import { DeleteObjectCommand, ListBucketsCommand, type S3Client } from '@aws-sdk/client-s3';
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
/** Snapshot starts remembered for their "creating" events (the newest; core/rds/events.ts). */
export const snapshotStartsKept = 200;

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

/** The cluster a snapshot belongs to: one running here, or one with only its backup bucket here. */
export type SnapshotCluster = Pick<ClusterStatus, 'cluster' | 'region' | 'resourceArn'>;

export type SnapshotStatus = 'creating' | 'copying' | 'available' | 'failed';

/** A copy into this region that has no manifest yet (copy-snapshot.ts), or that failed. */
export interface SnapshotCopy {
  cluster: SnapshotCluster;
  sourceArn: string;
  /** The source snapshot (Borealis's id): while the copy runs, DeleteDBClusterSnapshot refuses it. */
  source?: { region: string; cluster: string; id: string };
  startedAt: Date;
  objectsCopied: number;
  /** The manifest's objects plus the manifest itself (0 until the source manifest is read). */
  objectsTotal: number;
  /** Why the copy failed (kept so that a waiter sees `failed`; DeleteDBClusterSnapshot forgets it). */
  failure?: string;
}

export interface SnapshotShapeInput {
  id: string;
  cluster: SnapshotCluster;
  status: SnapshotStatus;
  manifest?: SnapshotManifest;
  startedAt?: Date;
  /** A copy in progress: its progress and source. */
  copy?: SnapshotCopy;
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
    PercentProgress: percentProgress(input),
    SourceDBClusterSnapshotArn: manifest?.copiedFrom ?? input.copy?.sourceArn,
    AllocatedStorage: manifest ? Math.ceil((manifest.pageCount * manifest.pageSizeBytes) / 2 ** 30) : 0,
    StorageEncrypted: false,
  };
}

function percentProgress(input: SnapshotShapeInput): number {
  if (input.status === 'available') return 100;
  const copy = input.copy;
  if (copy === undefined || copy.objectsTotal === 0) return 0;
  // Below 100 until the manifest is written: only then is the copy available.
  return Math.min(99, Math.floor((100 * copy.objectsCopied) / copy.objectsTotal));
}

/** The cluster a `<cluster>-backup-<region>` bucket belongs to (undefined: another bucket). */
export function clusterOfBackupBucket(bucket: string, region: string): string | undefined {
  const suffix = `-backup-${region}`;
  if (!bucket.endsWith(suffix) || bucket.length === suffix.length) return undefined;
  const cluster = bucket.slice(0, -suffix.length);
  try {
    return regionalResources(region, cluster).backupBucket === bucket ? cluster : undefined;
  } catch {
    return undefined; // not a name a cluster can have
  }
}

/** An RDS snapshot identifier back to Borealis's (automated ones carry `rds:`). */
export function borealisSnapshotId(identifier: string): string {
  return identifier.startsWith('rds:') ? identifier.slice(4) : identifier;
}

/** A snapshot CreateDBClusterSnapshot started here, and when its manifest was written (once it was). */
export interface SnapshotStart {
  cluster: string;
  id: string;
  startedAt: Date;
  createdAt?: Date;
}

export class ClusterSnapshots {
  /** Snapshots being taken here: cluster/id → when it started. */
  readonly #creating = new Map<string, { cluster: ClusterStatus; startedAt: Date }>();
  /** Snapshots started here, oldest first (at most snapshotStartsKept): the RDS events' "creating". */
  readonly #started: SnapshotStart[] = [];
  /**
   * Copies into this region without a manifest yet, and failed ones: cluster/id → the copy. Kept by
   * copy-snapshot.ts (it adds, advances and removes them); listed, and refused as targets, here.
   */
  readonly copies = new Map<string, SnapshotCopy>();

  constructor(
    private readonly options: {
      region: string;
      s3: S3Client;
      readTopology: ReadPublishedTopology;
      logger: Logger;
    },
  ) {}

  /** Snapshots CreateDBClusterSnapshot started here, oldest first (the newest snapshotStartsKept). */
  startedHere(): readonly SnapshotStart[] {
    return this.#started;
  }

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
    // RDS's snapshot identifiers are unique in a region: no cluster's snapshot may have it, stored
    // (looked for below, in every cluster's bucket) or being created or copied here.
    const pendingHere = (k: string) => k.slice(k.indexOf('/') + 1) === id;
    if ([...this.#creating.keys()].some(pendingHere) || [...this.copies.keys()].some(pendingHere))
      throw exists();
    if (this.#creating.size >= snapshotsInFlightMax) {
      throw new RdsApiError(
        'SnapshotQuotaExceeded',
        `${snapshotsInFlightMax} snapshots are being created already: try again when one is available.`,
      );
    }
    // Taken before the bucket is asked: a second call for the same id meanwhile is refused.
    const startedAt = new Date();
    this.#creating.set(key, { cluster, startedAt });
    let stored = false;
    try {
      for (const c of await this.withStoredClusters([cluster])) {
        const taken = c.cluster !== cluster.cluster && this.pending(c.cluster, id) !== undefined;
        if (taken || (await this.#find(c.cluster, id)) !== undefined) {
          stored = true;
          break;
        }
      }
    } catch (error) {
      this.#creating.delete(key);
      throw error;
    }
    if (stored) {
      this.#creating.delete(key);
      throw exists();
    }
    const start: SnapshotStart = { cluster: cluster.cluster, id, startedAt };
    this.#started.push(start);
    if (this.#started.length > snapshotStartsKept) this.#started.shift();
    void runSnapshot({
      s3: this.options.s3,
      bucket: this.bucketOf(cluster.cluster),
      cluster: cluster.cluster,
      source: publishedTopologySource(cluster.cluster, this.options.readTopology),
      request: { snapshotId: id },
      log: (message, fields) =>
        this.options.logger.info({ cluster: cluster.cluster, snapshot: id, ...fields }, message),
    })
      .then((result) => {
        // The manifest's own time: S3 lists LastModified in whole seconds, before the start at times.
        start.createdAt = new Date(result.manifest.createdAt);
        this.options.logger.info(
          { cluster: cluster.cluster, snapshot: id, lsn: result.manifest.lsn, pagesRead: result.pagesRead },
          'CreateDBClusterSnapshot: available',
        );
      })
      .catch((error: Error) =>
        this.options.logger.error(
          { cluster: cluster.cluster, snapshot: id, err: error.message },
          'CreateDBClusterSnapshot failed',
        ),
      )
      .finally(() => this.#creating.delete(key));
    return { DBClusterSnapshot: dbClusterSnapshotShape({ id, cluster, status: 'creating', startedAt }) };
  }

  /** Whether a snapshot cluster/id is being created or copied here (or its copy failed). */
  pending(cluster: string, id: string): 'creating' | 'copying' | undefined {
    const key = `${cluster}/${id}`;
    if (this.#creating.has(key)) return 'creating';
    return this.copies.has(key) ? 'copying' : undefined;
  }

  /** The stored manifest of cluster/id in this region's bucket (undefined: none, or no bucket). */
  find(cluster: string, id: string): Promise<SnapshotManifest | undefined> {
    return this.#find(cluster, id);
  }

  /**
   * The running clusters and every other cluster with a backup bucket in this region (a cluster
   * that runs elsewhere, or no longer runs, keeps its snapshots: copies land in such buckets).
   */
  async withStoredClusters(running: readonly SnapshotCluster[]): Promise<SnapshotCluster[]> {
    const names = new Set(running.map((c) => c.cluster));
    const account = running[0]?.resourceArn.split(':')[4] ?? '000000000000';
    const out: SnapshotCluster[] = [...running];
    const add = (cluster: string) => {
      if (names.has(cluster)) return;
      names.add(cluster);
      out.push({
        cluster,
        region: this.options.region,
        resourceArn: `arn:aws:rds:${this.options.region}:${account}:cluster:${cluster}`,
      });
    };
    const listed = await this.options.s3.send(new ListBucketsCommand({}));
    for (const b of listed.Buckets ?? []) {
      const cluster = clusterOfBackupBucket(b.Name ?? '', this.options.region);
      if (cluster !== undefined) add(cluster);
    }
    for (const copy of this.copies.values()) add(copy.cluster.cluster);
    return out.sort((a, b) => (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0));
  }

  async #find(cluster: string, id: string): Promise<SnapshotManifest | undefined> {
    return readManifest(this.options.s3, this.bucketOf(cluster), cluster, id).catch((error: Error) => {
      if (error.name === 'NoSuchBucket') return undefined;
      throw error;
    });
  }

  /** Every snapshot of these clusters (being created or copied here, then stored), oldest first per cluster. */
  async list(clusters: readonly SnapshotCluster[]): Promise<{ id: string; shape: XmlStruct }[]> {
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
      // A copy's manifest is written last: once it is listed, the copy is done.
      const storedIds = new Set(stored.map((m) => m.snapshotId));
      for (const [key, copy] of this.copies) {
        const id = key.slice(cluster.cluster.length + 1);
        if (!key.startsWith(`${cluster.cluster}/`) || (storedIds.has(id) && copy.failure === undefined))
          continue;
        out.push({
          id,
          shape: dbClusterSnapshotShape({
            id,
            cluster: copy.cluster,
            status: copy.failure === undefined ? 'copying' : 'failed',
            startedAt: copy.startedAt,
            copy,
          }),
        });
      }
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

  async delete(running: readonly SnapshotCluster[], identifier: string): Promise<XmlStruct> {
    const id = borealisSnapshotId(identifier);
    // Every cluster with a snapshot of this id (stored, or being created or copied here): identifiers
    // are unique in a region, but one made before that was checked (or by another process) may not
    // be — then none is picked: the caller cannot say which one it means.
    const found: {
      cluster: SnapshotCluster;
      creating: boolean;
      copy: SnapshotCopy | undefined;
      manifest: SnapshotManifest | undefined;
    }[] = [];
    for (const cluster of await this.withStoredClusters(running)) {
      const key = `${cluster.cluster}/${id}`;
      const creating = this.#creating.has(key);
      const copy = this.copies.get(key);
      const manifest = creating || copy !== undefined ? undefined : await this.#find(cluster.cluster, id);
      if (creating || copy !== undefined || manifest !== undefined)
        found.push({ cluster, creating, copy, manifest });
    }
    if (found.length > 1) {
      throw new RdsApiError(
        'InvalidParameterCombination',
        `DBClusterSnapshot ${identifier} names a snapshot of several clusters in ${this.options.region} (${found.map((f) => f.cluster.cluster).join(', ')}): delete it where only one cluster has it.`,
      );
    }
    const match = found[0];
    if (match === undefined) {
      throw new RdsApiError(
        'DBClusterSnapshotNotFoundFault',
        `DBClusterSnapshot ${identifier} not found.`,
        404,
      );
    }
    const { cluster, copy, manifest } = match;
    const key = `${cluster.cluster}/${id}`;
    if (match.creating) {
      throw new RdsApiError(
        'InvalidDBClusterSnapshotStateFault',
        `DBClusterSnapshot ${identifier} is being created: delete it once it is available.`,
      );
    }
    if (copy?.failure !== undefined) {
      // A failed copy has no manifest: forgetting it is all. The packs it wrote stay in the bucket:
      // the retention function collects them (no manifest names them, past its grace period) only
      // where it runs — for a cluster that runs in this region; in a bucket of a cluster that does
      // not (a copy from another region), they stay until the bucket is emptied by hand.
      this.copies.delete(key);
      return { DBClusterSnapshot: dbClusterSnapshotShape({ id, cluster, status: 'failed', copy }) };
    }
    if (copy !== undefined) {
      throw new RdsApiError(
        'InvalidDBClusterSnapshotStateFault',
        `DBClusterSnapshot ${identifier} is being copied: delete it once it is available.`,
      );
    }
    if (manifest === undefined) throw new Error(`unreachable: ${key} found without a manifest`);
    if (snapshotTypeOf(id) === 'automated') {
      throw new RdsApiError(
        'InvalidDBClusterSnapshotStateFault',
        `Only manual snapshots may be deleted; ${identifier} is automated (the backup retention period expires it).`,
      );
    }
    // The source of a copy running here: a copy in this bucket writes only a manifest and relies on
    // the source's packs; deleting the source would leave them to the retention function mid-copy.
    for (const c of this.copies.values()) {
      const s = c.source;
      if (
        c.failure === undefined &&
        s?.region === this.options.region &&
        s.cluster === cluster.cluster &&
        s.id === id
      ) {
        throw new RdsApiError(
          'InvalidDBClusterSnapshotStateFault',
          `DBClusterSnapshot ${identifier} is being copied (the source of a copy in progress): delete it once the copy is available or failed.`,
        );
      }
    }
    // Only the manifest: its page packs are shared with other snapshots, and the retention
    // function collects those no manifest refers to — where it runs: for a cluster that runs in this
    // region. The packs of a copy whose cluster does not run here stay in its bucket (no retention
    // runs for that bucket) until the bucket is emptied by hand.
    await this.options.s3.send(
      new DeleteObjectCommand({
        Bucket: this.bucketOf(cluster.cluster),
        Key: snapshotManifestKey(cluster.cluster, id),
      }),
    );
    return { DBClusterSnapshot: dbClusterSnapshotShape({ id, cluster, status: 'available', manifest }) };
  }
}
