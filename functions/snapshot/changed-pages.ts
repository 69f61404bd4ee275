// Which pages changed since the parent snapshot, from the archived log in S3 instead of storage: the
// archive holds every durable record (the backup archiver's gap-free chunks, ADR 008), so the pages
// with a page record in (parent LSN, S] are exactly the pages whose image at S can differ from the
// parent's. Reading that log costs S3 requests and the function's CPU, nothing on the storage nodes
// or the writer: an incremental snapshot then reads only those pages from storage.
//
// The archive trails the writer by a second or so (minutes after a bulk load: the redo stream is
// rate-limited per shard). The snapshot's LSN S is the writer's newest durable commit, so this waits
// for the watermark to reach S — a bounded wait, cut short when the watermark stops moving (no
// archiver is running). A scheduled snapshot need not be at S: when the archive trails, it may be
// taken at the newest archived commit instead (still a consistent point, after the parent), so a
// busy writer never turns it into a full read. When the archive cannot tell (no watermark, a gap, a
// corrupt chunk), the answer says why and the snapshot reads every page instead.
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import type { S3Client } from '@aws-sdk/client-s3';
import {
  type ChunkInfo,
  describeGap,
  logChunkStartAfter,
  logPrefix,
  parseLogChunkKey,
  planLogChain,
} from '../../core/backup/archive.ts';
import { getObjectBytes } from '../../core/backup/materialize.ts';
import { decodeRedoBatch } from '../../core/backup/redo-batch.ts';
import { listObjects, readNewestArchivedMarker, readWatermark } from '../../core/backup/s3-archive.ts';
import type { Lsn } from '../../core/lsn.ts';
import { RecordKind, type RedoRecord } from '../../core/record.ts';
import { forEachBounded } from './handler.ts';

const gunzipAsync = promisify(gunzip);

/** Longest wait for the archive watermark to reach the snapshot's LSN. */
export const archiveWaitMsMaxDefault = 30_000;
/** ... when an older point will do: then the newest archived commit is taken after this long. */
export const archiveWaitForOlderMsMaxDefault = 5_000;
/** The wait ends sooner when the watermark has not moved for this long (no archiver keeps up). */
export const archiveStallMsMaxDefault = 3_000;
const archivePollMs = 200;
/** Chunk downloads in flight (each at most ~1 MB compressed). */
const chunkReadsInFlight = 4;

/** What a snapshot asks: the pages written after its parent's LSN up to its own. */
export interface ChangesRequest {
  fromLsn: Lsn;
  /** The parent's commit time: a backtrack after it changed pages the log after fromLsn omits. */
  fromCommitTimeMs: number;
  toLsn: Lsn;
  /** The answer may stop at an older commit in (fromLsn, toLsn] when the archive trails. */
  olderPointAllowed: boolean;
}

/** The pages written in (fromLsn, lsn], or why the archive cannot say. */
export type ChangedPages =
  | {
      pages: ReadonlySet<number>;
      /** toLsn, or the older commit the answer stops at (then with its commit time). */
      lsn: Lsn;
      commitTimeMs?: number;
      chunks: number;
      bytes: number;
    }
  | { unknown: string };

/** The chunks of a gap-free chain from `fromLsn` that hold records up to `toLsn` (undefined: gap). */
export function chainThrough(
  chunks: readonly ChunkInfo[],
  fromLsn: Lsn,
  toLsn: Lsn,
): ChunkInfo[] | undefined {
  const chain = planLogChain(chunks, fromLsn);
  if (chain.endLsn < toLsn) return undefined;
  const out: ChunkInfo[] = [];
  let reached = fromLsn;
  for (const c of chain.chunks) {
    if (reached >= toLsn) break;
    out.push(c);
    reached = c.lastLsn;
  }
  return out;
}

/** Adds the page of every page record in (fromLsn, toLsn] to `into`. */
export function addWrittenPages(
  records: readonly RedoRecord[],
  fromLsn: Lsn,
  toLsn: Lsn,
  into: Set<number>,
): void {
  for (const r of records) {
    if (r.lsn <= fromLsn || r.lsn > toLsn) continue;
    if (r.kind === RecordKind.PageImage || r.kind === RecordKind.PageDelta) into.add(r.pageNo);
  }
}

export interface ArchivedChangesOptions {
  s3: S3Client;
  bucket: string;
  cluster: string;
  /** @default archiveWaitMsMaxDefault */
  waitMsMax?: number;
  /** @default archiveWaitForOlderMsMaxDefault */
  waitForOlderMsMax?: number;
  /** @default archiveStallMsMaxDefault */
  stallMsMax?: number;
  clock?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

/** Waits for the watermark to reach `toLsn`; the reason it did not, or undefined when it did. */
async function awaitArchive(
  options: ArchivedChangesOptions,
  toLsn: Lsn,
  waitMsMax: number,
): Promise<string | undefined> {
  const clock = options.clock ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => new Promise((r) => setTimeout(r, ms)));
  const started = clock();
  let seen: string | undefined;
  let movedAt = started;
  for (;;) {
    const stored = await readWatermark(options.s3, options.bucket, options.cluster);
    if (!stored) return 'no archive watermark (is the backup archiver running?)';
    const lsn = stored.value.lsn;
    if (BigInt(lsn) >= toLsn) return undefined;
    const now = clock();
    if (lsn !== seen) {
      seen = lsn;
      movedAt = now;
    }
    if (now - movedAt >= (options.stallMsMax ?? archiveStallMsMaxDefault)) {
      return `the archive stopped at LSN ${lsn}, below the snapshot's ${toLsn}`;
    }
    if (now - started >= waitMsMax) {
      return `the archive reached only LSN ${lsn} of ${toLsn} in ${now - started} ms`;
    }
    await sleep(archivePollMs);
  }
}

async function listChunks(options: ArchivedChangesOptions, startAfterLsn?: Lsn): Promise<ChunkInfo[]> {
  const listed = await listObjects(options.s3, options.bucket, logPrefix(options.cluster), {
    ...(startAfterLsn === undefined
      ? {}
      : { startAfter: logChunkStartAfter(options.cluster, startAfterLsn) }),
  });
  return listed.map((o) => parseLogChunkKey(o.key)).filter((c): c is ChunkInfo => c !== undefined);
}

/** The change detector a snapshot uses: pages written since its parent per the archived log. */
export function archivedChanges(
  options: ArchivedChangesOptions,
): (request: ChangesRequest) => Promise<ChangedPages> {
  return async ({ fromLsn, fromCommitTimeMs, toLsn, olderPointAllowed }) => {
    const waitMsMax = olderPointAllowed
      ? (options.waitForOlderMsMax ?? archiveWaitForOlderMsMaxDefault)
      : (options.waitMsMax ?? archiveWaitMsMaxDefault);
    const waited = await awaitArchive(options, toLsn, waitMsMax);
    if (waited !== undefined && !olderPointAllowed) return { unknown: waited };
    // A backtrack since the parent (ADR 015) voided records at or below the parent's LSN too, and the
    // pages they wrote are not in the log above it: read every page. (The writer archives a marker
    // before publishing a record of its timeline, so once the archive has any, the marker is listed.)
    // Markers take effect in order: only the newest can be after the parent if any is.
    const backtrack = await readNewestArchivedMarker(options.s3, options.bucket, options.cluster);
    if (backtrack && backtrack.appliedAtMs >= fromCommitTimeMs) {
      return {
        unknown: `backtrack ${backtrack.seq} at ${new Date(backtrack.appliedAtMs).toISOString()} came after the parent snapshot`,
      };
    }
    // Batches end on commits when they can and the parent's LSN is a commit, so the chunk after it
    // usually starts above it: list from there, and everything only when that does not continue it.
    let chunks = await listChunks(options, fromLsn);
    if (planLogChain(chunks, fromLsn).endLsn === fromLsn) chunks = await listChunks(options);
    const whole = planLogChain(chunks, fromLsn);
    // The point the pages are as of: the snapshot's, or (the archive trailing) its newest commit.
    let lsn = toLsn;
    let commitTimeMs: number | undefined;
    if (whole.endLsn < toLsn) {
      if (!olderPointAllowed || whole.lastCommitLsn <= fromLsn) {
        return { unknown: waited ?? describeGap(chunks, whole.endLsn) };
      }
      lsn = whole.lastCommitLsn;
      commitTimeMs = whole.lastCommitTimeMs;
    }
    const chain = chainThrough(chunks, fromLsn, lsn)!;
    const pages = new Set<number>();
    let bytes = 0;
    let corrupt: string | undefined;
    await forEachBounded(chain, chunkReadsInFlight, async (chunk) => {
      const compressed = await getObjectBytes(options.s3, options.bucket, chunk.key);
      bytes += compressed.length;
      try {
        addWrittenPages(decodeRedoBatch(await gunzipAsync(compressed)).records, fromLsn, lsn, pages);
      } catch (error) {
        corrupt ??= `log chunk for LSNs ${chunk.firstLsn}-${chunk.lastLsn} is corrupt: ${(error as Error).message}`;
      }
    });
    if (corrupt !== undefined) return { unknown: corrupt };
    return {
      pages,
      lsn,
      ...(commitTimeMs === undefined ? {} : { commitTimeMs }),
      chunks: chain.length,
      bytes,
    };
  };
}
