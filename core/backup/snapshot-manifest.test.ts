import { describe, expect, it } from 'vitest';
import type { SnapshotManifest } from './archive.ts';
import {
  isPacked,
  locationsByHash,
  packIdsOf,
  packLayout,
  pageLocation,
  parseSnapshotManifest,
} from './snapshot-manifest.ts';

const h = (c: string) => c.repeat(64);

function packed(): SnapshotManifest {
  return {
    format: 2,
    snapshotId: 's1',
    cluster: 'c',
    lsn: '42',
    commitTimeMs: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    pageSizeBytes: 4096,
    pageCount: 3,
    pages: [h('a'), h('b'), h('a')],
    ...packLayout([
      { packId: h('1'), slot: 0, slots: 2 },
      { packId: h('2'), slot: 5, slots: 8 },
      { packId: h('1'), slot: 0, slots: 2 },
    ]),
    parent: null,
    bytesUploaded: 0,
    bytesTotal: 3 * 4096,
  };
}

describe('snapshot manifests', () => {
  it('lists each pack once and locates every page', () => {
    const m = packed();
    expect(m.packs).toEqual([
      { id: h('1'), slots: 2 },
      { id: h('2'), slots: 8 },
    ]);
    expect(m.pagePacks).toEqual([0, 1, 0]);
    expect(m.pageSlots).toEqual([0, 5, 0]);
    expect(pageLocation(m, 2)).toEqual({ packId: h('2'), slot: 5 });
    expect(locationsByHash(m)).toEqual(
      new Map([
        [h('a'), { packId: h('1'), slot: 0, slots: 2 }],
        [h('b'), { packId: h('2'), slot: 5, slots: 8 }],
      ]),
    );
    expect(packIdsOf(m)).toEqual([h('1'), h('2')]);
    expect(isPacked(m)).toBe(true);
  });

  it('parses both formats and refuses broken manifests, naming the key', () => {
    const m = packed();
    expect(parseSnapshotManifest(JSON.stringify(m), 'k', 's1')).toEqual(m);
    const v1 = { ...m, format: undefined, packs: undefined, pagePacks: undefined, pageSlots: undefined };
    const parsedV1 = parseSnapshotManifest(JSON.stringify(v1), 'k');
    expect(isPacked(parsedV1)).toBe(false);
    expect(packIdsOf(parsedV1)).toEqual([]);
    const broken = (change: (m: SnapshotManifest) => unknown, why: RegExp) =>
      expect(() => {
        const copy = structuredClone(packed());
        change(copy);
        parseSnapshotManifest(JSON.stringify(copy), 'clusters/c/snapshots/s1.json', 's1');
      }).toThrow(why);
    expect(() => parseSnapshotManifest('{"snapshotId":', 'key-1')).toThrow(/key-1 .*not JSON/);
    expect(() => parseSnapshotManifest(JSON.stringify(m), 'k', 'other')).toThrow(/not the one its key names/);
    broken((x) => x.pages.pop(), /pageCount hashes/);
    broken((x) => (x.format = 3), /unknown format 3/);
    broken((x) => (x.lsn = '-1'), /lsn/);
    broken((x) => x.pagePacks!.pop(), /pageCount entries/);
    broken((x) => (x.pagePacks![1] = 7), /page 2 points outside its pack/);
    broken((x) => (x.pageSlots![0] = 2), /page 1 points outside its pack/);
    broken((x) => (x.packs![0]!.id = 'zz'), /not a sha256/);
    broken((x) => (x.pages[2] = 'short'), /page 3 has no sha256/);
    broken((x) => delete x.packs, /packs is required/);
  });
});
