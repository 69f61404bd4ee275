// The writer's side of the VFS: turns each committed SQLite transaction into redo — a delta (or a
// full image) per changed page, then a commit record that is the transaction's CPL — ships it to
// storage through the log shipper, and returns at once (pipelined commit): the client's
// acknowledgement waits for VDL elsewhere. Holds the buffer cache and the visible commit point.
// With binlog capture on, the transaction's row images (staged by the executor right before its
// COMMIT) ride in the same MTR as RowImages records just before the commit record.
import { assert } from '../../core/assert.ts';
import type { RowImagesSink } from '../../core/binlog/capture.ts';
import { type CapturedTransaction, encodeRowImages } from '../../core/binlog/row-images.ts';
import { computeDelta, deltaIsEmpty } from '../../core/delta.ts';
import { PageCache, ReadPoints } from '../../core/engine/page-cache.ts';
import type { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SQLite } from '../../core/engine/runtime.ts';
import type { VolumeEngine } from '../../core/engine/volume-vfs.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnMin } from '../../core/lsn.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { pgOfPage, type VolumeConfig } from '../../core/volume.ts';
import type { LogShipper, NewRecord } from './log-shipper.ts';

export interface WriterEngineOptions {
  volume: VolumeConfig;
  shipper: LogShipper;
  fetcher: PageFetcher;
  logger: Logger;
  cacheCapacityPages: number;
  /** The recovered state: VDL, the commit at VDL, the next transaction id. */
  vdl: Lsn;
  lastCommit: { lsn: Lsn; pg: number; commitTimeMs: number };
  nextTxnId: bigint;
  /** The volume epoch this writer holds: RowImages payloads name it (the binlog's server_id). */
  epoch?: bigint;
  /** How long a commit may wait for LAL room before it fails (SQLITE_BUSY, clean rollback). */
  lalWaitMs?: number;
  clock?: () => number;
  /** Every shipped transaction, for the redo stream to readers. */
  onShipped?: (records: RedoRecord[]) => void;
}

export class WriterEngine implements VolumeEngine, RowImagesSink {
  readonly readOnly = false;
  readonly pageSizeBytes: number;
  readonly cache: PageCache;
  readonly #readPoints = new ReadPoints();
  readonly #options: WriterEngineOptions;
  /** The newest commit visible to new transactions (it may not be durable yet). */
  #latestCommit: Lsn;
  #lastCommit: { lsn: Lsn; pg: number; commitTimeMs: number };
  #nextTxnId: bigint;
  /** Commits shipped and not yet known durable, ascending; and the newest one known durable. */
  readonly #shippedCommits: { lsn: Lsn; commitTimeMs: number }[] = [];
  #durableCommit: { lsn: Lsn; commitTimeMs: number };
  /** The row images of the transaction now committing (the write lock allows one at a time). */
  #stagedRowImages: CapturedTransaction | undefined;
  commitsShipped = 0;
  bytesShipped = 0;
  /** Binlog row events (row changes) and RowImages payload bytes shipped since open. */
  binlogRowEvents = 0;
  binlogBytes = 0;

  constructor(options: WriterEngineOptions) {
    this.#options = options;
    this.pageSizeBytes = options.volume.pageSizeBytes;
    this.cache = new PageCache(options.cacheCapacityPages);
    this.#latestCommit = options.vdl;
    this.#lastCommit = options.lastCommit;
    this.#nextTxnId = options.nextTxnId;
    this.#durableCommit = { lsn: options.lastCommit.lsn, commitTimeMs: options.lastCommit.commitTimeMs };
  }

  get latestCommitLsn(): Lsn {
    return this.#latestCommit;
  }

  get lastCommit(): { lsn: Lsn; pg: number; commitTimeMs: number } {
    return this.#lastCommit;
  }

  currentReadPoint(): Lsn {
    return this.#latestCommit;
  }

  pinReadPoint(): Lsn {
    this.#readPoints.pin(this.#latestCommit);
    return this.#latestCommit;
  }

  unpinReadPoint(readPoint: Lsn): void {
    this.#readPoints.unpin(readPoint);
  }

  /** The lowest read point any transaction here still uses (PGMRPL's input). */
  oldestReadPoint(): Lsn {
    return this.#readPoints.oldest(this.#latestCommit);
  }

  readPage(pageNo: number, readPoint: Lsn): Uint8Array | Promise<Uint8Array> {
    const cached = this.cache.get(pageNo, readPoint);
    if (cached) return cached.bytes;
    return this.#fetch(pageNo, readPoint);
  }

  async #fetch(pageNo: number, readPoint: Lsn): Promise<Uint8Array> {
    // A page missing here has not changed above VDL (such pages are never evicted), so storage
    // has it as of min(read point, VDL). And no record of its PG lies above the PG's last LSN, so
    // asking as of that LSN is the same read — one a segment of a quiet PG (low SCL) can prove.
    const shipper = this.#options.shipper;
    const pgTail = shipper.pgTail(pgOfPage(this.#options.volume, pageNo));
    const version = await this.#options.fetcher.fetch(pageNo, lsnMin(lsnMin(readPoint, shipper.vdl), pgTail));
    this.cache.load(pageNo, version);
    return version.bytes;
  }

  stageRowImages(captured: CapturedTransaction): void {
    assert(this.#stagedRowImages === undefined, 'row images staged while another commit holds the slot');
    this.#stagedRowImages = captured;
  }

  clearRowImages(): void {
    this.#stagedRowImages = undefined;
  }

  beginWrite(readPoint: Lsn): number {
    // A snapshot older than the newest commit would write over changes it never saw.
    return readPoint < this.#latestCommit ? SQLite.SQLITE_BUSY : SQLite.SQLITE_OK;
  }

  async commitPages(
    pages: Map<number, Uint8Array>,
    readPoint: Lsn,
  ): Promise<{ rc: number; commitLsn?: Lsn }> {
    const shipper = this.#options.shipper;
    // The staged images belong to this commit (one that changes no page ships none: nothing changed).
    const captured = this.#stagedRowImages;
    this.#stagedRowImages = undefined;
    if (shipper.fenced) return { rc: SQLite.SQLITE_BUSY };
    const changes: NewRecord[] = [];
    const pageNos = [...pages.keys()].sort((a, b) => a - b);
    for (const pageNo of pageNos) {
      const bytes = pages.get(pageNo)!;
      const before = this.cache.latest(pageNo)?.bytes ?? (await this.readPage(pageNo, readPoint));
      if (before.length === 0) {
        changes.push({ pageNo, kind: RecordKind.PageImage, flags: 0, payload: bytes });
        continue;
      }
      const delta = computeDelta(before, bytes);
      if (deltaIsEmpty(delta)) continue;
      // A delta bigger than half a page costs more to ship and apply than the page itself.
      changes.push(
        delta.length > this.pageSizeBytes / 2
          ? { pageNo, kind: RecordKind.PageImage, flags: 0, payload: bytes }
          : { pageNo, kind: RecordKind.PageDelta, flags: 0, payload: delta },
      );
    }
    if (changes.length === 0) return { rc: SQLite.SQLITE_OK };

    const clock = this.#options.clock ?? Date.now;
    // Commit times never go backwards, so "commits up to time T" is a prefix of the log (PITR).
    const commitTime = () => Math.max(clock(), this.#lastCommit.commitTimeMs);
    const encode = (at: number) =>
      captured === undefined || captured.changes.length === 0
        ? []
        : encodeRowImages(
            { txnId: this.#nextTxnId, commitTimeMs: at, epoch: this.#options.epoch ?? 0n },
            captured,
          );
    // Encoded now to count the records (LAL); again below only if the clock moved meanwhile.
    const imagesTimeMs = captured === undefined ? 0 : commitTime();
    let rowImages = encode(imagesTimeMs);
    const count = changes.length + rowImages.length + 1;
    if (!shipper.canAllocate(count) && !(await this.#waitForAllocationRoom(count))) {
      this.#options.logger.warn(
        { records: count, vdl: shipper.vdl.toString() },
        'commit refused: LAL reached',
      );
      return { rc: SQLite.SQLITE_BUSY };
    }

    // LSNs are allocated in order from nextLsn: the commit record can name each PG's last record.
    const firstLsn = shipper.nextLsn;
    const pgTails = new Map<number, Lsn>();
    for (const [i, c] of changes.entries())
      pgTails.set(pgOfPage(this.#options.volume, c.pageNo), firstLsn + BigInt(i));
    const commitPg = pgOfPage(this.#options.volume, changes[changes.length - 1]!.pageNo);
    const commitTimeMs = commitTime();
    if (rowImages.length > 0 && commitTimeMs !== imagesTimeMs) {
      // The images carry the commit's own time (their sizes do not depend on it).
      const counted = rowImages.length;
      rowImages = encode(commitTimeMs);
      assert(rowImages.length === counted, 'RowImages payload count changed with the commit time');
    }
    const txnId = this.#nextTxnId++;
    // RowImages records: in the commit's PG, right before it, so the commit names the last as its PG's tail.
    for (const payload of rowImages) {
      pgTails.set(commitPg, firstLsn + BigInt(changes.length));
      changes.push({ pg: commitPg, pageNo: 0, kind: RecordKind.RowImages, flags: 0, payload });
    }
    changes.push({
      pg: commitPg,
      pageNo: 0,
      kind: RecordKind.Commit,
      flags: RecordFlags.Cpl,
      payload: encodeCommitPayload({
        txnId,
        commitTimeMs,
        pgTails: [...pgTails].sort((a, b) => a[0] - b[0]).map(([pg, lastLsn]) => ({ pg, lastLsn })),
        vdlHint: this.durableCommit().lsn,
        prevCommitLsn: this.#lastCommit.lsn,
        prevCommitPg: this.#lastCommit.pg,
      }),
    });
    const shipped = shipper.ship(changes);
    // Failures surface through VDL waits (fencing) and the shipper's retries; nothing to do here.
    shipped.durable.catch(() => undefined);
    const oldest = this.oldestReadPoint();
    for (const record of shipped.records) {
      if (record.pageNo !== 0) this.cache.put(record.pageNo, record.lsn, pages.get(record.pageNo)!, oldest);
      else if (record.kind === RecordKind.RowImages) this.binlogBytes += record.payload.length;
      this.bytesShipped += record.payload.length + 44;
    }
    if (captured !== undefined && rowImages.length > 0)
      for (const c of captured.changes) if (c.kind === 'row') this.binlogRowEvents++;
    const commitLsn = shipped.records[shipped.records.length - 1]!.lsn;
    this.#latestCommit = commitLsn;
    this.#lastCommit = { lsn: commitLsn, pg: commitPg, commitTimeMs };
    this.#shippedCommits.push({ lsn: commitLsn, commitTimeMs });
    this.commitsShipped++;
    this.#options.onShipped?.(shipped.records);
    this.cache.evict(shipper.vdl);
    return { rc: SQLite.SQLITE_OK, commitLsn };
  }

  /**
   * The newest commit known durable: what commit records carry as vdlHint. Always a real commit LSN
   * (or 0), so a recovering writer can stop walking the commit chain there. With its commit time, it
   * is the consistent point a snapshot pins (functions/snapshot).
   */
  durableCommit(): { lsn: Lsn; commitTimeMs: number } {
    const vdl = this.#options.shipper.vdl;
    while (this.#shippedCommits.length > 0 && this.#shippedCommits[0]!.lsn <= vdl) {
      this.#durableCommit = this.#shippedCommits.shift()!;
    }
    return this.#durableCommit;
  }

  /** LAL back-pressure: waits (bounded) until VDL has moved far enough to allocate `count` LSNs. */
  async #waitForAllocationRoom(count: number): Promise<boolean> {
    const shipper = this.#options.shipper;
    const deadline = Date.now() + (this.#options.lalWaitMs ?? 30_000);
    while (!shipper.canAllocate(count)) {
      // A transaction larger than LAL itself goes once everything before it is durable.
      if (shipper.vdl === shipper.nextLsn - 1n) return true;
      if (Date.now() > deadline || shipper.fenced) return false;
      await Promise.race([shipper.waitForVdl(shipper.vdl + 1n), new Promise((r) => setTimeout(r, 50))]).catch(
        () => undefined,
      );
    }
    return true;
  }
}
