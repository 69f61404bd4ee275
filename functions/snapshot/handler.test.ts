// The snapshot handler against an in-memory S3 and a model of the volume's pages at each LSN:
// consistency at the pinned point, page packs, incremental snapshots (only the pages the log names
// are read; a wrong change set is caught), repacking, idempotence, the manifest written last,
// spreading reads over PGs, bounded concurrency and pacing.
import { describe, expect, it } from 'vitest';
import { packObjectKey, type SnapshotManifest, snapshotManifestKey } from '../../core/backup/archive.ts';
import { packIdsOf, pageLocation } from '../../core/backup/snapshot-manifest.ts';
import type { ConsistentPoint } from '../../core/cluster/consistent-point.ts';
import type { Lsn } from '../../core/lsn.ts';
import { defaultPlacement, type VolumeConfig } from '../../core/volume.ts';
import { generatedSnapshotId, lsnOfSnapshotId, newestManifest, summaryOfSnapshotId } from './catalog.ts';
import type { ChangedPages, ChangesRequest } from './changed-pages.ts';
import {
  forEachBounded,
  pacer,
  pageReadPoint,
  pagesToRead,
  parseDatabaseHeader,
  readOrder,
  type SnapshotDeps,
  sha256Hex,
  takeSnapshot,
} from './handler.ts';
import { PackWriter } from './pack-writer.ts';
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
  placement: defaultPlacement(nodes, 32), // 256 pages
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

  /** What the archived log would say: the pages with a version in (from, to]. */
  changed(from: Lsn, to: Lsn): Set<number> {
    const pages = new Set<number>();
    for (const [pageNo, list] of this.versions)
      if (list.some((v) => v.lsn > from && v.lsn <= to)) pages.add(pageNo);
    return pages;
  }

  /** A change detector from this model (`lie` drops pages from its answer). */
  detector(
    lie: (pages: Set<number>) => void = () => undefined,
    archivedUpTo?: { lsn: Lsn; commitTimeMs: number },
  ) {
    const calls: ChangesRequest[] = [];
    const changedPages = async (request: ChangesRequest): Promise<ChangedPages> => {
      calls.push(request);
      const older = archivedUpTo && request.olderPointAllowed && archivedUpTo.lsn < request.toLsn;
      const lsn = older ? archivedUpTo.lsn : request.toLsn;
      const pages = this.changed(request.fromLsn, lsn);
      lie(pages);
      return {
        pages,
        lsn,
        ...(older ? { commitTimeMs: archivedUpTo.commitTimeMs } : {}),
        chunks: 1,
        bytes: 1,
      };
    };
    return { calls, changedPages };
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

/** A page's image as the manifest places it in a pack. */
function imageIn(s3: ReturnType<typeof memoryS3>, m: SnapshotManifest, pageNo: number): Uint8Array {
  const { packId, slot } = pageLocation(m, pageNo);
  const pack = s3.objects.get(packObjectKey('c', packId));
  expect(pack, `pack ${packId}`).toBeDefined();
  return pack!.subarray(slot * m.pageSizeBytes, (slot + 1) * m.pageSizeBytes);
}

/** Every page of the manifest is the model's page at the manifest's LSN, read back from its pack. */
function expectDatabaseAt(s3: ReturnType<typeof memoryS3>, model: PageModel, m: SnapshotManifest): void {
  for (let pageNo = 1; pageNo <= m.pageCount; pageNo++) {
    const expected = model.at(pageNo, BigInt(m.lsn));
    expect(sha256Hex(imageIn(s3, m, pageNo)), `page ${pageNo}`).toBe(sha256Hex(expected));
    expect(m.pages[pageNo - 1]).toBe(sha256Hex(expected));
  }
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

  it('stores every page as of the pinned LSN in packs, and the manifest last', async () => {
    const model = new PageModel();
    const s3 = memoryS3(3);
    model.writeDatabase(20, (p) => p, 1);
    const pinned = model.lsn;
    let wroteDuring = false;
    const result = await takeSnapshot(
      model.deps(s3, {
        packBytesTarget: 8 * pageSizeBytes,
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
    expect(m.format).toBe(2);
    expect(m.lsn).toBe(pinned.toString());
    expect(m.snapshotId).toBe(generatedSnapshotId(m.commitTimeMs, pinned));
    expect(m.pageCount).toBe(20);
    expect(m.changedPagesFrom).toBe('full');
    expect(m.pagesRead).toBe(20);
    expectDatabaseAt(s3, model, m);
    expect(m.packs!.map((p) => p.slots)).toEqual([8, 8, 4]); // 20 distinct pages, 8 per pack
    expect(m.bytesUploaded).toBe(20 * pageSizeBytes);
    expect(m.bytesTotal).toBe(20 * pageSizeBytes);
    expect(s3.puts.filter((k) => k.includes('/packs/'))).toHaveLength(3);
    expect(s3.puts.at(-1)).toBe(snapshotManifestKey('c', m.snapshotId));
    expect(manifestIn(s3, m.snapshotId)).toEqual(m);
  });

  it('uploads only pages the parent does not have, and stores equal pages once', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(30, (p) => (p % 3 === 0 ? 0xaa : p), 1); // pages 3, 6, 9, … are equal
    const first = await takeSnapshot(model.deps(s3));
    expect(first.pagesUploaded).toBe(30 - 9);
    expect(first.manifest.packs).toHaveLength(1);
    model.write(new Map([[4, new Uint8Array(pageSizeBytes).fill(0x44)]]));
    // No change detector: every page is read, and only the changed one is stored.
    const second = await takeSnapshot(model.deps(s3, { repackBytesMax: 0 }));
    expect(second.manifest.parent).toBe(first.manifest.snapshotId);
    expect(second.pagesRead).toBe(30);
    expect(second.pagesUploaded).toBe(1);
    expect(second.manifest.bytesUploaded).toBe(pageSizeBytes);
    expect(second.manifest.bytesTotal).toBe(30 * pageSizeBytes);
    expect(second.manifest.pages.filter((h, i) => h !== first.manifest.pages[i])).toHaveLength(1);
    expect(packIdsOf(second.manifest)).toContain(packIdsOf(first.manifest)[0]);
    expectDatabaseAt(s3, model, second.manifest);
  });

  it('an incremental snapshot reads only the pages written since the parent, and checks a sample', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(200, (p) => p % 251, 1);
    const detector = model.detector();
    const first = await takeSnapshot(model.deps(s3, { changedPages: detector.changedPages }));
    expect(detector.calls).toHaveLength(0); // no parent: nothing to be incremental to
    expect(first.manifest.changedPagesFrom).toBe('full');
    // Two commits: pages 7 and 150 change, and the database grows by two pages.
    // (Fill bytes above 200: no page of the database holds that content yet.)
    model.write(new Map([[7, new Uint8Array(pageSizeBytes).fill(0xe1)]]));
    model.write(
      new Map([
        [1, headerPage(pageSizeBytes, 202, 2)],
        [150, new Uint8Array(pageSizeBytes).fill(0xe2)],
        [201, new Uint8Array(pageSizeBytes).fill(0xe3)],
        [202, new Uint8Array(pageSizeBytes).fill(0xe4)],
      ]),
    );
    model.reads = [];
    const second = await takeSnapshot(
      model.deps(s3, { changedPages: detector.changedPages, verifyPages: 5, repackBytesMax: 0 }),
    );
    const m = second.manifest;
    expect(detector.calls).toEqual([
      {
        fromLsn: BigInt(first.manifest.lsn),
        fromCommitTimeMs: first.manifest.commitTimeMs,
        toLsn: model.lsn,
        olderPointAllowed: false,
      },
    ]);
    expect(m.changedPagesFrom).toBe('log');
    // Page 1, the 4 written pages past it, and the 5 sampled unchanged pages.
    expect(second.pagesRead).toBe(1 + 4 + 5);
    expect(model.reads).toHaveLength(10);
    const readPages = new Set(model.reads.map((r) => r.pageNo));
    for (const p of [1, 7, 150, 201, 202]) expect(readPages.has(p)).toBe(true);
    expect(second.pagesUploaded).toBe(5);
    expect(m.pageCount).toBe(202);
    expectDatabaseAt(s3, model, m);
  });

  it("a scheduled snapshot may be at the newest archived commit; a named one is at the writer's", async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(40, (p) => p, 1);
    await takeSnapshot(model.deps(s3));
    model.write(new Map([[5, new Uint8Array(pageSizeBytes).fill(0xe5)]]));
    const archived = { lsn: model.lsn, commitTimeMs: model.commitTimeMs };
    model.write(new Map([[6, new Uint8Array(pageSizeBytes).fill(0xe6)]])); // not archived yet
    const detector = model.detector(undefined, archived);
    const scheduled = await takeSnapshot(model.deps(s3, { changedPages: detector.changedPages }), {
      scheduled: true,
    });
    expect(scheduled.manifest.lsn).toBe(archived.lsn.toString());
    expect(scheduled.manifest.commitTimeMs).toBe(archived.commitTimeMs);
    expect(scheduled.manifest.snapshotId).toBe(generatedSnapshotId(archived.commitTimeMs, archived.lsn));
    expect(scheduled.manifest.changedPagesFrom).toBe('log');
    expectDatabaseAt(s3, model, scheduled.manifest); // page 6 as before its write
    expect(model.reads.every((r) => r.readPoint <= archived.lsn)).toBe(true);

    const named = await takeSnapshot(model.deps(s3, { changedPages: detector.changedPages }), {
      snapshotId: 'now',
      scheduled: true,
    });
    expect(detector.calls.at(-1)?.olderPointAllowed).toBe(false);
    expect(named.manifest.lsn).toBe(model.lsn.toString());
    expectDatabaseAt(s3, model, named.manifest);
    // On demand (the CLI) is "now" too.
    model.write(new Map([[7, new Uint8Array(pageSizeBytes).fill(0xe7)]]));
    const onDemand = await takeSnapshot(model.deps(s3, { changedPages: detector.changedPages }));
    expect(detector.calls.at(-1)?.olderPointAllowed).toBe(false);
    expect(onDemand.manifest.lsn).toBe(model.lsn.toString());
  });

  it('reads every page when the log cannot tell, or when an unchanged page differs from the parent', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(40, (p) => p, 1);
    await takeSnapshot(model.deps(s3));
    model.write(new Map([[9, new Uint8Array(pageSizeBytes).fill(0x99)]]));
    const logs: string[] = [];
    const unknown = await takeSnapshot(
      model.deps(s3, {
        changedPages: async () => ({ unknown: 'no archive watermark' }),
        log: (message, fields) => logs.push(`${message} ${JSON.stringify(fields)}`),
      }),
    );
    expect(unknown.manifest.changedPagesFrom).toBe('full');
    expect(unknown.pagesRead).toBe(40);
    expect(logs.join('\n')).toMatch(/"whyFull":"no archive watermark"/);
    expectDatabaseAt(s3, model, unknown.manifest);

    // A change set that misses a written page (the parent is of another volume, say): the sample
    // (here every unchanged page) finds it, and the snapshot reads everything instead.
    model.write(new Map([[30, new Uint8Array(pageSizeBytes).fill(0x30)]]));
    model.write(new Map([[31, new Uint8Array(pageSizeBytes).fill(0x31)]]));
    const lying = model.detector((pages) => pages.delete(30));
    const checked = await takeSnapshot(
      model.deps(s3, { changedPages: lying.changedPages, verifyPages: 1_000 }),
    );
    expect(checked.manifest.changedPagesFrom).toBe('full');
    expect(checked.pagesRead).toBe(40);
    expectDatabaseAt(s3, model, checked.manifest);
  });

  it('repacks the images still used from sparse parent packs, within a budget', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    const packBytesTarget = 16 * pageSizeBytes; // sparse: fewer than 4 images in use
    model.writeDatabase(32, (p) => p, 1);
    const detector = model.detector();
    const deps = (extra: Partial<SnapshotDeps> = {}) =>
      model.deps(s3, { changedPages: detector.changedPages, packBytesTarget, verifyPages: 0, ...extra });
    const first = await takeSnapshot(deps());
    const [packA, packB] = first.manifest.packs!.map((p) => p.id);
    // Rewrite 14 of pack A's 16 pages (pages 1..16 went there in read order: PGs interleave, so
    // pick them by location), leaving 2 images of A in use.
    const inA = Array.from({ length: 32 }, (_, i) => i + 1).filter(
      (p) => pageLocation(first.manifest, p).packId === packA && p !== 1,
    );
    model.write(new Map(inA.slice(0, 13).map((p, i) => [p, new Uint8Array(pageSizeBytes).fill(0x80 + i)])));
    const noBudget = await takeSnapshot(deps({ repackBytesMax: 0 }));
    expect(noBudget.pagesRepacked).toBe(0);
    expect(packIdsOf(noBudget.manifest)).toContain(packA);
    model.write(new Map([[inA[13]!, new Uint8Array(pageSizeBytes).fill(0xc1)]]));
    const repacked = await takeSnapshot(deps());
    expect(repacked.pagesRepacked).toBe(2);
    expect(packIdsOf(repacked.manifest)).not.toContain(packA);
    expect(packIdsOf(repacked.manifest)).toContain(packB); // still full of images in use
    expectDatabaseAt(s3, model, repacked.manifest);
    // Repacking reads S3, never storage: only page 1 and the one written page were read.
    expect(repacked.pagesRead).toBe(2);

    // A parent pack that no longer matches its hashes is not copied on: those pages come from storage.
    const live = Array.from({ length: 32 }, (_, i) => i + 1).filter(
      (p) => pageLocation(repacked.manifest, p).packId === packB,
    );
    model.write(new Map(live.slice(0, 13).map((p, i) => [p, new Uint8Array(pageSizeBytes).fill(0x40 + i)])));
    const bytesB = s3.objects.get(packObjectKey('c', packB!))!;
    bytesB.fill(0xff, 0, bytesB.length); // every slot of B damaged
    model.reads = [];
    const healed = await takeSnapshot(deps());
    expect(packIdsOf(healed.manifest)).not.toContain(packB);
    expect(healed.pagesRepacked).toBe(0);
    expect(new Set(model.reads.map((r) => r.pageNo))).toEqual(new Set([1, ...live]));
    expectDatabaseAt(s3, model, healed.manifest);
  });

  it('merges small packs once there are more than 16 of them', async () => {
    const model = new PageModel();
    const s3 = memoryS3();
    model.writeDatabase(100, (p) => p, 1);
    const detector = model.detector();
    const deps = () =>
      model.deps(s3, {
        changedPages: detector.changedPages,
        packBytesTarget: 256 * pageSizeBytes,
        verifyPages: 0,
      });
    await takeSnapshot(deps());
    let last: Awaited<ReturnType<typeof takeSnapshot>> | undefined;
    for (let i = 0; i < 18; i++) {
      model.write(new Map([[2 + i, new Uint8Array(pageSizeBytes).fill(0xc0 + i)]]));
      last = await takeSnapshot(deps());
      // Each snapshot adds a one-image pack; the 18th finds 17 and merges them with its own.
      expect(last.manifest.packs, `snapshot ${i + 1}`).toHaveLength(i < 17 ? i + 2 : 2);
    }
    expect(last!.pagesRepacked).toBe(17);
    expectDatabaseAt(s3, model, last!.manifest);
  });

  it('chooses the pages to read and an unbiased sample of the rest', () => {
    const all = pagesToRead({ pageCount: 6, verifyPages: 3, random: () => 0 });
    expect(all).toEqual({ read: [2, 3, 4, 5, 6], verify: [] });
    const inc = pagesToRead({
      pageCount: 10,
      incremental: { parentPageCount: 8, changed: new Set([1, 4, 12]) },
      verifyPages: 3,
      random: () => 0.999,
    });
    expect(inc.read).toEqual([4, 9, 10]);
    expect(inc.verify).toHaveLength(3);
    for (const p of inc.verify) expect([2, 3, 5, 6, 7, 8]).toContain(p);
    expect(pagesToRead({ pageCount: 0, verifyPages: 3, random: Math.random })).toEqual({
      read: [],
      verify: [],
    });
  });

  it('a pack writer stops at the first failed upload', async () => {
    let puts = 0;
    const writer = new PackWriter({
      pageSizeBytes: 4,
      pagesPerPack: 2,
      uploadsInFlight: 1,
      put: async () => {
        if (++puts === 2) throw new Error('S3 down');
      },
    });
    for (let i = 0; i < 4; i++) await writer.add(new Uint8Array(4).fill(i)).buffered;
    await new Promise((r) => setTimeout(r, 1)); // the second upload has failed by now
    expect(() => writer.add(new Uint8Array(4).fill(9))).toThrow('S3 down');
    await expect(writer.finish()).rejects.toThrow('S3 down');
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
    expect(named.manifest.packs).toEqual(first.manifest.packs);
    model.writeDatabase(10, () => 1, 2);
    const retried = await takeSnapshot(model.deps(s3), { snapshotId: 'weekly-1' });
    expect(retried.created).toBe(false);
    expect(retried.manifest).toEqual(named.manifest);
    await expect(takeSnapshot(model.deps(s3), { snapshotId: '../x' })).rejects.toThrow(/must match/);
    // A generated-looking id would lie about its LSN to restores that read it from the id.
    await expect(takeSnapshot(model.deps(s3), { snapshotId: generatedSnapshotId(1, 99n) })).rejects.toThrow(
      /reserved/,
    );
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
    expect(summaryOfSnapshotId(id)).toEqual({
      snapshotId: id,
      lsn: '4242',
      commitTimeMs: Date.UTC(2026, 11, 1, 18, 13, 40, 123),
    });
    expect(summaryOfSnapshotId('weekly-1')).toBeUndefined();
    expect(generatedSnapshotId(1, 9n) < generatedSnapshotId(2, 1n)).toBe(true);
  });
});
