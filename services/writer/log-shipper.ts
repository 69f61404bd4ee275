// The writer's log shipper: allocates LSNs, links every record to its PG and page predecessors,
// sends each batch to the six segments of every PG it touches (one Append per storage node), and
// tracks the SCL each segment acknowledges. A batch is durable once, in every PG it touches, a write
// quorum (4/6, or 3/3 full) of segments is complete past the batch's last record there (PGCL).
// Segments that have not acknowledged a pending batch are retried until it is durable, so a node
// that comes back is given the chance to report the SCL that gossip has brought it to.
import { assert } from '../../core/assert.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { pgCompleteLsn, type SegmentKind } from '../../core/quorum.ts';
import type { RedoRecord } from '../../core/record.ts';
import { pgOfPage, type VolumeConfig } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';

export type NewRecord = Omit<RedoRecord, 'lsn' | 'prevLsnInPg' | 'prevLsnOfPage' | 'pg'> & {
  /** Required for records without a page (commit); derived from pageNo otherwise. */
  pg?: number;
};

export interface ShippedBatch {
  records: RedoRecord[];
  /** Resolves when the batch is on a write quorum of every PG it touches. */
  durable: Promise<void>;
}

interface PendingBatch {
  lastLsnByPg: Map<number, Lsn>;
  /** Node id → the Append body for that node. */
  bodies: Map<string, RedoRecord[]>;
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

  constructor(options: LogShipperOptions) {
    assert(options.epoch > 0n, 'the shipper needs an epoch');
    this.#volume = options.volume;
    this.#epoch = options.epoch;
    this.#clients = options.clients;
    this.#nextLsn = options.nextLsn;
    this.#pgTails = new Map(options.pgTails ?? []);
    this.#onFenced = options.onFenced;
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
      return record;
    });
    const lastLsnByPg = new Map<number, Lsn>();
    const byNode = new Map<string, RedoRecord[]>();
    for (const record of records) {
      lastLsnByPg.set(record.pg, record.lsn);
      for (const nodeId of this.#nodesOfPg.get(record.pg)!) {
        let list = byNode.get(nodeId);
        if (!list) {
          list = [];
          byNode.set(nodeId, list);
        }
        list.push(record);
      }
    }
    const durable = new Promise<void>((resolve, reject) => {
      const batch: PendingBatch = { lastLsnByPg, bodies: byNode, resolve, reject };
      this.#pending.add(batch);
      for (const [nodeId, body] of byNode) this.#send(nodeId, body);
    });
    return { records, durable };
  }

  #send(nodeId: string, records: RedoRecord[]): void {
    const client = this.#clients.get(nodeId);
    assert(client !== undefined, () => `no client for storage node ${nodeId}`);
    client.request({ type: 'append', epoch: this.#epoch, records }).then(
      (reply) => {
        if (reply.type !== 'appendAck') return;
        for (const { pg, scl } of reply.scls) this.#noteScl(pg, nodeId, scl);
        this.#settle();
      },
      (error: unknown) => {
        if (error instanceof BorealisError && error.code === ErrorCode.STALE_EPOCH) this.#fence(error);
        // Anything else (node down, timeout, not ready): the retry timer tries again.
      },
    );
  }

  #noteScl(pg: number, nodeId: string, scl: Lsn): void {
    const index = this.#nodesOfPg.get(pg)?.indexOf(nodeId) ?? -1;
    if (index < 0) return;
    const scls = this.#scl.get(pg)!;
    // A segment's SCL only falls by truncation, which this writer (same epoch) never asks for.
    if (scl > scls[index]!) scls[index] = scl;
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
   * Re-sends a batch that is not durable yet to every node still short of it in some PG: nodes that
   * were down, and nodes that acknowledged while behind and may have caught up by gossip since (the
   * re-send is idempotent and its ack carries the node's current SCL).
   */
  #retry(): void {
    for (const batch of this.#pending) {
      const behind = new Set<string>();
      for (const [pg, lsn] of batch.lastLsnByPg) {
        const nodes = this.#nodesOfPg.get(pg)!;
        this.#scl.get(pg)!.forEach((scl, i) => {
          if (scl < lsn) behind.add(nodes[i]!);
        });
      }
      for (const nodeId of behind) this.#send(nodeId, batch.bodies.get(nodeId)!);
    }
  }

  #fence(error: BorealisError): void {
    if (this.#fenced) return;
    this.#fenced = error;
    for (const batch of this.#pending) batch.reject(error);
    this.#pending.clear();
    this.#onFenced?.(error);
  }

  close(): void {
    clearInterval(this.#retryTimer);
    const error = new BorealisError(ErrorCode.UNAVAILABLE, 'log shipper closed');
    for (const batch of this.#pending) batch.reject(error);
    this.#pending.clear();
  }
}
