// A reader's side of the VFS: the same engine, read-only. It applies the writer's redo stream in LSN
// order, only up to the VDL it was told and only to pages it has cached (the rest are dropped and
// read from storage when needed), and pins each read transaction to a read point — the last commit
// applied — so it never sees half a transaction.
import { applyDelta } from '../../core/delta.ts';
import { PageCache, ReadPoints } from '../../core/engine/page-cache.ts';
import type { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SQLite } from '../../core/engine/runtime.ts';
import type { VolumeEngine } from '../../core/engine/volume-vfs.ts';
import type { Lsn } from '../../core/lsn.ts';
import { decodeCommitPayload, RecordKind, type RedoRecord } from '../../core/record.ts';

export interface ReaderEngineOptions {
  pageSizeBytes: number;
  /** The PG a page belongs to. */
  pgOf: (pageNo: number) => number;
  fetcher: PageFetcher;
  cacheCapacityPages: number;
  /** Called for every commit applied: its commit time, for the replica lag in milliseconds. */
  onCommitApplied?: (commitTimeMs: number, lsn: Lsn) => void;
}

export class ReaderEngine implements VolumeEngine {
  readonly readOnly = true;
  readonly pageSizeBytes: number;
  readonly cache: PageCache;
  readonly #readPoints = new ReadPoints();
  readonly #options: ReaderEngineOptions;
  /** Records received above VDL, waiting for VDL to pass them (ascending). */
  #pending: RedoRecord[] = [];
  /** Pages being fetched from storage: records for them are queued, not dropped. */
  readonly #fetching = new Map<number, { records: RedoRecord[]; done: Promise<Uint8Array> }>();
  /** Each PG's last LSN applied (or told at resync): reads of a quiet PG ask storage as of it. */
  readonly #pgTails = new Map<number, Lsn>();
  /** The newest commit applied: the read point of new transactions. */
  #visible: Lsn = 0n;
  /** The newest VDL the writer announced. */
  writerVdl: Lsn = 0n;
  lastCommitTimeMs = 0;
  recordsApplied = 0;
  recordsDropped = 0;
  resyncs = 0;

  constructor(options: ReaderEngineOptions) {
    this.#options = options;
    this.pageSizeBytes = options.pageSizeBytes;
    this.cache = new PageCache(options.cacheCapacityPages);
  }

  get visibleLsn(): Lsn {
    return this.#visible;
  }

  /** Replica lag in LSNs: how far the last applied commit is behind the writer's VDL. */
  get lagLsn(): Lsn {
    return this.writerVdl > this.#visible ? this.writerVdl - this.#visible : 0n;
  }

  currentReadPoint(): Lsn {
    return this.#visible;
  }

  pinReadPoint(): Lsn {
    this.#readPoints.pin(this.#visible);
    return this.#visible;
  }

  unpinReadPoint(readPoint: Lsn): void {
    this.#readPoints.unpin(readPoint);
  }

  oldestReadPoint(): Lsn {
    return this.#readPoints.oldest(this.#visible);
  }

  beginWrite(): number {
    return SQLite.SQLITE_READONLY;
  }

  async commitPages(): Promise<{ rc: number }> {
    return { rc: SQLite.SQLITE_READONLY };
  }

  readPage(pageNo: number, readPoint: Lsn): Uint8Array | Promise<Uint8Array> {
    const cached = this.cache.get(pageNo, readPoint);
    if (cached) return cached.bytes;
    // No record of the page's PG lies above its last LSN: asking as of that LSN is the same read,
    // and one that a segment of a quiet PG (SCL far below the read point) can serve.
    const tail = this.#pgTails.get(this.#options.pgOf(pageNo));
    const storageReadPoint = tail !== undefined && tail < readPoint ? tail : readPoint;
    if (readPoint < this.#visible) {
      // An old snapshot: records after it were dropped for uncached pages, so what storage returns
      // cannot seed the cache — serve it to this transaction only.
      return this.#options.fetcher.fetch(pageNo, storageReadPoint).then((v) => v.bytes);
    }
    const inFlight = this.#fetching.get(pageNo);
    if (inFlight) return inFlight.done;
    const entry = {
      records: [] as RedoRecord[],
      done: Promise.resolve(new Uint8Array(0)) as Promise<Uint8Array>,
    };
    entry.done = this.#options.fetcher.fetch(pageNo, storageReadPoint).then(
      (version) => {
        this.#fetching.delete(pageNo);
        this.cache.load(pageNo, version);
        // Records that arrived during the fetch and are newer than what storage returned.
        for (const record of entry.records) if (record.lsn > version.lsn) this.#applyToCached(record);
        return this.cache.get(pageNo, readPoint)?.bytes ?? version.bytes;
      },
      (error) => {
        this.#fetching.delete(pageNo);
        throw error;
      },
    );
    this.#fetching.set(pageNo, entry);
    return entry.done;
  }

  /** A batch from the writer's redo stream. */
  receive(vdl: Lsn, records: RedoRecord[]): void {
    for (const r of records) this.#pending.push(r);
    if (vdl > this.writerVdl) this.writerVdl = vdl;
    let applied = 0;
    while (applied < this.#pending.length && this.#pending[applied]!.lsn <= this.writerVdl) {
      this.#apply(this.#pending[applied]!);
      applied++;
    }
    if (applied > 0) this.#pending = this.#pending.slice(applied);
    this.cache.evict(this.#visible);
  }

  #apply(record: RedoRecord): void {
    this.#pgTails.set(record.pg, record.lsn);
    if (record.kind === RecordKind.Commit) {
      this.#visible = record.lsn;
      const { commitTimeMs } = decodeCommitPayload(record.payload);
      this.lastCommitTimeMs = commitTimeMs;
      this.#options.onCommitApplied?.(commitTimeMs, record.lsn);
      return;
    }
    if (record.kind !== RecordKind.PageDelta && record.kind !== RecordKind.PageImage) return;
    const fetching = this.#fetching.get(record.pageNo);
    if (fetching) {
      fetching.records.push(record);
      return;
    }
    if (this.cache.has(record.pageNo)) this.#applyToCached(record);
    else this.recordsDropped++;
  }

  #applyToCached(record: RedoRecord): void {
    const latest = this.cache.latest(record.pageNo);
    if (!latest || record.lsn <= latest.lsn) return;
    const bytes =
      record.kind === RecordKind.PageImage
        ? Buffer.from(record.payload)
        : applyDelta(
            latest.bytes.length === 0 ? new Uint8Array(this.pageSizeBytes) : latest.bytes,
            record.payload,
          );
    this.cache.put(record.pageNo, record.lsn, bytes, this.oldestReadPoint());
    this.recordsApplied++;
  }

  /**
   * A new subscription (reconnect, or another writer after failover) resends every record above
   * visibleLsn: what waited above VDL is dropped. A new writer truncated everything above its
   * recovered VDL and reuses those LSNs, so an old pending record applied later would corrupt pages.
   */
  streamRestarted(): void {
    this.#pending = [];
  }

  /** The writer no longer has the records after our position: forget the cache, go on from vdl. */
  resync(vdl: Lsn, pgTails: { pg: number; scl: Lsn }[]): void {
    this.resyncs++;
    this.cache.clear();
    this.#pending = [];
    this.#pgTails.clear();
    // A tail above vdl belongs to records still on their way: they set it when applied.
    for (const t of pgTails) if (t.scl <= vdl) this.#pgTails.set(t.pg, t.scl);
    this.writerVdl = vdl;
    this.#visible = vdl;
  }
}
