// Test and benchmark helpers for the snapshot-export function (never imported by production code):
// a local SQLite file uploaded as a snapshot in the manifest format the snapshot function writes
// (format 2: page packs + manifest last), so that a large table can be exported without building it
// through the SQL path. The export cannot tell: its only inputs are these S3 objects.
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  packObjectKey,
  type SnapshotManifest,
  snapshotFormatPacked,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { buildPack, pagesPerPack } from '../../core/backup/page-pack.ts';
import { listObjects } from '../../core/backup/s3-archive.ts';

/** Uploads the database file at `path` as snapshot `snapshotId` of `cluster`; one pack in memory at a time. */
export async function putSnapshotFromFile(options: {
  s3: S3Client;
  bucket: string;
  cluster: string;
  snapshotId: string;
  path: string;
  lsn?: bigint;
  commitTimeMs?: number;
}): Promise<SnapshotManifest> {
  const fd = openSync(options.path, 'r');
  try {
    const header = Buffer.alloc(100);
    readSync(fd, header, 0, 100, 0);
    const raw = header.readUInt16BE(16);
    const pageSizeBytes = raw === 1 ? 65536 : raw;
    const pageCount = statSync(options.path).size / pageSizeBytes;
    if (!Number.isInteger(pageCount)) throw new Error(`${options.path} is not a whole number of pages`);
    const perPack = pagesPerPack(pageSizeBytes);
    const pages: string[] = [];
    const packs: { id: string; slots: number }[] = [];
    const pagePacks: number[] = [];
    const pageSlots: number[] = [];
    let bytesTotal = 0;
    for (let first = 0; first < pageCount; first += perPack) {
      const images: Uint8Array[] = [];
      for (let i = first; i < Math.min(pageCount, first + perPack); i++) {
        const image = Buffer.alloc(pageSizeBytes);
        readSync(fd, image, 0, pageSizeBytes, i * pageSizeBytes);
        pages.push(createHash('sha256').update(image).digest('hex'));
        pagePacks.push(packs.length);
        pageSlots.push(images.length);
        images.push(image);
      }
      const pack = buildPack(images, pageSizeBytes);
      await options.s3.send(
        new PutObjectCommand({
          Bucket: options.bucket,
          Key: packObjectKey(options.cluster, pack.id),
          Body: pack.body,
        }),
      );
      packs.push({ id: pack.id, slots: images.length });
      bytesTotal += pack.body.length;
    }
    const commitTimeMs = options.commitTimeMs ?? Date.now();
    const manifest: SnapshotManifest = {
      format: snapshotFormatPacked,
      snapshotId: options.snapshotId,
      cluster: options.cluster,
      lsn: String(options.lsn ?? 1n),
      commitTimeMs,
      createdAt: new Date(commitTimeMs).toISOString(),
      pageSizeBytes,
      pageCount,
      pages,
      packs,
      pagePacks,
      pageSlots,
      parent: null,
      bytesUploaded: bytesTotal,
      bytesTotal,
      changedPagesFrom: 'full',
      pagesRead: pageCount,
    };
    await options.s3.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: snapshotManifestKey(options.cluster, options.snapshotId),
        Body: JSON.stringify(manifest),
      }),
    );
    return manifest;
  } finally {
    closeSync(fd);
  }
}

/** Downloads every object under `prefix` into `dir` (keys as paths): DuckDB here reads local files only. */
export async function downloadPrefix(
  s3: S3Client,
  bucket: string,
  prefix: string,
  dir: string,
): Promise<string[]> {
  const keys = (await listObjects(s3, bucket, prefix)).map((o) => o.key);
  for (const key of keys) {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const path = join(dir, key);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await got.Body!.transformToByteArray());
  }
  return keys;
}

/** Rows of Parquet files read by DuckDB, as JS values (BIGINT → bigint, BLOB → Buffer), in `order`. */
export async function duckdbRows(
  glob: string,
  order: string,
): Promise<{ rows: unknown[][]; columns: string[]; types: string[] }> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(
      `select * from read_parquet('${glob.replaceAll("'", "''")}') order by ${order}`,
    );
    return {
      rows: reader.getRowsJS(),
      columns: reader.columnNames(),
      types: reader.columnTypes().map(String),
    };
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}
