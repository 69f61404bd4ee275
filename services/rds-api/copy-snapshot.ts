// The RDS API's CopyDBClusterSnapshot, called in the DESTINATION region as on AWS: the source is a
// snapshot of this region (its identifier) or of another (its ARN), and the copy is the same cluster's
// snapshot in this region's backup bucket (`<cluster>-backup-<region>`, created when missing). A copy
// writes every page pack (format 1: page object) the source manifest names, streamed and checked
// against its content hash, then the manifest LAST — so a half-copied snapshot is never listed as
// available — with the target's id and `copiedFrom` (the source ARN): a copy may be of another
// region's volume, so the snapshot, restore and retention functions never build on it (archive.ts).
// Every object is named by its content: one the bucket already holds is that content, so it is never
// written again — its LastModified is refreshed instead, so that the retention function's grace period
// (it deletes unnamed packs older than that) covers it until the manifest names it. A new object is
// written to a staging key first and moved to its name only once its hash is checked: a corrupt
// source never replaces a good object. After the manifest is written every pack it names is looked
// for again; one missing (retention collected it meanwhile) removes the manifest and fails the copy.
import { createHash, randomBytes } from 'node:crypto';
import { pipeline, type Readable, Transform } from 'node:stream';
import {
  type BucketLocationConstraint,
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { s3Client } from '../../core/aws/clients.ts';
import { embeddedEndpointVariable } from '../../core/aws/endpoints.ts';
import {
  packObjectKey,
  pageObjectKey,
  type SnapshotManifest,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { isPacked } from '../../core/backup/snapshot-manifest.ts';
import { BorealisError } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { type QueryParams, RdsApiError, type XmlStruct } from '../../core/rds/query-protocol.ts';
import { regionalResources } from '../../core/resources.ts';
import { lsnOfSnapshotId, readManifest, snapshotIdPattern } from '../../functions/snapshot/catalog.ts';
import { forEachBounded } from '../../functions/snapshot/handler.ts';
import type { RdsAction } from './api.ts';
import {
  borealisSnapshotId,
  type ClusterSnapshots,
  checkIdentifier,
  clusterOfBackupBucket,
  dbClusterSnapshotShape,
  type SnapshotCluster,
  type SnapshotCopy,
  snapshotTypeOf,
} from './snapshots.ts';

/** Copies into this region at once (each streams objects from the source region). */
export const copiesInFlightMax = 4;
/** Objects (page packs, up to a few MB each) streamed at once by one copy. */
export const objectCopiesInFlightMax = 4;
/** Failed copies remembered (so that waiters see `failed`), oldest forgotten first. */
export const failedCopiesKeptMax = 16;

const regionPattern = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;
const clusterSnapshotArnPattern = /^arn:aws[a-z-]*:rds:([^:]+):(\d{12}):cluster-snapshot:(.+)$/;

/** S3 of a region, or undefined when this process cannot reach it (say why in `unreachable`). */
export interface RegionS3 {
  of(region: string): S3Client | undefined;
  unreachable(region: string): string;
}

/**
 * Per-region S3 clients for this process. Embedded mode (this region's S3 is an emulator named by
 * BOREALIS_ENDPOINT_S3_<REGION>): another region is reachable only when its emulator is named too
 * (`npm start -- --global`) — without, the SDK would go to AWS's real endpoint. Elsewhere (LocalStack,
 * AWS) every region resolves as core/aws/endpoints.ts says.
 */
export function regionS3Clients(region: string, own: S3Client, env: NodeJS.ProcessEnv): RegionS3 {
  const clients = new Map<string, S3Client>([[region, own]]);
  const embedded = env[embeddedEndpointVariable('s3', region)] !== undefined;
  return {
    of(r) {
      let client = clients.get(r);
      if (client === undefined) {
        if (embedded && env[embeddedEndpointVariable('s3', r)] === undefined) return undefined;
        client = s3Client({ region: r, env });
        clients.set(r, client);
      }
      return client;
    },
    unreachable: (r) =>
      `region ${r} is not reachable from the ${region} RDS API: no ${embeddedEndpointVariable('s3', r)} (an embedded system has a second region only when started with --global)`,
  };
}

/** A source snapshot as the request names it. */
export interface CopySource {
  region: string;
  account: string;
  /** Borealis's id (no `rds:`). */
  id: string;
}

/** SourceDBClusterSnapshotIdentifier (and SourceRegion, when given) → the source's region and id. */
export function parseCopySource(
  identifier: string,
  region: string,
  sourceRegion: string | undefined,
): CopySource {
  const bad = (why: string) =>
    new RdsApiError('InvalidParameterValue', `SourceDBClusterSnapshotIdentifier '${identifier}' ${why}`);
  let source: CopySource;
  if (identifier.startsWith('arn:')) {
    const m = clusterSnapshotArnPattern.exec(identifier);
    if (!m) throw bad('is not a cluster snapshot ARN (arn:aws:rds:<region>:<account>:cluster-snapshot:<id>)');
    if (!regionPattern.test(m[1]!)) throw bad(`names no region ('${m[1]}')`);
    source = { region: m[1]!, account: m[2]!, id: m[3]! };
  } else {
    // As on AWS: another region's snapshot is named by its ARN.
    if (sourceRegion !== undefined && sourceRegion !== region)
      throw bad(`must be an ARN to copy from SourceRegion ${sourceRegion}`);
    source = { region, account: '000000000000', id: identifier };
  }
  if (sourceRegion !== undefined && sourceRegion !== source.region) {
    throw new RdsApiError(
      'InvalidParameterCombination',
      `SourceRegion ${sourceRegion} is not the region of ${identifier} (${source.region})`,
    );
  }
  const automated = source.id.startsWith('rds:');
  const id = borealisSnapshotId(source.id);
  if (!snapshotIdPattern.test(id)) throw bad('names no snapshot id');
  if (automated !== (snapshotTypeOf(id) === 'automated'))
    throw bad(
      automated
        ? 'is no automated snapshot (rds:snap-<time>-<LSN>)'
        : 'names an automated snapshot without rds:',
    );
  return { ...source, id };
}

/** TargetDBClusterSnapshotIdentifier: RDS's identifier rule, and never an automated snapshot's name. */
export function checkTargetIdentifier(target: string): void {
  checkIdentifier('TargetDBClusterSnapshotIdentifier', target);
  if (!snapshotIdPattern.test(target))
    throw new RdsApiError(
      'InvalidParameterValue',
      'TargetDBClusterSnapshotIdentifier is at most 128 characters',
    );
  // A copy is a manual snapshot: the snap-<time>-<LSN> form names the hourly function's own, which
  // the snapshot function reads without their manifest (catalog.ts).
  if (lsnOfSnapshotId(target) !== undefined) {
    throw new RdsApiError(
      'InvalidParameterValue',
      `TargetDBClusterSnapshotIdentifier ${target} has the form of an automated snapshot's name (snap-<time>-<LSN>)`,
    );
  }
}

/** CopyObject's CopySource: the bucket and the key, URI-encoded (a key's `/` kept). */
function copySource(bucket: string, key: string): string {
  return `${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
}

/** An S3 error saying the object (or its bucket) is not there. */
function isMissing(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return (
    e.name === 'NoSuchKey' ||
    e.name === 'NotFound' ||
    e.name === 'NoSuchBucket' ||
    e.$metadata?.httpStatusCode === 404
  );
}

/** The image objects (page packs; format 1: page objects) a manifest names, each once. */
export function imageKeysOf(m: SnapshotManifest): { key: string; sha256: string }[] {
  const ids = isPacked(m) ? m.packs!.map((p) => p.id) : m.pages;
  const seen = new Set<string>();
  const out: { key: string; sha256: string }[] = [];
  for (const id of ids) {
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ key: isPacked(m) ? packObjectKey(m.cluster, id) : pageObjectKey(m.cluster, id), sha256: id });
  }
  return out;
}

export interface SnapshotCopierOptions {
  region: string;
  /** This region's S3 (the destination). */
  s3: S3Client;
  regions: RegionS3;
  snapshots: ClusterSnapshots;
  /** The region's running clusters (for their ARNs' account). */
  runningClusters: () => Promise<readonly SnapshotCluster[]>;
  logger: Logger;
}

export class SnapshotCopier {
  constructor(private readonly o: SnapshotCopierOptions) {}

  actions(): Record<string, RdsAction> {
    return { CopyDBClusterSnapshot: (p) => this.copy(p) };
  }

  /** Checks the request, reserves the target and starts the copy; answers `copying` at once. */
  async copy(params: QueryParams): Promise<XmlStruct> {
    const { region, snapshots } = this.o;
    const identifier = params.required('SourceDBClusterSnapshotIdentifier');
    const target = params.required('TargetDBClusterSnapshotIdentifier');
    // KmsKeyId, PreSignedUrl (the JS SDK adds it itself for another region's ARN), CopyTags and Tags
    // are accepted and not read: nothing is encrypted here, and the source's objects are read directly.
    const source = parseCopySource(identifier, region, params.string('SourceRegion'));
    checkTargetIdentifier(target);
    const sourceS3 = this.o.regions.of(source.region);
    if (sourceS3 === undefined)
      throw new RdsApiError('InvalidParameterValue', this.o.regions.unreachable(source.region));
    if (this.#inFlight() >= copiesInFlightMax) {
      throw new RdsApiError(
        'SnapshotQuotaExceeded',
        `${copiesInFlightMax} cluster snapshots are being copied into ${region} already: try again when one is available.`,
      );
    }
    const found = await this.#findSource(sourceS3, source, identifier);
    const cluster = found.manifest.cluster;
    const key = `${cluster}/${target}`;
    const exists = () =>
      new RdsApiError(
        'DBClusterSnapshotAlreadyExistsFault',
        `Cannot copy to DBClusterSnapshot ${target} of DBCluster ${cluster}: one with that identifier exists in ${region} or is being created or copied.`,
      );
    const running = await this.o.runningClusters();
    // Checked again after the awaits, and the target taken in the same step (no await between).
    if (snapshots.pending(cluster, target) !== undefined) throw exists();
    if (this.#inFlight() >= copiesInFlightMax) {
      throw new RdsApiError(
        'SnapshotQuotaExceeded',
        `${copiesInFlightMax} cluster snapshots are being copied into ${region} already.`,
      );
    }
    const account = running[0]?.resourceArn.split(':')[4] ?? source.account;
    const destination: SnapshotCluster = running.find((c) => c.cluster === cluster) ?? {
      cluster,
      region,
      resourceArn: `arn:aws:rds:${region}:${account}:cluster:${cluster}`,
    };
    const sourceAccount = identifier.startsWith('arn:') ? source.account : account;
    const sourceArn = `arn:aws:rds:${source.region}:${sourceAccount}:cluster-snapshot:${found.rdsId}`;
    const copy: SnapshotCopy = {
      cluster: destination,
      sourceArn,
      source: { region: source.region, cluster, id: source.id },
      startedAt: new Date(),
      objectsCopied: 0,
      objectsTotal: 0,
    };
    // Taken before the buckets are asked: a second copy to the same id meanwhile is refused.
    snapshots.copies.set(key, copy);
    const bucket = regionalResources(region, cluster).backupBucket;
    try {
      // RDS's snapshot identifiers are unique in a region: no cluster's snapshot here may have it
      // (this cluster's is looked for too: the reservation above lists it).
      for (const c of await snapshots.withStoredClusters(running)) {
        const taken = c.cluster === cluster ? undefined : snapshots.pending(c.cluster, target);
        if (taken !== undefined || (await snapshots.find(c.cluster, target)) !== undefined) throw exists();
      }
      await this.#ensureBucket(bucket);
    } catch (error) {
      snapshots.copies.delete(key);
      throw error;
    }
    const sameBucket = source.region === region;
    void this.#run({
      copy,
      key,
      target,
      manifest: found.manifest,
      sourceS3,
      sourceBucket: found.bucket,
      bucket,
      sameBucket,
    });
    return {
      DBClusterSnapshot: dbClusterSnapshotShape({
        id: target,
        cluster: destination,
        status: 'copying',
        startedAt: copy.startedAt,
        copy,
      }),
    };
  }

  #inFlight(): number {
    let n = 0;
    for (const c of this.o.snapshots.copies.values()) if (c.failure === undefined) n++;
    return n;
  }

  /** The source's manifest and bucket: looked for in every `<cluster>-backup-<region>` bucket there. */
  async #findSource(
    s3: S3Client,
    source: CopySource,
    identifier: string,
  ): Promise<{ manifest: SnapshotManifest; bucket: string; rdsId: string }> {
    const notFound = (why: string) =>
      new RdsApiError(
        'DBClusterSnapshotNotFoundFault',
        `DBClusterSnapshot ${identifier} not found${why}.`,
        404,
      );
    const unreachable = (error: Error) =>
      new RdsApiError(
        'InvalidParameterValue',
        `cannot read the source region ${source.region}'s snapshots: its S3 did not answer (${error.name}: ${error.message})`,
      );
    let clusters: string[];
    try {
      const listed = await s3.send(new ListBucketsCommand({}));
      clusters = (listed.Buckets ?? []).flatMap((b) => {
        const c = clusterOfBackupBucket(b.Name ?? '', source.region);
        return c === undefined ? [] : [c];
      });
    } catch (error) {
      throw unreachable(error as Error);
    }
    if (source.region === this.o.region) {
      // Being created or copied here: not available yet (this process knows; another region's
      // API's snapshots in progress have no manifest yet, so they are not found).
      for (const c of clusters) {
        if (this.o.snapshots.pending(c, source.id) !== undefined) {
          throw new RdsApiError(
            'InvalidDBClusterSnapshotStateFault',
            `DBClusterSnapshot ${identifier} is not available yet (being created or copied): copy it once it is available.`,
          );
        }
      }
    }
    const found: { manifest: SnapshotManifest; bucket: string }[] = [];
    for (const c of clusters) {
      const bucket = regionalResources(source.region, c).backupBucket;
      const manifest = await readManifest(s3, bucket, c, source.id).catch((error: Error) => {
        if (error.name === 'NoSuchBucket') return undefined;
        if (error instanceof BorealisError) throw notFound(` (its manifest is not valid: ${error.message})`);
        throw unreachable(error);
      });
      if (manifest !== undefined) found.push({ manifest, bucket });
    }
    if (found.length === 0) throw notFound(` in ${source.region}`);
    if (found.length > 1) {
      throw new RdsApiError(
        'InvalidParameterValue',
        `DBClusterSnapshot ${identifier} names a snapshot of several clusters in ${source.region} (${found.map((f) => f.manifest.cluster).join(', ')})`,
      );
    }
    const rdsId = snapshotTypeOf(source.id) === 'automated' ? `rds:${source.id}` : source.id;
    return { ...found[0]!, rdsId };
  }

  async #ensureBucket(bucket: string): Promise<void> {
    try {
      await this.o.s3.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'NotFound' && name !== 'NoSuchBucket') throw error;
    }
    try {
      await this.o.s3.send(
        new CreateBucketCommand({
          Bucket: bucket,
          // us-east-1 is S3's default location, named by no constraint.
          ...(this.o.region === 'us-east-1'
            ? {}
            : {
                CreateBucketConfiguration: { LocationConstraint: this.o.region as BucketLocationConstraint },
              }),
        }),
      );
    } catch (error) {
      const name = (error as Error).name;
      if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
    }
  }

  async #run(job: {
    copy: SnapshotCopy;
    key: string;
    target: string;
    manifest: SnapshotManifest;
    sourceS3: S3Client;
    sourceBucket: string;
    bucket: string;
    sameBucket: boolean;
  }): Promise<void> {
    const { copy, manifest, target } = job;
    const log = { cluster: manifest.cluster, snapshot: target, source: copy.sourceArn };
    const started = Date.now();
    const manifestKey = snapshotManifestKey(manifest.cluster, target);
    let manifestWritten = false;
    try {
      const objects = imageKeysOf(manifest);
      copy.objectsTotal = objects.length + 1;
      let bytes = 0;
      await forEachBounded(objects, objectCopiesInFlightMax, async (object) => {
        // In the same bucket every object is there already (the source's manifest names it): it is
        // only made young, so that retention keeps it until this manifest names it too.
        if (job.sameBucket) {
          if (!(await this.#refresh(job.bucket, object.key)))
            throw new Error(`s3://${job.bucket}/${object.key} is missing (the source's pack is gone)`);
        } else {
          bytes += await this.#copyObject(job.sourceS3, job.sourceBucket, job.bucket, object);
        }
        copy.objectsCopied++;
      });
      const copied: SnapshotManifest = { ...manifest, snapshotId: target, copiedFrom: copy.sourceArn };
      await this.o.s3.send(
        new PutObjectCommand({
          Bucket: job.bucket,
          Key: manifestKey,
          Body: JSON.stringify(copied),
          ContentType: 'application/json',
        }),
      );
      manifestWritten = true;
      // Retention may have deleted a pack between its refresh and the manifest (it listed the
      // manifests before this one was written): every pack is looked for once the manifest names it.
      const missing: string[] = [];
      await forEachBounded(objects, objectCopiesInFlightMax, async (object) => {
        if (!(await this.#exists(job.bucket, object.key))) missing.push(object.key);
      });
      if (missing.length > 0) {
        throw new Error(
          `${missing.length} pack(s) the copy names were deleted while it was written (the retention function collected them), e.g. s3://${job.bucket}/${missing.sort()[0]}: its manifest was removed; copy the snapshot again`,
        );
      }
      copy.objectsCopied++;
      this.o.snapshots.copies.delete(job.key);
      this.o.logger.info(
        { ...log, objects: objects.length, bytes, ms: Date.now() - started },
        'CopyDBClusterSnapshot: available',
      );
    } catch (error) {
      if (manifestWritten) {
        // A failed copy has no manifest: a restore from it would miss pages.
        await this.o.s3
          .send(new DeleteObjectCommand({ Bucket: job.bucket, Key: manifestKey }))
          .catch((e: Error) =>
            this.o.logger.error(
              { ...log, err: e.message },
              'CopyDBClusterSnapshot: its manifest was not removed',
            ),
          );
      }
      copy.failure = (error as Error).message;
      this.o.logger.error({ ...log, err: copy.failure }, 'CopyDBClusterSnapshot failed');
      this.#forgetOldFailures();
    }
  }

  /**
   * One object into this region's bucket; the bytes written (0: the bucket held it, now refreshed).
   * A new one is streamed from the source to a staging key, its sha256 checked on the way, and moved
   * to its name only when it matches: the final key only ever holds the content it names.
   */
  async #copyObject(
    sourceS3: S3Client,
    sourceBucket: string,
    bucket: string,
    object: { key: string; sha256: string },
  ): Promise<number> {
    if (await this.#refresh(bucket, object.key)) return 0;
    const got = await sourceS3.send(new GetObjectCommand({ Bucket: sourceBucket, Key: object.key }));
    const source = got.Body as Readable | undefined;
    const size = got.ContentLength;
    if (source === undefined || size === undefined) {
      source?.destroy();
      throw new Error(`s3://${sourceBucket}/${object.key}: no body or no length`);
    }
    const staging = `${object.key}.copying-${randomBytes(8).toString('hex')}`;
    const hash = createHash('sha256');
    const body = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        hash.update(chunk);
        done(null, chunk);
      },
    });
    // A source that fails midway destroys `body`, which fails the upload (its error is the put's).
    pipeline(source, body, () => undefined);
    try {
      await this.o.s3.send(
        new PutObjectCommand({ Bucket: bucket, Key: staging, Body: body, ContentLength: size }),
      );
      // Objects are named by their content: a body that does not hash to its name is not the image
      // the manifest means (the manifest is then not written, and the copy fails).
      const sha256 = hash.digest('hex');
      if (sha256 !== object.sha256)
        throw new Error(`s3://${sourceBucket}/${object.key} does not hash to its name (sha256 ${sha256})`);
      await this.o.s3.send(
        new CopyObjectCommand({ Bucket: bucket, Key: object.key, CopySource: copySource(bucket, staging) }),
      );
    } catch (error) {
      // A failed put leaves the source's body unread: destroyed, its socket is freed.
      source.destroy();
      body.destroy();
      throw error;
    } finally {
      await this.o.s3
        .send(new DeleteObjectCommand({ Bucket: bucket, Key: staging }))
        .catch((error: Error) =>
          this.o.logger.warn(
            { bucket, key: staging, err: error.message },
            'CopyDBClusterSnapshot: a staging object was not deleted (the retention function collects it)',
          ),
        );
    }
    return size;
  }

  /**
   * Makes an object the bucket holds young again (LastModified now), so that the retention
   * function's grace period covers it; false when the bucket does not hold it. S3 does it by copying
   * the object onto itself with new metadata; s3rver (the embedded emulator) answers that copy but
   * keeps the old time, so there the object is copied out to a staging key and back (the same bytes).
   */
  async #refresh(bucket: string, key: string): Promise<boolean> {
    const s3 = this.o.s3;
    // S3 keeps LastModified in whole seconds.
    const since = Math.floor(Date.now() / 1000) * 1000;
    try {
      const self = await s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: key,
          CopySource: copySource(bucket, key),
          MetadataDirective: 'REPLACE',
        }),
      );
      const modified = self.CopyObjectResult?.LastModified?.getTime();
      if (modified !== undefined && modified >= since) return true;
      const staging = `${key}.copying-${randomBytes(8).toString('hex')}`;
      await s3.send(
        new CopyObjectCommand({ Bucket: bucket, Key: staging, CopySource: copySource(bucket, key) }),
      );
      try {
        await s3.send(
          new CopyObjectCommand({ Bucket: bucket, Key: key, CopySource: copySource(bucket, staging) }),
        );
      } finally {
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: staging })).catch(() => undefined);
      }
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  async #exists(bucket: string, key: string): Promise<boolean> {
    try {
      await this.o.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return true;
    } catch (error) {
      if (isMissing(error)) return false;
      throw error;
    }
  }

  #forgetOldFailures(): void {
    const failed = [...this.o.snapshots.copies].filter(([, c]) => c.failure !== undefined);
    failed.sort(([, a], [, b]) => a.startedAt.getTime() - b.startedAt.getTime());
    for (const [key] of failed.slice(0, Math.max(0, failed.length - failedCopiesKeptMax)))
      this.o.snapshots.copies.delete(key);
  }
}
