// Opening the volume, Aurora style: no redo replay, whatever the size of the log. A new writer
// (1) bumps the epoch on every reachable segment, fencing the old writer; (2) asks a read quorum of
// every PG for its SCL and newest commit; (3) walks the commit chain back from the newest commit it
// finds to the newest one known durable (each commit names its predecessor and the last durable
// commit), keeping the prefix whose records are complete in every PG they touch — that is VDL;
// (4) truncates every PG above VDL under the new epoch; (5) waits until the recovered prefix is on a
// write quorum. The work is bounded by the commits in flight at the crash, not by the log.
import { assert } from '../../core/assert.ts';
import { BorealisError, ErrorCode, isBorealisError } from '../../core/errors.ts';
import { lsnAllocationLimit } from '../../core/limits.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnMax, lsnToString } from '../../core/lsn.ts';
import { isReadQuorum, isWriteQuorum, pgCompleteLsn, type SegmentKind } from '../../core/quorum.ts';
import { type CommitPayload, decodeCommitPayload, RecordKind } from '../../core/record.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { expectReply, type StorageClient } from '../../core/wire/client.ts';
import type { SegmentRecoveryInfo } from '../../core/wire/messages.ts';

export interface RecoveredVolume {
  epoch: bigint;
  vdl: Lsn;
  lastCommit: { lsn: Lsn; pg: number; commitTimeMs: number };
  nextTxnId: bigint;
  nextLsn: Lsn;
  /** Per PG, the last LSN at or below VDL: the backlink of the PG's next record. */
  pgTails: Map<number, Lsn>;
  stats: { durationMs: number; commitsWalked: number; truncatedAbove: Lsn; epochAttempts: number };
}

export interface RecoveryOptions {
  volume: VolumeConfig;
  clients: ReadonlyMap<string, StorageClient>;
  logger: Logger;
  timeoutMs?: number;
  requestTimeoutMs?: number;
  lsnAllocationLimit?: Lsn;
}

interface Responder {
  nodeId: string;
  index: number;
  kind: SegmentKind;
  info: SegmentRecoveryInfo;
}

interface CommitLink {
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
      const result = await attempt(options, lal, deadline);
      result.stats.durationMs = performance.now() - started;
      result.stats.epochAttempts = attempts;
      log.info(
        {
          epoch: result.epoch.toString(),
          vdl: lsnToString(result.vdl),
          nextLsn: lsnToString(result.nextLsn),
          commitsWalked: result.stats.commitsWalked,
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

async function attempt(options: RecoveryOptions, lal: Lsn, deadline: number): Promise<RecoveredVolume> {
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
  const fetchCommit = (lsn: Lsn, pg: number) =>
    fetchRecord(clients, responders.get(pg) ?? [], pg, lsn, timeout);
  const chain: CommitLink[] = [];
  let base: { lsn: Lsn; pg: number } = { lsn: 0n, pg: 0 };
  let floor = 0n;
  let cursor = newest;
  while (cursor.lsn > 0n) {
    const payload = await fetchCommit(cursor.lsn, cursor.pg);
    if (!payload) {
      // Not on any segment of a read quorum: never durable, and neither is anything after it.
      chain.length = 0;
      if (floor === 0n) {
        throw new BorealisError(
          ErrorCode.NOT_COMPLETE,
          `commit ${lsnToString(cursor.lsn)} vanished during recovery`,
          {
            retryable: true,
          },
        );
      }
      base = { lsn: floor, pg: await findCommitPg(clients, responders, floor, timeout) };
      break;
    }
    chain.unshift({ lsn: cursor.lsn, pg: cursor.pg, payload });
    if (payload.vdlHint > floor) floor = payload.vdlHint;
    const prev = { lsn: payload.prevCommitLsn, pg: payload.prevCommitPg };
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
    const payload = await fetchCommit(base.lsn, base.pg);
    assert(payload !== undefined, 'the durable base commit is on a read quorum');
    last = { ...base, payload };
  }

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
  const uptoLsn = highest + lal;
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
                .request({ type: 'truncate', epoch, pg: p.pg, aboveLsn: vdl, uptoLsn }, timeout),
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
    stats: { durationMs: 0, commitsWalked: chain.length, truncatedAbove: vdl, epochAttempts: 0 },
  };
}

async function fetchRecord(
  clients: ReadonlyMap<string, StorageClient>,
  responders: Responder[],
  pg: number,
  lsn: Lsn,
  timeout: number,
): Promise<CommitPayload | undefined> {
  for (const r of responders) {
    if (r.info.maxLsn < lsn) continue;
    try {
      const reply = expectReply(
        await clients
          .get(r.nodeId)!
          .request(
            { type: 'gossipPull', epoch: 0n, pg, afterLsn: lsn - 1n, uptoLsn: lsn, maxBytes: 1 << 20 },
            timeout,
          ),
        'gossipRecords',
      );
      const record = reply.records.find((x) => x.lsn === lsn);
      if (record && record.kind === RecordKind.Commit) return decodeCommitPayload(record.payload);
    } catch {
      // try the next segment
    }
  }
  return undefined;
}

/** The PG of a commit known only by its LSN (a vdlHint): ask each PG's responders for it. */
async function findCommitPg(
  clients: ReadonlyMap<string, StorageClient>,
  responders: Map<number, Responder[]>,
  lsn: Lsn,
  timeout: number,
): Promise<number> {
  for (const [pg, list] of responders) {
    if (await fetchRecord(clients, list, pg, lsn, timeout)) return pg;
  }
  throw new BorealisError(ErrorCode.NOT_COMPLETE, `durable commit ${lsnToString(lsn)} not found`, {
    retryable: true,
  });
}
