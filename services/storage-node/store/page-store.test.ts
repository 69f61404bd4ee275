// A truncation's range removal skips the walk over a PG's versions when none can lie in the range
// (the store keeps the highest LSN it ever stored per PG); it must still remove every version that does.
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../../../integration/harness/temp.ts';
import { PageStore } from './page-store.ts';

const dirs: { remove: () => void }[] = [];
const stores: PageStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const d of dirs.splice(0)) d.remove();
});

function openStore(path?: string): { store: PageStore; path: string } {
  let where = path;
  if (!where) {
    const dir = makeTempDir('page-store');
    dirs.push(dir);
    where = dir.path;
  }
  const store = new PageStore(where);
  stores.push(store);
  return { store, path: where };
}

const bytes = (n: number) => new Uint8Array(64).fill(n);
const versionsAt = (store: PageStore, pg: number) => [...store.versionsOf(pg)].map((v) => [v.pageNo, v.lsn]);

describe('page store range removal', () => {
  it('removes exactly the versions in the range, coalesced or rebuilt from images, across a reopen', async () => {
    const { store, path } = openStore();
    await store.putVersions(
      [
        {
          pg: 0,
          versions: [
            { pageNo: 1, lsn: 10n, bytes: bytes(1) },
            { pageNo: 2, lsn: 20n, bytes: bytes(2) },
            { pageNo: 1, lsn: 30n, bytes: bytes(3) },
          ],
          coalescedLsn: 30n,
        },
        { pg: 1, versions: [{ pageNo: 5, lsn: 25n, bytes: bytes(4) }], coalescedLsn: 25n },
      ],
      0,
    );
    // Above everything stored: nothing to remove, the coalesced LSN stays.
    expect(await store.removeRange(0, 30n, 100n)).toBe(0);
    expect(versionsAt(store, 0)).toEqual([
      [1, 10n],
      [1, 30n],
      [2, 20n],
    ]);
    expect(await store.removeRange(0, 15n, 100n)).toBe(2);
    expect(versionsAt(store, 0)).toEqual([[1, 10n]]);
    expect(store.coalescedLsn(0)).toBe(15n);
    expect(versionsAt(store, 1)).toEqual([[5, 25n]]);

    // Images a peer sent do not move the coalesced LSN, and a later truncation still finds them.
    await store.putImages(0, [{ pageNo: 3, lsn: 50n, bytes: bytes(5) }], 0);
    expect(store.coalescedLsn(0)).toBe(15n);
    expect(await store.removeRange(0, 40n, 60n)).toBe(1);
    expect(versionsAt(store, 0)).toEqual([[1, 10n]]);

    await store.putVersions(
      [{ pg: 0, versions: [{ pageNo: 4, lsn: 70n, bytes: bytes(6) }], coalescedLsn: 70n }],
      0,
    );
    await store.close();
    stores.splice(0);
    const again = openStore(path).store;
    expect(await again.removeRange(0, 70n, 90n)).toBe(0);
    expect(await again.removeRange(0, 60n, 90n)).toBe(1);
    expect(versionsAt(again, 0)).toEqual([[1, 10n]]);
    // A PG that never stored a version: nothing to walk, nothing removed.
    expect(await again.removeRange(7, 0n, 100n)).toBe(0);
  });
});
