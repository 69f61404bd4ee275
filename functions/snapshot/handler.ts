// The snapshot function's logic (pure: S3, the volume, the consistent point and the change detector
// are injected): an incremental snapshot of the database at a consistent LSN. It pins the writer's
// newest durable commit S and reads pages as of S from full segments — never from the writer —
// spread over the PGs, paced, with a bounded number of reads in flight:
// - incremental ('log'): only the pages the archived log says were written since the parent's LSN
//   (changed-pages.ts), plus a few unchanged ones to check that claim against the parent's hashes;
//   every other page keeps the parent's image, where it is;
// - full: every page (the first snapshot, or whenever the archive cannot tell).
// Images go into page packs (pack-writer.ts): an image whose sha256 the parent already stores is not
// stored again, and packs whose images in use have become few are repacked from S3 so that old packs
// can expire. The manifest is written LAST, so a manifest exists only for a complete snapshot; every
// object is named by its content, so re-running is idempotent.
import { createHash } from 'node:crypto';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { assert } from '../../core/assert.ts';
import {
  packObjectKey,
  type SnapshotManifest,
  snapshotFormatPacked,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { packBytesTargetDefault, pagesPerPack } from '../../core/backup/page-pack.ts';
import {
  isPacked,
  locationsByHash,
  type PageLocation,
  packLayout,
  pageLocation,
} from '../../core/backup/snapshot-manifest.ts';
import type { ConsistentPoint } from '../../core/cluster/consistent-point.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { type Lsn, lsnMin } from '../../core/lsn.ts';
import { pgCount, pgOfPage, type VolumeConfig } from '../../core/volume.ts';
import {
  generatedSnapshotId,
  lsnOfSnapshotId,
  newestManifest,
  readManifest,
  snapshotIdPattern,
} from './catalog.ts';
import type { ChangedPages, ChangesRequest } from './changed-pages.ts';
import { PackWriter } from './pack-writer.ts';
import { type Placement, repack, repackBytesMaxDefault } from './repack.ts';

/** Page reads in flight at once: bounds the load on storage nodes (the writer's appends go there too). */
export const pageReadsInFlightDefault = 8;
/** Pack uploads in flight at once (each up to packBytesTargetDefault). */
export const packUploadsInFlightDefault = 3;
export const pageReadsInFlightMax = 64;
/** Unchanged pages an incremental snapshot reads to check the archived log's change set. */
export const verifyPagesDefault = 16;
/**
 * Page reads per second at most: a snapshot is background work sharing the storage nodes with the
 * writer's appends, so it is paced rather than run flat out. Measured on the 2-core dev box (storage,
 * writer and client on the same cores): back-to-back snapshots cost a 4-client write load ~35% of its
 * txn/s unpaced (~800 pages/s) and ~15% at 250 pages/s. 500 pages/s of 4 KiB is ~2 MB/s: a 200 MB
 * database in under 2 minutes, 1 GB within the Lambda's 15. 0: unpaced.
 */
export const pageReadsPerSecondDefault = 500;

export interface SnapshotDeps {
  s3: S3Client;
  bucket: string;
  cluster: string;
  volume: VolumeConfig;
  /** The consistent point: the writer's newest durable commit (always a CPL) and its PG tails. */
  readPoint: () => Promise<ConsistentPoint>;
  /** A page as of a read point, from a full segment (storagePageReader: PageFetcher over StorageClients). */
  fetchPage: (pageNo: number, readPoint: Lsn) => Promise<Uint8Array>;
  /**
   * The pages written since the parent (changed-pages.ts: the archived log), possibly up to an older
   * commit than the writer's point. Absent, or when it cannot tell, every page is read.
   */
  changedPages?: (request: ChangesRequest) => Promise<ChangedPages>;
  clock?: () => number;
  /** For choosing the unchanged pages to check (tests make it deterministic). */
  random?: () => number;
  pageReadsInFlight?: number;
  packUploadsInFlight?: number;
  /** @default packBytesTargetDefault */
  packBytesTarget?: number;
  /** @default verifyPagesDefault */
  verifyPages?: number;
  /** @default repackBytesMaxDefault */
  repackBytesMax?: number;
  /** @default pageReadsPerSecondDefault; 0 reads as fast as the in-flight bound allows. */
  pageReadsPerSecond?: number;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface SnapshotRequest {
  /** A caller-chosen id (on-demand snapshots); default `snap-<commit time>-<lsn>`. */
  snapshotId?: string;
  /**
   * A scheduled snapshot: while the archive trails the writer it may be taken at the newest archived
   * commit instead of the writer's (on-demand ones are "now": they wait for the archive, or read
   * every page).
   */
  scheduled?: boolean;
}

export interface SnapshotResult {
  manifest: SnapshotManifest;
  /** False when the snapshot already existed (same id, or nothing committed since the newest one). */
  created: boolean;
  /** Page images stored anew (not in the parent's packs). */
  pagesUploaded: number;
  /** Pages read from storage (0 when nothing was created). */
  pagesRead: number;
  /** Images moved from sparse parent packs into new ones. */
  pagesRepacked: number;
  durationMs: number;
}

/** SQLite's database header on page 1: page size (offset 16) and size in pages (offset 28). */
export function parseDatabaseHeader(page1: Uint8Array): { pageSizeBytes: number; pageCount: number } {
  if (page1.length === 0) return { pageSizeBytes: 0, pageCount: 0 };
  assert(page1.length >= 100, () => `page 1 is ${page1.length} bytes: too short for a database header`);
  const view = new DataView(page1.buffer, page1.byteOffset, page1.byteLength);
  const magic = Buffer.from(page1.subarray(0, 16)).toString('latin1');
  assert(magic === 'SQLite format 3\0', 'page 1 does not start with the SQLite header');
  const raw = view.getUint16(16);
  const pageSizeBytes = raw === 1 ? 65536 : raw;
  // The in-header size is valid when "version-valid-for" (92) equals the change counter (24).
  assert(
    view.getUint32(92) === view.getUint32(24),
    'the database header size is stale (version-valid-for != change counter)',
  );
  return { pageSizeBytes, pageCount: view.getUint32(28) };
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Pages 1..N ordered so that consecutive reads go to different PGs (round-robin over the PGs' page
 * ranges): the in-flight reads spread over every PG's full segments instead of queueing on one.
 */
export function readOrder(volume: VolumeConfig, pageCount: number): number[] {
  const lists: number[][] = [];
  for (let pg = 0; pg < pgCount(volume); pg++) {
    const first = pg * volume.pagesPerPg + 1;
    const last = Math.min(pageCount, (pg + 1) * volume.pagesPerPg);
    if (first > last) break;
    lists.push(Array.from({ length: last - first + 1 }, (_, i) => first + i));
  }
  const capacity = pgCount(volume) * volume.pagesPerPg;
  assert(pageCount <= capacity, () => `${pageCount} pages do not fit the volume's ${capacity}`);
  const order: number[] = [];
  for (let i = 0; order.length < pageCount; i++) {
    for (const list of lists) if (i < list.length) order.push(list[i]!);
  }
  return order;
}

/** Runs `work` over items with at most `limit` running at once; the first failure stops the rest. */
export async function forEachBounded<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const item = items[next++]!;
      try {
        await work(item);
      } catch (error) {
        failed = true;
        throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Spaces calls `1 / perSecond` apart from the first one (0: no pacing). */
export function pacer(perSecond: number, clock: () => number = Date.now): () => Promise<void> {
  assert(perSecond >= 0, 'a pace must be >= 0');
  if (perSecond === 0) return () => Promise.resolve();
  const intervalMs = 1000 / perSecond;
  let next = clock();
  return () => {
    const now = clock();
    const at = Math.max(next, now);
    next = at + intervalMs;
    // setTimeout has 1 ms resolution: sleep only once the debt is worth it.
    return at - now >= 1 ? new Promise((r) => setTimeout(r, at - now)) : Promise.resolve();
  };
}

/** The read point of a page: S, or its PG's last LSN when the PG has no record in (tail, S]. */
export function pageReadPoint(volume: VolumeConfig, point: ConsistentPoint, pageNo: number): Lsn {
  const tail = point.pgTails.get(pgOfPage(volume, pageNo));
  return tail === undefined ? point.lsn : lsnMin(point.lsn, tail);
}

/** Which pages a snapshot reads: `read` for their content, `verify` to check the change set. */
export function pagesToRead(input: {
  pageCount: number;
  /** The parent's page count and the pages written since it; undefined: read every page. */
  incremental?: { parentPageCount: number; changed: ReadonlySet<number> };
  verifyPages: number;
  random: () => number;
}): { read: number[]; verify: number[] } {
  const all = Array.from({ length: Math.max(0, input.pageCount - 1) }, (_, i) => i + 2);
  const inc = input.incremental;
  if (!inc) return { read: all, verify: [] };
  const read: number[] = [];
  const unchanged: number[] = [];
  for (const p of all) (inc.changed.has(p) || p > inc.parentPageCount ? read : unchanged).push(p);
  // A partial Fisher-Yates shuffle picks the sample without bias.
  const k = Math.min(input.verifyPages, unchanged.length);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(input.random() * (unchanged.length - i));
    [unchanged[i], unchanged[j]] = [unchanged[j]!, unchanged[i]!];
  }
  return { read, verify: unchanged.slice(0, k).sort((a, b) => a - b) };
}

export async function takeSnapshot(
  deps: SnapshotDeps,
  request: SnapshotRequest = {},
): Promise<SnapshotResult> {
  const clock = deps.clock ?? Date.now;
  const started = clock();
  const log = deps.log ?? (() => undefined);
  const readsInFlight = deps.pageReadsInFlight ?? pageReadsInFlightDefault;
  const uploadsInFlight = deps.packUploadsInFlight ?? packUploadsInFlightDefault;
  assert(readsInFlight >= 1 && readsInFlight <= pageReadsInFlightMax, 'page reads in flight out of range');
  assert(uploadsInFlight >= 1, 'pack uploads in flight must be >= 1');
  if (request.snapshotId !== undefined && !snapshotIdPattern.test(request.snapshotId)) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `snapshot id '${request.snapshotId}' must match ${snapshotIdPattern.source}`,
      { retryable: false },
    );
  }
  // Restores and listings take a generated id's LSN and time from the id itself.
  if (request.snapshotId !== undefined && lsnOfSnapshotId(request.snapshotId) !== undefined) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `snapshot id '${request.snapshotId}': ids of the form snap-<time>-<LSN> are reserved for generated ones`,
      { retryable: false },
    );
  }
  const { s3, bucket, cluster, volume } = deps;
  const done = (manifest: SnapshotManifest): SnapshotResult => ({
    manifest,
    created: false,
    pagesUploaded: 0,
    pagesRead: 0,
    pagesRepacked: 0,
    durationMs: clock() - started,
  });
  // At-least-once delivery: a snapshot that exists is the answer to a retried request.
  if (request.snapshotId !== undefined) {
    const existing = await readManifest(s3, bucket, cluster, request.snapshotId);
    if (existing) return done(existing);
  }

  let point = await deps.readPoint();
  const parent = await newestManifest(s3, bucket, cluster);
  if (parent && BigInt(parent.lsn) > point.lsn) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `the newest snapshot ${parent.snapshotId} is at LSN ${parent.lsn}, beyond the consistent point ${point.lsn}: is this the right volume?`,
      { retryable: false, context: { parent: parent.snapshotId, lsn: point.lsn.toString() } },
    );
  }
  // A scheduled snapshot with nothing committed since the newest one: that one is this snapshot.
  if (parent && BigInt(parent.lsn) === point.lsn && request.snapshotId === undefined) return done(parent);

  const pageSizeBytes = volume.pageSizeBytes;
  const packBytesTarget = deps.packBytesTarget ?? packBytesTargetDefault;
  // The parent's images are shared when they are in packs of the same page size (format 1 parents
  // stored a page object per hash: this snapshot then stores every page anew, in packs).
  const base = parent && isPacked(parent) && parent.pageSizeBytes === pageSizeBytes ? parent : undefined;
  const shared = base ? locationsByHash(base) : new Map<string, PageLocation & { slots: number }>();
  let changed: ChangedPages | undefined;
  if (base && deps.changedPages) {
    changed = await deps.changedPages({
      fromLsn: BigInt(base.lsn),
      fromCommitTimeMs: base.commitTimeMs,
      toLsn: point.lsn,
      olderPointAllowed: request.scheduled === true && request.snapshotId === undefined,
    });
  }
  let incremental = changed && 'pages' in changed ? changed : undefined;
  if (incremental && incremental.lsn !== point.lsn) {
    assert(
      incremental.lsn > BigInt(base!.lsn) &&
        incremental.lsn < point.lsn &&
        incremental.commitTimeMs !== undefined,
      "an older point lies between the parent and the writer's point, with its commit time",
    );
    // Quiet PGs are still read as of min(lsn, tail): their tails bound every record <= lsn too.
    point = { lsn: incremental.lsn, commitTimeMs: incremental.commitTimeMs, pgTails: point.pgTails };
  }

  let pagesRead = 1;
  const page1 = await deps.fetchPage(1, pageReadPoint(volume, point, 1));
  const header = parseDatabaseHeader(page1);
  if (header.pageCount > 0 && header.pageSizeBytes !== volume.pageSizeBytes) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `the database's page size ${header.pageSizeBytes} differs from the volume's ${volume.pageSizeBytes}`,
      { retryable: false },
    );
  }
  const pageCount = header.pageCount;
  const plan = pagesToRead({
    pageCount,
    ...(base && incremental
      ? { incremental: { parentPageCount: base.pageCount, changed: incremental.pages } }
      : {}),
    verifyPages: deps.verifyPages ?? verifyPagesDefault,
    random: deps.random ?? Math.random,
  });
  log('snapshot started', {
    lsn: point.lsn.toString(),
    pageCount,
    parent: parent?.snapshotId ?? null,
    changedPagesFrom: incremental ? 'log' : 'full',
    pagesToRead: plan.read.length + plan.verify.length + 1,
    ...(incremental ? { logChunks: incremental.chunks, logBytes: incremental.bytes } : {}),
    ...(changed && 'unknown' in changed ? { whyFull: changed.unknown } : {}),
  });

  const hashes = new Array<string>(pageCount);
  const placements = new Array<Placement>(pageCount);
  const fresh = new Map<string, Placement>();
  /** Parent packs found not to match their hashes (while repacking): never shared from again. */
  const damaged = { packs: new Set<string>(), pages: [] as number[] };
  const writer = new PackWriter({
    pageSizeBytes,
    pagesPerPack: pagesPerPack(pageSizeBytes, packBytesTarget),
    uploadsInFlight,
    put: async (packId, body) => {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: packObjectKey(cluster, packId),
          Body: body,
          ContentType: 'application/octet-stream',
        }),
      );
    },
  });
  let pagesUploaded = 0;
  const store = async (pageNo: number, bytes: Uint8Array): Promise<void> => {
    assert(
      bytes.length === pageSizeBytes,
      () => `page ${pageNo} is ${bytes.length} bytes, not ${pageSizeBytes}`,
    );
    const hash = sha256Hex(bytes);
    hashes[pageNo - 1] = hash;
    const known = shared.get(hash);
    const placed =
      known && !damaged.packs.has(known.packId) ? ({ kind: 'shared', ...known } as const) : fresh.get(hash);
    if (placed) {
      placements[pageNo - 1] = placed;
      return;
    }
    // The same content twice in one snapshot is stored once: placed before any wait.
    const added = writer.add(bytes);
    const placement: Placement = { kind: 'new', ...added.location };
    fresh.set(hash, placement);
    placements[pageNo - 1] = placement;
    pagesUploaded++;
    await added.buffered;
  };

  const pace = pacer(deps.pageReadsPerSecond ?? pageReadsPerSecondDefault, clock);
  const readEach = async (
    pageNos: readonly number[],
    onPage: (pageNo: number, bytes: Uint8Array) => Promise<void>,
  ) => {
    const wanted = new Set(pageNos);
    await forEachBounded(
      readOrder(volume, pageCount).filter((p) => wanted.has(p)),
      readsInFlight,
      async (pageNo) => {
        await pace();
        const bytes = await deps.fetchPage(pageNo, pageReadPoint(volume, point, pageNo));
        pagesRead++;
        await onPage(pageNo, bytes);
      },
    );
  };

  if (pageCount > 0) await store(1, page1);
  // Check the change set first: an unchanged page that differs from the parent means the log and
  // the parent disagree (a parent from another volume of the same name): then read everything.
  let read = plan.read;
  if (base && incremental && plan.verify.length > 0) {
    const differing: number[] = [];
    await readEach(plan.verify, async (pageNo, bytes) => {
      if (sha256Hex(bytes) !== base.pages[pageNo - 1]) differing.push(pageNo);
      await store(pageNo, bytes);
    });
    if (differing.length > 0) {
      log('snapshot: unchanged pages differ from the parent; reading every page', {
        parent: base.snapshotId,
        pages: differing.slice(0, 10),
      });
      incremental = undefined;
      const verified = new Set(plan.verify);
      read = pagesToRead({ pageCount, verifyPages: 0, random: Math.random }).read.filter(
        (p) => !verified.has(p),
      );
    }
  }
  await readEach(read, store);
  if (base && incremental) {
    for (let pageNo = 2; pageNo <= pageCount; pageNo++) {
      if (hashes[pageNo - 1] !== undefined) continue;
      assert(pageNo <= base.pageCount, () => `page ${pageNo} is past the parent and was not read`);
      hashes[pageNo - 1] = base.pages[pageNo - 1]!;
      const at = pageLocation(base, pageNo);
      placements[pageNo - 1] = { kind: 'shared', ...at, slots: shared.get(base.pages[pageNo - 1]!)!.slots };
    }
  }
  for (let i = 0; i < pageCount; i++) assert(hashes[i] !== undefined, () => `page ${i + 1} was not read`);

  const pagesRepacked = await repack({
    s3,
    bucket,
    cluster,
    pageSizeBytes,
    packBytesTarget,
    repackBytesMax: deps.repackBytesMax ?? repackBytesMaxDefault,
    hashes,
    placements,
    writer,
    damaged,
  });
  if (damaged.pages.length > 0) {
    log('snapshot: parent packs do not match their hashes; reading those pages from storage', {
      packs: [...damaged.packs],
      pages: damaged.pages.length,
    });
    await readEach(damaged.pages, store);
  }
  const written = await writer.finish();
  const layout = packLayout(
    placements.map((p) =>
      p.kind === 'shared'
        ? p
        : { packId: written.packs[p.pack]!.id, slot: p.slot, slots: written.packs[p.pack]!.slots },
    ),
  );

  const snapshotId = request.snapshotId ?? generatedSnapshotId(point.commitTimeMs, point.lsn);
  const manifest: SnapshotManifest = {
    format: snapshotFormatPacked,
    snapshotId,
    cluster,
    lsn: point.lsn.toString(),
    commitTimeMs: point.commitTimeMs,
    createdAt: new Date(clock()).toISOString(),
    pageSizeBytes,
    pageCount,
    pages: hashes,
    ...layout,
    parent: parent?.snapshotId ?? null,
    bytesUploaded: written.bytesUploaded,
    bytesTotal: pageCount * pageSizeBytes,
    changedPagesFrom: incremental ? 'log' : 'full',
    pagesRead,
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: snapshotManifestKey(cluster, snapshotId),
      Body: JSON.stringify(manifest),
      ContentType: 'application/json',
    }),
  );
  const durationMs = clock() - started;
  log('snapshot written', {
    snapshotId,
    pageCount,
    pagesRead,
    pagesUploaded,
    pagesRepacked,
    packs: layout.packs!.length,
    bytesUploaded: written.bytesUploaded,
    changedPagesFrom: manifest.changedPagesFrom,
    durationMs,
  });
  return { manifest, created: true, pagesUploaded, pagesRead, pagesRepacked, durationMs };
}
