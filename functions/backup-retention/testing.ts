// Test helpers for the retention function and `borealis backup expire` (never imported by production
// code): a synthetic archive spread over days — log chunks stored by the archiver itself (so the
// watermark is real), snapshot manifests with their page packs (or format 1 page objects) written
// directly.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { KinesisStreamEvent } from 'aws-lambda';
import {
  packObjectKey,
  pageObjectKey,
  type SnapshotManifest,
  snapshotFormatPacked,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { encodeRedoBatch, packRedoBatches } from '../../core/backup/redo-batch.ts';
import { packLayout } from '../../core/backup/snapshot-manifest.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { RedoRecord } from '../../core/record.ts';
import { toKinesisEventRecord } from '../../embedded/function-runner.ts';
import { archiveRedoBatches } from '../backup-archiver/handler.ts';
import { syntheticLog } from '../backup-archiver/testing.ts';
import { dayMs } from './handler.ts';

export interface ArchiveTarget {
  s3: S3Client;
  bucket: string;
  cluster: string;
}

export interface ArchivedDay {
  /** Last commit of the day: where a snapshot of that day is taken. */
  lastCommit: { lsn: Lsn; commitTimeMs: number };
}

let sequence = 49_600_000_000_000_000_000n;
function eventOf(data: Buffer): KinesisStreamEvent {
  sequence += 1n;
  return {
    Records: [
      toKinesisEventRecord(
        { data, sequenceNumber: sequence.toString(), partitionKey: 'c', arrivalMs: Date.now() },
        {
          region: 'us-east-1',
          streamName: 'c-redo',
          shardId: 'shardId-000000000000',
          functionName: 'backup-archiver',
        },
      ),
    ],
  };
}

const quiet = () => undefined;
const silentLogger = { info: quiet, warn: quiet, error: quiet, debug: quiet } as never;

/**
 * `days` days of log, day d's 6 commits 1 ms apart from firstDayMs + d days (the first at + 1 ms),
 * archived by the archiver one batch of 2 commits per invocation: 3 chunks a day.
 */
export async function archiveDays(
  target: ArchiveTarget,
  firstDayMs: number,
  days: number,
): Promise<ArchivedDay[]> {
  const out: ArchivedDay[] = [];
  let lsn = 0n;
  for (let d = 0; d < days; d++) {
    const log = syntheticLog(6, { startLsn: lsn, startTimeMs: firstDayMs + d * dayMs });
    let prev = lsn;
    lsn = log.records.at(-1)!.lsn;
    let current: RedoRecord[] = [];
    let commits = 0;
    for (const r of log.records) {
      current.push(r);
      if (r.pageNo !== 0 || ++commits % 2 !== 0) continue;
      const [batch] = packRedoBatches(1n, prev, current);
      prev = r.lsn;
      current = [];
      const response = await archiveRedoBatches(eventOf(encodeRedoBatch(batch!)), {
        ...target,
        logger: silentLogger,
      });
      if (response.batchItemFailures.length > 0) throw new Error('archiveDays: the archiver failed');
    }
    out.push({ lastCommit: log.commits.at(-1)! });
  }
  return out;
}

export const pageBytes = (name: string) => Buffer.alloc(64, name);
/** A fake sha256 per page name (content addressing is the snapshot function's business). */
export const hashOf = (name: string) => Buffer.from(name).toString('hex').padEnd(64, '0');

export async function writePage(target: ArchiveTarget, name: string): Promise<void> {
  await target.s3.send(
    new PutObjectCommand({
      Bucket: target.bucket,
      Key: pageObjectKey(target.cluster, hashOf(name)),
      Body: pageBytes(name),
    }),
  );
}

/** A manifest at `at` naming pages by name; each page object is (re)written. */
export async function writeSnapshot(
  target: ArchiveTarget,
  id: string,
  at: { lsn: Lsn; commitTimeMs: number },
  pages: string[],
  parent: string | null,
): Promise<SnapshotManifest> {
  for (const name of pages) await writePage(target, name);
  const manifest: SnapshotManifest = {
    snapshotId: id,
    cluster: target.cluster,
    lsn: at.lsn.toString(),
    commitTimeMs: at.commitTimeMs,
    createdAt: new Date(at.commitTimeMs).toISOString(),
    pageSizeBytes: 64,
    pageCount: pages.length,
    pages: pages.map(hashOf),
    parent,
    bytesUploaded: 0,
    bytesTotal: pages.length * 64,
  };
  await target.s3.send(
    new PutObjectCommand({
      Bucket: target.bucket,
      Key: snapshotManifestKey(target.cluster, id),
      Body: JSON.stringify(manifest),
    }),
  );
  return manifest;
}

/** Slots of every synthetic pack. */
export const packSlots = 4;

export async function writePack(target: ArchiveTarget, name: string): Promise<void> {
  await target.s3.send(
    new PutObjectCommand({
      Bucket: target.bucket,
      Key: packObjectKey(target.cluster, hashOf(name)),
      Body: Buffer.alloc(64 * packSlots, name),
    }),
  );
}

/** A format 2 manifest at `at` whose pages are slots of named packs; each pack is (re)written. */
export async function writePackedSnapshot(
  target: ArchiveTarget,
  id: string,
  at: { lsn: Lsn; commitTimeMs: number },
  pages: [pack: string, slot: number][],
  parent: string | null,
): Promise<SnapshotManifest> {
  for (const name of new Set(pages.map(([pack]) => pack))) await writePack(target, name);
  const manifest: SnapshotManifest = {
    format: snapshotFormatPacked,
    snapshotId: id,
    cluster: target.cluster,
    lsn: at.lsn.toString(),
    commitTimeMs: at.commitTimeMs,
    createdAt: new Date(at.commitTimeMs).toISOString(),
    pageSizeBytes: 64,
    pageCount: pages.length,
    pages: pages.map(([pack, slot]) => hashOf(`${pack}${slot}`)),
    ...packLayout(pages.map(([pack, slot]) => ({ packId: hashOf(pack), slot, slots: packSlots }))),
    parent,
    bytesUploaded: 0,
    bytesTotal: pages.length * 64,
    changedPagesFrom: 'full',
    pagesRead: pages.length,
  };
  await target.s3.send(
    new PutObjectCommand({
      Bucket: target.bucket,
      Key: snapshotManifestKey(target.cluster, id),
      Body: JSON.stringify(manifest),
    }),
  );
  return manifest;
}
