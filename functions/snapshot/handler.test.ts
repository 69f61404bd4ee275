// The snapshot handler against an in-memory S3 and a model of the volume's pages at each LSN:
// consistency at the pinned point, incremental uploads, idempotence, the manifest written last,
// spreading reads over PGs, bounded concurrency and pacing.
import { describe, expect, it } from 'vitest';
import { pageObjectKey, type SnapshotManifest, snapshotManifestKey } from '../../core/backup/archive.ts';
import type { ConsistentPoint } from '../../core/cluster/consistent-point.ts';
import type { Lsn } from '../../core/lsn.ts';
import { defaultPlacement, type VolumeConfig } from '../../core/volume.ts';
import { generatedSnapshotId, lsnOfSnapshotId, newestManifest } from './catalog.ts';
import {
  forEachBounded,
  pacer,
  pageReadPoint,
  parseDatabaseHeader,
  readOrder,
  type SnapshotDeps,
  sha256Hex,
  takeSnapshot,
} from './handler.ts';
import { headerPage, memoryS3 } from './testing.ts';

const pageSizeBytes = 1024;
const nodes = ['a', 'a', 'b', 'b', 'c', 'c'].map((az, i) => ({
  id: `n${i + 1}`,
  az: `us-east-1${az}`,
  host: '127.0.0.1',
  port: 1000 + i,
  httpPort: 2000 + i,
}));
const volume: VolumeConfig = {
  volumeId: 'v',
  pageSizeBytes,
  pagesPerPg: 8,
  nodes,
  placement: defaultPlacement(nodes, 4),
};

/** Page versions by LSN: what storage would answer for (page, read point). */
class PageModel {
  readonly versions = new Map<number, { lsn: Lsn; bytes: Uint8Array }[]>();
  lsn = 0n;
  commitTimeMs = 1_700_000_000_000;
  reads: { pageNo: number; readPoint: Lsn }[] = [];
  inFlight = 0;
  inFlightMax = 0;

  write(pages: Map<number, Uint8Array>): void {
    this.lsn += BigInt(pages.size + 1);
    this.commitTimeMs += 1000;
    for (const [pageNo, bytes] of pages) {
      const list = this.versions.get(pageNo) ?? [];
      list.push({ lsn: this.lsn, bytes });
      this.versions.set(pageNo, list);
    }
  }

  /** A database of `pageCount` pages, page i filled with `fill(i)`. */
  writeDatabase(pageCount: number, fill: (pageNo: number) => number, changeCounter: number): void {
    const pages = new Map<number, Uint8Array>();
    pages.set(1, headerPage(pageSizeBytes, pageCount, changeCounter));
    for (let p = 2; p <= pageCount; p++) pages.set(p, new Uint8Array(pageSizeBytes).fill(fill(p)));
    this.write(pages);
  }

  at(pageNo: number, readPoint: Lsn): Uint8Array {
    const list = this.versions.get(pageNo) ?? [];
    return list.filter((v) => v.lsn <= readPoint).at(-1)?.bytes ?? new Uint8Array(0);
  }

  point(): ConsistentPoint {
    return { lsn: this.lsn, commitTimeMs: this.commitTimeMs, pgTails: new Map() };
  }

  deps(s3: ReturnType<typeof memoryS3>, extra: Partial<SnapshotDeps> = {}): SnapshotDeps {
    return {
      s3: s3.client,
      bucket: 'b',
      cluster: 'c',
      volume,
      readPoint: async () => this.point(),
      fetchPage: async (pageNo, readPoint) => {
        this.reads.push({ pageNo, readPoint });
        this.inFlight++;
        this.inFlightMax = Math.max(this.inFlightMax, this.inFlight);
        await new Promise((r) => setTimeout(r, 1));
        this.inFlight--;
        return this.at(pageNo, readPoint);
      },
      pageReadsPerSecond: 0,
      ...extra,
    };
  }
}

function manifestIn(s3: ReturnType<typeof memoryS3>, id: string): SnapshotManifest {
  return JSON.parse(
    Buffer.from(s3.objects.get(snapshotManifestKey('c', id))!).toString(),
  ) as SnapshotManifest;
}

describe('snapshot handler', () => {
  it('reads the database header', () => {
    expect(parseDatabaseHeader(headerPage(4096, 77))).toEqual({ pageSizeBytes: 4096, pageCount: 77 });
    expect(parseDatabaseHeader(headerPage(65536, 3))).toEqual({ pageSizeBytes: 65536, pageCount: 3 });
    expect(parseDatabaseHeader(new Uint8Array(0))).toEqual({ pageSizeBytes: 0, pageCount: 0 });
    const stale = headerPage(4096, 5, 9);
    new DataView(stale.buffer).setUint32(92, 8);
    expect(() => parseDatabaseHeader(stale)).toThrow(/stale/);
    expect(() => parseDatabaseHeader(new Uint8Array(4096))).toThrow(/SQLite header/);
  });

  it('stores every page as of the pinned LSN, content-addressed, and the manifest last', async () => {
    const model = new PageModel();
    const s3 = memoryS3(3);
    model.writeDatabase(20, (p) => p, 1);
    const pinned = model.lsn;
    let wroteDuring = false;
    const result = await takeSnapshot(
      model.deps(s3, {
        // A commit lands while the snapshot reads: it must not show up in the snapshot.
        fetchPage: async (pageNo, readPoint) => {
          if (!wroteDuring && pageNo > 5) {
            wroteDuring = true;
            model.writeDatabase(20, () => 0xee, 2);
          }
          return model.at(pageNo, readPoint);
        },
      }),
    );
    const m = result.manifest;
    expect(result.created).toBe(true);
    expect(m.lsn).toBe(pinned.toString());
    expect(m.snapshotId).toBe(generatedSnapshotId(m.commitTimeMs, pinned));
    expect(m.pageCount).toBe(20);
    expect(m.pages).toEqual(Array.from({ length: 20 }, (_, i) => sha256Hex(model.at(i + 1, pinned))));
    for (const hash of m.pages) expect(s3.objects.get(pageObjectKey('c', hash))).toBeDefined();
    expect(m.bytesUploaded).toBe(20 * pageSizeBytes);
    expect(m.bytesTotal).toBe(20 * pageSizeBytes);
    expect(s3.puts.at(-1)).toBe(snapshotManifestKey('c', m.snapshotId));
    expect(manifestIn(s3, m.snapshotId)).toEqual(m);
  });

  it('uploads only pages the parent does not have, and stores equal pages once', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(30, (p) => (p % 3 === 0 ? 0xaa : p), 1); // pages 3, 6, 9, … are equal
    const first = await takeSnapshot(model.deps(s3));
    expect(first.pagesUploaded).toBe(30 - 9);
    model.write(new Map([[4, new Uint8Array(pageSizeBytes).fill(0x44)]]));
    const second = await takeSnapshot(model.deps(s3));
    expect(second.manifest.parent).toBe(first.manifest.snapshotId);
    expect(second.pagesUploaded).toBe(1);
    expect(second.manifest.bytesUploaded).toBe(pageSizeBytes);
    expect(second.manifest.bytesTotal).toBe(30 * pageSizeBytes);
    expect(second.manifest.pages.filter((h, i) => h !== first.manifest.pages[i])).toHaveLength(1);
  });

  it('is idempotent: nothing committed since the newest snapshot, or the same id again', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(10, (p) => p, 1);
    const first = await takeSnapshot(model.deps(s3));
    const putsBefore = s3.puts.length;
    const again = await takeSnapshot(model.deps(s3));
    expect(again.created).toBe(false);
    expect(again.manifest).toEqual(first.manifest);
    expect(s3.puts.length).toBe(putsBefore);

    const named = await takeSnapshot(model.deps(s3), { snapshotId: 'weekly-1' });
    expect(named.created).toBe(true);
    expect(named.manifest.parent).toBe(first.manifest.snapshotId);
    expect(named.pagesUploaded).toBe(0);
    model.writeDatabase(10, () => 1, 2);
    const retried = await takeSnapshot(model.deps(s3), { snapshotId: 'weekly-1' });
    expect(retried.created).toBe(false);
    expect(retried.manifest).toEqual(named.manifest);
    await expect(takeSnapshot(model.deps(s3), { snapshotId: '../x' })).rejects.toThrow(/must match/);
  });

  it('writes no manifest when a page read fails (a later run completes it)', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(16, (p) => p, 1);
    const failing = model.deps(s3, {
      fetchPage: async (pageNo, readPoint) => {
        if (pageNo === 12) throw new Error('storage down');
        return model.at(pageNo, readPoint);
      },
    });
    await expect(takeSnapshot(failing)).rejects.toThrow('storage down');
    expect([...s3.objects.keys()].some((k) => k.endsWith('.json'))).toBe(false);
    const ok = await takeSnapshot(model.deps(s3));
    expect(ok.created).toBe(true);
    expect(await newestManifest(s3.client, 'b', 'c')).toEqual(ok.manifest);
  });

  it('snapshots an empty volume as zero pages', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.write(new Map([[0 + 1, new Uint8Array(0)]]));
    const r = await takeSnapshot(model.deps(s3));
    expect(r.manifest.pageCount).toBe(0);
    expect(r.manifest.pages).toEqual([]);
  });

  it('reads quiet PGs as of their last LSN and the rest as of the pinned LSN', () => {
    const point: ConsistentPoint = {
      lsn: 100n,
      commitTimeMs: 1,
      pgTails: new Map([
        [0, 40n],
        [1, 250n],
      ]),
    };
    expect(pageReadPoint(volume, point, 1)).toBe(40n); // pg 0: quiet since 40
    expect(pageReadPoint(volume, point, 9)).toBe(100n); // pg 1: written after the point
    expect(pageReadPoint(volume, point, 17)).toBe(100n); // pg 2: tail unknown
  });

  it('spreads reads over PGs and bounds the reads in flight', async () => {
    expect(readOrder(volume, 20)).toEqual([
      1, 9, 17, 2, 10, 18, 3, 11, 19, 4, 12, 20, 5, 13, 6, 14, 7, 15, 8, 16,
    ]);
    expect(readOrder(volume, 3)).toEqual([1, 2, 3]);
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(32, (p) => p, 1);
    await takeSnapshot(model.deps(s3, { pageReadsInFlight: 3 }));
    expect(model.inFlightMax).toBe(3);
    expect(model.reads).toHaveLength(32);
  });

  it('runs bounded work and stops at the first failure', async () => {
    let running = 0;
    let most = 0;
    const seen: number[] = [];
    await forEachBounded([1, 2, 3, 4, 5, 6, 7], 2, async (x) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, 1));
      seen.push(x);
      running--;
    });
    expect(most).toBe(2);
    expect(seen.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const started: number[] = [];
    await expect(
      forEachBounded([1, 2, 3, 4, 5], 1, async (x) => {
        started.push(x);
        if (x === 2) throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(started).toEqual([1, 2]);
  });

  it('paces calls', async () => {
    let now = 0;
    const pace = pacer(100, () => now);
    const t0 = Date.now();
    await pace(); // the first call goes at once
    await pace(); // then 10 ms apart (the fake clock stands still: the pacer sleeps)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(9);
    now = 1_000;
    const t1 = Date.now();
    await pace(); // long idle: no debt
    expect(Date.now() - t1).toBeLessThan(9);
  });

  it('names snapshots so they sort by time and carry their LSN', () => {
    const id = generatedSnapshotId(Date.UTC(2026, 11, 1, 18, 13, 40, 123), 4242n);
    expect(id).toBe('snap-20261201T181340123Z-00000000000000004242');
    expect(lsnOfSnapshotId(id)).toBe(4242n);
    expect(lsnOfSnapshotId('weekly-1')).toBeUndefined();
    expect(generatedSnapshotId(1, 9n) < generatedSnapshotId(2, 1n)).toBe(true);
  });
});
