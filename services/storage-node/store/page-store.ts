// Page versions of full segments, kept in LMDB: key = pg | pageNo | lsn (big-endian, so a page's
// versions sort by LSN), value = createdAtMs | crc32c | page bytes. Written only by the background
// coalescer; read by getPage (newest version <= read point), GC and scrub.
import { type Database, open, type RootDatabase } from 'lmdb';
import { crc32c } from '../../../core/crc32c.ts';
import type { Lsn } from '../../../core/lsn.ts';

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

export class PageStore {
  readonly #root: RootDatabase;
  readonly #versions: Database<Buffer, Buffer>;
  readonly #meta: Database<Buffer, string>;

  constructor(path: string) {
    this.#root = open({ path, compression: false });
    this.#versions = this.#root.openDB({ name: 'versions', encoding: 'binary', keyEncoding: 'binary' });
    this.#meta = this.#root.openDB({ name: 'meta', encoding: 'binary' });
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

  /** Stores coalesced versions and the new coalesced LSN in one transaction. */
  async putVersions(
    pg: number,
    versions: { pageNo: number; lsn: Lsn; bytes: Uint8Array }[],
    coalescedLsn: Lsn,
    nowMs: number,
  ): Promise<void> {
    const marker = Buffer.allocUnsafe(8);
    marker.writeBigUInt64BE(coalescedLsn, 0);
    await this.#root.transaction(() => {
      for (const v of versions)
        this.#versions.put(versionKey(pg, v.pageNo, v.lsn), encodeValue(v.bytes, nowMs));
      this.#meta.put(`coalesced/${pg}`, marker);
    });
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

  /** Removes versions with LSN in (aboveLsn, uptoLsn] (truncation) and lowers the coalesced LSN. */
  async removeRange(pg: number, aboveLsn: Lsn, uptoLsn: Lsn): Promise<number> {
    const doomed: Buffer[] = [];
    for (const key of this.#versions.getKeys({
      start: versionKey(pg, 0, 0n),
      end: versionKey(pg + 1, 0, 0n),
    })) {
      const lsn = (key as Buffer).readBigUInt64BE(8);
      if (lsn > aboveLsn && lsn <= uptoLsn) doomed.push(Buffer.from(key as Buffer));
    }
    const coalesced = this.coalescedLsn(pg);
    const marker = Buffer.allocUnsafe(8);
    marker.writeBigUInt64BE(coalesced > aboveLsn ? aboveLsn : coalesced, 0);
    await this.#root.transaction(() => {
      for (const key of doomed) this.#versions.remove(key);
      this.#meta.put(`coalesced/${pg}`, marker);
    });
    return doomed.length;
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
