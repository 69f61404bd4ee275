// The buffer cache of an instance (writer or reader): page → versions by LSN, so read transactions
// pinned at different read points each see their own snapshot. A page's versions are authoritative
// from its oldest cached version on: every later change reaches the cache (the writer makes them,
// a reader applies the redo stream), so a read point at or above that version is served here and
// one below it goes to storage. Size-bounded; a page whose newest change is not yet durable is
// never evicted (storage could not serve it back).
import { assert } from '../assert.ts';
import type { Lsn } from '../lsn.ts';

export interface PageVersion {
  lsn: Lsn;
  /** Empty: the page did not exist at this LSN. */
  bytes: Uint8Array;
}

export class PageCache {
  /** Insertion order is recency: a hit moves the page to the end. */
  readonly #pages = new Map<number, PageVersion[]>();
  #versionCount = 0;
  hits = 0;
  misses = 0;

  constructor(readonly capacityPages: number) {
    assert(capacityPages >= 16, 'a page cache needs room for at least 16 pages');
  }

  get pageCount(): number {
    return this.#pages.size;
  }

  get versionCount(): number {
    return this.#versionCount;
  }

  has(pageNo: number): boolean {
    return this.#pages.has(pageNo);
  }

  /** The newest version at or below readPoint, or undefined when this cache cannot tell. */
  get(pageNo: number, readPoint: Lsn): PageVersion | undefined {
    const versions = this.#pages.get(pageNo);
    if (!versions || versions[0]!.lsn > readPoint) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.#pages.delete(pageNo);
    this.#pages.set(pageNo, versions);
    for (let i = versions.length - 1; i >= 0; i--) if (versions[i]!.lsn <= readPoint) return versions[i];
    return undefined;
  }

  /** The newest cached version, whatever the read point. */
  latest(pageNo: number): PageVersion | undefined {
    const versions = this.#pages.get(pageNo);
    return versions?.[versions.length - 1];
  }

  /** A new version made by a change at lsn (writer commit, reader redo apply). */
  put(pageNo: number, lsn: Lsn, bytes: Uint8Array, oldestReadPoint: Lsn): void {
    const versions = this.#pages.get(pageNo);
    if (!versions) {
      this.#pages.set(pageNo, [{ lsn, bytes }]);
      this.#versionCount++;
      return;
    }
    const last = versions[versions.length - 1]!;
    assert(lsn > last.lsn, () => `page ${pageNo}: version ${lsn} is not after ${last.lsn}`);
    versions.push({ lsn, bytes });
    this.#versionCount++;
    this.#prune(versions, oldestReadPoint);
  }

  /**
   * A version fetched from storage as of a read point. Kept only if it extends what the cache knows
   * (older than every cached version of the page); a newer copy here is already authoritative.
   */
  load(pageNo: number, version: PageVersion): void {
    const versions = this.#pages.get(pageNo);
    if (!versions) {
      this.#pages.set(pageNo, [version]);
      this.#versionCount++;
    } else if (version.lsn < versions[0]!.lsn) {
      versions.unshift(version);
      this.#versionCount++;
    }
  }

  /** Drops versions no pinned read point can see: all but the newest at or below the oldest pin. */
  #prune(versions: PageVersion[], oldestReadPoint: Lsn): void {
    let keepFrom = 0;
    for (let i = versions.length - 1; i > 0; i--) {
      if (versions[i]!.lsn <= oldestReadPoint) {
        keepFrom = i;
        break;
      }
    }
    if (keepFrom > 0) {
      versions.splice(0, keepFrom);
      this.#versionCount -= keepFrom;
    }
  }

  /** Evicts least recently used pages while over capacity, never one changed above durableLsn. */
  evict(durableLsn: Lsn): number {
    let evicted = 0;
    if (this.#pages.size <= this.capacityPages) return 0;
    for (const [pageNo, versions] of this.#pages) {
      if (this.#pages.size <= this.capacityPages) break;
      if (versions[versions.length - 1]!.lsn > durableLsn) continue;
      this.#pages.delete(pageNo);
      this.#versionCount -= versions.length;
      evicted++;
    }
    return evicted;
  }

  /** Forgets everything (a reader that fell too far behind re-reads from storage). */
  clear(): void {
    this.#pages.clear();
    this.#versionCount = 0;
  }
}

/** The read points in use: a multiset, with its minimum (the instance's oldest snapshot). */
export class ReadPoints {
  readonly #counts = new Map<Lsn, number>();
  #min: Lsn | undefined;

  pin(lsn: Lsn): void {
    this.#counts.set(lsn, (this.#counts.get(lsn) ?? 0) + 1);
    if (this.#min === undefined || lsn < this.#min) this.#min = lsn;
  }

  unpin(lsn: Lsn): void {
    const count = this.#counts.get(lsn);
    assert(count !== undefined, () => `read point ${lsn} was not pinned`);
    if (count > 1) {
      this.#counts.set(lsn, count - 1);
      return;
    }
    this.#counts.delete(lsn);
    if (this.#min === lsn) {
      this.#min = undefined;
      for (const l of this.#counts.keys()) if (this.#min === undefined || l < this.#min) this.#min = l;
    }
  }

  /** The oldest pinned read point, or `fallback` when none is pinned. */
  oldest(fallback: Lsn): Lsn {
    return this.#min ?? fallback;
  }

  get size(): number {
    return this.#counts.size;
  }
}
