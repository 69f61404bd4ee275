// Opening the volume, Aurora style: no redo replay, whatever the size of the log. A new writer
// (1) bumps the epoch on every reachable segment, fencing the old writer; (2) asks a read quorum of
// every PG for its SCL and newest commit; (3) walks the commit chain back from the newest commit it
// finds to the newest one known durable (each commit names its predecessor and the last durable
// commit; past a commit no answering segment holds, from the newest commit below it that one holds),
// keeping the prefix whose records are complete in every PG they touch — that is VDL;
// (4) truncates every PG above VDL under the new epoch; (5) waits until the recovered prefix is on a
// write quorum. The work is bounded by the commits in flight at the crash, not by the log.
import { assert } from '../../core/assert.ts';
import { BorealisError, ErrorCode, isBorealisError } from '../../core/errors.ts';
import { lsnAllocationLimit } from '../../core/limits.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnMax, lsnToString } from '../../core/lsn.ts';
import { isReadQuorum, isWriteQuorum, pgCompleteLsn, type SegmentKind } from '../../core/quorum.ts';
import { type CommitPayload, decodeCommitPayload, RecordKind, type RedoRecord } from '../../core/record.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { expectReply, type StorageClient } from '../../core/wire/client.ts';
import type { SegmentRecoveryInfo, TruncationRange } from '../../core/wire/messages.ts';

export interface RecoveredVolume {
  epoch: bigint;
  vdl: Lsn;
  lastCommit: { lsn: Lsn; pg: number; commitTimeMs: number };
  nextTxnId: bigint;
  nextLsn: Lsn;
  /** Per PG, the last LSN at or below VDL: the backlink of the PG's next record. */
  pgTails: Map<number, Lsn>;
  stats: {
    durationMs: number;
    commitsWalked: number;
    /** Commits the walk met that no answering segment held (never durable): stepped over, then cut. */
    commitsMissing: number;
    truncatedAbove: Lsn;
    epochAttempts: number;
  };
}

export interface RecoveryOptions {
  volume: VolumeConfig;
  clients: ReadonlyMap<string, StorageClient>;
  logger: Logger;
  timeoutMs?: number;
  requestTimeoutMs?: number;
  lsnAllocationLimit?: Lsn;
  /**
   * How far above the highest LSN anyone reports the truncation reaches, and so where the new writer
   * starts allocating (default: LAL — the old writer never ran further). A Global Database promotion
   * passes globalPromotionLsnGap: the old primary, in another region, may have allocated far past what
   * reached this volume, and its volume must be able to take this writer's records later (ADR 016).
   */
  truncationGap?: Lsn;
  /**
   * A Global Database promotion: the gap is counted from at least this LSN (the start of the previous
   * promotion in any region), so that each promoted writer allocates above everything any earlier
   * one may have allocated, even records its region never received (ADR 016).
   */
  truncationFloor?: Lsn;
}

interface Responder {
  nodeId: string;
  index: number;
  kind: SegmentKind;
  info: SegmentRecoveryInfo;
}

export interface CommitLink {
  lsn: Lsn;
  pg: number;
  payload: CommitPayload;
}

export async function recoverVolume(options: RecoveryOptions): Promise<RecoveredVolume> {
  const started = performance.now();
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const lal = options.lsnAllocationLimit ?? lsnAllocationLimit;
  const log = options.logger;
  let attempts = 0;
  for (;;) {
    attempts++;
    try {
      const result = await attempt(options, options.truncationGap ?? lal, deadline);
      result.stats.durationMs = performance.now() - started;
      result.stats.epochAttempts = attempts;
      log.info(
        {
          epoch: result.epoch.toString(),
          vdl: lsnToString(result.vdl),
          nextLsn: lsnToString(result.nextLsn),
          commitsWalked: result.stats.commitsWalked,
          commitsMissing: result.stats.commitsMissing,
          durationMs: Math.round(result.stats.durationMs),
        },
        'volume recovered',
      );
      return result;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      // Another writer bumped the epoch at the same time, or a node went away mid-recovery: again.
      log.warn({ err: (error as Error).message, attempt: attempts }, 'recovery attempt failed; retrying');
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

async function attempt(options: RecoveryOptions, gap: Lsn, deadline: number): Promise<RecoveredVolume> {
  const { volume, clients } = options;
  const timeout = options.requestTimeoutMs ?? 3_000;
  const ask = async (epoch: bigint) =>
    Promise.all(
      [...clients].map(async ([nodeId, client]) => {
        try {
          return {
            nodeId,
            reply: expectReply(
              await client.request({ type: 'recoveryInfo', epoch }, timeout),
              'recoveryInfoReply',
            ),
          };
        } catch (error) {
          if (isBorealisError(error, ErrorCode.STALE_EPOCH)) throw error;
          return undefined;
        }
      }),
    );

  // (1) A new epoch above every epoch any node has seen, installed on every node that answers.
  const seen = (await ask(0n)).reduce((max, r) => (r && r.reply.epoch > max ? r.reply.epoch : max), 0n);
  const epoch = seen + 1n;
  const replies = (await ask(epoch)).filter((r) => r !== undefined);

  // (2) A read quorum of every PG, each with its SCL and newest commit.
  const responders = new Map<number, Responder[]>();
  for (const p of volume.placement) {
    const list: Responder[] = [];
    p.segments.forEach((s, index) => {
      const info = replies.find((r) => r.nodeId === s.nodeId)?.reply.segments.find((x) => x.pg === p.pg);
      if (info) list.push({ nodeId: s.nodeId, index, kind: s.kind, info });
    });
    const responded = p.segments.map((_, i) => list.some((r) => r.index === i));
    if (
      !isReadQuorum(
        responded,
        p.segments.map((s) => s.kind),
      )
    ) {
      throw new BorealisError(
        ErrorCode.QUORUM_LOST,
        `pg ${p.pg}: no read quorum (${list.length} of 6 answered)`,
        {
          context: { pg: p.pg, answered: list.map((r) => r.nodeId) },
          retryable: true,
        },
      );
    }
    responders.set(p.pg, list);
  }
  const completeTo = new Map(
    [...responders].map(([pg, list]) => [pg, list.reduce((m, r) => lsnMax(m, r.info.scl), 0n)]),
  );

  // (3) Walk the commit chain back from the newest commit anyone holds.
  let newest: { lsn: Lsn; pg: number } = { lsn: 0n, pg: 0 };
  for (const [pg, list] of responders) {
    for (const r of list) if (r.info.lastCplLsn > newest.lsn) newest = { lsn: r.info.lastCplLsn, pg };
  }
  // Records in a range an earlier recovery truncated are void, even on a segment that missed the
  // truncation and still holds them: the walk must not take a commit from there.
  const reads = new QuorumCommitSource(clients, responders, volume, timeout);
  await reads.learnTruncations();
  const { vdl, last, commitsWalked, commitsMissing } = await durablePrefix(newest, completeTo, reads);

  // (4) Void everything above VDL, up to where the old writer could have allocated, in every PG:
  // it never ran more than LAL past its own VDL, which is at most the highest LSN or truncation
  // anyone reports (after its own recovery it started above its truncation range).
  let highest = vdl;
  for (const list of responders.values()) {
    for (const r of list) {
      if (r.info.maxLsn > highest) highest = r.info.maxLsn;
      if (r.info.truncatedUpto > highest) highest = r.info.truncatedUpto;
    }
  }
  if (options.truncationFloor !== undefined && options.truncationFloor > highest)
    highest = options.truncationFloor;
  const uptoLsn = highest + gap;
  const pgTails = await truncateVolume({
    volume,
    clients,
    epoch,
    aboveLsn: vdl,
    uptoLsn,
    timeoutMs: timeout,
  });

  // (5) The recovered prefix may have been on fewer than a write quorum: wait until gossip has
  // spread it, so that nothing a reader can now see is lost to the next failure.
  for (;;) {
    const infos = (await ask(0n)).filter((r) => r !== undefined);
    const lagging = volume.placement.filter((p) => {
      const scls = p.segments.map(
        (s) => infos.find((r) => r.nodeId === s.nodeId)?.reply.segments.find((x) => x.pg === p.pg)?.scl ?? 0n,
      );
      return (
        pgCompleteLsn(
          scls,
          p.segments.map((s) => s.kind),
        ) < (pgTails.get(p.pg) ?? 0n)
      );
    });
    if (lagging.length === 0) break;
    if (Date.now() > deadline) {
      throw new BorealisError(
        ErrorCode.QUORUM_LOST,
        `recovered prefix not on a write quorum of pg ${lagging[0]!.pg}`,
        {
          retryable: true,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  return {
    epoch,
    vdl,
    lastCommit: last
      ? { lsn: last.lsn, pg: last.pg, commitTimeMs: last.payload.commitTimeMs }
      : { lsn: 0n, pg: 0, commitTimeMs: 0 },
    nextTxnId: (last?.payload.txnId ?? 0n) + 1n,
    nextLsn: uptoLsn + 1n,
    pgTails,
    stats: { durationMs: 0, commitsWalked, commitsMissing, truncatedAbove: vdl, epochAttempts: 0 },
  };
}

/** Where the commit chain walk reads commit records (recovery: a read quorum of each PG). */
export interface CommitSource {
  /**
   * The commit record at `lsn` in `pg`, or undefined when no answering segment holds it (or it is
   * void: in a range an earlier recovery truncated). Throws when it cannot tell (a segment that may
   * hold it did not answer): absence makes the walk cut the commit, so it must be an answer.
   */
  fetchCommit(lsn: Lsn, pg: number): Promise<CommitPayload | undefined>;
  /**
   * The newest commit record below `lsn`, in any PG, that an answering segment holds and that is not
   * void; undefined when there is none. Throws when it cannot tell, like fetchCommit.
   */
  commitBelow(lsn: Lsn): Promise<CommitLink | undefined>;
}

/**
 * Step (3) of recovery, pure but for the commit records it reads from `source`: walks the commit
 * chain back from `newest` until it passes the newest commit known durable (the highest vdlHint met,
 * or the start of the log), then forward over the walked commits while each is complete — every
 * record of its PG up to it, and of every PG it wrote up to its tail there, is below `completeTo`
 * (per PG, the highest SCL among a read quorum). VDL is the last commit of that complete prefix.
 *
 * A commit on the way that no answering segment holds was never durable — a durable commit is on a
 * write quorum, which meets every read quorum — and neither was anything after it: VDL passes a
 * commit only once every record below it is on a write quorum. Commits below it may have been, so
 * the walk drops what it has walked and goes on from the newest commit below the missing one that an
 * answering segment holds (any PG; every commit between them is missing too). The forward check
 * still decides what is durable; a vdlHint met above the missing commit is still a commit that was
 * durable, so it still bounds the walk.
 */
export async function durablePrefix(
  newest: { lsn: Lsn; pg: number },
  completeTo: ReadonlyMap<number, Lsn>,
  source: CommitSource,
): Promise<{ vdl: Lsn; last: CommitLink | undefined; commitsWalked: number; commitsMissing: number }> {
  const chain: CommitLink[] = [];
  let base: { lsn: Lsn; pg: number; payload?: CommitPayload } = { lsn: 0n, pg: 0 };
  let floor = 0n;
  let commitsMissing = 0;
  let cursor = newest;
  while (cursor.lsn > 0n) {
    assert(cursor.lsn > floor, 'the walk stays above the newest commit known durable');
    const payload = await source.fetchCommit(cursor.lsn, cursor.pg);
    let link: CommitLink | undefined = payload && { lsn: cursor.lsn, pg: cursor.pg, payload };
    if (!link) {
      // Not on any segment of a read quorum: never durable, and neither is anything after it.
      commitsMissing++;
      chain.length = 0;
      const below = await source.commitBelow(cursor.lsn);
      assert(below === undefined || below.lsn < cursor.lsn, 'commitBelow answers a commit below');
      if (!below || below.lsn <= floor) {
        // No commit held between the newest one known durable and the missing one: that one is the
        // base. It is durable, so on a read quorum: not finding it means a segment lost a record.
        if (floor > 0n && below?.lsn !== floor) {
          throw new BorealisError(
            ErrorCode.NOT_COMPLETE,
            `durable commit ${lsnToString(floor)} not found below missing commit ${lsnToString(cursor.lsn)}`,
            {
              context: { floor: lsnToString(floor), below: below ? lsnToString(below.lsn) : undefined },
              retryable: true,
            },
          );
        }
        base = below ?? { lsn: 0n, pg: 0 };
        break;
      }
      link = below;
    }
    chain.unshift(link);
    if (link.payload.vdlHint > floor) floor = link.payload.vdlHint;
    const prev = { lsn: link.payload.prevCommitLsn, pg: link.payload.prevCommitPg };
    if (prev.lsn <= floor) {
      base = prev;
      break;
    }
    cursor = prev;
  }
  // The chain above `base`, oldest first: VDL is the last commit of its complete prefix.
  let vdl = base.lsn;
  let last: CommitLink | undefined;
  for (const link of chain) {
    if (link.lsn <= base.lsn) continue;
    const complete =
      (completeTo.get(link.pg) ?? 0n) >= link.lsn &&
      link.payload.pgTails.every((t) => (completeTo.get(t.pg) ?? 0n) >= t.lastLsn);
    if (!complete) break;
    vdl = link.lsn;
    last = link;
  }
  if (!last && base.lsn > 0n) {
    const payload = base.payload ?? (await source.fetchCommit(base.lsn, base.pg));
    assert(payload !== undefined, 'the durable base commit is on a read quorum');
    last = { lsn: base.lsn, pg: base.pg, payload };
  }
  return { vdl, last, commitsWalked: chain.length, commitsMissing };
}

/**
 * The CommitSource of recovery: commit records read from the segments that answered recoveryInfo.
 * "No segment holds it" is only an answer when the segments that did answer the question form a read
 * quorum of the PG (a durable record is on a write quorum, which meets every read quorum); otherwise
 * the attempt fails, retryable, rather than take a segment that did not answer for one that lacks it.
 */
class QuorumCommitSource implements CommitSource {
  /** Per PG, the truncation ranges its responders applied: records there are void. */
  readonly #voided = new Map<number, TruncationRange[]>();
  readonly #kinds: ReadonlyMap<number, SegmentKind[]>;

  constructor(
    readonly clients: ReadonlyMap<string, StorageClient>,
    readonly responders: ReadonlyMap<number, Responder[]>,
    volume: VolumeConfig,
    readonly timeoutMs: number,
  ) {
    this.#kinds = new Map(volume.placement.map((p) => [p.pg, p.segments.map((s) => s.kind)]));
  }

  /**
   * Learns each PG's truncation ranges from its responders (a gossip pull of an empty range answers
   * with them). A completed truncation reached a write quorum, so a read quorum of answers has it.
   */
  async learnTruncations(): Promise<void> {
    await Promise.all(
      [...this.responders].map(async ([pg, list]) => {
        const replies = await this.#askEach(list, async (r) => {
          const reply = expectReply(
            await this.#client(r).request(
              { type: 'gossipPull', epoch: 0n, pg, afterLsn: 0n, uptoLsn: 0n, maxBytes: 1 },
              this.timeoutMs,
            ),
            'gossipRecords',
          );
          return reply.truncations;
        });
        this.#requireQuorum(pg, replies, 'its truncations');
        const ranges: TruncationRange[] = [];
        for (const t of replies.flatMap((x) => x.answer ?? [])) {
          if (!ranges.some((x) => x.aboveLsn === t.aboveLsn && x.uptoLsn === t.uptoLsn)) ranges.push(t);
        }
        this.#voided.set(pg, ranges);
      }),
    );
  }

  async fetchCommit(lsn: Lsn, pg: number): Promise<CommitPayload | undefined> {
    if (isVoid(this.#voided.get(pg) ?? [], lsn)) return undefined;
    const list = this.responders.get(pg) ?? [];
    const answered: Responder[] = [];
    const errors = new Map<Responder, unknown>();
    for (const r of list) {
      // A segment that held nothing this high when it answered recoveryInfo has answered already.
      if (r.info.maxLsn < lsn) {
        answered.push(r);
        continue;
      }
      try {
        const reply = expectReply(
          await this.#client(r).request(
            { type: 'gossipPull', epoch: 0n, pg, afterLsn: lsn - 1n, uptoLsn: lsn, maxBytes: 1 << 20 },
            this.timeoutMs,
          ),
          'gossipRecords',
        );
        const record = reply.records.find((x) => x.lsn === lsn);
        if (record && record.kind === RecordKind.Commit) return decodeCommitPayload(record.payload);
        answered.push(r);
      } catch (error) {
        errors.set(r, error); // not an answer: the others may still make a read quorum
      }
    }
    this.#requireQuorum(
      pg,
      list.map((r) => ({
        responder: r,
        answer: answered.includes(r) ? true : undefined,
        error: errors.get(r),
      })),
      `commit ${lsnToString(lsn)}`,
    );
    return undefined;
  }

  async commitBelow(lsn: Lsn): Promise<CommitLink | undefined> {
    const perPg = await Promise.all(
      [...this.responders].map(async ([pg, list]) => {
        const replies = await this.#askEach(list, (r) => this.#cplBelow(r, pg, lsn));
        this.#requireQuorum(pg, replies, `the commit below ${lsnToString(lsn)}`);
        return replies.map((x) => x.answer?.record);
      }),
    );
    let newest: RedoRecord | undefined;
    for (const record of perPg.flat()) if (record && (!newest || record.lsn > newest.lsn)) newest = record;
    if (!newest) return undefined;
    return { lsn: newest.lsn, pg: newest.pg, payload: decodeCommitPayload(newest.payload) };
  }

  /** The newest commit below `lsn` that `r` holds, stepping under truncation ranges (void records). */
  async #cplBelow(r: Responder, pg: number, lsn: Lsn): Promise<{ record: RedoRecord | undefined }> {
    const truncations = this.#voided.get(pg) ?? [];
    let belowLsn = lsn;
    // Each round steps under one truncation range: bounded by the ranges known, plus one.
    for (let round = 0; round <= truncations.length; round++) {
      const reply = expectReply(
        await this.#client(r).request({ type: 'cplBelow', pg, belowLsn }, this.timeoutMs),
        'cplBelowReply',
      );
      const record = reply.record;
      if (record && (record.pg !== pg || record.lsn >= belowLsn || record.kind !== RecordKind.Commit)) {
        throw new BorealisError(ErrorCode.INTERNAL, `${r.nodeId} answered cplBelow with another record`, {
          context: { node: r.nodeId, pg, belowLsn: lsnToString(belowLsn), lsn: lsnToString(record.lsn) },
        });
      }
      const range = record && truncations.find((t) => record.lsn > t.aboveLsn && record.lsn <= t.uptoLsn);
      if (!range) return { record };
      belowLsn = range.aboveLsn + 1n;
    }
    return { record: undefined };
  }

  #client(r: Responder): StorageClient {
    const client = this.clients.get(r.nodeId);
    assert(client !== undefined, () => `a responder (${r.nodeId}) has a client`);
    return client;
  }

  /** Asks every responder in `list` at once; one that fails has `answer` undefined (and its error). */
  async #askEach<T>(
    list: readonly Responder[],
    ask: (r: Responder) => Promise<T>,
  ): Promise<{ responder: Responder; answer: T | undefined; error?: unknown }[]> {
    return Promise.all(
      list.map(async (responder) => {
        try {
          return { responder, answer: await ask(responder) };
        } catch (error) {
          return { responder, answer: undefined, error };
        }
      }),
    );
  }

  /** Throws a retryable UNAVAILABLE unless the responders that answered form a read quorum of pg. */
  #requireQuorum(
    pg: number,
    replies: readonly { responder: Responder; answer: unknown; error?: unknown }[],
    what: string,
  ): void {
    const kinds = this.#kinds.get(pg);
    assert(kinds !== undefined, () => `pg ${pg} is placed`);
    const answered = kinds.map((_, i) =>
      replies.some((x) => x.responder.index === i && x.answer !== undefined),
    );
    if (isReadQuorum(answered, kinds)) return;
    const failed = replies.filter((x) => x.answer === undefined);
    throw new BorealisError(ErrorCode.UNAVAILABLE, `pg ${pg}: no read quorum answered ${what}`, {
      context: {
        pg,
        unanswered: failed.map((x) => x.responder.nodeId),
        reasons: failed.map((x) => (x.error instanceof Error ? x.error.message : 'no answer')),
      },
      retryable: true,
    });
  }
}

function isVoid(truncations: readonly TruncationRange[], lsn: Lsn): boolean {
  return truncations.some((t) => lsn > t.aboveLsn && lsn <= t.uptoLsn);
}

/**
 * Voids (aboveLsn, uptoLsn] in every PG under `epoch`, on a write quorum of each (else a retryable
 * QUORUM_LOST; a newer epoch anywhere: STALE_EPOCH). Returns each PG's tail below the range, as the
 * segments that answered report it. Recovery's step (4); also a rejoining Global Database member
 * discarding its lost suffix (services/replica-applier/rejoin.ts).
 */
export async function truncateVolume(options: {
  volume: VolumeConfig;
  clients: ReadonlyMap<string, StorageClient>;
  epoch: bigint;
  aboveLsn: Lsn;
  uptoLsn: Lsn;
  timeoutMs: number;
}): Promise<Map<number, Lsn>> {
  const { volume, clients, epoch, aboveLsn, uptoLsn } = options;
  const pgTails = new Map<number, Lsn>();
  await Promise.all(
    volume.placement.map(async (p) => {
      const acked = p.segments.map(() => false);
      let tail = 0n;
      await Promise.all(
        p.segments.map(async (s, i) => {
          try {
            const reply = expectReply(
              await clients
                .get(s.nodeId)!
                .request({ type: 'truncate', epoch, pg: p.pg, aboveLsn, uptoLsn }, options.timeoutMs),
              'truncated',
            );
            acked[i] = true;
            if (reply.tailLsn > tail) tail = reply.tailLsn;
          } catch (error) {
            if (isBorealisError(error, ErrorCode.STALE_EPOCH)) throw error;
          }
        }),
      );
      if (
        !isWriteQuorum(
          acked,
          p.segments.map((s) => s.kind),
        )
      ) {
        throw new BorealisError(
          ErrorCode.QUORUM_LOST,
          `pg ${p.pg}: truncation did not reach a write quorum`,
          {
            retryable: true,
          },
        );
      }
      pgTails.set(p.pg, tail);
    }),
  );
  return pgTails;
}
