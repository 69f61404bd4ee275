// Reading durable history back from storage for the redo publisher: every durable record in
// (afterLsn, uptoLsn], merged across PGs in LSN order, pulled (GossipPull) from one segment per PG that
// can prove it holds them. Used after a failover or restart (republish from the archive watermark up to
// the recovered VDL) and when the publisher's bounded buffer overflowed (Kinesis down for a while).
//
// Why the result is complete, per PG:
//  - `proofLsn` is a record of the PG that lies at or above the PG's last record <= uptoLsn (the
//    caller gives min(uptoLsn, the PG's last allocated LSN): if the PG's last record is below
//    uptoLsn, that record is exactly the PG's tail; otherwise any record >= uptoLsn will do);
//  - a segment is used only if its SCL >= proofLsn (it holds every record of the PG up to SCL);
//  - every record read must backlink (prevLsnInPg) to the previous one read, the first one to an LSN
//    <= afterLsn, and the read ends on the first record >= proofLsn — so the records read are the
//    PG's whole chain in (afterLsn, proofLsn], whatever the segment did (a corrupt copy makes a pull
//    stop early; that shows as a broken chain or a short read, and the next segment is tried).
// Records of truncated ranges are not durable history: a segment never returns them (and they are
// dropped here too, from the truncations it reports); durable records never backlink into them.
// Storage nodes collect their log only below the archive watermark the writer sends them (with
// PGMRPL and the peers' SCL: docs/adr/013-storage-log-collection.md), so every record above the
// watermark is still there.
import { assert } from '../../core/assert.ts';
import type { Logger } from '../../core/log.ts';
import { LSN_MAX, type Lsn, lsnToString } from '../../core/lsn.ts';
import type { RedoRecord } from '../../core/record.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { expectReply, type StorageClient } from '../../core/wire/client.ts';
import type { GossipRecordsMessage, TruncationRange } from '../../core/wire/messages.ts';

/** Bytes one pull asks for: the reader holds at most one pull per PG (PGs × this, bounded). */
export const republishPullBytesMax = 512 * 1024;
const requestTimeoutMs = 10_000;
const retryDelayMsMax = 2_000;

export type PulledVerdict =
  /** Records to keep (<= uptoLsn, in order); done when the proof record was reached. */
  | { kind: 'ok'; records: RedoRecord[]; lastLsn: Lsn | undefined; done: boolean }
  /** This segment cannot serve the PG from here on: try another one. */
  | { kind: 'switch'; reason: string };

export interface PgCursorState {
  pg: number;
  afterLsn: Lsn;
  uptoLsn: Lsn;
  proofLsn: Lsn;
  /** The last record read (verified), undefined while none. */
  lastLsn: Lsn | undefined;
}

function inTruncation(lsn: Lsn, truncations: readonly TruncationRange[]): boolean {
  return truncations.some((t) => lsn > t.aboveLsn && lsn <= t.uptoLsn);
}

/**
 * Pure: what a GossipRecords reply adds to a PG cursor. Checks the segment can prove completeness
 * (SCL), filters truncated and out-of-range records, and verifies the backlink chain.
 */
export function acceptPulled(state: PgCursorState, reply: GossipRecordsMessage): PulledVerdict {
  assert(reply.pg === state.pg, 'a reply for the pulled PG');
  if (reply.peerScl < state.proofLsn) {
    return {
      kind: 'switch',
      reason: `segment SCL ${lsnToString(reply.peerScl)} below ${lsnToString(state.proofLsn)}`,
    };
  }
  const records: RedoRecord[] = [];
  let last = state.lastLsn;
  for (const r of reply.records) {
    if (r.lsn <= (last ?? state.afterLsn)) continue;
    if (r.lsn > reply.peerScl) break; // above SCL: not part of the segment's complete chain
    if (inTruncation(r.lsn, reply.truncations)) continue;
    const linked = last === undefined ? r.prevLsnInPg <= state.afterLsn : r.prevLsnInPg === last;
    if (!linked) {
      // A record is missing between `last` and r on this segment: keep what is verified, move on.
      return records.length > 0
        ? { kind: 'ok', records, lastLsn: last, done: false }
        : {
            kind: 'switch',
            reason: `record ${lsnToString(r.lsn)} does not backlink to ${String(last ?? 'the start')}`,
          };
    }
    last = r.lsn;
    if (r.lsn <= state.uptoLsn) records.push(r);
    if (r.lsn >= state.proofLsn) return { kind: 'ok', records, lastLsn: last, done: true };
  }
  if (records.length === 0 && last === state.lastLsn) {
    return { kind: 'switch', reason: 'the segment returned nothing new below its SCL' };
  }
  return { kind: 'ok', records, lastLsn: last, done: false };
}

/**
 * Pure: merges per-PG runs (each ascending) into one ascending run, up to the lowest point every
 * unfinished PG has reached. Returns the records to emit and leaves the rest in `buffers`.
 */
export function mergeReady(cursors: readonly { buffer: RedoRecord[]; done: boolean }[]): RedoRecord[] {
  let bound: Lsn = LSN_MAX;
  for (const c of cursors) {
    if (c.done) continue;
    if (c.buffer.length === 0) return []; // this PG may still have the next record
    const last = c.buffer[c.buffer.length - 1]!.lsn;
    if (last < bound) bound = last;
  }
  const out: RedoRecord[] = [];
  for (const c of cursors) {
    let n = 0;
    while (n < c.buffer.length && c.buffer[n]!.lsn <= bound) n++;
    if (n > 0) out.push(...c.buffer.splice(0, n));
  }
  out.sort((a, b) => (a.lsn < b.lsn ? -1 : a.lsn > b.lsn ? 1 : 0));
  return out;
}

export interface DurableRangeRequest {
  afterLsn: Lsn;
  uptoLsn: Lsn;
  /** Per PG, the proof point: min(uptoLsn, the PG's last allocated LSN). Absent or <= afterLsn: nothing. */
  proofLsns: ReadonlyMap<number, Lsn>;
}

/** Where the publisher reads durable history (an interface, so unit tests can supply records). */
export interface DurableLogReader {
  /** Yields every durable record in (afterLsn, uptoLsn], ascending, in chunks; retries until done or aborted. */
  read(request: DurableRangeRequest, signal: AbortSignal): AsyncGenerator<RedoRecord[]>;
}

interface Cursor extends PgCursorState {
  buffer: RedoRecord[];
  done: boolean;
  nodes: string[];
  nodeIndex: number;
  failures: number;
}

export class SegmentLogReader implements DurableLogReader {
  constructor(
    private readonly volume: VolumeConfig,
    private readonly clients: ReadonlyMap<string, StorageClient>,
    private readonly logger: Logger,
    private readonly pullBytes = republishPullBytesMax,
  ) {}

  async *read(request: DurableRangeRequest, signal: AbortSignal): AsyncGenerator<RedoRecord[]> {
    const { afterLsn, uptoLsn } = request;
    if (uptoLsn <= afterLsn) return;
    const cursors: Cursor[] = this.volume.placement.map((p) => {
      const proof = request.proofLsns.get(p.pg) ?? 0n;
      assert(proof <= uptoLsn, 'a proof point is at or below uptoLsn');
      return {
        pg: p.pg,
        afterLsn,
        uptoLsn,
        proofLsn: proof,
        lastLsn: undefined,
        buffer: [],
        done: proof <= afterLsn,
        nodes: p.segments.map((s) => s.nodeId),
        // Spread the reads: PG i starts at segment i mod 6.
        nodeIndex: p.pg % p.segments.length,
        failures: 0,
      };
    });
    for (;;) {
      if (signal.aborted) return;
      await Promise.all(
        cursors.filter((c) => !c.done && c.buffer.length === 0).map((c) => this.#fill(c, signal)),
      );
      const ready = mergeReady(cursors);
      if (ready.length > 0) yield ready;
      if (cursors.every((c) => c.done && c.buffer.length === 0)) return;
    }
  }

  /** One pull for a cursor, from its current segment; on failure the next segment (backing off after a round). */
  async #fill(c: Cursor, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const nodeId = c.nodes[c.nodeIndex]!;
      let verdict: PulledVerdict;
      try {
        const reply = expectReply(
          await this.clients.get(nodeId)!.request(
            {
              type: 'gossipPull',
              epoch: 0n,
              pg: c.pg,
              afterLsn: c.lastLsn ?? c.afterLsn,
              uptoLsn: LSN_MAX,
              maxBytes: this.pullBytes,
            },
            requestTimeoutMs,
          ),
          'gossipRecords',
        );
        verdict = acceptPulled(c, reply);
      } catch (error) {
        verdict = { kind: 'switch', reason: (error as Error).message };
      }
      if (verdict.kind === 'ok') {
        // Payloads are views into the reply frame: copy, so a held record does not pin a 512 KiB frame.
        for (const r of verdict.records) c.buffer.push({ ...r, payload: Buffer.from(r.payload) });
        c.lastLsn = verdict.lastLsn;
        c.done = verdict.done;
        c.failures = 0;
        return;
      }
      c.failures++;
      c.nodeIndex = (c.nodeIndex + 1) % c.nodes.length;
      if (c.failures % c.nodes.length === 0) {
        this.logger.warn(
          { pg: c.pg, node: nodeId, reason: verdict.reason, from: String(c.lastLsn ?? c.afterLsn) },
          'redo publisher: no segment can serve the durable log yet; retrying',
        );
        const delay = Math.min(retryDelayMsMax, 50 * 2 ** Math.min(6, c.failures / c.nodes.length));
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }
}
