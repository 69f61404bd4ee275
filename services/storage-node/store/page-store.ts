// Page versions of full segments, kept in LMDB: key = pg | pageNo | lsn (big-endian, so a page's
// versions sort by LSN), value = createdAtMs | crc32c | page bytes. Written only by the background
// coalescer; read by getPage (newest version <= read point), GC and scrub. Everything here can be
// derived again from the log, which is the durable truth: see the note on durability in the
// constructor.
import { type Database, open, type RootDatabase } from 'lmdb';
import { crc32c } from '../../../core/crc32c.ts';
import { type Lsn, lsnMax } from '../../../core/lsn.ts';

const keyBytes = 16;
const valueHeaderBytes = 12;

export interface PageVersion {
  pg: number;
  pageNo: number;
  lsn: Lsn;
  createdAtMs: number;
  bytes: Buffer;
  /** False when the stored CRC does not match the bytes (scrub repairs it). */
  intact: boolean;
}

function lsnBytes(lsn: Lsn): Buffer {
  const bytes = Buffer.allocUnsafe(8);
  bytes.writeBigUInt64BE(lsn, 0);
  return bytes;
}

export function versionKey(pg: number, pageNo: number, lsn: Lsn): Buffer {
  const key = Buffer.allocUnsafe(keyBytes);
  key.writeUInt32BE(pg, 0);
  key.writeUInt32BE(pageNo, 4);
  key.writeBigUInt64BE(lsn, 8);
  return key;
}

function parseKey(key: Buffer): { pg: number; pageNo: number; lsn: Lsn } {
  return { pg: key.readUInt32BE(0), pageNo: key.readUInt32BE(4), lsn: key.readBigUInt64BE(8) };
}

function encodeValue(bytes: Uint8Array, createdAtMs: number): Buffer {
  const value = Buffer.allocUnsafe(valueHeaderBytes + bytes.length);
  value.writeDoubleLE(createdAtMs, 0);
  value.writeUInt32LE(crc32c(bytes), 8);
  value.set(bytes, valueHeaderBytes);
  return value;
}

function decodeVersion(key: Buffer, value: Buffer): PageVersion {
  const bytes = Buffer.from(value.subarray(valueHeaderBytes));
  return {
    ...parseKey(key),
    createdAtMs: value.readDoubleLE(0),
    bytes,
    intact: value.readUInt32LE(8) === crc32c(bytes),
  };
}

/** What GC needs of a version: no page bytes, no CRC. */
export interface VersionHeader {
  pageNo: number;
  lsn: Lsn;
  createdAtMs: number;
}

function truncationKey(pg: number, aboveLsn: Lsn, uptoLsn: Lsn): string {
  return `truncated/${pg}/${aboveLsn}/${uptoLsn}`;
}

export class PageStore {
  readonly #root: RootDatabase;
  readonly #versions: Database<Buffer, Buffer>;
  readonly #meta: Database<Buffer, string>;
  /**
   * Whether `highest/<pg>` (the highest LSN of any version ever stored for the PG) is kept: in a store
   * created empty by this code, yes; in an older one, no, and a range removal scans the PG as before.
   */
  readonly #highestKept: boolean;

  constructor(path: string) {
    // Durability. A commit here is never waited on by an acknowledgement: the log is fsync'd before
    // every ack and holds every record, and the coalesced-LSN marker commits in the same transaction
    // as the versions it covers, so losing the last transactions only makes the node coalesce those
    // records again from the log. That stays true because nothing drops log records that the page
    // store has not durably absorbed: log collection calls makeDurable() (a transactionSync commit
    // fdatasyncs before it returns, covering every earlier commit) before it writes the collection
    // manifest and deletes a log file; a tail cut on open only drops records gossip refills, and the
    // marker may then run ahead of the log, which is harmless: the versions below it exist.
    // What must hold is consistency after a power loss, and lmdb-js 3.5.6 offers:
    // - noSync: no flush at all; after a power loss the meta page may point at pages that never reached
    //   the disk — corruption. Ruled out.
    // - noMetaSync: ACI without D (a power loss may undo the last commit), but still an fsync of the data
    //   in every commit, on the commit path.
    // - overlappingSync (its default on Linux, stated here so it cannot change under us): the commit is
    //   visible at once and flushed afterwards off the write lock; after a reboot LMDB opens at the last
    //   *flushed* transaction (it checks the boot id), so a power loss loses only recent commits, never
    //   consistency; a process crash (kill -9) keeps every committed transaction (the OS has the pages).
    // overlappingSync it is. What keeps the page store off the log's fdatasync is committing rarely: the
    // coalescer writes one transaction per tick for all segments, with one version per page per batch.
    this.#root = open({ path, compression: false, overlappingSync: true });
    this.#versions = this.#root.openDB({ name: 'versions', encoding: 'binary', keyEncoding: 'binary' });
    this.#meta = this.#root.openDB({ name: 'meta', encoding: 'binary' });
    if (this.#meta.get('highestKept') === undefined && this.versionCount === 0) {
      this.#root.transactionSync(() => this.#meta.put('highestKept', lsnBytes(1n)));
    }
    this.#highestKept = this.#meta.get('highestKept') !== undefined;
  }

  /** Called inside a write transaction that stores versions of pg up to maxLsn. */
  #raiseHighest(pg: number, maxLsn: Lsn): void {
    if (!this.#highestKept) return;
    const held = this.#meta.get(`highest/${pg}`);
    if (held === undefined || held.readBigUInt64BE(0) < maxLsn)
      this.#meta.put(`highest/${pg}`, lsnBytes(maxLsn));
  }

  /**
   * Whether pg may hold a version above lsn. A truncation above everything coalesced (every recovery's,
   * and a backtrack's) then costs nothing: the versions are keyed by page first, so finding the ones
   * in an LSN range means walking all of the PG's (~250 ms at 1 GB, on the event loop).
   */
  #mayHoldAbove(pg: number, lsn: Lsn): boolean {
    if (!this.#highestKept) return true;
    const held = this.#meta.get(`highest/${pg}`);
    return held !== undefined && held.readBigUInt64BE(0) > lsn;
  }

  /** The LSN up to which a PG's records are coalesced into versions here. */
  coalescedLsn(pg: number): Lsn {
    const value = this.#meta.get(`coalesced/${pg}`);
    return value === undefined ? 0n : value.readBigUInt64BE(0);
  }

  /** Newest version of the page at or below lsn. */
  latest(pg: number, pageNo: number, atOrBelow: Lsn): PageVersion | undefined {
    for (const { key, value } of this.#versions.getRange({
      start: versionKey(pg, pageNo, atOrBelow),
      end: versionKey(pg, pageNo, 0n),
      reverse: true,
      limit: 1,
    })) {
      return decodeVersion(key, value);
    }
    return undefined;
  }

  /** Stores coalesced versions of several PGs and their new coalesced LSNs in one transaction. */
  async putVersions(
    batches: { pg: number; versions: { pageNo: number; lsn: Lsn; bytes: Uint8Array }[]; coalescedLsn: Lsn }[],
    nowMs: number,
  ): Promise<void> {
    const writes = batches.map((b) => ({
      pg: b.pg,
      marker: lsnBytes(b.coalescedLsn),
      maxLsn: b.versions.reduce((max, v) => lsnMax(max, v.lsn), 0n),
      // Encoded (and CRC'd) before the transaction: its callback runs under LMDB's write lock.
      values: b.versions.map(
        (v) => [versionKey(b.pg, v.pageNo, v.lsn), encodeValue(v.bytes, nowMs)] as const,
      ),
    }));
    await this.#root.transaction(() => {
      for (const w of writes) {
        for (const [key, value] of w.values) this.#versions.put(key, value);
        this.#meta.put(`coalesced/${w.pg}`, w.marker);
        this.#raiseHighest(w.pg, w.maxLsn);
      }
    });
  }

  /**
   * Stores page images a peer sent (a segment rebuilt from page images), without moving the coalesced
   * LSN: each image is the true page at its version LSN, so it is right for any read it may serve.
   */
  async putImages(pg: number, images: { pageNo: number; lsn: Lsn; bytes: Uint8Array }[], nowMs: number) {
    const values = images.map((v) => [versionKey(pg, v.pageNo, v.lsn), encodeValue(v.bytes, nowMs)] as const);
    const maxLsn = images.reduce((max, v) => lsnMax(max, v.lsn), 0n);
    await this.#root.transaction(() => {
      for (const [key, value] of values) this.#versions.put(key, value);
      this.#raiseHighest(pg, maxLsn);
    });
  }

  /**
   * Makes every commit so far durable (fdatasync), and sets the coalesced LSN of the PGs given (a
   * rebuilt segment: its images cover everything up to there). Log collection calls it before it
   * lets go of log records.
   */
  makeDurable(coalesced: { pg: number; lsn: Lsn }[] = []): void {
    this.#root.transactionSync(() => {
      this.#meta.put('durable', lsnBytes(0n));
      for (const c of coalesced) this.#meta.put(`coalesced/${c.pg}`, lsnBytes(c.lsn));
    });
  }

  /** Bytes of the store's file in use: its highest page (LMDB reuses freed pages, so this levels off). */
  get bytesUsed(): number {
    const stats = this.#root.getStats() as { pageSize: number; lastPageNumber: number };
    return (stats.lastPageNumber + 1) * stats.pageSize;
  }

  /** Replaces one version's bytes (scrub repair), keeping its creation time. */
  async repair(version: PageVersion, bytes: Uint8Array): Promise<void> {
    await this.#versions.put(
      versionKey(version.pg, version.pageNo, version.lsn),
      encodeValue(bytes, version.createdAtMs),
    );
  }

  /** Every version of a PG, in key order (page, then LSN). */
  *versionsOf(pg: number, startAfter?: Buffer): Generator<PageVersion> {
    for (const { key, value } of this.#versions.getRange({
      start: startAfter ?? versionKey(pg, 0, 0n),
      end: versionKey(pg + 1, 0, 0n),
    })) {
      if (startAfter && key.equals(startAfter)) continue;
      yield decodeVersion(key, value);
    }
  }

  /** What GC reads: every version header of a PG in key order, after startAfter (a version key). */
  *versionHeadersOf(pg: number, startAfter?: Buffer): Generator<VersionHeader> {
    for (const { key, value } of this.#versions.getRange({
      start: startAfter ?? versionKey(pg, 0, 0n),
      end: versionKey(pg + 1, 0, 0n),
    })) {
      if (startAfter && key.equals(startAfter)) continue;
      yield { pageNo: key.readUInt32BE(4), lsn: key.readBigUInt64BE(8), createdAtMs: value.readDoubleLE(0) };
    }
  }

  #keysInRange(pg: number, aboveLsn: Lsn, uptoLsn: Lsn): Buffer[] {
    const doomed: Buffer[] = [];
    if (!this.#mayHoldAbove(pg, aboveLsn)) return doomed;
    for (const key of this.#versions.getKeys({
      start: versionKey(pg, 0, 0n),
      end: versionKey(pg + 1, 0, 0n),
    })) {
      const lsn = (key as Buffer).readBigUInt64BE(8);
      if (lsn > aboveLsn && lsn <= uptoLsn) doomed.push(Buffer.from(key as Buffer));
    }
    return doomed;
  }

  /**
   * Removes versions with LSN in (aboveLsn, uptoLsn] (truncation), lowers the coalesced LSN and notes
   * the truncation as applied, all in one transaction.
   */
  async removeRange(pg: number, aboveLsn: Lsn, uptoLsn: Lsn): Promise<number> {
    const doomed = this.#keysInRange(pg, aboveLsn, uptoLsn);
    await this.#root.transaction(() => this.#removeRangeIn(pg, aboveLsn, uptoLsn, doomed));
    return doomed.length;
  }

  #removeRangeIn(pg: number, aboveLsn: Lsn, uptoLsn: Lsn, doomed: Buffer[]): void {
    for (const key of doomed) this.#versions.remove(key);
    const coalesced = this.coalescedLsn(pg);
    this.#meta.put(`coalesced/${pg}`, lsnBytes(coalesced > aboveLsn ? aboveLsn : coalesced));
    this.#meta.put(truncationKey(pg, aboveLsn, uptoLsn), lsnBytes(uptoLsn));
  }

  /**
   * On open: applies every truncation of the log that this store has not (a crash came between the
   * truncation marker's fsync and removeRange's commit). Returns the number of versions removed.
   */
  reconcileTruncations(pg: number, truncations: readonly { aboveLsn: Lsn; uptoLsn: Lsn }[]): number {
    let removed = 0;
    for (const t of truncations) {
      if (this.#meta.get(truncationKey(pg, t.aboveLsn, t.uptoLsn)) !== undefined) continue;
      const doomed = this.#keysInRange(pg, t.aboveLsn, t.uptoLsn);
      this.#root.transactionSync(() => this.#removeRangeIn(pg, t.aboveLsn, t.uptoLsn, doomed));
      removed += doomed.length;
    }
    return removed;
  }

  async remove(keys: { pg: number; pageNo: number; lsn: Lsn }[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#root.transaction(() => {
      for (const k of keys) this.#versions.remove(versionKey(k.pg, k.pageNo, k.lsn));
    });
  }

  get versionCount(): number {
    return (this.#versions.getStats() as { entryCount: number }).entryCount;
  }

  async close(): Promise<void> {
    await this.#root.close();
  }
}
