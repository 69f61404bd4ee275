// `borealis global status [--json]`: the Global Database started by `npm start -- --global`, found
// through <state dir>/global.json: each member's control plane /status and, for a secondary, its
// replica applier's /health (replication lag, bytes replicated), shown by core/global/status.ts.
// `borealis global switchover --to R` and `failover --to R --allow-data-loss` move the primary region
// (core/global/role-change.ts, the code the RDS API's global cluster actions run too); `borealis kill
// --region R` (killRegion below): SIGKILL every process of R's cluster, a region outage.
import type { Command } from 'commander';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import type { LostSet } from '../core/global/lost-set.ts';
import { applierHealth, getJson } from '../core/global/member-http.ts';
import type { FailoverReport } from '../core/global/role-change.ts';
import { formatGlobalStatus, globalStatus } from '../core/global/status.ts';
import { type GlobalMember, type GlobalState, markRegionDown, readGlobalState } from '../embedded/global.ts';
import { stateDirPath } from '../embedded/state.ts';
import type { RejoinReport } from '../services/replica-applier/applier.ts';
import { CliError, UsageError } from './errors.ts';
import { type CommandContext, printJson } from './io.ts';
import { addStateDirOption, type StateDirOptions } from './options.ts';

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

function requireGlobal(stateDir: string): GlobalState {
  const state = readGlobalState(stateDir);
  if (!state) {
    throw new CliError(
      `no global database runs from ${stateDirPath(stateDir)}: start one with \`npm start -- --global\``,
    );
  }
  return state;
}

function memberOf(state: GlobalState, region: string): GlobalMember {
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
 * The role-change context of the system run from `stateDir` (core/global/role-change.ts: the same
 * code as the RDS API's SwitchoverGlobalCluster / FailoverGlobalCluster). Loaded on use: the S3
 * client slows every other command's start.
 */
async function roleChange(stateDir: string, ctx: CommandContext) {
  const change = await import('../core/global/role-change.ts');
  const { s3Client } = await import('../core/aws/clients.ts');
  const { emulatorEnv } = await import('../embedded/emulators.ts');
  const { readSystemState } = await import('../embedded/state.ts');
  const context = {
    dir: stateDirPath(stateDir),
    s3For: (region: string) => {
      const system = readSystemState(stateDir);
      if (!system) throw new Error(`no system is running from ${stateDirPath(stateDir)}`);
      return s3Client({ region, env: { ...process.env, ...emulatorEnv(system.emulators) } });
    },
    warn: (message: string) => ctx.io.err(`${message}\n`),
  };
  /** A refusal or failure as the CLI reports it. */
  const cliError = (error: unknown): never => {
    if (error instanceof change.GlobalRoleChangeError) throw new CliError(error.message);
    throw error;
  };
  return { change, context, cliError };
}

function registerSwitchover(global: Command, ctx: CommandContext): void {
  addStateDirOption(
    global
      .command('switchover')
      .description('make a secondary region the primary without losing a commit (planned)')
      .requiredOption('--to <region>', 'the secondary region to promote, e.g. us-west-2')
      .option('--json', 'print the report as JSON'),
  ).action(async (options: StateDirOptions & { to: string; json?: boolean }) => {
    const { change, context, cliError } = await roleChange(options.stateDir, ctx);
    const report = await change
      .prepareSwitchover(context, options.to)
      .then((prepared) => change.runSwitchover(context, prepared))
      .catch(cliError);
    if (options.json) printJson(ctx.io, report);
    else {
      ctx.io.out(
        `switched over from ${report.from} to ${report.to} in ${report.durationMs} ms at VDL ${report.vdl}, no commit lost` +
          ` (demote ${report.demoteMs} ms, catch-up ${report.catchUpMs} ms, promote ${report.promoteMs} ms); ${report.from} is a secondary now\n`,
      );
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
    const { change, context, cliError } = await roleChange(options.stateDir, ctx);
    let report: FailoverReport;
    try {
      report = await change.runFailover(context, await change.prepareFailover(context, options.to));
    } catch (error) {
      cliError(error);
      throw error;
    }
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
  });
}
