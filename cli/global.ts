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
import { type ApplierHealth, formatGlobalStatus, globalStatus } from '../core/global/status.ts';
import { type GlobalMember, readGlobalState, writeGlobalState } from '../embedded/global.ts';
import { stateDirPath } from '../embedded/state.ts';
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
  const member = memberOf(requireGlobal(stateDir), region);
  const status = await getJson<ClusterStatus>(`${member.controlPlaneUrl}/status`);
  const victims: Array<{ id: string; pid: number }> = [
    { id: `control-plane (${region})`, pid: member.controlPlanePid },
    { id: `proxy (${region})`, pid: member.proxyPid },
    ...(status?.instances ?? []).flatMap((i) => (i.pid ? [{ id: i.id, pid: i.pid }] : [])),
    ...(status?.storageNodes ?? []).flatMap((n) => (n.pid ? [{ id: n.id, pid: n.pid }] : [])),
  ];
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

export interface FailoverReport {
  from: string;
  to: string;
  /** Every commit of the old primary at or below this LSN is in the new primary. */
  promotedVdl: string;
  promotedCommitTime: string | null;
  epoch: string;
  durationMs: number;
  oldPrimaryReachable: boolean;
  /** The old primary's VDL when it answered; the lost commits are in (promotedVdl, this]. */
  oldPrimaryVdl: string | null;
  lostLsnRange: { above: string; upTo: string | null };
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
        'global failover promotes at what the secondary holds and may lose commits: pass --allow-data-loss (a switchover without loss is not built yet)',
      );
    }
    const state = requireGlobal(options.stateDir);
    const target = memberOf(state, options.to);
    if (target.region === state.primary.region)
      throw new CliError(`${options.to} is already the primary region`);
    const lock = join(stateDirPath(options.stateDir), 'global-failover.lock');
    let fd: number;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      throw new CliError(`a global failover is already in progress (${lock}): nothing changed`);
    }
    closeSync(fd);
    try {
      const oldStatus = await getJson<ClusterStatus>(`${state.primary.controlPlaneUrl}/status`);
      const response = await fetch(`${target.controlPlaneUrl}/global/promote`, {
        method: 'POST',
        signal: AbortSignal.timeout(180_000),
      }).catch((error: Error) => {
        throw new CliError(`the control plane of ${target.region} did not answer: ${error.message}`);
      });
      const body = (await response.json()) as Record<string, string | number>;
      if (!response.ok) throw new CliError(`${target.region} was not promoted: ${body.message}`);
      const old = state.primary;
      writeGlobalState(options.stateDir, {
        ...state,
        primary: target,
        secondaries: [...state.secondaries.filter((m) => m !== target), old],
      });
      const oldVdl = oldStatus?.vdl ?? null;
      const report: FailoverReport = {
        from: old.region,
        to: target.region,
        promotedVdl: String(body.promotedVdl),
        promotedCommitTime:
          Number(body.promotedCommitTimeMs) > 0
            ? new Date(Number(body.promotedCommitTimeMs)).toISOString()
            : null,
        epoch: String(body.epoch),
        durationMs: Number(body.durationMs),
        oldPrimaryReachable: oldStatus !== undefined,
        oldPrimaryVdl: oldVdl,
        lostLsnRange: { above: String(body.promotedVdl), upTo: oldVdl },
      };
      if (options.json) printJson(ctx.io, report);
      else {
        ctx.io.out(
          `promoted ${report.to} (epoch ${report.epoch}) in ${report.durationMs} ms at VDL ${report.promotedVdl}` +
            ` (newest commit kept: ${report.promotedCommitTime ?? 'none'})\n` +
            (report.oldPrimaryReachable
              ? `commits of ${report.from} in (${report.promotedVdl}, ${report.oldPrimaryVdl}] are lost\n`
              : `${report.from} is unreachable: its commits above ${report.promotedVdl} are lost\n`),
        );
      }
    } finally {
      rmSync(lock, { force: true });
    }
  });
}
