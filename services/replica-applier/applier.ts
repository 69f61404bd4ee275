// The replica applier's core (Global Database, secondary region): takes the primary's redo batches
// as the global-replicator delivers them, ships their records — the primary's LSNs, backlinks and
// CPLs, unchanged — to the secondary volume on a write quorum (LogShipper.shipReplicated), and
// acknowledges a batch only once it is durable there. Batches must come in order of their chain
// (core/global/replication.ts): a redelivery is acknowledged without shipping anything again, a
// batch after a gap is refused (the replicator retries from the missing one). The secondary's VDL is
// the highest primary CPL complete on it; readers follow it through the redo stream.
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../core/assert.ts';
import { commitsOf, decodeRedoBatch } from '../../core/backup/redo-batch.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { LostSet } from '../../core/global/lost-set.ts';
import { placeBatch } from '../../core/global/replication.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnToString } from '../../core/lsn.ts';
import type { RedoRecord } from '../../core/record.ts';

/**
 * Beside volume.json: present when this volume was a primary's and is to rejoin as a secondary
 * (main.ts opens it with the writer's recovery instead of taking a saved position).
 */
export const rejoinFileName = 'rejoin.json';
/** The lost set of the last rejoin after an unplanned failover, beside volume.json. */
export const rejoinReportFileName = 'global-rejoin.json';

export interface RejoinReport {
  rejoinedAt: string;
  /** The promoted point (decimal LSN): this volume's commits above it were discarded. */
  discardedAbove: string;
  /** This volume's VDL before (decimal LSN). */
  oldVdl: string;
  lost: LostSet;
  /** Set once the truncation reached a write quorum: the discard is done and is never repeated. */
  truncated?: boolean;
}

/** The applier's position, beside volume.json. */
export const replicaStateFileName = 'replica-applier.json';

/**
 * Asks the next applier started on the volume in `dir` to rejoin (rejoin.json): at the volume's own
 * VDL, or — after an unplanned failover — at the new primary's promoted point, discarding above it.
 * Any position of an earlier spell as a secondary goes: it is not this volume's state any more.
 */
export function writeRejoinRequest(
  dir: string,
  discard: { aboveLsn: string; aboveCommitTimeMs: number; archiveFloor?: string } | undefined,
): void {
  rmSync(join(dir, replicaStateFileName), { force: true });
  const file = join(dir, rejoinFileName);
  writeFileSync(`${file}.tmp`, `${JSON.stringify({ requestedAt: new Date().toISOString(), ...discard })}\n`, {
    flush: true,
  });
  renameSync(`${file}.tmp`, file);
}

export function readRejoinReport(dir: string): RejoinReport | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, rejoinReportFileName), 'utf8')) as RejoinReport;
  } catch {
    return undefined;
  }
}

/** Applies in flight at once at most (the replicator sends one shard in order: one at a time). */
export const appliesInFlightMax = 8;
/** Commits kept above VDL (for their commit times) at most: bounded by the applies in flight. */
const commitsAboveVdlMax = 1_000_000;

/** What the shipper must offer (services/writer/log-shipper.ts). */
export interface ReplicaShipper {
  shipReplicated(records: RedoRecord[]): { durable: Promise<void> };
  readonly vdl: Lsn;
}

/** What survives a restart: the chain position of the last acknowledged batch and VDL there. */
export interface ReplicaState {
  /** lastLsn of the last batch acknowledged durable: everything of the primary up to it is here. */
  durableTail: Lsn;
  vdl: Lsn;
  vdlCommitTimeMs: number;
  /**
   * After a rejoin that cut this region's archive back (core/global/archive-cut.ts): its watermark.
   * Storage must keep every record above it (this region republishes from there once it is the
   * primary again), so the applier sends it as the archive input to log collection.
   */
  archiveFloor?: Lsn;
}

export interface ApplyResult {
  placement: 'duplicate' | 'continues';
  lastLsn: Lsn;
  vdl: Lsn;
}

export class ReplicaApplier {
  #shippedTail: Lsn;
  #durableTail: Lsn;
  /** Batches shipped and not yet durable, by their last LSN (a redelivery waits on the same one). */
  readonly #inFlight = new Map<Lsn, Promise<void>>();
  #applying = 0;
  /** Commits shipped above VDL, ascending: their times become visible as VDL passes them. */
  #commits: Array<{ lsn: Lsn; commitTimeMs: number }> = [];
  #vdl: Lsn;
  #vdlCommitTimeMs: number;
  /** The newest primary commit this applier has heard of (received, durable or not). */
  #newestReceivedCommit: { lsn: Lsn; commitTimeMs: number };
  bytesReceived = 0;
  batchesApplied = 0;
  batchesRefused = 0;

  constructor(
    private readonly shipper: ReplicaShipper,
    private readonly logger: Logger,
    start: ReplicaState,
    private readonly persist: (state: ReplicaState) => void,
  ) {
    this.#shippedTail = start.durableTail;
    this.#durableTail = start.durableTail;
    this.#vdl = start.vdl;
    this.#vdlCommitTimeMs = start.vdlCommitTimeMs;
    this.#newestReceivedCommit = { lsn: start.vdl, commitTimeMs: start.vdlCommitTimeMs };
    this.archiveFloor = start.archiveFloor;
  }

  readonly archiveFloor: Lsn | undefined;

  get vdl(): Lsn {
    return this.#vdl;
  }

  get vdlCommitTimeMs(): number {
    return this.#vdlCommitTimeMs;
  }

  get shippedTail(): Lsn {
    return this.#shippedTail;
  }

  get durableTail(): Lsn {
    return this.#durableTail;
  }

  get newestReceivedCommit(): { lsn: Lsn; commitTimeMs: number } {
    return this.#newestReceivedCommit;
  }

  /** The shipper's VDL moved: commits at or below it are now visible on the secondary. */
  vdlAdvanced(vdl: Lsn): void {
    assert(vdl >= this.#vdl, 'the secondary VDL never moves back');
    this.#vdl = vdl;
    let i = 0;
    while (i < this.#commits.length && this.#commits[i]!.lsn <= vdl) {
      this.#vdlCommitTimeMs = this.#commits[i]!.commitTimeMs;
      i++;
    }
    if (i > 0) this.#commits = this.#commits.slice(i);
  }

  /** Applies one encoded redo batch (the Kinesis record's data); resolves once it is durable here. */
  async apply(bytes: Uint8Array): Promise<ApplyResult> {
    if (this.#applying >= appliesInFlightMax) {
      throw new BorealisError(
        ErrorCode.UNAVAILABLE,
        `${appliesInFlightMax} batches are already being applied`,
        {
          retryable: true,
        },
      );
    }
    const batch = decodeRedoBatch(bytes);
    const { header } = batch;
    this.bytesReceived += bytes.length;
    const placement = placeBatch(this.#shippedTail, header);
    if (placement === 'gap') {
      this.batchesRefused++;
      throw new BorealisError(
        ErrorCode.NOT_COMPLETE,
        `redo batch (${lsnToString(header.prevLsn)}, ${lsnToString(header.lastLsn)}] does not continue the secondary's log at ${lsnToString(this.#shippedTail)}: a batch in between is missing`,
        {
          retryable: true,
          context: { shippedTail: this.#shippedTail.toString(), prevLsn: header.prevLsn.toString() },
        },
      );
    }
    this.#applying++;
    try {
      if (placement === 'duplicate') {
        await this.#inFlight.get(header.lastLsn);
        return { placement, lastLsn: header.lastLsn, vdl: this.#vdl };
      }
      const records = batch.records.filter((r) => r.lsn > this.#shippedTail);
      const commits = commitsOf(records);
      assert(this.#commits.length + commits.length <= commitsAboveVdlMax, 'commits above VDL are bounded');
      for (const c of commits) this.#commits.push({ lsn: c.lsn, commitTimeMs: c.commitTimeMs });
      const newest = commits.at(-1);
      if (newest) this.#newestReceivedCommit = { lsn: newest.lsn, commitTimeMs: newest.commitTimeMs };
      const { durable } = this.shipper.shipReplicated(records);
      this.#shippedTail = header.lastLsn;
      this.#inFlight.set(header.lastLsn, durable);
      try {
        await durable;
      } finally {
        this.#inFlight.delete(header.lastLsn);
      }
      // Batches arrive in chain order and each waits for its own durability, so the acknowledged
      // tail only grows; it is persisted before the acknowledgement leaves (the replicator's
      // checkpoint may then pass this batch, and a restart must not ask for it again).
      if (header.lastLsn > this.#durableTail) this.#durableTail = header.lastLsn;
      this.persist({
        durableTail: this.#durableTail,
        vdl: this.#vdl,
        vdlCommitTimeMs: this.#vdlCommitTimeMs,
        ...(this.archiveFloor !== undefined && { archiveFloor: this.archiveFloor }),
      });
      this.batchesApplied++;
      return { placement, lastLsn: header.lastLsn, vdl: this.#vdl };
    } catch (error) {
      this.logger.warn(
        { err: (error as Error).message, lastLsn: lsnToString(header.lastLsn) },
        'redo batch not applied',
      );
      throw error;
    } finally {
      this.#applying--;
    }
  }
}
