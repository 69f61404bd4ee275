// The writer's log shipper: allocates LSNs, links every record to its PG and page predecessors,
// sends each batch to the six segments of every PG it touches (one Append per storage node), and
// tracks the SCL each segment acknowledges. A batch is durable once, in every PG it touches, a write
// quorum (4/6, or 3/3 full) of segments is complete past the batch's last record there (PGCL).
// Segments that have not acknowledged a pending batch are retried until it is durable, so a node
// that comes back is given the chance to report the SCL that gossip has brought it to.
import { assert } from '../../core/assert.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { lsnAllocationLimit } from '../../core/limits.ts';
import type { Lsn } from '../../core/lsn.ts';
import { pgCompleteLsn, type SegmentKind } from '../../core/quorum.ts';
import { encodedRecordLength, type RedoRecord, recordIsCpl } from '../../core/record.ts';
import { pgOfPage, type VolumeConfig } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import { encodeMessage, type StorageMessage } from '../../core/wire/messages.ts';
import { VolumeDurability } from './volume-durability.ts';

/** One Append request carries at most this much: a 100 MB transaction goes out as many requests. */
export const appendBytesMax = 4 * 1024 * 1024;

export type NewRecord = Omit<RedoRecord, 'lsn' | 'prevLsnInPg' | 'prevLsnOfPage' | 'pg'> & {
  /** Required for records without a page (commit); derived from pageNo otherwise. */
  pg?: number;
};

export interface ShippedBatch {
  records: RedoRecord[];
  /** Resolves when the batch is on a write quorum of every PG it touches. */
  durable: Promise<void>;
}

interface VdlWaiter {
  lsn: Lsn;
  resolve: () => void;
  reject: (error: Error) => void;
}

/** Chunks go to a node in order, a few at a time: a 100 MB transaction must not swamp a node. */
interface SendState {
  /** Index of the next chunk to send. */
  next: number;
  inFlight: number;
  /** The first chunk that failed (resend from there), if any. */
  failedAt: number | undefined;
}

/** Chunks of one batch in flight to one node at a time. */
export const chunksInFlightMax = 2;

/** A chunk's Append body, encoded once for every node that is sent the same records. */
interface EncodedChunk {
  type: number;
  body: Buffer;
  /** First sends still to make from it; at 0 it is dropped (a resend encodes again). */
  sendsLeft: number;
}

interface PendingBatch {
  lastLsnByPg: Map<number, Lsn>;
  /**
   * Node id → the Append requests for that node (one per chunk of at most appendBytesMax). Nodes that
   * hold the same PGs are given the same chunk arrays, so that each is encoded once.
   */
  bodies: Map<string, RedoRecord[][]>;
  encoded: Map<RedoRecord[], EncodedChunk>;
  /** Node id → how far sending this batch to it has come. */
  sends: Map<string, SendState>;
  resolve: () => void;
  reject: (error: Error) => void;
}

export interface LogShipperOptions {
  volume: VolumeConfig;
  epoch: bigint;
  clients: ReadonlyMap<string, StorageClient>;
  /** The first LSN to allocate. */
  nextLsn: Lsn;
  /** Last LSN of each PG so far (the backlink of its next record); absent = none. */
  pgTails?: Map<number, Lsn>;
  /** Everything up to here is durable already (after recovery: the recovered VDL). */
  durableLsn?: Lsn;
  lsnAllocationLimit?: Lsn;
  /** Called whenever VDL advances. */
  onVdl?: (vdl: Lsn) => void;
  retryIntervalMs?: number;
  /** Called when a node reports a newer epoch: this writer is fenced. */
  onFenced?: (error: BorealisError) => void;
}

export class LogShipper {
  readonly #volume: VolumeConfig;
  readonly #epoch: bigint;
  readonly #clients: ReadonlyMap<string, StorageClient>;
  #nextLsn: Lsn;
  readonly #pgTails: Map<number, Lsn>;
  readonly #pageTails = new Map<number, Lsn>();
  /** pg → segment index → SCL acknowledged by that segment. */
  readonly #scl = new Map<number, Lsn[]>();
  readonly #kinds = new Map<number, SegmentKind[]>();
  readonly #nodesOfPg = new Map<number, string[]>();
  readonly #pending = new Set<PendingBatch>();
  readonly #retryTimer: NodeJS.Timeout;
  #fenced: BorealisError | undefined;
  readonly #onFenced: ((error: BorealisError) => void) | undefined;
  readonly #durability: VolumeDurability;
  readonly #onVdl: ((vdl: Lsn) => void) | undefined;
  /** Commits waiting for VDL to pass them. */
  #vdlWaiters: VdlWaiter[] = [];

  constructor(options: LogShipperOptions) {
    assert(options.epoch > 0n, 'the shipper needs an epoch');
    this.#volume = options.volume;
    this.#epoch = options.epoch;
    this.#clients = options.clients;
    this.#nextLsn = options.nextLsn;
    this.#pgTails = new Map(options.pgTails ?? []);
    this.#onFenced = options.onFenced;
    this.#onVdl = options.onVdl;
    this.#durability = new VolumeDurability(
      options.durableLsn ?? options.nextLsn - 1n,
      options.lsnAllocationLimit ?? lsnAllocationLimit,
    );
    for (const p of options.volume.placement) {
      this.#scl.set(
        p.pg,
        p.segments.map(() => 0n),
      );
      this.#kinds.set(
        p.pg,
        p.segments.map((s) => s.kind),
      );
      this.#nodesOfPg.set(
        p.pg,
        p.segments.map((s) => s.nodeId),
      );
    }
    this.#retryTimer = setInterval(() => this.#retry(), options.retryIntervalMs ?? 100);
    this.#retryTimer.unref();
  }

  /** PGCL of a PG from the acknowledgements so far. */
  pgCompleteLsn(pg: number): Lsn {
    return pgCompleteLsn(this.#scl.get(pg)!, this.#kinds.get(pg)!);
  }

  get nextLsn(): Lsn {
    return this.#nextLsn;
  }

  get vdl(): Lsn {
    return this.#durability.vdl;
  }

  /** The last LSN allocated in a PG (0: none yet): no record of it lies above this. */
  pgTail(pg: number): Lsn {
    return this.#pgTails.get(pg) ?? 0n;
  }

  /** Every PG's last LSN, for readers that join the redo stream. */
  pgTails(): Map<number, Lsn> {
    return new Map(this.#pgTails);
  }

  get vcl(): Lsn {
    return this.#durability.vcl;
  }

  get fenced(): BorealisError | undefined {
    return this.#fenced;
  }

  /** LAL back-pressure: whether a batch of `count` records may be allocated now. */
  canAllocate(count: number): boolean {
    return this.#durability.canAllocate(count);
  }

  /** Resolves once VDL >= lsn (the acknowledgement of a commit); rejects if the writer is fenced. */
  waitForVdl(lsn: Lsn): Promise<void> {
    if (this.#durability.vdl >= lsn) return Promise.resolve();
    if (this.#fenced) return Promise.reject(this.#fenced);
    return new Promise((resolve, reject) => this.#vdlWaiters.push({ lsn, resolve, reject }));
  }

  /** Assigns LSNs and backlinks, sends the batch, returns at once; `durable` settles later. */
  ship(newRecords: NewRecord[]): ShippedBatch {
    if (this.#fenced) return { records: [], durable: Promise.reject(this.#fenced) };
    assert(newRecords.length > 0, 'a batch holds at least one record');
    const records: RedoRecord[] = newRecords.map((r) => {
      const pg = r.pg ?? pgOfPage(this.#volume, r.pageNo);
      const lsn = this.#nextLsn++;
      const record: RedoRecord = {
        ...r,
        pg,
        lsn,
        prevLsnInPg: this.#pgTails.get(pg) ?? 0n,
        prevLsnOfPage: r.pageNo === 0 ? 0n : (this.#pageTails.get(r.pageNo) ?? 0n),
      };
      this.#pgTails.set(pg, lsn);
      if (r.pageNo !== 0) this.#pageTails.set(r.pageNo, lsn);
      this.#durability.allocated(lsn, pg, recordIsCpl(record));
      return record;
    });
    return this.#send(records);
  }

  /**
   * A global secondary's replica applier (services/replica-applier): ships records that already carry
   * the primary's LSNs and backlinks, unchanged. They must continue what was shipped (LSNs ascending,
   * above every LSN shipped so far; the LSN space may have gaps — a primary recovery skips a range).
   */
  shipReplicated(records: RedoRecord[]): ShippedBatch {
    if (this.#fenced) return { records: [], durable: Promise.reject(this.#fenced) };
    assert(records.length > 0, 'a batch holds at least one record');
    for (const record of records) {
      assert(
        record.lsn >= this.#nextLsn,
        () => `replicated LSN ${record.lsn} is not above ${this.#nextLsn - 1n}`,
      );
      this.#nextLsn = record.lsn + 1n;
      this.#pgTails.set(record.pg, record.lsn);
      this.#durability.allocated(record.lsn, record.pg, recordIsCpl(record));
    }
    return this.#send(records);
  }

  #send(records: RedoRecord[]): ShippedBatch {
    const lastLsnByPg = new Map<number, Lsn>();
    const byNode = new Map<string, { chunks: RedoRecord[][]; bytes: number }>();
    for (const record of records) {
      lastLsnByPg.set(record.pg, record.lsn);
      const size = encodedRecordLength(record);
      for (const nodeId of this.#nodesOfPg.get(record.pg)!) {
        let entry = byNode.get(nodeId);
        if (!entry) {
          entry = { chunks: [[]], bytes: 0 };
          byNode.set(nodeId, entry);
        }
        if (entry.bytes + size > appendBytesMax && entry.chunks[entry.chunks.length - 1]!.length > 0) {
          entry.chunks.push([]);
          entry.bytes = 0;
        }
        entry.chunks[entry.chunks.length - 1]!.push(record);
        entry.bytes += size;
      }
    }
    const bodies = shareIdenticalChunks(byNode);
    // A batch of one chunk per node (all but the largest transactions) is encoded once up front; a
    // larger one chunk by chunk as it is sent, so that it never sits in memory encoded as a whole.
    const encoded = new Map<RedoRecord[], EncodedChunk>();
    for (const chunks of bodies.values()) {
      if (chunks.length !== 1) continue;
      const chunk = chunks[0]!;
      const entry = encoded.get(chunk);
      if (entry) entry.sendsLeft++;
      else
        encoded.set(chunk, {
          ...encodeMessage({ type: 'append', epoch: this.#epoch, records: chunk }),
          sendsLeft: 1,
        });
    }
    const durable = new Promise<void>((resolve, reject) => {
      const batch: PendingBatch = { lastLsnByPg, bodies, encoded, sends: new Map(), resolve, reject };
      this.#pending.add(batch);
      for (const nodeId of bodies.keys()) this.#sendBatch(batch, nodeId);
    });
    return { records, durable };
  }

  /** Sends (or resumes sending) a batch's chunks to one node, in order, a few in flight at a time. */
  #sendBatch(batch: PendingBatch, nodeId: string, from = 0): void {
    const state: SendState = { next: from, inFlight: 0, failedAt: undefined };
    batch.sends.set(nodeId, state);
    this.#pump(batch, nodeId, state);
  }

  #pump(batch: PendingBatch, nodeId: string, state: SendState): void {
    const chunks = batch.bodies.get(nodeId)!;
    while (state.failedAt === undefined && state.inFlight < chunksInFlightMax && state.next < chunks.length) {
      const index = state.next++;
      state.inFlight++;
      this.#requestAppend(nodeId, batch, chunks[index]!).then(
        () => {
          state.inFlight--;
          if (batch.sends.get(nodeId) === state && this.#pending.has(batch)) this.#pump(batch, nodeId, state);
        },
        () => {
          state.inFlight--;
          if (state.failedAt === undefined || index < state.failedAt) state.failedAt = index;
        },
      );
    }
  }

  #requestAppend(nodeId: string, batch: PendingBatch, chunk: RedoRecord[]): Promise<void> {
    const shared = batch.encoded.get(chunk);
    if (shared === undefined)
      return this.#request(nodeId, { type: 'append', epoch: this.#epoch, records: chunk });
    if (--shared.sendsLeft === 0) batch.encoded.delete(chunk);
    return this.#replied(nodeId, this.#client(nodeId).requestRaw(shared.type, shared.body));
  }

  #request(nodeId: string, message: StorageMessage): Promise<void> {
    return this.#replied(nodeId, this.#client(nodeId).request(message));
  }

  #client(nodeId: string): StorageClient {
    const client = this.#clients.get(nodeId);
    assert(client !== undefined, () => `no client for storage node ${nodeId}`);
    return client;
  }

  /** Notes the SCLs a reply reports; a stale-epoch refusal fences this writer. */
  #replied(nodeId: string, reply: Promise<StorageMessage>): Promise<void> {
    return reply.then(
      (reply) => {
        if (reply.type === 'appendAck') for (const { pg, scl } of reply.scls) this.#noteScl(pg, nodeId, scl);
        if (reply.type === 'recoveryInfoReply')
          for (const { pg, scl } of reply.segments) this.#noteScl(pg, nodeId, scl);
        this.#settle();
      },
      (error: unknown) => {
        if (error instanceof BorealisError && error.code === ErrorCode.STALE_EPOCH) this.#fence(error);
        throw error;
      },
    );
  }

  #noteScl(pg: number, nodeId: string, scl: Lsn): void {
    const index = this.#nodesOfPg.get(pg)?.indexOf(nodeId) ?? -1;
    if (index < 0) return;
    const scls = this.#scl.get(pg)!;
    // A segment's SCL only falls by truncation, which this writer (same epoch) never asks for.
    if (scl <= scls[index]!) return;
    scls[index] = scl;
    const before = this.#durability.vdl;
    const vdl = this.#durability.pgComplete(pg, this.pgCompleteLsn(pg));
    if (vdl > before) this.#vdlAdvanced(vdl);
  }

  #vdlAdvanced(vdl: Lsn): void {
    if (this.#vdlWaiters.length > 0) {
      const still: VdlWaiter[] = [];
      for (const w of this.#vdlWaiters) {
        if (w.lsn <= vdl) w.resolve();
        else still.push(w);
      }
      this.#vdlWaiters = still;
    }
    this.#onVdl?.(vdl);
  }

  #settle(): void {
    for (const batch of this.#pending) {
      let durable = true;
      for (const [pg, lsn] of batch.lastLsnByPg) {
        if (this.pgCompleteLsn(pg) < lsn) {
          durable = false;
          break;
        }
      }
      if (durable) {
        this.#pending.delete(batch);
        batch.resolve();
      }
    }
  }

  /**
   * For a batch that is not durable yet, every node still short of it in some PG gets: the batch
   * again if a send to it failed (it was down, or timed out); a cheap SCL probe if it acknowledged
   * while behind (it may have caught up by gossip since, and only tells us when asked). Nothing for a
   * node whose chunks are still in flight — a large batch is never sent twice over.
   */
  #retry(): void {
    const probe = new Set<string>();
    for (const batch of this.#pending) {
      const behind = new Set<string>();
      for (const [pg, lsn] of batch.lastLsnByPg) {
        const nodes = this.#nodesOfPg.get(pg)!;
        this.#scl.get(pg)!.forEach((scl, i) => {
          if (scl < lsn) behind.add(nodes[i]!);
        });
      }
      for (const nodeId of behind) {
        const state = batch.sends.get(nodeId);
        if (!state) this.#sendBatch(batch, nodeId);
        else if (state.failedAt !== undefined && state.inFlight === 0)
          this.#sendBatch(batch, nodeId, state.failedAt);
        else if (state.inFlight === 0 && state.next >= batch.bodies.get(nodeId)!.length) probe.add(nodeId);
      }
    }
    for (const nodeId of probe)
      this.#request(nodeId, { type: 'recoveryInfo', epoch: 0n }).catch(() => undefined);
  }

  #fence(error: BorealisError): void {
    if (this.#fenced) return;
    this.#fenced = error;
    for (const batch of this.#pending) batch.reject(error);
    this.#pending.clear();
    for (const w of this.#vdlWaiters) w.reject(error);
    this.#vdlWaiters = [];
    this.#onFenced?.(error);
  }

  close(): void {
    clearInterval(this.#retryTimer);
    const error = new BorealisError(ErrorCode.UNAVAILABLE, 'log shipper closed');
    for (const batch of this.#pending) batch.reject(error);
    this.#pending.clear();
    for (const w of this.#vdlWaiters) w.reject(error);
    this.#vdlWaiters = [];
  }
}

/**
 * Node id → its chunks, where nodes given exactly the same records share one chunk list (every node
 * holds a segment of every PG in the usual placement, so all six do): their Append is encoded once.
 */
function shareIdenticalChunks(byNode: Map<string, { chunks: RedoRecord[][] }>): Map<string, RedoRecord[][]> {
  const distinct: RedoRecord[][][] = [];
  const bodies = new Map<string, RedoRecord[][]>();
  for (const [nodeId, { chunks }] of byNode) {
    const same = distinct.find((other) => sameChunks(other, chunks));
    if (same) bodies.set(nodeId, same);
    else {
      distinct.push(chunks);
      bodies.set(nodeId, chunks);
    }
  }
  return bodies;
}

function sameChunks(a: RedoRecord[][], b: RedoRecord[][]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x.length !== y.length) return false;
    for (let j = 0; j < x.length; j++) if (x[j] !== y[j]) return false;
  }
  return true;
}
