// CopyDBClusterSnapshot: the pure request checks, then the action driven by @aws-sdk/client-rds
// through RdsApi in the destination region (us-west-2) against two real embedded S3 emulators (one
// per region): a snapshot stored in us-east-1's backup bucket is copied, waited for, listed and
// deleted in us-west-2 where no cluster runs; the copy is a valid restore input and survives the
// retention function; each refused request is shown to change nothing.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  CopyDBClusterSnapshotCommand,
  DBClusterSnapshotAlreadyExistsFault,
  DBClusterSnapshotNotFoundFault,
  DeleteDBClusterSnapshotCommand,
  DescribeDBClusterSnapshotsCommand,
  InvalidDBClusterSnapshotStateFault,
  RDSClient,
  type RDSServiceException,
  SnapshotQuotaExceededFault,
  waitUntilDBClusterSnapshotAvailable,
} from '@aws-sdk/client-rds';
import {
  CopyObjectCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Client } from '../../core/aws/clients.ts';
import { embeddedEndpointVariable } from '../../core/aws/endpoints.ts';
import {
  clusterPrefix,
  packObjectKey,
  type SnapshotManifest,
  snapshotFormatPacked,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { planRestore } from '../../core/backup/restore-plan.ts';
import { parseSnapshotManifest } from '../../core/backup/snapshot-manifest.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { RdsApiError } from '../../core/rds/query-protocol.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { expireBackups } from '../../functions/backup-retention/handler.ts';
import { listSnapshotSummaries, newestManifest } from '../../functions/snapshot/catalog.ts';
import { sha256Hex } from '../../functions/snapshot/handler.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { RdsApi } from './api.ts';
import type { ClusterDirectory } from './clusters.ts';
import {
  checkTargetIdentifier,
  copiesInFlightMax,
  parseCopySource,
  regionS3Clients,
  SnapshotCopier,
} from './copy-snapshot.ts';
import type { ClusterRestores } from './restores.ts';
import { ClusterSnapshots } from './snapshots.ts';
import { serveRdsApi } from './testing.ts';

const east = 'us-east-1';
const west = 'us-west-2';
const cluster = 'borealis';
const eastBucket = `${cluster}-backup-${east}`;
const westBucket = `${cluster}-backup-${west}`;
const arnOf = (id: string, region = east) => `arn:aws:rds:${region}:000000000000:cluster-snapshot:${id}`;

function rdsError(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof RdsApiError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('did not throw');
}

describe('CopyDBClusterSnapshot requests, pure', () => {
  it('takes the source region and id from an ARN (rds: for automated ones) or a plain identifier', () => {
    const automated = 'snap-20260101T000000000Z-00000000000000001234';
    expect(parseCopySource(arnOf('nightly'), west, undefined)).toEqual({
      region: east,
      account: '000000000000',
      id: 'nightly',
    });
    expect(parseCopySource(arnOf(`rds:${automated}`), west, east).id).toBe(automated);
    expect(parseCopySource('nightly', west, undefined)).toEqual({
      region: west,
      account: '000000000000',
      id: 'nightly',
    });
  });

  it('refuses a malformed ARN, another region without an ARN, a SourceRegion the ARN contradicts', () => {
    expect(
      rdsError(() => parseCopySource('arn:aws:rds:us-east-1:000000000000:cluster:x', west, undefined)),
    ).toMatch(/^InvalidParameterValue: .*not a cluster snapshot ARN/);
    expect(rdsError(() => parseCopySource('nightly', west, east))).toMatch(
      /^InvalidParameterValue: .*must be an ARN to copy from SourceRegion us-east-1/,
    );
    expect(rdsError(() => parseCopySource(arnOf('nightly'), west, 'eu-west-1'))).toMatch(
      /^InvalidParameterCombination: SourceRegion eu-west-1 is not the region/,
    );
    expect(rdsError(() => parseCopySource(arnOf('rds:nightly'), west, undefined))).toMatch(
      /^InvalidParameterValue: .*no automated snapshot/,
    );
    expect(rdsError(() => parseCopySource(arnOf('a/b'), west, undefined))).toMatch(/names no snapshot id/);
  });

  it("refuses a target RDS would refuse, or one with an automated snapshot's form", () => {
    expect(() => checkTargetIdentifier('copy-1')).not.toThrow();
    for (const bad of ['1copy', 'copy--1', 'copy-', 'copy_1', 'x'.repeat(129)])
      expect(rdsError(() => checkTargetIdentifier(bad))).toMatch(/^InvalidParameterValue/);
    expect(rdsError(() => checkTargetIdentifier('snap-20260101T000000000Z-00000000000000001234'))).toMatch(
      /automated snapshot's name/,
    );
  });
});

/** A format 2 snapshot stored as the snapshot function stores it: packs named by their sha256. */
async function storeSnapshot(
  s3: S3Client,
  id: string,
  packs: Buffer[],
  lsn: string,
  options: { corruptPack?: boolean } = {},
): Promise<SnapshotManifest> {
  const pageSizeBytes = 4096;
  const refs = packs.map((body) => ({ id: sha256Hex(body), slots: body.length / pageSizeBytes }));
  const pages: string[] = [];
  const pagePacks: number[] = [];
  const pageSlots: number[] = [];
  packs.forEach((body, p) => {
    for (let slot = 0; slot < refs[p]!.slots; slot++) {
      pages.push(sha256Hex(body.subarray(slot * pageSizeBytes, (slot + 1) * pageSizeBytes)));
      pagePacks.push(p);
      pageSlots.push(slot);
    }
  });
  for (const [p, body] of packs.entries()) {
    const stored = options.corruptPack && p === 0 ? Buffer.from(body).fill(7, 0, 16) : body;
    await s3.send(
      new PutObjectCommand({ Bucket: eastBucket, Key: packObjectKey(cluster, refs[p]!.id), Body: stored }),
    );
  }
  const manifest: SnapshotManifest = {
    format: snapshotFormatPacked,
    snapshotId: id,
    cluster,
    lsn,
    commitTimeMs: Date.parse('2026-12-01T00:00:00Z') + Number(lsn),
    createdAt: '2026-12-01T00:00:01.000Z',
    pageSizeBytes,
    pageCount: pages.length,
    pages,
    packs: refs,
    pagePacks,
    pageSlots,
    parent: null,
    bytesUploaded: packs.reduce((n, b) => n + b.length, 0),
    bytesTotal: packs.reduce((n, b) => n + b.length, 0),
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: eastBucket,
      Key: snapshotManifestKey(cluster, id),
      Body: JSON.stringify(manifest),
    }),
  );
  return manifest;
}

/** Every key under the cluster's prefix in a bucket, with its bytes (what "changes nothing" compares). */
async function contents(s3: S3Client, bucket: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  try {
    await s3.send(new HeadBucketCommand({ Bucket: bucket }));
  } catch {
    return out;
  }
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: clusterPrefix(cluster) }));
  for (const o of listed.Contents ?? []) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.Key! }));
    out.set(o.Key!, sha256Hex(await got.Body!.transformToByteArray()));
  }
  return out;
}

function randomPack(pages: number, seed: number): Buffer {
  const body = Buffer.alloc(pages * 4096);
  for (let i = 0; i < body.length; i += 4) body.writeUInt32LE((i * 2654435761 + seed) >>> 0, i);
  return body;
}

describe('CopyDBClusterSnapshot through @aws-sdk/client-rds, two regions of embedded S3', () => {
  const dir = makeTempDir('copy-snapshot');
  const logger = pino({ level: 'silent' });
  const noClusters: ClusterDirectory = {
    names: async () => [],
    read: async (name) => {
      throw new Error(`no cluster ${name} runs here`);
    },
  };
  let emulators: Emulators;
  let env: NodeJS.ProcessEnv;
  let eastS3: S3Client;
  let westS3: S3Client;
  let snapshots: ClusterSnapshots;
  let server: Server;
  let rds: RDSClient;
  let sharedPack: Buffer;
  let older: SnapshotManifest;
  let source: SnapshotManifest;
  /** The keys the us-west-2 API put, in order. */
  const westPuts: string[] = [];
  /** Run before / after each us-west-2 S3 command the API sends (a test's race, set and unset by it). */
  let beforeWestSend: ((command: object) => Promise<void>) | undefined;
  let afterWestSend: ((command: object) => Promise<void>) | undefined;

  /** An RDS API of `region` (no cluster runs there) with these S3 endpoints, served over HTTP. */
  async function serve(region: string, apiEnv: NodeJS.ProcessEnv, s3: S3Client) {
    const regionSnapshots = new ClusterSnapshots({ region, s3, readTopology: noClusters.read, logger });
    const copier = new SnapshotCopier({
      region,
      s3,
      snapshots: regionSnapshots,
      logger,
      regions: regionS3Clients(region, s3, apiEnv),
      runningClusters: async () => [],
    });
    const api = new RdsApi({
      region,
      directory: noClusters,
      logger,
      snapshots: regionSnapshots,
      restores: {} as ClusterRestores,
      actions: copier.actions(),
    });
    const httpServer = createServer();
    serveRdsApi(httpServer, api);
    await new Promise<void>((resolve) => httpServer.listen(0, '127.0.0.1', resolve));
    const client = new RDSClient({
      endpoint: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}`,
      region,
      credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
      maxAttempts: 1,
    });
    return { snapshots: regionSnapshots, server: httpServer, rds: client };
  }

  beforeAll(async () => {
    emulators = await Emulators.start({ regions: [east, west], dataDir: dir.path });
    env = { ...process.env, ...emulators.env() };
    eastS3 = s3Client({ region: east, env });
    westS3 = s3Client({ region: west, env });
    await eastS3.send(new CreateBucketCommand({ Bucket: eastBucket }));
    sharedPack = randomPack(3, 1);
    older = await storeSnapshot(eastS3, 'older', [sharedPack], '100');
    // Incremental to `older`: shares its pack, adds one of 256 pages (1 MiB: streamed, not a string).
    source = await storeSnapshot(eastS3, 'nightly', [sharedPack, randomPack(256, 2)], '200');
    // us-west-2's S3 as its API sees it, recording the order of its writes.
    const recording = {
      send: async (command: Parameters<S3Client['send']>[0]) => {
        await beforeWestSend?.(command);
        if (command instanceof PutObjectCommand) westPuts.push(command.input.Key!);
        const out = await westS3.send(command);
        await afterWestSend?.(command);
        return out;
      },
    } as S3Client;
    ({ snapshots, server, rds } = await serve(west, env, recording));
  }, 90_000);

  afterAll(async () => {
    rds?.destroy();
    server?.close();
    eastS3?.destroy();
    westS3?.destroy();
    await emulators?.stop();
    dir.remove();
  });

  it('copies an us-east-1 snapshot into us-west-2: copying, then available, every pack byte-equal, manifest last', async () => {
    const before = await contents(eastS3, eastBucket);
    const started = performance.now();
    const answer = await rds.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: arnOf('nightly'),
        TargetDBClusterSnapshotIdentifier: 'nightly-copy',
        CopyTags: true,
      }),
    );
    expect(answer.DBClusterSnapshot).toMatchObject({
      DBClusterSnapshotIdentifier: 'nightly-copy',
      DBClusterIdentifier: cluster,
      DBClusterSnapshotArn: arnOf('nightly-copy', west),
      SourceDBClusterSnapshotArn: arnOf('nightly'),
      SnapshotType: 'manual',
      Status: 'copying',
    });
    expect(answer.DBClusterSnapshot!.PercentProgress).toBeLessThan(100);
    await waitUntilDBClusterSnapshotAvailable(
      { client: rds, maxWaitTime: 60, minDelay: 1, maxDelay: 1 },
      { DBClusterSnapshotIdentifier: 'nightly-copy' },
    );
    console.log(
      `copy of ${source.bytesTotal} bytes (2 packs) available after ${(performance.now() - started).toFixed(0)} ms`,
    );
    const listed = await rds.send(
      new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'nightly-copy' }),
    );
    expect(listed.DBClusterSnapshots).toHaveLength(1);
    expect(listed.DBClusterSnapshots![0]).toMatchObject({
      Status: 'available',
      PercentProgress: 100,
      SnapshotType: 'manual',
      SourceDBClusterSnapshotArn: arnOf('nightly'),
      DBClusterIdentifier: cluster,
    });
    // Every object the manifest names, byte-equal, and the manifest under the target's id.
    const copied = await contents(westS3, westBucket);
    for (const pack of source.packs!) {
      const key = packObjectKey(cluster, pack.id);
      expect(copied.get(key)).toBe(before.get(key));
    }
    expect([...copied.keys()].sort()).toEqual(
      [
        ...source.packs!.map((p) => packObjectKey(cluster, p.id)),
        snapshotManifestKey(cluster, 'nightly-copy'),
      ].sort(),
    );
    expect(westPuts.at(-1)).toBe(snapshotManifestKey(cluster, 'nightly-copy'));
    // Each pack is put to a staging key beside its name, and moved to its name once its hash matched
    // (no staging key is left: the listing above has only the packs and the manifest).
    const staged = westPuts.slice(0, -1);
    for (const key of staged) expect(key).toMatch(/\.copying-[0-9a-f]{16}$/);
    expect(staged.map((k) => k.replace(/\.copying-[0-9a-f]+$/, '')).sort()).toEqual(
      source.packs!.map((p) => packObjectKey(cluster, p.id)).sort(),
    );
    // The source region is as it was.
    expect(await contents(eastS3, eastBucket)).toEqual(before);
  });

  it('the copy is a valid restore input by its id, and never a parent, a point-in-time base or a retention base', async () => {
    const got = await westS3.send(
      new GetObjectCommand({ Bucket: westBucket, Key: snapshotManifestKey(cluster, 'nightly-copy') }),
    );
    const manifest = parseSnapshotManifest(await got.Body!.transformToString(), 'copy', 'nightly-copy');
    expect(manifest).toEqual({ ...source, snapshotId: 'nightly-copy', copiedFrom: arnOf('nightly') });
    expect(await listSnapshotSummaries(westS3, westBucket, cluster)).toEqual([]);
    const withCopies = await listSnapshotSummaries(westS3, westBucket, cluster, { copies: true });
    const plan = planRestore({
      sourceCluster: cluster,
      request: { snapshotId: 'nightly-copy' },
      snapshots: withCopies.map((s) => ({ ...s, key: snapshotManifestKey(cluster, s.snapshotId) })),
      chunks: [],
      watermark: undefined,
    });
    expect(plan.snapshot?.snapshotId).toBe('nightly-copy');
    expect(await newestManifest(westS3, westBucket, cluster)).toBeUndefined();
    // Retention a year on, no grace, beside a snapshot of the region's own older than the copy: were
    // the copy a base (the newest snapshot before the cutoff), that older one would expire; were it
    // an ordinary snapshot, the copy would. Both stay, and every pack they name.
    const olderKey = snapshotManifestKey(cluster, 'older');
    await westS3.send(
      new PutObjectCommand({ Bucket: westBucket, Key: olderKey, Body: JSON.stringify(older) }),
    );
    try {
      const before = await contents(westS3, westBucket);
      const report = await expireBackups({
        s3: westS3,
        bucket: westBucket,
        cluster,
        now: () => Date.now() + 365 * 86_400_000,
        retentionDays: 1,
        pageGraceMs: 0,
      });
      expect(report.baseSnapshot).toBe('older');
      expect(report.deleted).toEqual({ manifests: 0, chunks: 0, packs: 0, pages: 0 });
      expect(await contents(westS3, westBucket)).toEqual(before);
    } finally {
      await westS3.send(new DeleteObjectCommand({ Bucket: westBucket, Key: olderKey }));
    }
  });

  it('a pack the destination holds is never rewritten, only made young: a corrupt source pack leaves it byte-identical', async () => {
    const key = packObjectKey(cluster, sha256Hex(sharedPack));
    const modified = async () =>
      (await westS3.send(new HeadObjectCommand({ Bucket: westBucket, Key: key }))).LastModified!.getTime();
    const before = await contents(westS3, westBucket);
    expect(before.get(key)).toBe(sha256Hex(sharedPack));
    const modifiedBefore = await modified();
    // us-east-1's shared pack is damaged since the first copy; us-west-2 holds the good one.
    await eastS3.send(
      new PutObjectCommand({ Bucket: eastBucket, Key: key, Body: Buffer.from(sharedPack).fill(7, 0, 16) }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1100)); // LastModified is in whole seconds
    try {
      await rds.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: arnOf('nightly'),
          TargetDBClusterSnapshotIdentifier: 'nightly-again',
        }),
      );
      // Every pack is there already: none is read from the source, so the copy is good.
      await waitUntilDBClusterSnapshotAvailable(
        { client: rds, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
        { DBClusterSnapshotIdentifier: 'nightly-again' },
      );
    } finally {
      await eastS3.send(new PutObjectCommand({ Bucket: eastBucket, Key: key, Body: sharedPack }));
    }
    const after = await contents(westS3, westBucket);
    expect(after.get(key)).toBe(sha256Hex(sharedPack));
    for (const [k, hash] of before) expect(after.get(k), k).toBe(hash);
    expect([...after.keys()].filter((k) => k.includes('.copying-'))).toEqual([]);
    // Made young: retention's grace period covers it while the copy runs.
    expect(await modified()).toBeGreaterThan(modifiedBefore);
    await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'nightly-again' }));
  });

  it('a pack deleted (by retention) while the copy is written fails the copy and removes its manifest', async () => {
    const key = packObjectKey(cluster, sha256Hex(sharedPack));
    const manifestKey = snapshotManifestKey(cluster, 'lost-copy');
    // Deleted once the refresh made it young and the manifest is written: as retention does when it
    // listed the manifests before this one and the pack before its refresh.
    afterWestSend = async (command) => {
      if (command instanceof PutObjectCommand && command.input.Key === manifestKey)
        await westS3.send(new DeleteObjectCommand({ Bucket: westBucket, Key: key }));
    };
    try {
      await rds.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: 'nightly-copy',
          TargetDBClusterSnapshotIdentifier: 'lost-copy',
        }),
      );
      await expect(
        waitUntilDBClusterSnapshotAvailable(
          { client: rds, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
          { DBClusterSnapshotIdentifier: 'lost-copy' },
        ),
      ).rejects.toThrow(/failed/);
    } finally {
      afterWestSend = undefined;
      await westS3.send(new PutObjectCommand({ Bucket: westBucket, Key: key, Body: sharedPack }));
    }
    expect(snapshots.copies.get(`${cluster}/lost-copy`)?.failure).toMatch(
      /deleted while it was written .*its manifest was removed/,
    );
    expect((await contents(westS3, westBucket)).has(manifestKey)).toBe(false);
    await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'lost-copy' }));
  });

  it('refuses to delete the source of a copy in progress here', async () => {
    let entered!: () => void;
    const inCopy = new Promise<void>((resolve) => {
      entered = resolve;
    });
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    // The copy waits at its first refresh of a pack (a same-bucket copy writes no pack).
    beforeWestSend = async (command) => {
      if (command instanceof CopyObjectCommand) {
        entered();
        await released;
      }
    };
    try {
      await rds.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: 'nightly-copy',
          TargetDBClusterSnapshotIdentifier: 'gated-copy',
        }),
      );
      await inCopy;
      await expect(
        rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'nightly-copy' })),
      ).rejects.toBeInstanceOf(InvalidDBClusterSnapshotStateFault);
    } finally {
      beforeWestSend = undefined;
      release();
    }
    await waitUntilDBClusterSnapshotAvailable(
      { client: rds, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
      { DBClusterSnapshotIdentifier: 'gated-copy' },
    );
    expect((await contents(westS3, westBucket)).has(snapshotManifestKey(cluster, 'nightly-copy'))).toBe(true);
    await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'gated-copy' }));
  });

  it('refuses an existing target, a missing source, a bad identifier, a busy source and a full quota, changing nothing', async () => {
    const before = await contents(westS3, westBucket);
    const copy = (source: string, target: string) =>
      rds.send(
        new CopyDBClusterSnapshotCommand({
          SourceDBClusterSnapshotIdentifier: source,
          TargetDBClusterSnapshotIdentifier: target,
        }),
      );
    await expect(copy(arnOf('nightly'), 'nightly-copy')).rejects.toBeInstanceOf(
      DBClusterSnapshotAlreadyExistsFault,
    );
    await expect(copy(arnOf('nope'), 'other')).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    // Identifiers are unique in a region: another cluster's snapshot here has it.
    await westS3.send(new CreateBucketCommand({ Bucket: `other-backup-${west}` }));
    await westS3.send(
      new PutObjectCommand({
        Bucket: `other-backup-${west}`,
        Key: snapshotManifestKey('other', 'taken'),
        Body: JSON.stringify({ ...source, cluster: 'other', snapshotId: 'taken' }),
      }),
    );
    await expect(copy(arnOf('nightly'), 'taken')).rejects.toBeInstanceOf(DBClusterSnapshotAlreadyExistsFault);
    await expect(copy(arnOf('nightly'), 'bad--id')).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    await expect(copy('arn:aws:rds:us-east-1:000000000000:cluster:borealis', 'x')).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
    // A target being copied is taken; a source being copied here is not available yet.
    const inFlight = {
      cluster: { cluster, region: west, resourceArn: `arn:aws:rds:${west}:000000000000:cluster:${cluster}` },
      sourceArn: arnOf('x'),
      startedAt: new Date(),
      objectsCopied: 0,
      objectsTotal: 3,
    };
    snapshots.copies.set(`${cluster}/busy`, inFlight);
    try {
      await expect(copy(arnOf('nightly'), 'busy')).rejects.toBeInstanceOf(
        DBClusterSnapshotAlreadyExistsFault,
      );
      await expect(copy('busy', 'other')).rejects.toBeInstanceOf(InvalidDBClusterSnapshotStateFault);
      const busy = await rds.send(
        new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'busy' }),
      );
      expect(busy.DBClusterSnapshots![0]).toMatchObject({ Status: 'copying', PercentProgress: 0 });
      await expect(
        rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'busy' })),
      ).rejects.toBeInstanceOf(InvalidDBClusterSnapshotStateFault);
      for (let i = 1; i < copiesInFlightMax; i++) snapshots.copies.set(`${cluster}/busy-${i}`, inFlight);
      await expect(copy(arnOf('nightly'), 'one-more')).rejects.toBeInstanceOf(SnapshotQuotaExceededFault);
    } finally {
      for (const key of [...snapshots.copies.keys()]) snapshots.copies.delete(key);
    }
    expect(await contents(westS3, westBucket)).toEqual(before);
  });

  it("identifiers are unique in the region: create refuses another cluster's, delete refuses one two clusters have", async () => {
    const otherBucket = `other-backup-${west}`;
    await westS3.send(new CreateBucketCommand({ Bucket: otherBucket })).catch(() => undefined);
    const twin = (c: string) => snapshotManifestKey(c, 'twin');
    await westS3.send(
      new PutObjectCommand({
        Bucket: otherBucket,
        Key: twin('other'),
        Body: JSON.stringify({ ...source, cluster: 'other', snapshotId: 'twin' }),
      }),
    );
    try {
      const running = {
        cluster,
        region: west,
        resourceArn: `arn:aws:rds:${west}:000000000000:cluster:${cluster}`,
      } as ClusterStatus;
      await expect(snapshots.create(running, 'twin')).rejects.toMatchObject({
        code: 'DBClusterSnapshotAlreadyExistsFault',
      });
      expect(snapshots.pending(cluster, 'twin')).toBeUndefined();
      // Stored in two clusters' buckets (made before identifiers were checked): none is picked.
      await westS3.send(
        new PutObjectCommand({
          Bucket: westBucket,
          Key: twin(cluster),
          Body: JSON.stringify({ ...source, snapshotId: 'twin' }),
        }),
      );
      const refused = await rds
        .send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'twin' }))
        .catch((e: RDSServiceException) => e);
      expect(refused).toMatchObject({ name: 'InvalidParameterCombination' });
      expect((refused as Error).message).toMatch(/several clusters in us-west-2 \(borealis, other\)/);
      expect((await contents(westS3, westBucket)).has(twin(cluster))).toBe(true);
      await westS3.send(new HeadObjectCommand({ Bucket: otherBucket, Key: twin('other') }));
    } finally {
      await westS3.send(new DeleteObjectCommand({ Bucket: westBucket, Key: twin(cluster) }));
      await westS3.send(new DeleteObjectCommand({ Bucket: otherBucket, Key: twin('other') }));
    }
  });

  it('a source region whose S3 is not configured or not reachable is an InvalidParameterValue, changing nothing', async () => {
    const before = await contents(westS3, westBucket);
    // No us-east-1 endpoint: as an embedded us-west-2 API would be without --global's second region.
    const alone = await serve(west, { ...env, [embeddedEndpointVariable('s3', east)]: undefined }, westS3);
    // us-east-1 at a port nobody listens on.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const dead = await serve(
      west,
      { ...env, [embeddedEndpointVariable('s3', east)]: `http://127.0.0.1:${deadPort}` },
      westS3,
    );
    try {
      const request = new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: arnOf('nightly'),
        TargetDBClusterSnapshotIdentifier: 'unreachable',
      });
      const notConfigured = await alone.rds.send(request).catch((e: RDSServiceException) => e);
      expect(notConfigured).toMatchObject({ name: 'InvalidParameterValue' });
      expect((notConfigured as Error).message).toMatch(
        /region us-east-1 is not reachable from the us-west-2 RDS API: no BOREALIS_ENDPOINT_S3_US_EAST_1/,
      );
      const refused = await dead.rds.send(request).catch((e: RDSServiceException) => e);
      expect(refused).toMatchObject({ name: 'InvalidParameterValue' });
      expect((refused as Error).message).toMatch(
        /cannot read the source region us-east-1's snapshots: its S3 did not answer/,
      );
    } finally {
      for (const s of [alone, dead]) {
        s.rds.destroy();
        s.server.close();
      }
    }
    expect(await contents(westS3, westBucket)).toEqual(before);
  });

  it('a pack that does not hash to its name fails the copy: no manifest, status failed, deletable', async () => {
    await storeSnapshot(eastS3, 'damaged', [randomPack(2, 3)], '300', { corruptPack: true });
    await rds.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: arnOf('damaged'),
        TargetDBClusterSnapshotIdentifier: 'damaged-copy',
      }),
    );
    await expect(
      waitUntilDBClusterSnapshotAvailable(
        { client: rds, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
        { DBClusterSnapshotIdentifier: 'damaged-copy' },
      ),
    ).rejects.toThrow(/failed/);
    // Neither the manifest nor the pack that did not match (its staging key is deleted too).
    const left = await contents(westS3, westBucket);
    expect(left.has(snapshotManifestKey(cluster, 'damaged-copy'))).toBe(false);
    expect([...left.keys()].filter((k) => k.includes('.copying-'))).toEqual([]);
    await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'damaged-copy' }));
    await expect(
      rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'damaged-copy' })),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
  });

  it('copies within the region by identifier: only a manifest is written, naming the same packs', async () => {
    const putsBefore = westPuts.length;
    const answer = await rds.send(
      new CopyDBClusterSnapshotCommand({
        SourceDBClusterSnapshotIdentifier: 'nightly-copy',
        TargetDBClusterSnapshotIdentifier: 'nightly-copy-2',
      }),
    );
    expect(answer.DBClusterSnapshot?.SourceDBClusterSnapshotArn).toBe(arnOf('nightly-copy', west));
    await waitUntilDBClusterSnapshotAvailable(
      { client: rds, maxWaitTime: 30, minDelay: 1, maxDelay: 1 },
      { DBClusterSnapshotIdentifier: 'nightly-copy-2' },
    );
    expect(westPuts.slice(putsBefore)).toEqual([snapshotManifestKey(cluster, 'nightly-copy-2')]);
    const got = await westS3.send(
      new GetObjectCommand({ Bucket: westBucket, Key: snapshotManifestKey(cluster, 'nightly-copy-2') }),
    );
    expect(JSON.parse(await got.Body!.transformToString())).toEqual({
      ...source,
      snapshotId: 'nightly-copy-2',
      copiedFrom: arnOf('nightly-copy', west),
    });
    await rds.send(new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'nightly-copy-2' }));
  });

  it('deletes the copy in us-west-2, where its cluster does not run: the manifest goes, the source stays', async () => {
    const eastBefore = await contents(eastS3, eastBucket);
    const deleted = await rds.send(
      new DeleteDBClusterSnapshotCommand({ DBClusterSnapshotIdentifier: 'nightly-copy' }),
    );
    expect(deleted.DBClusterSnapshot).toMatchObject({ DBClusterSnapshotIdentifier: 'nightly-copy' });
    await expect(
      rds.send(new DescribeDBClusterSnapshotsCommand({ DBClusterSnapshotIdentifier: 'nightly-copy' })),
    ).rejects.toBeInstanceOf(DBClusterSnapshotNotFoundFault);
    expect((await contents(westS3, westBucket)).has(snapshotManifestKey(cluster, 'nightly-copy'))).toBe(
      false,
    );
    expect(await contents(eastS3, eastBucket)).toEqual(eastBefore);
  });
});
