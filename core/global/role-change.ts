// Moving a Global Database's primary region, for `borealis global switchover|failover` and the RDS
// API's SwitchoverGlobalCluster / FailoverGlobalCluster alike (one code path, ADR 016, ADR 020):
// - switchover (planned, zero loss): the primary is demoted (its writer drains and stops, a replica
//   applier fences it), the target catches up to the old primary's last VDL, then is promoted; when
//   the target does not catch up or refuses, the old primary is promoted back.
// - failover (unplanned, AllowDataLoss): the target is promoted at what it holds; the old primary, if
//   it answers, is fenced, made a secondary, its archive cut back to the promoted point and its lost
//   commits named; if it does not, that waits for its rejoin.
// Each change is prepared (every refusal happens there and changes nothing) and then run; one change
// at a time, whoever asks: the lock file beside global.json (core/global/state-file.ts).
import type { S3Client } from '@aws-sdk/client-s3';
import type { ClusterStatus } from '../cluster/topology.ts';
import { regionalResources } from '../resources.ts';
import type { LostSet } from './lost-set.ts';
import { applierHealth, getJson, postJson } from './member-http.ts';
import {
  cutArchiveSettled,
  fenceArchive,
  plannedArchiveFloor,
  type RegionArchive,
} from './region-archive.ts';
import {
  type GlobalMember,
  type GlobalState,
  readGlobalState,
  releaseRoleChange,
  roleChangeLockFile,
  takeRoleChange,
  updateGlobalState,
} from './state-file.ts';

/** A refusal or failure of a role change, named as the RDS API names it (the CLI prints the message). */
export class GlobalRoleChangeError extends Error {
  constructor(
    readonly code:
      | 'GlobalClusterNotFoundFault'
      | 'InvalidGlobalClusterStateFault'
      | 'DBClusterNotFoundFault'
      | 'InvalidDBClusterStateFault'
      | 'InternalFailure',
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

export interface RoleChangeContext {
  /** The state dir's path: global.json and the role-change lock. */
  dir: string;
  /** An S3 client for a region's backup archive (each is destroyed after its use). */
  s3For: (region: string) => S3Client;
  /** Something went wrong that does not stop the change (printed by the CLI, logged by the API). */
  warn: (message: string) => void;
}

export function requireGlobal(dir: string): GlobalState {
  const state = readGlobalState(dir);
  if (!state) {
    throw new GlobalRoleChangeError(
      'GlobalClusterNotFoundFault',
      `no global database runs from ${dir}: start one with \`npm start -- --global\``,
    );
  }
  return state;
}

export function memberOf(state: GlobalState, region: string): GlobalMember {
  const member = [state.primary, ...state.secondaries].find((m) => m.region === region);
  if (!member) {
    const regions = [state.primary, ...state.secondaries].map((m) => m.region).join(', ');
    throw new GlobalRoleChangeError(
      'DBClusterNotFoundFault',
      `unknown region ${region}: the global database's members are in ${regions}`,
    );
  }
  return member;
}

/**
 * The members once `region` is the primary, from the state as it is now (the launcher may have
 * updated a member's pids since the caller read it): the old primary becomes a secondary.
 */
function promotedMembers(state: GlobalState, region: string): Pick<GlobalState, 'primary' | 'secondaries'> {
  return {
    primary: memberOf(state, region),
    secondaries: [...state.secondaries.filter((m) => m.region !== region), state.primary],
  };
}

/** A change that passed its checks and holds the lock: run it (run… releases the lock). */
export interface PreparedRoleChange {
  kind: 'switchover' | 'failover';
  state: GlobalState;
  target: GlobalMember;
  lock: string;
}

function refuseSelf(state: GlobalState, region: string): void {
  if (region === state.primary.region) {
    throw new GlobalRoleChangeError(
      'InvalidGlobalClusterStateFault',
      `${region} is already the primary region`,
    );
  }
}

function lockFor(ctx: RoleChangeContext, kind: 'switchover' | 'failover', state: GlobalState, to: string) {
  const lock = takeRoleChange(ctx.dir, {
    kind,
    from: state.primary.region,
    to,
    allowDataLoss: kind === 'failover',
  });
  if (lock === undefined) {
    throw new GlobalRoleChangeError(
      'InvalidGlobalClusterStateFault',
      `a global failover or switchover is already in progress (${roleChangeLockFile(ctx.dir)}): nothing changed`,
    );
  }
  return lock;
}

/**
 * Takes the lock, then checks the change on global.json as it is under the lock (a change that ended
 * meanwhile moved the primary: refused, nothing changed) and with `check`; on a refusal the lock is
 * given back.
 */
async function prepare(
  ctx: RoleChangeContext,
  kind: 'switchover' | 'failover',
  to: string,
  check: (state: GlobalState) => Promise<void>,
): Promise<PreparedRoleChange> {
  const before = requireGlobal(ctx.dir);
  memberOf(before, to);
  refuseSelf(before, to);
  const lock = lockFor(ctx, kind, before, to);
  try {
    const state = requireGlobal(ctx.dir);
    if (state.primary.region !== before.primary.region) {
      throw new GlobalRoleChangeError(
        'InvalidGlobalClusterStateFault',
        `the primary region changed meanwhile (it is ${state.primary.region} now): nothing changed`,
      );
    }
    const target = memberOf(state, to);
    refuseSelf(state, to);
    await check(state);
    return { kind, state, target, lock };
  } catch (error) {
    releaseRoleChange(lock);
    throw error;
  }
}

/** Checks a switchover to `to` (every secondary replicating, as Aurora requires) under the lock. */
export function prepareSwitchover(ctx: RoleChangeContext, to: string): Promise<PreparedRoleChange> {
  return prepare(ctx, 'switchover', to, async (state) => {
    // Every secondary must be replicating: the old primary turns into one and the others go on, and
    // the target must be able to catch up at all.
    for (const member of state.secondaries) {
      const status = await getJson<ClusterStatus>(`${member.controlPlaneUrl}/status`);
      const applier = await applierHealth(status);
      if (!applier?.healthy) {
        throw new GlobalRoleChangeError(
          'InvalidGlobalClusterStateFault',
          `${member.region} is out of sync (synchronizationStatus pending-resync: its replica applier does not answer): nothing changed`,
        );
      }
    }
  });
}

/** Checks a failover to `to` under the lock (it promotes at what the target holds: no sync check). */
export function prepareFailover(ctx: RoleChangeContext, to: string): Promise<PreparedRoleChange> {
  return prepare(ctx, 'failover', to, async () => {});
}

export interface SwitchoverReport {
  from: string;
  to: string;
  /** The old primary's last VDL: every commit at or below it is in the new primary (none lost). */
  vdl: string;
  newestCommitTime: string | null;
  /** The new primary's epoch. */
  epoch: string;
  /** Old writer stopped and fenced (its region a secondary) → new primary's first write possible. */
  durationMs: number;
  demoteMs: number;
  catchUpMs: number;
  promoteMs: number;
}

/** How long a switchover waits for the target to hold the old primary's last commit. */
const switchoverCatchUpMs = 60_000;

export async function runSwitchover(
  ctx: RoleChangeContext,
  prepared: PreparedRoleChange,
): Promise<SwitchoverReport> {
  const { state, target } = prepared;
  try {
    const started = performance.now();
    const old = state.primary;
    // 1. The primary stops taking writes: its writer drains and stops, an applier fences it.
    const demoted = await postJson(`${old.controlPlaneUrl}/global/demote`, 120_000).catch((error: Error) => {
      throw new GlobalRoleChangeError(
        'InvalidGlobalClusterStateFault',
        `the control plane of ${old.region} did not answer: ${error.message}`,
      );
    });
    if (!demoted.ok) {
      throw new GlobalRoleChangeError(
        'InvalidGlobalClusterStateFault',
        `${old.region} was not demoted: ${demoted.body.message}`,
      );
    }
    const vdl = BigInt(String(demoted.body.vdl));
    const demotedAt = performance.now();
    // Undo: the old primary takes writes again, as before (it holds every commit).
    const promoteOldBack = async (why: string): Promise<never> => {
      const back = await postJson(`${old.controlPlaneUrl}/global/promote`, 180_000, {
        lsnFloor: state.lastPromotionStart ?? '0',
      }).catch(() => undefined);
      if (back?.ok) {
        updateGlobalState(ctx.dir, (now) => ({ ...now, lastPromotionStart: String(back.body.firstLsn) }));
      }
      throw new GlobalRoleChangeError(
        back?.ok ? 'InvalidGlobalClusterStateFault' : 'InternalFailure',
        `${why}; ` +
          (back?.ok
            ? `${old.region} is the primary again: nothing changed`
            : `${old.region} could not be made the primary again (${back?.body.message ?? 'no answer'}): no region takes writes — ${old.region} is demoted at VDL ${vdl}; see its control plane log`),
      );
    };
    // 2. The target holds every commit of the old primary.
    const deadline = Date.now() + switchoverCatchUpMs;
    for (;;) {
      const status = await getJson<ClusterStatus>(`${target.controlPlaneUrl}/status`);
      const applier = await applierHealth(status);
      if (applier && BigInt(applier.vdl) >= vdl) break;
      if (Date.now() > deadline) {
        await promoteOldBack(
          `${target.region} did not reach the old primary's VDL ${vdl} within ${switchoverCatchUpMs / 1000} s`,
        );
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    const caughtUpAt = performance.now();
    // 3. The target opens a writer on what it holds: everything.
    const promoted = await postJson(`${target.controlPlaneUrl}/global/promote`, 180_000, {
      lsnFloor: state.lastPromotionStart ?? '0',
    }).catch((error: Error) => {
      // Whether it promoted is unknown: promoting the old primary back could make two.
      throw new GlobalRoleChangeError(
        'InternalFailure',
        `the control plane of ${target.region} did not answer the promotion (${error.message}): ${old.region} stays demoted at VDL ${vdl}; \`borealis global status\` shows whether ${target.region} took writes`,
      );
    });
    if (!promoted.ok) {
      // A refusal (4xx) changed nothing there: the old primary comes back. Otherwise the target's
      // state is unknown, as above.
      if (promoted.status >= 400 && promoted.status < 500)
        await promoteOldBack(`${target.region} refused the promotion (${promoted.body.message})`);
      throw new GlobalRoleChangeError(
        'InternalFailure',
        `${target.region} was not promoted (${promoted.body.message}): ${old.region} stays demoted at VDL ${vdl}; \`borealis global status\` shows whether ${target.region} took writes`,
      );
    }
    updateGlobalState(ctx.dir, (now) => ({
      ...now,
      ...promotedMembers(now, target.region),
      lastPromotionStart: String(promoted.body.firstLsn),
    }));
    const done = performance.now();
    const commitTimeMs = Number(promoted.body.promotedCommitTimeMs);
    return {
      from: old.region,
      to: target.region,
      vdl: vdl.toString(),
      newestCommitTime: commitTimeMs > 0 ? new Date(commitTimeMs).toISOString() : null,
      epoch: String(promoted.body.epoch),
      durationMs: Math.round(done - started),
      demoteMs: Math.round(demotedAt - started),
      catchUpMs: Math.round(caughtUpAt - demotedAt),
      promoteMs: Math.round(done - caughtUpAt),
    };
  } finally {
    releaseRoleChange(prepared.lock);
  }
}

export interface FailoverReport {
  from: string;
  to: string;
  /** Every commit of the old primary at or below this LSN is in the new primary. */
  promotedVdl: string;
  promotedCommitTime: string | null;
  epoch: string;
  durationMs: number;
  oldPrimaryReachable: boolean;
  /** Whether the old primary was made a secondary of the new one (it answered). */
  oldPrimaryFenced: boolean;
  /** Whether its backup archive was cut back to the promoted point (docs/global.md). */
  oldPrimaryArchiveCut: boolean;
  /** The old primary's VDL when it answered; the lost commits are in (promotedVdl, this]. */
  oldPrimaryVdl: string | null;
  /** upTo null: the old primary is down; its lost commits are named when it rejoins. */
  lostLsnRange: { above: string; upTo: string | null };
  /** The lost transactions exactly (number, commit times), once the old primary's volume was read. */
  lost: LostSet | null;
}

/** The archive of `cluster` in `region`, its client destroyed once `work` is done. */
async function withArchive<T>(
  ctx: RoleChangeContext,
  region: string,
  cluster: string,
  work: (archive: RegionArchive) => Promise<T>,
): Promise<T> {
  const s3 = ctx.s3For(region);
  try {
    return await work({ s3, bucket: regionalResources(region, cluster).backupBucket, cluster });
  } finally {
    s3.destroy();
  }
}

export async function runFailover(
  ctx: RoleChangeContext,
  prepared: PreparedRoleChange,
): Promise<FailoverReport> {
  const { state, target } = prepared;
  try {
    const oldStatus = await getJson<ClusterStatus>(`${state.primary.controlPlaneUrl}/status`);
    const response = await fetch(`${target.controlPlaneUrl}/global/promote`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ lsnFloor: state.lastPromotionStart ?? '0' }),
      signal: AbortSignal.timeout(180_000),
    }).catch((error: Error) => {
      throw new GlobalRoleChangeError(
        'InvalidGlobalClusterStateFault',
        `the control plane of ${target.region} did not answer: ${error.message}`,
      );
    });
    const body = (await response.json()) as Record<string, string | number>;
    if (!response.ok) {
      throw new GlobalRoleChangeError(
        'InvalidGlobalClusterStateFault',
        `${target.region} was not promoted: ${body.message}`,
      );
    }
    const old = state.primary;
    const promotedVdl = String(body.promotedVdl);
    const promotedCommitTimeMs = Number(body.promotedCommitTimeMs);
    const oldVdl = oldStatus?.vdl ?? null;
    const discard = { aboveLsn: promotedVdl, aboveCommitTimeMs: promotedCommitTimeMs };
    // The old primary, when it answers, is fenced now: it becomes a secondary of the new one, its
    // archive cut back and its volume discarding (and naming) its commits above the promoted point.
    // When it does not, that waits for `borealis global rejoin` once the region is back.
    let lost: LostSet | null = null;
    let fenced = false;
    let archiveCut = false;
    if (oldStatus !== undefined) {
      const aboveLsn = BigInt(promotedVdl);
      // The archive fence first: whatever the old writer still publishes above the point (until the
      // demote stops it) is never archived. The cut below tries again if this fails.
      await withArchive(ctx, old.region, old.cluster, (archive) => fenceArchive(archive, aboveLsn)).catch(
        (error: Error) => ctx.warn(`${old.region}'s backup archive was not fenced yet: ${error.message}`),
      );
      try {
        // The floor the archive will have after its cut, planned on what it holds now: chunks
        // archived later only lie above it (core/global/archive-cut.ts).
        const archiveFloor = await withArchive(ctx, old.region, old.cluster, (archive) =>
          plannedArchiveFloor(archive, aboveLsn),
        );
        const demoted = await postJson(`${old.controlPlaneUrl}/global/demote`, 180_000, {
          ...discard,
          archiveFloor,
        });
        if (!demoted.ok) throw new Error(String(demoted.body.message));
        fenced = true;
        lost = (demoted.body.lost as LostSet | undefined) ?? null;
      } catch (error) {
        ctx.warn(`${old.region} answered but was not fenced: ${(error as Error).message}`);
      }
      if (fenced) {
        try {
          // Its writer stopped: what it published is archived by now or soon; then the cut.
          await withArchive(ctx, old.region, old.cluster, (archive) =>
            cutArchiveSettled(archive, aboveLsn, oldVdl === null ? undefined : BigInt(oldVdl)),
          );
          archiveCut = true;
        } catch (error) {
          ctx.warn(
            `${old.region} is fenced, but its backup archive was not cut back to ${promotedVdl}: ${(error as Error).message} — a restore there may show its lost commits`,
          );
        }
      }
    }
    updateGlobalState(ctx.dir, (now) => ({
      ...now,
      ...promotedMembers(now, target.region),
      lastPromotionStart: String(body.firstLsn),
      pendingRejoins: [
        ...(now.pendingRejoins ?? []).filter((p) => p.region !== old.region),
        ...(fenced ? [] : [{ region: old.region, ...discard, failoverAt: new Date().toISOString() }]),
      ],
    }));
    return {
      from: old.region,
      to: target.region,
      promotedVdl,
      promotedCommitTime: promotedCommitTimeMs > 0 ? new Date(promotedCommitTimeMs).toISOString() : null,
      epoch: String(body.epoch),
      durationMs: Number(body.durationMs),
      oldPrimaryReachable: oldStatus !== undefined,
      oldPrimaryFenced: fenced,
      oldPrimaryArchiveCut: archiveCut,
      oldPrimaryVdl: lost ? lost.lsnRange.upTo : oldVdl,
      lostLsnRange: { above: promotedVdl, upTo: lost ? lost.lsnRange.upTo : null },
      lost,
    };
  } finally {
    releaseRoleChange(prepared.lock);
  }
}
