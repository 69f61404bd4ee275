// `borealis up`: run the embedded system (embedded/start.ts, what `npm start` runs) in the foreground,
// or with --detach in the background until its cluster is ready, then print the endpoints. With
// `--cluster NAME` it runs another cluster (a restored one, from its dir) beside the running system.
// With `--aws` it runs the cluster against deployed resources instead (cli/aws-launcher/main.ts: no
// emulators, no function runner), after checking that they exist.
import { spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Command, InvalidArgumentError } from 'commander';
import { type BinlogFormat, parseBinlogFormat } from '../core/binlog/capture.ts';
import { mysqlConnectLines } from '../core/cluster/mysql-connect.ts';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { parentPidVariable } from '../core/process/parent-watch.ts';
import { defaultClusterName, primaryRegion } from '../core/resources.ts';
import { clusterDirPath, stateDirPath } from '../embedded/state.ts';
import { findControlPlane, getStatus, readRunningCluster, readRunningSystem } from './control-plane.ts';
import { CliError, oneLine, UsageError } from './errors.ts';
import { type CommandContext, printJson } from './io.ts';
import {
  addClusterOption,
  addStateDirOption,
  type ClusterOptions,
  integerFlag,
  isPrimaryCluster,
  type StateDirOptions,
} from './options.ts';

/** How long `up --detach` waits for `cluster.ready` in system.json. */
export const readyTimeoutMsDefault = 120_000;
/** How often `up --detach` reads system.json while it waits. */
const readyPollIntervalMs = 200;
/** Aurora's limit: up to 15 readers (replicas) per cluster. */
export const readersMax = 15;
/** How long a launcher that did not get ready in time has to stop after SIGTERM, before SIGKILL. */
const abandonGraceMs = 10_000;

const launcherEntry = fileURLToPath(new URL('../embedded/start.ts', import.meta.url));
const awsLauncherEntry = fileURLToPath(new URL('./aws-launcher/main.ts', import.meta.url));
/**
 * The launcher runs from the repository root: it starts its children with `--import tsx`, which
 * resolves from the working directory, and every path it gets is absolute.
 */
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));

export interface UpOptions extends StateDirOptions, ClusterOptions {
  detach?: boolean;
  readers?: number;
  /** Run against the deployed resources of the environment's AWS endpoint (LocalStack or AWS). */
  aws?: boolean;
  region?: string;
  pgCount?: number;
  pagesPerPg?: number;
  /** The cluster's binlog_format (the launcher's default: ROW). */
  binlogFormat?: BinlogFormat;
  /** --backtrack-window-s (the launcher's default: 3600; 0 = off). */
  backtrackWindowS?: number;
  /** Also run the Global Database's secondary cluster in us-west-2 (embedded, primary cluster only). */
  global?: boolean;
  secondaryReaders?: number;
  timeoutMs: number;
  json?: boolean;
}

/**
 * node's argv for the launcher: tsx resolved from this install, so any working directory works;
 * `--cluster NAME` only for a cluster other than the primary one.
 */
export function launcherArgs(options: {
  stateDir: string;
  readers?: number;
  cluster?: string;
  aws?: boolean;
  region?: string;
  pgCount?: number;
  pagesPerPg?: number;
  binlogFormat?: BinlogFormat;
  backtrackWindowS?: number;
  global?: boolean;
  secondaryReaders?: number;
}): string[] {
  const geometry = [
    ...(options.pgCount === undefined ? [] : ['--pg-count', String(options.pgCount)]),
    ...(options.pagesPerPg === undefined ? [] : ['--pages-per-pg', String(options.pagesPerPg)]),
    ...(options.binlogFormat === undefined ? [] : ['--binlog-format', options.binlogFormat]),
    ...(options.backtrackWindowS === undefined
      ? []
      : ['--backtrack-window-s', String(options.backtrackWindowS)]),
  ];
  if (options.aws) {
    return [
      '--import',
      import.meta.resolve('tsx'),
      awsLauncherEntry,
      '--state-dir',
      stateDirPath(options.stateDir),
      '--cluster',
      options.cluster ?? defaultClusterName,
      ...(options.region === undefined ? [] : ['--region', options.region]),
      ...(options.readers === undefined ? [] : ['--readers', String(options.readers)]),
      ...geometry,
    ];
  }
  return [
    '--import',
    import.meta.resolve('tsx'),
    launcherEntry,
    '--state-dir',
    stateDirPath(options.stateDir),
    ...(options.readers === undefined ? [] : ['--readers', String(options.readers)]),
    ...(options.cluster === undefined || isPrimaryCluster(options.cluster)
      ? []
      : ['--cluster', options.cluster]),
    ...geometry,
    ...(options.global ? ['--global'] : []),
    ...(options.secondaryReaders === undefined
      ? []
      : ['--secondary-readers', String(options.secondaryReaders)]),
  ];
}

/** `up --aws`: nothing may run from the state dir, and the deployed resources must exist (one line). */
export async function refuseToStartDeployed(
  options: UpOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const system = readRunningSystem(options.stateDir);
  if (system !== undefined) {
    throw new CliError(
      `a system already runs from ${stateDirPath(options.stateDir)} (launcher pid ${system.launcherPid}); stop it with \`borealis down\` first`,
    );
  }
  const { checkDeployedResources } = await import('./aws-launcher/checks.ts');
  try {
    await checkDeployedResources({ region: deployedRegion(options, env), cluster: options.cluster, env });
  } catch (error) {
    throw new CliError((error as Error).message, { cause: error });
  }
}

/** The region of `up --aws`: --region, else AWS_REGION, else the primary region. */
export function deployedRegion(
  options: Pick<UpOptions, 'region'>,
  env: NodeJS.ProcessEnv = process.env,
): string {
  return options.region ?? (env.AWS_REGION || primaryRegion);
}

/** The system's launcher logs under <state-dir>/logs; another cluster's under its own dir. */
export function launcherLogPath(stateDir: string, cluster: string = defaultClusterName): string {
  const dir = isPrimaryCluster(cluster) ? stateDirPath(stateDir) : clusterDirPath(stateDir, cluster);
  return join(dir, 'logs', 'launcher.log');
}

/** `volume.json` in a cluster's dir: a restored (or once-run) cluster's data is there to run again. */
export function clusterHasVolume(stateDir: string, cluster: string): boolean {
  return existsSync(join(clusterDirPath(stateDir, cluster), 'volume.json'));
}

/** Why `up` must not start (one line), before anything is spawned. */
export function refuseToStart(stateDir: string, cluster: string): void {
  const dir = stateDirPath(stateDir);
  const system = readRunningSystem(stateDir);
  if (isPrimaryCluster(cluster)) {
    if (system !== undefined) {
      throw new CliError(
        `a system already runs from ${dir} (launcher pid ${system.launcherPid}); stop it with \`borealis down\` first`,
      );
    }
    return;
  }
  const flags = stateDirFlag(dir);
  if (system === undefined) {
    throw new CliError(
      `cluster '${cluster}' runs beside the system, and none runs from ${dir}; start it first with \`borealis up --detach${flags}\``,
    );
  }
  const running = readRunningCluster(stateDir, cluster);
  if (running !== undefined) {
    throw new CliError(
      `cluster '${cluster}' already runs from ${dir} (launcher pid ${running.launcherPid}); stop it with \`borealis down --cluster ${cluster}${flags}\``,
    );
  }
  if (!clusterHasVolume(stateDir, cluster)) {
    throw new CliError(
      `no cluster '${cluster}' in ${dir}: restore one first with \`borealis restore (--to-time ISO | --snapshot ID) --as ${cluster}${flags}\``,
    );
  }
}

/** ` --state-dir DIR` unless DIR is the default one, for commands printed as advice. */
function stateDirFlag(dir: string): string {
  return dir === stateDirPath() ? '' : ` --state-dir ${dir}`;
}

/** The pid of the launcher whose cluster is ready, from system.json or the cluster's cluster.json. */
function readyLauncherPid(options: UpOptions): number | undefined {
  if (isPrimaryCluster(options.cluster)) {
    const state = readRunningSystem(options.stateDir);
    return state?.cluster?.ready === true ? state.launcherPid : undefined;
  }
  const entry = readRunningCluster(options.stateDir, options.cluster);
  return entry?.ready === true ? entry.launcherPid : undefined;
}

/** Exit status of a child as a shell reports it: its code, or 128 + the signal number. */
export function exitStatusOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0));
}

/**
 * Foreground: the launcher inherits stdout/stderr and runs in its own process group, so that a
 * terminal's Ctrl-C reaches it exactly once — forwarded from here — instead of twice (the launcher
 * would treat a second signal as "exit now"). SIGHUP (terminal closed) becomes SIGTERM.
 */
async function runForeground(options: UpOptions): Promise<number> {
  const child = spawn(process.execPath, launcherArgs(options), {
    stdio: ['ignore', 'inherit', 'inherit'],
    cwd: repositoryRoot,
    detached: true,
    env: { ...process.env, [parentPidVariable]: String(process.pid) },
  });
  const forwards: [NodeJS.Signals, () => void][] = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map(
    (signal) => [
      signal,
      () => {
        if (child.exitCode === null && child.signalCode === null)
          child.kill(signal === 'SIGHUP' ? 'SIGTERM' : signal);
      },
    ],
  );
  for (const [signal, forward] of forwards) process.on(signal, forward);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.once('error', (error) => reject(new CliError(`cannot start the launcher: ${error.message}`)));
      child.once('exit', (code, signal) => resolve(exitStatusOf(code, signal)));
    });
  } finally {
    for (const [signal, forward] of forwards) process.off(signal, forward);
  }
}

/**
 * The line of a launcher log that most likely says why it stopped, so the error line explains without
 * opening the file: the last line that reads like a failure, else the last line.
 */
export function lastLogLine(logFile: string): string | undefined {
  try {
    return reasonIn(readFileSync(logFile, 'utf8'));
  } catch {
    return undefined;
  }
}

export function reasonIn(log: string): string | undefined {
  const lines = log
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !/^Node\.js v\d/.test(l));
  const failure = /\b(\w*error|failed|did not|cannot|could not|exited|unknown|must|invalid|already runs)\b/i;
  const reason = lines.findLast((l) => failure.test(l)) ?? lines.at(-1);
  return reason === undefined ? undefined : oneLine(reason, 300);
}

async function runDetached(options: UpOptions, ctx: CommandContext): Promise<void> {
  const logFile = launcherLogPath(options.stateDir, options.cluster);
  mkdirSync(dirname(logFile), { recursive: true });
  const log = openSync(logFile, 'a');
  const env = { ...process.env };
  delete env[parentPidVariable];
  const child = spawn(process.execPath, launcherArgs(options), {
    stdio: ['ignore', log, log],
    cwd: repositoryRoot,
    detached: true,
    env,
  });
  closeSync(log);
  let exit: { code: number | null; signal: NodeJS.Signals | null; error?: Error } | undefined;
  child.once('exit', (code, signal) => {
    exit = { code, signal };
  });
  child.once('error', (error) => {
    exit = { code: null, signal: null, error };
  });
  child.unref();

  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    if (exit !== undefined) {
      const how = exit.error
        ? `could not start (${exit.error.message})`
        : `exited with status ${exitStatusOf(exit.code, exit.signal)}`;
      const last = lastLogLine(logFile);
      throw new CliError(
        `the launcher ${how} before the cluster was ready${last ? `: ${last}` : ''} (log: ${logFile})`,
      );
    }
    if (readyLauncherPid(options) === child.pid) break;
    if (Date.now() >= deadline) {
      await abandon(child.pid!, () => exit !== undefined);
      throw new CliError(
        `the cluster was not ready within ${options.timeoutMs} ms; stopped the launcher (pid ${child.pid}) (log: ${logFile})`,
      );
    }
    await sleep(readyPollIntervalMs);
  }

  const controlPlane = findControlPlane(options.stateDir, options.cluster);
  const status = await getStatus(controlPlane);
  const summary = {
    cluster: status.cluster,
    region: status.region,
    launcherPid: child.pid!,
    stateDir: stateDirPath(options.stateDir),
    controlPlane: controlPlane.url,
    endpoints: status.endpoints,
    ...(status.mysql !== undefined && { mysql: status.mysql }),
    resourceArn: status.resourceArn,
    secretArn: status.secretArn,
    log: logFile,
  };
  if (options.json) printJson(ctx.io, summary);
  else ctx.io.out(formatReady(summary, status));
}

export function formatReady(
  summary: { launcherPid: number; stateDir: string; controlPlane: string; log: string },
  status: Pick<ClusterStatus, 'cluster' | 'region' | 'endpoints' | 'resourceArn' | 'secretArn' | 'mysql'>,
): string {
  const clusterFlag = isPrimaryCluster(status.cluster) ? '' : ` --cluster ${status.cluster}`;
  const mysql = mysqlConnectLines(status);
  return [
    `borealis: cluster ${status.cluster} (${status.region}) is ready (launcher pid ${summary.launcherPid})`,
    `  writer endpoint  ${status.endpoints.writer ?? '-'}`,
    `  reader endpoint  ${status.endpoints.reader ?? '-'}`,
    ...(mysql === undefined
      ? []
      : [`  mysql (writer)   ${mysql.writer}`, `  mysql (reader)   ${mysql.reader}`]),
    `  resourceArn      ${status.resourceArn}`,
    `  secretArn        ${status.secretArn}`,
    `  control plane    ${summary.controlPlane}`,
    `  log              ${summary.log}`,
    `  stop it with     borealis down${clusterFlag}${stateDirFlag(summary.stateDir)}`,
    '',
  ].join('\n');
}

/** SIGTERM a launcher we started and gave up on, SIGKILL if it does not go. */
async function abandon(pid: number, exited: () => boolean): Promise<void> {
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + abandonGraceMs;
  while (!exited() && Date.now() < deadline) await sleep(readyPollIntervalMs);
  if (!exited()) signal(pid, 'SIGKILL');
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** --binlog-format: ROW or OFF (any case), else a usage error (exit 2). */
export function binlogFormatFlag(raw: string): BinlogFormat {
  const format = parseBinlogFormat(raw);
  if (format === undefined) throw new InvalidArgumentError('must be ROW or OFF');
  return format;
}

export function registerUp(program: Command, ctx: CommandContext): void {
  const command = program
    .command('up')
    .description(
      'start the whole system on this machine (what `npm start` runs), with --cluster another cluster beside it, or with --aws a cluster on deployed AWS resources',
    )
    .option(
      '--detach',
      'run it in the background; wait until the cluster is ready, print the endpoints, exit',
    )
    .option(
      '--readers <n>',
      `reader instances besides the writer (0-${readersMax})`,
      integerFlag(0, readersMax),
    )
    .option(
      '--timeout-ms <ms>',
      'with --detach: how long to wait for the cluster to be ready',
      integerFlag(1),
      readyTimeoutMsDefault,
    )
    .option('--json', 'with --detach: print the endpoints as JSON')
    .option(
      '--aws',
      "run the cluster against deployed resources at the environment's AWS endpoint (LocalStack or AWS) instead of the embedded emulators",
    )
    .option('--region <region>', 'with --aws: the region (default: AWS_REGION, else us-east-1)')
    .option('--pg-count <n>', 'protection groups of a new volume (default 8)', integerFlag(1, 4096))
    .option('--pages-per-pg <n>', 'pages per PG of a new volume (default 65536)', integerFlag(1))
    .option(
      '--binlog-format <format>',
      "the cluster's binlog_format: ROW (default) captures every transaction's row changes for the binlog, OFF none",
      binlogFormatFlag,
    )
    .option(
      '--backtrack-window-s <s>',
      'how far back `borealis backtrack` can go, 0-259200 s (default 3600; 0 = off)',
      integerFlag(0, 259_200),
    )
    .option(
      '--global',
      'also run a Global Database: a secondary cluster in us-west-2 replicating this one, and the global writer endpoint (docs/global.md)',
    )
    .option(
      '--secondary-readers <n>',
      `with --global: the secondary cluster's readers (0-${readersMax}, default 1)`,
      integerFlag(0, readersMax),
    )
    .addHelpText(
      'after',
      `
Without --detach the system runs in this terminal until Ctrl-C (exit status: the launcher's).
With --detach its output goes to <state-dir>/logs/launcher.log; stop it with \`borealis down\`.
Fails if a system already runs from the state dir.

--cluster NAME runs a cluster other than the primary one (e.g. restored with \`borealis restore … --as NAME\`)
from <state-dir>/clusters/NAME, with its data, beside the running system and on its emulators; its log
is <state-dir>/clusters/NAME/logs/launcher.log; stop it with \`borealis down --cluster NAME\`.

--aws runs cluster --cluster NAME (default ${defaultClusterName}) of a deployed stack (npm run deploy:local, or cdk deploy)
on this machine: the control plane, storage nodes, writer, readers and proxy, with no emulators and no local function
runner — the deployed Lambda functions do that work. AWS endpoints and credentials come from the environment
(AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE>, AWS_ACCESS_KEY_ID…). It first checks that the region's backup
bucket, redo stream, topology parameter and provision queue exist, else prints which is missing and exits 1.
The topology goes to SSM (/borealis/NAME/topology), redo to the deployed stream, and restores asked on the
provision queue (by the deployed restore function) start here. See docs/deployed-mode.md.`,
    );
  const clusterHelp = 'run this cluster (<state-dir>/clusters/NAME) beside the running system instead';
  addStateDirOption(addClusterOption(command, clusterHelp)).action(async (options: UpOptions) => {
    if (
      (options.global || options.secondaryReaders !== undefined) &&
      (options.aws || !isPrimaryCluster(options.cluster))
    ) {
      throw new UsageError('--global runs with the whole embedded system (not with --aws or --cluster)');
    }
    if (options.secondaryReaders !== undefined && !options.global) {
      throw new UsageError('--secondary-readers goes with --global');
    }
    if (options.aws) await refuseToStartDeployed(options);
    else refuseToStart(options.stateDir, options.cluster);
    if (options.detach) await runDetached(options, ctx);
    else ctx.exitCode = await runForeground(options);
  });
}
