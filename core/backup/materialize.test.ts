// Restoring from the archive against an S3 double: a packed snapshot read with few ranged GETs and
// checked against its hashes, a format 1 snapshot still read, the log applied up to the last commit
// with time <= T, and corrupt packs or chunks refused with what and where.
import { createHash } from 'node:crypto';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { memoryS3 } from '../../functions/snapshot/testing.ts';
import {
  packObjectKey,
  pageObjectKey,
  type SnapshotManifest,
  snapshotFormatPacked,
  snapshotManifestKey,
} from './archive.ts';
import { materializeRestore } from './materialize.ts';
import { buildPack } from './page-pack.ts';
import type { RestorePlan } from './restore-plan.ts';
import { packLayout } from './snapshot-manifest.ts';
import { archiveRecords, pageImageLog } from './testing.ts';

const pageSizeBytes = 64;
const cluster = 'c';
const bucket = 'b';
const image = (n: number) => new Uint8Array(pageSizeBytes).fill(n);
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** Six pages: 1–3 in pack A (slots 0–2), 4 and 5 at slots 0 and 19 of a sparse pack B, 6 = page 1. */
async function packedSnapshot(s3: ReturnType<typeof memoryS3>, snapshotId = 's1'): Promise<SnapshotManifest> {
  const a = buildPack([image(1), image(2), image(3)], pageSizeBytes);
  const b = buildPack(
    Array.from({ length: 20 }, (_, i) => image(i === 0 ? 4 : i === 19 ? 5 : 100 + i)),
    pageSizeBytes,
  );
  for (const pack of [a, b]) s3.objects.set(packObjectKey(cluster, pack.id), pack.body);
  const at = (packId: string, slot: number, slots: number) => ({ packId, slot, slots });
  const manifest: SnapshotManifest = {
    format: snapshotFormatPacked,
    snapshotId,
    cluster,
    lsn: '10',
    commitTimeMs: 1_000,
    createdAt: new Date(1_000).toISOString(),
    pageSizeBytes,
    pageCount: 6,
    pages: [1, 2, 3, 4, 5, 1].map((n) => sha(image(n))),
    ...packLayout([
      at(a.id, 0, 3),
      at(a.id, 1, 3),
      at(a.id, 2, 3),
      at(b.id, 0, 20),
      at(b.id, 19, 20),
      at(a.id, 0, 3),
    ]),
    parent: null,
    bytesUploaded: 0,
    bytesTotal: 6 * pageSizeBytes,
  };
  s3.objects.set(snapshotManifestKey(cluster, snapshotId), Buffer.from(JSON.stringify(manifest)));
  return manifest;
}

function planOf(m: SnapshotManifest, extra: Partial<RestorePlan> = {}): RestorePlan {
  return {
    sourceCluster: cluster,
    snapshot: {
      snapshotId: m.snapshotId,
      key: snapshotManifestKey(cluster, m.snapshotId),
      lsn: m.lsn,
      commitTimeMs: m.commitTimeMs,
    },
    chunks: [],
    cutCommitLsn: m.lsn,
    cutCommitTimeMs: m.commitTimeMs,
    restoreTimeMs: m.commitTimeMs,
    ...extra,
  };
}

const pagesOf = (db: { pages: Map<number, Uint8Array> }) =>
  [...db.pages].sort(([a], [b]) => a - b).map(([p, bytes]) => [p, bytes[0]]);

describe('materialize a restore', () => {
  it('reads a packed snapshot with a few ranged GETs and checks every image', async () => {
    const s3 = memoryS3();
    const m = await packedSnapshot(s3);
    const db = await materializeRestore({ s3: s3.client, bucket, plan: planOf(m), pageSizeBytes });
    expect(pagesOf(db)).toEqual([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
      [6, 1],
    ]);
    // Pack A in one read; pack B's slots 0 and 19 are too far apart to read the 18 between.
    const packGets = s3.gets.filter((g) => g.key.includes('/packs/'));
    expect(packGets.map((g) => g.range).sort()).toEqual(['bytes=0-191', 'bytes=0-63', 'bytes=1216-1279']);
    expect(db.snapshotRequests).toBe(3);
    expect(db.cutCommitLsn).toBe(10n);

    // One flipped byte in pack A: the page and the snapshot are named.
    const packA = packObjectKey(cluster, m.packs![0]!.id);
    const packBytes = s3.objects.get(packA)!;
    packBytes[70] = packBytes[70]! ^ 0xff;
    await expect(
      materializeRestore({ s3: s3.client, bucket, plan: planOf(m), pageSizeBytes }),
    ).rejects.toThrow(`snapshot s1: page 2 in ${packA} does not match its sha256`);
  });

  it('still reads a format 1 snapshot (a page object per content hash)', async () => {
    const s3 = memoryS3();
    const pages = [7, 8, 7].map(image);
    for (const p of pages) s3.objects.set(pageObjectKey(cluster, sha(p)), p);
    const manifest: SnapshotManifest = {
      snapshotId: 'old',
      cluster,
      lsn: '5',
      commitTimeMs: 500,
      createdAt: new Date(500).toISOString(),
      pageSizeBytes,
      pageCount: 3,
      pages: pages.map(sha),
      parent: null,
      bytesUploaded: 0,
      bytesTotal: 3 * pageSizeBytes,
    };
    await s3.client.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: snapshotManifestKey(cluster, 'old'),
        Body: JSON.stringify(manifest),
      }),
    );
    const db = await materializeRestore({ s3: s3.client, bucket, plan: planOf(manifest), pageSizeBytes });
    expect(pagesOf(db)).toEqual([
      [1, 7],
      [2, 8],
      [3, 7],
    ]);
    expect(db.snapshotRequests).toBe(2);
  });

  it('applies the log after the snapshot up to T, and names the LSNs of a corrupt chunk', async () => {
    const s3 = memoryS3();
    const m = await packedSnapshot(s3);
    const records = pageImageLog(10n, [
      { pages: new Map([[2, image(20)]]), commitTimeMs: 2_000 },
      { pages: new Map([[3, image(30)]]), commitTimeMs: 3_000 },
      { pages: new Map([[4, image(40)]]), commitTimeMs: 4_000 },
    ]);
    const chunks = await archiveRecords({ s3: s3.client, bucket, cluster }, 10n, records, { maxBytes: 300 });
    expect(chunks.length).toBeGreaterThan(1);
    const db = await materializeRestore({
      s3: s3.client,
      bucket,
      plan: planOf(m, { chunks, restoreTimeMs: 3_500 }),
      pageSizeBytes,
    });
    expect(pagesOf(db)).toEqual([
      [1, 1],
      [2, 20],
      [3, 30],
      [4, 4],
      [5, 5],
      [6, 1],
    ]);
    expect(db.commitsApplied).toBe(2);
    expect(db.cutCommitTimeMs).toBe(3_000);

    const victim = chunks[1]!;
    const chunkBytes = s3.objects.get(victim.key)!;
    chunkBytes[30] = chunkBytes[30]! ^ 0xff;
    await expect(
      materializeRestore({
        s3: s3.client,
        bucket,
        plan: planOf(m, { chunks, restoreTimeMs: 4_000 }),
        pageSizeBytes,
      }),
    ).rejects.toThrow(`log chunk for LSNs ${victim.firstLsn}-${victim.lastLsn} is corrupt`);
  });
});
