// The snapshots of a cluster as S3 holds them (keys from core/backup/archive.ts): list, read and pick
// the newest manifest. Shared by the snapshot function (its parent) and the CLI (`snapshot list`,
// `backup status`). A manifest exists only for a complete snapshot: it is written last.
import { GetObjectCommand, ListObjectsV2Command, NoSuchKey, type S3Client } from '@aws-sdk/client-s3';
import { type SnapshotManifest, snapshotManifestKey, snapshotPrefix } from '../../core/backup/archive.ts';
import { parseSnapshotManifest } from '../../core/backup/snapshot-manifest.ts';
import type { Lsn } from '../../core/lsn.ts';

/** Manifests downloaded at once when every manifest is needed (list). */
export const manifestReadsInFlightMax = 8;

/** `snap-<commit time, ISO basic>-<lsn, 20 digits>`: sorts by time, then LSN. */
const generatedIdPattern = /^snap-(\d{8}T\d{9}Z)-(\d{20})$/;
/** What a caller may name a snapshot (`borealis snapshot create --id`): one S3 key segment. */
export const snapshotIdPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isoBasic(timeMs: number): string {
  return new Date(timeMs).toISOString().replace(/[-:.]/g, '');
}

export function generatedSnapshotId(commitTimeMs: number, lsn: Lsn): string {
  return `snap-${isoBasic(commitTimeMs)}-${lsn.toString().padStart(20, '0')}`;
}

/** What planning a restore needs of a snapshot. */
export type SnapshotSummary = Pick<SnapshotManifest, 'snapshotId' | 'lsn' | 'commitTimeMs'>;

/** The commit time and LSN a generated id names (undefined for a caller-chosen id). */
export function summaryOfSnapshotId(id: string): SnapshotSummary | undefined {
  const m = generatedIdPattern.exec(id);
  if (!m) return undefined;
  const t = m[1]!; // yyyymmddThhmmssSSSZ
  const n = (from: number, to: number) => Number(t.slice(from, to));
  const commitTimeMs = Date.UTC(n(0, 4), n(4, 6) - 1, n(6, 8), n(9, 11), n(11, 13), n(13, 15), n(15, 18));
  return { snapshotId: id, lsn: BigInt(m[2]!).toString(), commitTimeMs };
}

/** The LSN a generated id names (undefined for a caller-chosen id: read its manifest instead). */
export function lsnOfSnapshotId(id: string): Lsn | undefined {
  const m = generatedIdPattern.exec(id);
  return m ? BigInt(m[2]!) : undefined;
}

export async function listSnapshotIds(s3: S3Client, bucket: string, cluster: string): Promise<string[]> {
  const prefix = snapshotPrefix(cluster);
  const ids: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      const rest = o.Key?.slice(prefix.length) ?? '';
      if (rest.endsWith('.json') && !rest.includes('/')) ids.push(rest.slice(0, -'.json'.length));
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return ids.sort();
}

export async function readManifest(
  s3: S3Client,
  bucket: string,
  cluster: string,
  snapshotId: string,
): Promise<SnapshotManifest | undefined> {
  const key = snapshotManifestKey(cluster, snapshotId);
  let text: string;
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await got.Body!.transformToString();
  } catch (error) {
    if (error instanceof NoSuchKey || (error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
  return parseSnapshotManifest(text, key, snapshotId);
}

/** Oldest first: by LSN, then id. */
export function compareManifests(a: SnapshotSummary, b: SnapshotSummary): number {
  const x = BigInt(a.lsn);
  const y = BigInt(b.lsn);
  return x < y ? -1 : x > y ? 1 : a.snapshotId < b.snapshotId ? -1 : a.snapshotId > b.snapshotId ? 1 : 0;
}

export async function listManifests(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<SnapshotManifest[]> {
  const ids = await listSnapshotIds(s3, bucket, cluster);
  const manifests: SnapshotManifest[] = [];
  for (let i = 0; i < ids.length; i += manifestReadsInFlightMax) {
    const batch = ids.slice(i, i + manifestReadsInFlightMax);
    for (const m of await Promise.all(batch.map((id) => readManifest(s3, bucket, cluster, id)))) {
      if (m) manifests.push(m);
    }
  }
  return manifests.sort(compareManifests);
}

/** A copied snapshot (CopyDBClusterSnapshot): possibly of another region's volume (archive.ts). */
export function isCopy(m: Pick<SnapshotManifest, 'copiedFrom'>): boolean {
  return m.copiedFrom !== undefined;
}

/**
 * The snapshot with the highest LSN: the parent of the next one (never a copy: its pages may be of
 * another volume's history, which this bucket's log cannot tell apart). Generated ids carry their LSN, so
 * only the winner and caller-named snapshots are downloaded.
 */
export async function newestManifest(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<SnapshotManifest | undefined> {
  const ids = await listSnapshotIds(s3, bucket, cluster);
  const generated = ids.filter((id) => lsnOfSnapshotId(id) !== undefined);
  const named = ids.filter((id) => lsnOfSnapshotId(id) === undefined);
  const candidates: SnapshotManifest[] = [];
  // Ids sort by time then LSN, and commit times never go backwards: the last generated id is newest.
  for (let i = generated.length - 1; i >= 0; i--) {
    const m = await readManifest(s3, bucket, cluster, generated[i]!);
    if (m && !isCopy(m)) {
      candidates.push(m);
      break;
    }
  }
  for (const id of named) {
    const m = await readManifest(s3, bucket, cluster, id);
    if (m && !isCopy(m)) candidates.push(m);
  }
  return candidates.sort(compareManifests).at(-1);
}

/**
 * Every snapshot's id, LSN and commit time, oldest first, without downloading the manifests of
 * generated ids (their id names both; a manifest holds a hash per page, megabytes for a large
 * database). Caller-named snapshots are read.
 */
export async function listSnapshotSummaries(
  s3: S3Client,
  bucket: string,
  cluster: string,
  options: {
    /**
     * Copies too (a restore by snapshot id). Off by default: a copy is no base of a point-in-time
     * restore or of the restorable window (archive.ts copiedFrom). Copies always have named ids.
     */
    copies?: boolean;
  } = {},
): Promise<SnapshotSummary[]> {
  const ids = await listSnapshotIds(s3, bucket, cluster);
  const out: SnapshotSummary[] = [];
  const named: string[] = [];
  for (const id of ids) {
    const summary = summaryOfSnapshotId(id);
    if (summary) out.push(summary);
    else named.push(id);
  }
  for (let i = 0; i < named.length; i += manifestReadsInFlightMax) {
    const batch = named.slice(i, i + manifestReadsInFlightMax);
    for (const m of await Promise.all(batch.map((id) => readManifest(s3, bucket, cluster, id)))) {
      if (m && (options.copies === true || !isCopy(m)))
        out.push({ snapshotId: m.snapshotId, lsn: m.lsn, commitTimeMs: m.commitTimeMs });
    }
  }
  return out.sort(compareManifests);
}
