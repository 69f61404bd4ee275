// Background work that talks to peer segments: gossip (fill gaps, catch up, rebuild a wiped segment,
// learn epochs and truncations) and scrub repairs (fetch a good copy of a corrupt record or page).
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { gossipBytesPerPullMax } from '../../core/limits.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnCompare, lsnMax, lsnMin } from '../../core/lsn.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { expectReply, StorageClient } from '../../core/wire/client.ts';
import type { StorageNode } from './storage-node.ts';

/** Pulls per segment per gossip round: bounds one round while a far-behind segment catches up. */
const pullsPerSegmentPerRound = 16;
/** A node rebuilt from an empty dir takes appends once this many peers have told it their epoch. */
const peersToLearnEpochFrom = 4;
const peerRequestTimeoutMs = 5_000;

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
    }
    return filled;
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
