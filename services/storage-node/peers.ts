// Background work that talks to peer segments: gossip (fill gaps, catch up, rebuild a wiped segment,
// learn epochs and truncations), rebuild from page images (a segment behind its peers' collected log:
// the records it lacks are gone, so a full peer sends its pages as of its SCL and gossip brings the
// records above) and scrub repairs (fetch a good copy of a corrupt record or page).
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { gossipBytesPerPullMax } from '../../core/limits.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnCompare, lsnMax, lsnMin } from '../../core/lsn.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { expectReply, StorageClient } from '../../core/wire/client.ts';
import type { Segment } from './segment.ts';
import type { StorageNode } from './storage-node.ts';

/** Pulls per segment per gossip round: bounds one round while a far-behind segment catches up. */
const pullsPerSegmentPerRound = 16;
/** A node rebuilt from an empty dir takes appends once this many peers have told it their epoch. */
const peersToLearnEpochFrom = 4;
const peerRequestTimeoutMs = 5_000;
/** Bounds one rebuild from page images: batches of up to gossipBytesPerPullMax (1,024 × 4 MiB = 4 GiB). */
const pageImageBatchesMax = 1024;

export class Peers {
  readonly #clients = new Map<string, StorageClient>();
  /** For each PG: the peer node ids holding its other segments (full ones first, for page repair). */
  readonly #peersOfPg = new Map<number, { nodeId: string; kind: 'full' | 'tail' }[]>();
  readonly #epochHeardFrom = new Set<string>();
  readonly #scrubCursor = new Map<number, Lsn>();
  /** Each peer's maxLsn per PG as seen in the previous round (`${nodeId}/${pg}` → LSN). */
  readonly #seenLastRound = new Map<string, Lsn>();

  constructor(
    private readonly node: StorageNode,
    volume: VolumeConfig,
    private readonly logger: Logger,
  ) {
    for (const p of volume.placement) {
      if (!node.segments.has(p.pg)) continue;
      const others = p.segments.filter((s) => s.nodeId !== node.id);
      others.sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'full' ? -1 : 1));
      this.#peersOfPg.set(p.pg, others);
      for (const s of others) {
        if (this.#clients.has(s.nodeId)) continue;
        const address = volume.nodes.find((n) => n.id === s.nodeId)!;
        this.#clients.set(
          s.nodeId,
          new StorageClient({
            host: address.host,
            port: address.port,
            name: s.nodeId,
            requestTimeoutMs: peerRequestTimeoutMs,
          }),
        );
      }
    }
  }

  /**
   * One gossip round: ask every peer node for its segments' SCLs (one request per node), then pull
   * from a peer that is ahead wherever this node's segment is behind it or has gaps.
   */
  async gossipRound(): Promise<number> {
    const infos = await Promise.all(
      [...this.#clients].map(async ([nodeId, client]) => {
        try {
          const reply = expectReply(
            await client.request({ type: 'recoveryInfo', epoch: 0n }),
            'recoveryInfoReply',
          );
          this.#epochHeardFrom.add(nodeId);
          this.node.notePeerSegments(nodeId, reply.segments);
          return { nodeId, reply };
        } catch {
          return undefined; // a peer that is down is the normal case gossip exists for
        }
      }),
    );
    if (!this.node.acceptsAppends) {
      const maxEpoch = infos.reduce((m, i) => (i && i.reply.epoch > m ? i.reply.epoch : m), 0n);
      if (maxEpoch > this.node.epoch) await this.node.adoptEpochDurably(maxEpoch);
      if (this.#epochHeardFrom.size >= Math.min(peersToLearnEpochFrom, this.#clients.size)) {
        this.node.acceptsAppends = true;
        this.logger.info(
          { epoch: this.node.epoch.toString() },
          'learned the volume epoch from peers; taking appends',
        );
      }
    }
    let filled = 0;
    for (const segment of this.node.segments.values()) {
      const truncatedUpto = segment.truncatedUpto;
      // Pull only what a peer already had a round ago and this segment still lacks: records the
      // writer is delivering right now arrive on their own, and fetching them too would double the
      // work of every append. A gap that outlives a round is a real gap (a crash, a lost message).
      const candidates: { nodeId: string; scl: Lsn; uptoLsn: Lsn; newTruncations: boolean }[] = [];
      for (const info of infos) {
        const s = info?.reply.segments.find((x) => x.pg === segment.pg);
        if (!info || !s) continue;
        const key = `${info.nodeId}/${segment.pg}`;
        const previous = this.#seenLastRound.get(key) ?? 0n;
        this.#seenLastRound.set(key, s.maxLsn);
        const uptoLsn = lsnMin(s.maxLsn, previous);
        const newTruncations = s.truncatedUpto > truncatedUpto;
        if (uptoLsn > segment.scl || newTruncations) {
          candidates.push({ nodeId: info.nodeId, scl: s.scl, uptoLsn, newTruncations });
        }
      }
      candidates.sort((a, b) => lsnCompare(b.scl, a.scl));
      const sclBefore = segment.scl;
      for (const peer of candidates) {
        for (let i = 0; i < pullsPerSegmentPerRound; i++) {
          const upto = lsnMax(peer.uptoLsn, segment.scl);
          const reply = await this.#pull(peer.nodeId, segment.pg, segment.scl, upto);
          if (!reply) break;
          const added = await this.node.acceptGossip(reply);
          filled += added;
          if (added === 0 || segment.scl >= peer.uptoLsn) break;
        }
        if (segment.scl >= peer.uptoLsn) break;
      }
      // Peers are ahead and nothing joined the chain: the records this segment needs next may be gone
      // from every peer's log (collected while it was away or wiped). Then it rebuilds from images.
      const behind = candidates.some((c) => c.uptoLsn > segment.scl);
      if (behind && segment.scl === sclBefore) filled += await this.#rebuildIfCollected(segment);
    }
    return filled;
  }

  /**
   * A segment whose next records are below every answering peer's log base cannot be filled with
   * records. A full segment takes page images as of a full peer's SCL (in batches of at most
   * gossipBytesPerPullMax), then starts its chain there; a tail segment (no pages) starts at the
   * highest peer base. Gossip brings the records above on the next rounds. Returns 1 when rebuilt.
   */
  async #rebuildIfCollected(segment: Segment): Promise<number> {
    const bases = await Promise.all(
      (this.#peersOfPg.get(segment.pg) ?? []).map(async (peer) => {
        try {
          const reply = expectReply(
            await this.#clients.get(peer.nodeId)!.request({ type: 'segmentBases' }),
            'segmentBasesReply',
          );
          const s = reply.segments.find((x) => x.pg === segment.pg);
          return s && { ...peer, baseLsn: s.baseLsn, scl: s.scl };
        } catch {
          return undefined; // a peer that predates log collection, or is away
        }
      }),
    );
    const answered = bases.filter((b) => b !== undefined);
    // Some peer still holds the records right after this segment's SCL: ordinary gossip will do.
    if (answered.length === 0 || answered.some((b) => b.baseLsn <= segment.scl && b.scl > segment.scl))
      return 0;
    if (segment.kind === 'tail') {
      const highest = answered.reduce((m, b) => lsnMax(m, b.baseLsn), 0n);
      return (await this.node.rebaseSegment(segment.pg, highest)) ? 1 : 0;
    }
    for (const peer of answered.filter((b) => b.kind === 'full' && b.scl > segment.scl)) {
      try {
        const atLsn = await this.#copyPageImages(segment.pg, peer.nodeId);
        this.logger.info(
          { pg: segment.pg, from: peer.nodeId, atLsn: atLsn.toString() },
          'copied page images from a full peer (its log below them is collected)',
        );
        return (await this.node.rebaseSegment(segment.pg, atLsn)) ? 1 : 0;
      } catch (error) {
        if (error instanceof BorealisError && error.code === ErrorCode.INVARIANT_VIOLATION) throw error;
        this.logger.warn(
          { pg: segment.pg, peer: peer.nodeId, err: (error as Error).message },
          'rebuild from page images failed; trying another peer or the next round',
        );
      }
    }
    return 0;
  }

  /** Copies every page of pg from a full peer as of one LSN (the peer's SCL when asked); returns it. */
  async #copyPageImages(pg: number, nodeId: string): Promise<Lsn> {
    const client = this.#clients.get(nodeId)!;
    let atLsn = 0n;
    let fromPageNo = 0;
    for (let batch = 0; batch < pageImageBatchesMax; batch++) {
      const reply = expectReply(
        await client.request({ type: 'pageImages', pg, atLsn, fromPageNo, maxBytes: gossipBytesPerPullMax }),
        'pageImagesReply',
      );
      if (reply.pg !== pg || (atLsn !== 0n && reply.atLsn !== atLsn) || reply.nextPageNo <= fromPageNo) {
        throw new BorealisError(ErrorCode.INTERNAL, `${nodeId} answered pageImages out of order`, {
          context: { pg, atLsn: atLsn.toString(), fromPageNo, replyAt: reply.atLsn.toString() },
        });
      }
      atLsn = reply.atLsn;
      if (reply.pages.length > 0) await this.node.storePageImages(pg, reply.pages);
      if (reply.done) return atLsn;
      fromPageNo = reply.nextPageNo;
    }
    throw new BorealisError(ErrorCode.INTERNAL, `page images of pg ${pg} from ${nodeId} did not end`, {
      context: { pg, batches: pageImageBatchesMax },
    });
  }

  async #pull(nodeId: string, pg: number, afterLsn: Lsn, uptoLsn: Lsn) {
    try {
      const reply = await this.#clients.get(nodeId)!.request({
        type: 'gossipPull',
        epoch: this.node.epoch,
        pg,
        afterLsn,
        uptoLsn,
        maxBytes: gossipBytesPerPullMax,
      });
      return expectReply(reply, 'gossipRecords');
    } catch (error) {
      this.logger.debug({ peer: nodeId, pg, err: (error as Error).message }, 'gossip pull failed');
      return undefined;
    }
  }

  /** One scrub round: re-check a bounded batch of records and page versions, repair from peers. */
  async scrubRound(): Promise<number> {
    let repaired = 0;
    const bad = [...this.node.scrubRecordsCandidates(this.#scrubCursor)].filter((c) => !c.ok);
    for (const { segment, lsn } of bad) {
      for (const peer of this.#peersOfPg.get(segment.pg) ?? []) {
        const reply = await this.#pull(peer.nodeId, segment.pg, lsn - 1n, lsn);
        const good = reply?.records.find((r) => r.lsn === lsn);
        if (!good) continue;
        await this.node.replaceRecord(segment, { ...good, payload: Buffer.from(good.payload) });
        this.logger.warn(
          { pg: segment.pg, lsn: lsn.toString(), from: peer.nodeId },
          'scrub repaired a corrupt record',
        );
        repaired++;
        break;
      }
    }
    for (const version of this.node.corruptVersions()) {
      for (const peer of (this.#peersOfPg.get(version.pg) ?? []).filter((p) => p.kind === 'full')) {
        try {
          const page = expectReply(
            await this.#clients.get(peer.nodeId)!.request({
              type: 'getPage',
              pg: version.pg,
              pageNo: version.pageNo,
              readPoint: version.lsn,
            }),
            'page',
          );
          if (page.versionLsn !== version.lsn) continue;
          await this.node.repairVersion(version, Buffer.from(page.page));
          this.logger.warn(
            { pg: version.pg, pageNo: version.pageNo, lsn: version.lsn.toString(), from: peer.nodeId },
            'scrub repaired a corrupt page version',
          );
          repaired++;
          break;
        } catch (error) {
          if (!(error instanceof BorealisError) || error.code === ErrorCode.INVARIANT_VIOLATION) throw error;
        }
      }
    }
    return repaired;
  }

  close(): void {
    for (const client of this.#clients.values()) client.close();
  }
}
