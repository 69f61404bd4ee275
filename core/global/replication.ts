// Global Database, pure logic: how a secondary region's replica applier places an incoming redo batch
// of the primary against what it has already shipped to its volume, and how replication lag is
// computed. The applier (services/replica-applier) and `borealis global status` act on these.
import { assert } from '../assert.ts';
import type { RedoBatchHeader } from '../backup/redo-batch.ts';
import type { Lsn } from '../lsn.ts';

/**
 * Where a batch stands against `shippedTail`, the last primary LSN the applier shipped (every
 * durable primary record up to it has been handed to the secondary volume, in order):
 * - `duplicate`: every record is at or below the tail (a redelivery): nothing to ship;
 * - `continues`: the batch starts at or before the tail and goes past it: ship the records above it;
 * - `gap`: the batch's predecessor (prevLsn) is above the tail: a batch in between is missing, so
 *   shipping it would leave a hole the secondary volume could never fill in order.
 * Batches name their predecessor (core/backup/redo-batch.ts), so this holds although LSNs are sparse.
 */
export type BatchPlacement = 'duplicate' | 'continues' | 'gap';

export function placeBatch(
  shippedTail: Lsn,
  header: Pick<RedoBatchHeader, 'prevLsn' | 'lastLsn'>,
): BatchPlacement {
  assert(header.prevLsn < header.lastLsn, 'a batch ends above its predecessor');
  if (header.lastLsn <= shippedTail) return 'duplicate';
  if (header.prevLsn <= shippedTail) return 'continues';
  return 'gap';
}

/**
 * AuroraGlobalDBReplicationLag in ms: how old the newest primary commit visible on the secondary is,
 * while the primary has newer ones; 0 when the secondary holds the primary's newest commit. Never
 * negative (clocks of one machine, or NTP-synchronised regions, may still disagree by a little).
 */
export function replicationLagMs(options: {
  nowMs: number;
  /** Commit time of the newest commit visible (durable) on the secondary; 0 = none yet. */
  secondaryCommitTimeMs: number;
  secondaryVdl: Lsn;
  /** The primary's newest durable commit (its VDL). */
  primaryVdl: Lsn;
  /** Commit time of the primary's oldest commit not on the secondary, when the secondary has none. */
  primaryCommitTimeMs?: number;
}): number {
  if (options.secondaryVdl >= options.primaryVdl) return 0;
  const since =
    options.secondaryCommitTimeMs > 0 ? options.secondaryCommitTimeMs : (options.primaryCommitTimeMs ?? 0);
  if (since === 0) return 0;
  return Math.max(0, options.nowMs - since);
}

/** Aurora's synchronizationStatus of a global cluster member. */
export type SynchronizationStatus = 'connected' | 'pending-resync';

/**
 * A secondary is `connected` when its applier answers and follows the primary's redo; otherwise
 * `pending-resync` (Aurora's word for a member that must be brought up to date before it can be used).
 */
export function synchronizationStatus(applierHealthy: boolean): SynchronizationStatus {
  return applierHealthy ? 'connected' : 'pending-resync';
}
