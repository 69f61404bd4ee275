// Reading the archive in S3: one paginated listing and one watermark reader for every function, the
// writer and the CLI. A watermark that does not parse is read again a few times before it counts as
// corrupt: a store without S3's whole-object PUTs can show a torn body to a read racing a write
// (s3rver did, until embedded/s3-atomic-store.ts) — every reader gets that, not only the archiver.
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { markerFromJson, markerToJson } from '../backtrack/json.ts';
import { type BacktrackMarker, markerListProblem } from '../backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import { backtrackMarkerKey, backtrackPrefix, type Watermark, watermarkKey } from './archive.ts';

/** Reads of a watermark body that does not parse before it is reported as corrupt. */
const watermarkReadAttemptsMax = 5;

export interface ListedObject {
  key: string;
  size: number;
  lastModifiedMs: number;
}

/** Every object under `prefix` (ListObjectsV2, all pages, or at most `pagesMax` of them). */
export async function listObjects(
  s3: S3Client,
  bucket: string,
  prefix: string,
  options: { startAfter?: string; pageKeys?: number; pagesMax?: number } = {},
): Promise<ListedObject[]> {
  const out: ListedObject[] = [];
  let token: string | undefined;
  for (let page = 0; page < (options.pagesMax ?? Number.POSITIVE_INFINITY); page++) {
    const listed = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token === undefined && options.startAfter !== undefined
          ? { StartAfter: options.startAfter }
          : {}),
        ContinuationToken: token,
        MaxKeys: options.pageKeys,
      }),
    );
    for (const o of listed.Contents ?? []) {
      if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0, lastModifiedMs: o.LastModified?.getTime() ?? 0 });
    }
    token = listed.IsTruncated ? listed.NextContinuationToken : undefined;
    if (token === undefined) break;
  }
  return out;
}

export interface StoredWatermark {
  value: Watermark;
  /** For a conditional overwrite (IfMatch) where S3 enforces it. */
  etag: string | undefined;
}

/**
 * A small JSON object of the bucket, parsed, or undefined when there is no such key. A body `parse`
 * refuses (a BorealisError) is read again, up to `attemptsMax` reads in all, before it counts as
 * corrupt: a read racing a write on a store without whole-object PUTs can see a torn body.
 */
export async function readParsedObject<T>(
  s3: S3Client,
  bucket: string,
  key: string,
  parse: (text: string, etag: string | undefined) => T,
  attemptsMax = 1,
): Promise<T | undefined> {
  for (let attempt = 1; ; attempt++) {
    let text: string;
    let etag: string | undefined;
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      text = await got.Body!.transformToString();
      etag = got.ETag;
    } catch (error) {
      if ((error as Error).name === 'NoSuchKey') return undefined;
      throw error;
    }
    try {
      return parse(text, etag);
    } catch (error) {
      if (!(error instanceof BorealisError) || attempt >= attemptsMax) throw error;
      await new Promise((resolve) => setTimeout(resolve, 20 * attempt));
    }
  }
}

/** The cluster's archive watermark, or undefined when the archiver has written none yet. */
export function readWatermark(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<StoredWatermark | undefined> {
  return readParsedObject(
    s3,
    bucket,
    watermarkKey(cluster),
    (text, etag) => ({ value: parseWatermark(text), etag }),
    watermarkReadAttemptsMax,
  );
}

function parseWatermark(text: string): Watermark {
  const bad = (why: string) =>
    new BorealisError(ErrorCode.INTERNAL, `archive watermark is malformed: ${why}`, { context: { text } });
  let raw: Partial<Watermark>;
  try {
    raw = JSON.parse(text) as Partial<Watermark>;
  } catch {
    throw bad('not JSON');
  }
  const lsnLike = (x: unknown) => typeof x === 'string' && /^\d{1,20}$/.test(x);
  if (!lsnLike(raw.lsn) || !lsnLike(raw.commitLsn)) throw bad('lsn and commitLsn must be decimal strings');
  if (!Number.isSafeInteger(raw.commitTimeMs) || (raw.commitTimeMs as number) < 0) throw bad('commitTimeMs');
  return {
    lsn: raw.lsn!,
    commitLsn: raw.commitLsn!,
    commitTimeMs: raw.commitTimeMs!,
    updatedAt: String(raw.updatedAt ?? ''),
  };
}

/**
 * The cluster's backtrack markers archived beside its log (ADR 015), in order. The writer puts them
 * before it publishes a record of their timeline, so any chunk of timeline k has markers 1..k here.
 * A list that does not follow from seq 1 (a missing or damaged object) is an error: a restore that
 * ignored a marker would apply voided records.
 */
export async function readArchivedMarkers(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<BacktrackMarker[]> {
  const listed = await listObjects(s3, bucket, backtrackPrefix(cluster));
  const markers: BacktrackMarker[] = [];
  for (const o of listed.sort((a, b) => (a.key < b.key ? -1 : 1))) {
    markers.push(await readMarkerObject(s3, bucket, o.key));
  }
  const problem = markerListProblem(markers);
  if (problem) {
    throw new BorealisError(ErrorCode.INTERNAL, `archived backtrack markers of ${cluster}: ${problem}`, {
      context: { bucket, cluster },
    });
  }
  return markers;
}

/**
 * The newest archived backtrack marker (markers take effect in seq order, so it is also the one that
 * took effect last), or undefined: one listing and one GET, whatever the number of markers.
 */
export async function readNewestArchivedMarker(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<BacktrackMarker | undefined> {
  const listed = await listObjects(s3, bucket, backtrackPrefix(cluster));
  const newest = listed.sort((a, b) => (a.key < b.key ? -1 : 1)).at(-1);
  return newest && readMarkerObject(s3, bucket, newest.key);
}

async function readMarkerObject(s3: S3Client, bucket: string, key: string): Promise<BacktrackMarker> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  let json: unknown;
  try {
    json = JSON.parse(await got.Body!.transformToString());
  } catch {
    throw new BorealisError(ErrorCode.INTERNAL, `backtrack marker ${key} is not JSON`, { context: { key } });
  }
  return markerFromJson(json, key);
}

/** Puts the markers the archive lacks (same key, same body: writing one twice changes nothing). */
export async function archiveMarkers(
  s3: S3Client,
  bucket: string,
  cluster: string,
  markers: readonly BacktrackMarker[],
): Promise<number> {
  if (markers.length === 0) return 0;
  const held = new Set((await listObjects(s3, bucket, backtrackPrefix(cluster))).map((o) => o.key));
  let put = 0;
  for (const m of markers) {
    const key = backtrackMarkerKey(cluster, m.seq);
    if (held.has(key)) continue;
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: JSON.stringify(markerToJson(m)),
        ContentType: 'application/json',
      }),
    );
    put++;
  }
  return put;
}
