// `borealis global status [--json]`: the Global Database started by `npm start -- --global`, found
// through <state dir>/global.json: each member's control plane /status and, for a secondary, its
// replica applier's /health (replication lag, bytes replicated), shown by core/global/status.ts.
// `borealis global failover --to R --allow-data-loss`: promotes the secondary in R at what it holds
// (POST /global/promote on its control plane) and reports the point it kept; `borealis kill
// --region R` (killRegion below): SIGKILL every process of R's cluster, a region outage.
import { closeSync, openSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import type { LostSet } from '../core/global/lost-set.ts';
import { type ApplierHealth, formatGlobalStatus, globalStatus } from '../core/global/status.ts';
import {
  type GlobalMember,
  type GlobalState,
  markRegionDown,
  readGlobalState,
  updateGlobalState,
} from '../embedded/global.ts';
import { stateDirPath } from '../embedded/state.ts';
import type { RejoinReport } from '../services/replica-applier/applier.ts';
import { CliError, UsageError } from './errors.ts';
import { type CommandContext, printJson } from './io.ts';
import { addStateDirOption, type StateDirOptions } from './options.ts';

const requestTimeoutMs = 5_000;

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) });
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

/** The replica applier in a secondary's writer slot, asked for its /health. */
async function applierHealth(status: ClusterStatus | undefined): Promise<ApplierHealth | undefined> {
  const slot = status?.instances.find((i) => i.role === 'writer' && i.state === 'running');
  if (!slot?.endpoint || !slot.httpPort) return undefined;
  const url = new URL(slot.endpoint);
  return getJson<ApplierHealth>(`http://${url.hostname}:${slot.httpPort}/health`);
}

export function registerGlobal(program: Command, ctx: CommandContext): void {
  const global = program.command('global').description('the Global Database: a secondary region fed by redo');
  registerFailover(global, ctx);
  registerSwitchover(global, ctx);
  registerRejoin(global, ctx);
  addStateDirOption(
    global
      .command('status')
      .description('members, endpoints, replication lag and bytes replicated')
      .option('--json', 'print JSON (globalWriterEndpoint, members[] …: docs/global.md)'),
  ).action(async (options: StateDirOptions & { json?: boolean }) => {
    const state = readGlobalState(options.stateDir);
    if (!state) {
      throw new CliError(
        `no global database runs from ${stateDirPath(options.stateDir)}: start one with \`npm start -- --global\``,
      );
    }
    const primary = await getJson<ClusterStatus>(`${state.primary.controlPlaneUrl}/status`);
    const members = [
      { region: state.primary.region, isWriter: true, status: primary },
      ...(await Promise.all(
        state.secondaries.map(async (s) => {
          const status = await getJson<ClusterStatus>(`${s.controlPlaneUrl}/status`);
          return { region: s.region, isWriter: false, status, applier: await applierHealth(status) };
        }),
      )),
    ];
    const doc = globalStatus(state.primary.cluster, members, Date.now(), state.globalWriter);
    if (options.json) printJson(ctx.io, doc);
    else ctx.io.out(formatGlobalStatus(doc));
  });
}

function requireGlobal(stateDir: string) {
  const state = readGlobalState(stateDir);
  if (!state) {
    throw new CliError(
      `no global database runs from ${stateDirPath(stateDir)}: start one with \`npm start -- --global\``,
    );
  }
  return state;
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

function memberOf(state: ReturnType<typeof requireGlobal>, region: string): GlobalMember {
  const member = [state.primary, ...state.secondaries].find((m) => m.region === region);
  if (!member) {
    const regions = [state.primary, ...state.secondaries].map((m) => m.region).join(', ');
    throw new CliError(`unknown region ${region}: the global database's members are in ${regions}`);
  }
  return member;
}

/** `borealis kill --region R`: SIGKILL the control plane, proxy, instances and storage nodes of R. */
export async function killRegion(
  stateDir: string,
  region: string,
): Promise<Array<{ id: string; pid: number }>> {
  const state = requireGlobal(stateDir);
  const member = memberOf(state, region);
  const status = await getJson<ClusterStatus>(`${member.controlPlaneUrl}/status`);
  const aws = state.regionProcesses?.[region];
  const victims: Array<{ id: string; pid: number }> = [
    { id: `control-plane (${region})`, pid: member.controlPlanePid },
    { id: `proxy (${region})`, pid: member.proxyPid },
    ...(status?.instances ?? []).flatMap((i) => (i.pid ? [{ id: i.id, pid: i.pid }] : [])),
    ...(status?.storageNodes ?? []).flatMap((n) => (n.pid ? [{ id: n.id, pid: n.pid }] : [])),
    ...(aws?.emulatorPids ?? []).map((pid) => ({ id: `emulator (${region})`, pid })),
    ...(aws ? [{ id: `function-runner (${region})`, pid: aws.functionRunnerPid }] : []),
    ...(aws?.rdsApiPid ? [{ id: `rds-api (${region})`, pid: aws.rdsApiPid }] : []),
  ];
  // Told first, so that the launcher takes the deaths of the region's emulators and functions for
  // the outage they are.
  markRegionDown(stateDir, region);
  const killed: Array<{ id: string; pid: number }> = [];
  for (const v of victims) {
    try {
      process.kill(v.pid, 'SIGKILL');
      killed.push(v);
    } catch {
      // Already gone.
    }
  }
  return killed;
}

/**
 * One failover or switchover at a time (a second one, from any terminal, is refused and changes
 * nothing): the lock file is created exclusively and removed when the first ends.
 */
function takeRoleChangeLock(stateDir: string): string {
  const lock = join(stateDirPath(stateDir), 'global-failover.lock');
  try {
    closeSync(openSync(lock, 'wx'));
  } catch {
    throw new CliError(`a global failover or switchover is already in progress (${lock}): nothing changed`);
  }
  return lock;
}

async function postJson(
  url: string,
  timeoutMs: number,
  body?: unknown,
): Promise<{ ok: boolean; status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    signal: AbortSignal.timeout(timeoutMs),
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  return {
    ok: response.ok,
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  };
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

function registerSwitchover(global: Command, ctx: CommandContext): void {
  addStateDirOption(
    global
      .command('switchover')
      .description('make a secondary region the primary without losing a commit (planned)')
      .requiredOption('--to <region>', 'the secondary region to promote, e.g. us-west-2')
      .option('--json', 'print the report as JSON'),
  ).action(async (options: StateDirOptions & { to: string; json?: boolean }) => {
    const state = requireGlobal(options.stateDir);
    const target = memberOf(state, options.to);
    if (target.region === state.primary.region)
      throw new CliError(`${options.to} is already the primary region`);
    // Every secondary must be replicating (Aurora refuses a switchover otherwise): the old primary
    // turns into one and the others go on, and the target must be able to catch up at all.
    for (const member of state.secondaries) {
      const status = await getJson<ClusterStatus>(`${member.controlPlaneUrl}/status`);
      const applier = await applierHealth(status);
      if (!applier?.healthy) {
        throw new CliError(
          `${member.region} is out of sync (synchronizationStatus pending-resync: its replica applier does not answer): nothing changed`,
        );
      }
    }
    const lock = takeRoleChangeLock(options.stateDir);
    try {
      const started = performance.now();
      const old = state.primary;
      // 1. The primary stops taking writes: its writer drains and stops, an applier fences it.
      const demoted = await postJson(`${old.controlPlaneUrl}/global/demote`, 120_000).catch(
        (error: Error) => {
          throw new CliError(`the control plane of ${old.region} did not answer: ${error.message}`);
        },
      );
      if (!demoted.ok) throw new CliError(`${old.region} was not demoted: ${demoted.body.message}`);
      const vdl = BigInt(String(demoted.body.vdl));
      const demotedAt = performance.now();
      // Undo: the old primary takes writes again, as before (it holds every commit).
      const promoteOldBack = async (why: string): Promise<never> => {
        const back = await postJson(`${old.controlPlaneUrl}/global/promote`, 180_000, {
          lsnFloor: state.lastPromotionStart ?? '0',
        }).catch(() => undefined);
        if (back?.ok) {
          updateGlobalState(options.stateDir, (now) => ({
            ...now,
            lastPromotionStart: String(back.body.firstLsn),
          }));
        }
        throw new CliError(
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
        throw new CliError(
          `the control plane of ${target.region} did not answer the promotion (${error.message}): ${old.region} stays demoted at VDL ${vdl}; \`borealis global status\` shows whether ${target.region} took writes`,
        );
      });
      if (!promoted.ok) {
        // A refusal (4xx) changed nothing there: the old primary comes back. Otherwise the target's
        // state is unknown, as above.
        if (promoted.status >= 400 && promoted.status < 500)
          await promoteOldBack(`${target.region} refused the promotion (${promoted.body.message})`);
        throw new CliError(
          `${target.region} was not promoted (${promoted.body.message}): ${old.region} stays demoted at VDL ${vdl}; \`borealis global status\` shows whether ${target.region} took writes`,
        );
      }
      updateGlobalState(options.stateDir, (now) => ({
        ...now,
        ...promotedMembers(now, target.region),
        lastPromotionStart: String(promoted.body.firstLsn),
      }));
      const done = performance.now();
      const commitTimeMs = Number(promoted.body.promotedCommitTimeMs);
      const report: SwitchoverReport = {
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
      if (options.json) printJson(ctx.io, report);
      else {
        ctx.io.out(
          `switched over from ${report.from} to ${report.to} in ${report.durationMs} ms at VDL ${report.vdl}, no commit lost` +
            ` (demote ${report.demoteMs} ms, catch-up ${report.catchUpMs} ms, promote ${report.promoteMs} ms); ${report.from} is a secondary now\n`,
        );
      }
    } finally {
      rmSync(lock, { force: true });
    }
  });
}

function formatLost(region: string, lost: LostSet): string {
  if (lost.transactions === 0) return `no commit of ${region} was lost\n`;
  return (
    `${lost.transactions} transactions of ${region} are lost: LSNs (${lost.lsnRange.above}, ${lost.lsnRange.upTo}],` +
    ` committed ${lost.firstCommitTime} … ${lost.lastCommitTime}\n`
  );
}

/** How long `global rejoin` waits for the launcher to bring the region back. */
const rejoinTimeoutMs = 240_000;

function registerRejoin(global: Command, ctx: CommandContext): void {
  addStateDirOption(
    global
      .command('rejoin')
      .description('bring back a region that was down (kill --region) as a secondary of the primary')
      .requiredOption('--region <region>', 'the region to bring back, e.g. us-east-1')
      .option('--json', 'print the report as JSON'),
  ).action(async (options: StateDirOptions & { region: string; json?: boolean }) => {
    const state = requireGlobal(options.stateDir);
    const member = memberOf(state, options.region);
    if (member.region === state.primary.region) {
      throw new CliError(
        `${options.region} is the primary region: rejoin brings back a region that is not (fail over first)`,
      );
    }
    const { putLauncherRequest, waitLauncherReply } = await import('../embedded/global-rejoin.ts');
    const id = `${Date.now()}-${process.pid}`;
    putLauncherRequest(options.stateDir, { id, action: 'rejoin-region', region: options.region });
    const reply = await waitLauncherReply(options.stateDir, id, rejoinTimeoutMs);
    if (!reply)
      throw new CliError(
        `the launcher did not bring ${options.region} back within ${rejoinTimeoutMs / 1000} s`,
      );
    if (!reply.ok) throw new CliError(`${options.region} did not rejoin: ${reply.message}`);
    const rejoin = reply.rejoin as (RejoinReport & { archive?: unknown }) | undefined;
    if (options.json)
      printJson(ctx.io, { region: options.region, rejoined: true, ...(rejoin && { discarded: rejoin }) });
    else {
      ctx.io.out(
        `${options.region} rejoined as a secondary of ${state.primary.region}\n` +
          (rejoin ? formatLost(options.region, rejoin.lost) : ''),
      );
    }
  });
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

function registerFailover(global: Command, ctx: CommandContext): void {
  addStateDirOption(
    global
      .command('failover')
      .description('promote a secondary region now, at what it holds (unplanned: may lose commits)')
      .requiredOption('--to <region>', 'the secondary region to promote, e.g. us-west-2')
      .option('--allow-data-loss', 'required: commits not yet replicated are lost')
      .option('--json', 'print the report as JSON'),
  ).action(async (options: StateDirOptions & { to: string; allowDataLoss?: boolean; json?: boolean }) => {
    if (!options.allowDataLoss) {
      throw new UsageError(
        'global failover promotes at what the secondary holds and may lose commits: pass --allow-data-loss (`borealis global switchover` moves the primary without losing any)',
      );
    }
    const state = requireGlobal(options.stateDir);
    const target = memberOf(state, options.to);
    if (target.region === state.primary.region)
      throw new CliError(`${options.to} is already the primary region`);
    const lock = takeRoleChangeLock(options.stateDir);
    try {
      const oldStatus = await getJson<ClusterStatus>(`${state.primary.controlPlaneUrl}/status`);
      const response = await fetch(`${target.controlPlaneUrl}/global/promote`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ lsnFloor: state.lastPromotionStart ?? '0' }),
        signal: AbortSignal.timeout(180_000),
      }).catch((error: Error) => {
        throw new CliError(`the control plane of ${target.region} did not answer: ${error.message}`);
      });
      const body = (await response.json()) as Record<string, string | number>;
      if (!response.ok) throw new CliError(`${target.region} was not promoted: ${body.message}`);
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
        // Loaded on use: the S3 client slows every other command's start.
        const { plannedArchiveFloor, cutRegionArchive, fenceRegionArchive } = await import(
          '../embedded/global-rejoin.ts'
        );
        const aboveLsn = BigInt(promotedVdl);
        // The archive fence first: whatever the old writer still publishes above the point (until
        // the demote stops it) is never archived. The cut below tries again if this fails.
        await fenceRegionArchive(options.stateDir, old.region, old.cluster, aboveLsn).catch((error: Error) =>
          ctx.io.err(`${old.region}'s backup archive was not fenced yet: ${error.message}\n`),
        );
        try {
          // The floor the archive will have after its cut, planned on what it holds now: chunks
          // archived later only lie above it (core/global/archive-cut.ts).
          const archiveFloor = await plannedArchiveFloor(options.stateDir, old.region, old.cluster, aboveLsn);
          const demoted = await postJson(`${old.controlPlaneUrl}/global/demote`, 180_000, {
            ...discard,
            archiveFloor,
          });
          if (!demoted.ok) throw new Error(String(demoted.body.message));
          fenced = true;
          lost = (demoted.body.lost as LostSet | undefined) ?? null;
        } catch (error) {
          ctx.io.err(`${old.region} answered but was not fenced: ${(error as Error).message}\n`);
        }
        if (fenced) {
          try {
            // Its writer stopped: what it published is archived by now or soon; then the cut.
            await cutRegionArchive(
              options.stateDir,
              old.region,
              old.cluster,
              aboveLsn,
              oldVdl === null ? undefined : BigInt(oldVdl),
            );
            archiveCut = true;
          } catch (error) {
            ctx.io.err(
              `${old.region} is fenced, but its backup archive was not cut back to ${promotedVdl}: ${(error as Error).message} — a restore there may show its lost commits\n`,
            );
          }
        }
      }
      updateGlobalState(options.stateDir, (now) => ({
        ...now,
        ...promotedMembers(now, target.region),
        lastPromotionStart: String(body.firstLsn),
        pendingRejoins: [
          ...(now.pendingRejoins ?? []).filter((p) => p.region !== old.region),
          ...(fenced ? [] : [{ region: old.region, ...discard, failoverAt: new Date().toISOString() }]),
        ],
      }));
      const report: FailoverReport = {
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
      if (options.json) printJson(ctx.io, report);
      else {
        ctx.io.out(
          `promoted ${report.to} (epoch ${report.epoch}) in ${report.durationMs} ms at VDL ${report.promotedVdl}` +
            ` (newest commit kept: ${report.promotedCommitTime ?? 'none'})\n` +
            (report.lost
              ? `${formatLost(report.from, report.lost)}${report.from} is a secondary of ${report.to} now\n`
              : `${report.from} is unreachable: its commits above ${report.promotedVdl} are lost; they are named when it comes back (\`borealis global rejoin --region ${report.from}\`)\n`),
        );
      }
    } finally {
      rmSync(lock, { force: true });
    }
  });
}
