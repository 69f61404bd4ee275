// An old Global Database primary rejoining as a secondary after an unplanned failover (ADR 016): its
// volume, just recovered under a new epoch (VDL = its own last durable commit), still holds the
// commits it made durable above the point the new primary was promoted at. Those never reached the
// new primary: they are read back and named (the lost set: LSN range, count, commit times), then
// voided by a truncation under the new epoch on a write quorum of every PG — the same operation a
// writer's recovery uses for an incomplete suffix — so the volume is a prefix of the new primary's
// timeline again and takes its records from that point on. Never mixing timelines: nothing of the
// old suffix stays readable, and the new primary's records all lie above the truncated range (its
// writer allocates from the promotion gap on, core/limits.ts globalPromotionLsnGap).
import { commitsOf } from '../../core/backup/redo-batch.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { type LostSet, LostSetBuilder } from '../../core/global/lost-set.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnMin, lsnToString } from '../../core/lsn.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { expectReply, type StorageClient } from '../../core/wire/client.ts';
import { type RecoveredVolume, truncateVolume } from '../writer/recovery.ts';
import { SegmentLogReader } from '../writer/redo-publisher-storage.ts';

const requestTimeoutMs = 10_000;
/** How long the rejoin waits for a storage node to tell its segments' log bases. */
const segmentBasesWaitMs = 30_000;

function segmentBasesOf(client: StorageClient) {
  return client
    .request({ type: 'segmentBases' }, requestTimeoutMs)
    .then((r) => expectReply(r, 'segmentBasesReply'));
}

export async function discardDivergentSuffix(options: {
  volume: VolumeConfig;
  clients: ReadonlyMap<string, StorageClient>;
  logger: Logger;
  recovered: RecoveredVolume;
  /** The new primary's VDL when it was promoted: every commit above it here is lost. */
  aboveLsn: Lsn;
  /**
   * Every segment's log must still start at or below this (<= aboveLsn): the region's archive was cut
   * back to it and republishes from there once this region is the primary again.
   */
  keepAbove: Lsn;
  /** Called with the lost set once it is known, before anything is voided (to persist it). */
  beforeTruncation: (lost: LostSet) => void;
  /** How long a storage node that does not answer is waited for (default segmentBasesWaitMs). */
  nodeWaitMs?: number;
}): Promise<LostSet> {
  const { volume, clients, logger, recovered, aboveLsn } = options;
  const lost = new LostSetBuilder(aboveLsn, recovered.vdl);
  if (recovered.vdl <= aboveLsn) {
    options.beforeTruncation(lost.result());
    return lost.result();
  }

  // This epoch's collection inputs replace the old writer's at once (its archive watermark may lie
  // above the point): no log above keepAbove is collected from here on.
  await Promise.all(
    [...clients.values()].map((c) =>
      c
        .request(
          {
            type: 'collectionFloor',
            epoch: recovered.epoch,
            archive: lsnMin(options.keepAbove, aboveLsn),
            backtrack: 'none',
            globalSecondary: 'none',
          },
          requestTimeoutMs,
        )
        .catch(() => undefined),
    ),
  );
  // The suffix must still be in every segment's log: a truncation cannot reach below a segment's log
  // base (its records there are collected into page versions that include the lost changes). Every
  // node is asked — one that is down now would come back with those page versions and take the
  // truncation as a no-op below its base — so a node that does not answer holds the rejoin (the
  // applier fails and its slot starts it again) until it does or is replaced.
  for (const [nodeId, client] of clients) {
    const waitMs = options.nodeWaitMs ?? segmentBasesWaitMs;
    const deadline = Date.now() + waitMs;
    let reply = await segmentBasesOf(client).catch(() => undefined);
    while (reply === undefined) {
      if (Date.now() > deadline) {
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `storage node ${nodeId} did not answer for ${waitMs / 1000} s: the rejoin cannot check that it still holds the log above ${lsnToString(aboveLsn)}, and waits for it`,
          { retryable: true },
        );
      }
      await new Promise((r) => setTimeout(r, 500));
      reply = await segmentBasesOf(client).catch(() => undefined);
    }
    const floor = lsnMin(options.keepAbove, aboveLsn);
    const collected = reply.segments.find((s) => s.baseLsn > floor);
    if (collected) {
      throw new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `storage node ${nodeId} collected pg ${collected.pg}'s log up to ${lsnToString(collected.baseLsn)}, above ${lsnToString(floor)} (the promoted point, or this region's archive after its cut): this volume cannot discard the lost suffix in place and must be rebuilt from the new primary (not built)`,
        { retryable: false },
      );
    }
  }

  // Name the lost transactions: the commits of the durable log in (aboveLsn, VDL], read back from
  // storage with each PG's tail at VDL as proof that nothing is missing.
  const reader = new SegmentLogReader(volume, clients, logger);
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), 120_000);
  try {
    for await (const chunk of reader.read(
      { afterLsn: aboveLsn, uptoLsn: recovered.vdl, proofLsns: recovered.pgTails },
      abort.signal,
    )) {
      lost.add(commitsOf(chunk));
    }
  } finally {
    clearTimeout(timer);
  }
  if (abort.signal.aborted) throw new Error('reading the lost suffix back from storage timed out');

  options.beforeTruncation(lost.result());
  // Void it on a write quorum of every PG, under the epoch the recovery installed.
  await truncateVolume({
    volume,
    clients,
    epoch: recovered.epoch,
    aboveLsn,
    uptoLsn: recovered.vdl,
    timeoutMs: requestTimeoutMs,
  });
  const result = lost.result();
  logger.warn(
    {
      above: lsnToString(aboveLsn),
      oldVdl: lsnToString(recovered.vdl),
      transactions: result.transactions,
      firstCommitTime: result.firstCommitTime,
      lastCommitTime: result.lastCommitTime,
    },
    'global failover: the commits above the promoted point are lost and discarded here',
  );
  return result;
}
