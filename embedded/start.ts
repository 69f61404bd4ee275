// `npm start` (and `borealis up`): the whole Borealis system on this machine, in the foreground, until
// Ctrl-C — the embedded AWS (S3 + Kinesis per region) and the primary cluster: control plane, six
// storage nodes in three AZs, a writer, readers and the proxy. Every process it starts is stopped
// on exit, and each also exits if this launcher dies.

import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseBinlogFormat } from '../core/binlog/capture.ts';
import { mysqlConnectLines } from '../core/cluster/mysql-connect.ts';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { functionEnv } from '../core/functions.ts';
import { nonNegativeIntFlag, parseFlags } from '../core/process/flags.ts';
import { exitWithParent } from '../core/process/parent-watch.ts';
import { type ManagedProcess, spawnProcess } from '../core/process/spawn.ts';
import {
  binlogShardsVariable,
  defaultClusterName,
  embeddedRegions,
  parseBinlogShardCount,
  primaryRegion,
  regionalResources,
} from '../core/resources.ts';
import { readRejoinReport, writeRejoinRequest } from '../services/replica-applier/applier.ts';
import { LocalCluster } from './cluster.ts';
import { Emulators, emulatorEnv } from './emulators.ts';
import {
  clearRegionDown,
  type GlobalMember,
  readGlobalState,
  regionsDown,
  regionTopologyDir,
  removeGlobalState,
  restartMemberAsSecondary,
  startSecondaryCluster,
  updateGlobalState,
  writeGlobalState,
} from './global.ts';
import {
  cutRegionArchive,
  fenceRegionArchive,
  type LauncherReply,
  putLauncherReply,
  type RejoinRegionRequest,
  takeLauncherRequests,
} from './global-rejoin.ts';
import { regionBusDir } from './local-events.ts';
import { provisionRegion } from './provision.ts';
import { startRdsApi as startRdsApiProcess } from './rds-api-process.ts';
import {
  clusterDirPath,
  defaultStateDir,
  readClusterEntry,
  readSystemState,
  removeClusterEntry,
  removeSystemState,
  stateDirPath,
  stopOtherClusters,
  writeClusterEntry,
  writeSystemState,
} from './state.ts';

const usage = `usage: npm start [-- options]    (the same as: npx borealis up [options])

Starts the embedded Borealis system in the foreground and stays up until Ctrl-C:
  - per region (${embeddedRegions.join(', ')}): an S3-compatible server (s3rver) and a
    Kinesis-compatible server (kinesalite) on free 127.0.0.1 ports, with the Borealis backup
    bucket, redo stream and binlog stream;
  - the primary cluster in ${primaryRegion}: six storage nodes in three AZs, a writer, readers
    (failover tiers 0, 1, …), the control plane and the proxy (cluster + reader endpoints).
Data survives a restart: the same state dir brings the same volume back.

options:
  --state-dir DIR   where data, logs and system.json go (default ${defaultStateDir})
  --readers N       readers besides the writer, 0-15 (default 2)
  --pg-count N      protection groups of a new volume (default 8)
  --pages-per-pg N  pages per PG of a new volume (default 65536, 256 MiB of 4 KiB pages)
  --cluster NAME    run another cluster (e.g. a restored one) beside the running system, using
                    its emulators (default: the primary cluster '${defaultClusterName}', with the emulators)
  --restore-job F   create the cluster's volume from a backup first (written by the restore function)
  --region R        with --cluster: the region the cluster runs in, ${embeddedRegions.join(' or ')} (default
                    ${primaryRegion}; a restore asked in another region runs there, its data under
                    regions/R/clusters/NAME where that region's RDS API finds it)
  --binlog-format ROW|OFF  the cluster's binlog_format (default ROW: row changes ride in the redo)
  --backtrack-window-s N   how far back \`borealis backtrack\` can go, 0-259200 (default 3600; 0 = off)
  --binlog-shards N shards of each region's binlog stream when it is created, 1-64 (default
                    $BOREALIS_BINLOG_SHARDS, else 1; an existing stream keeps its shards)
  --global          also run the Global Database: a secondary cluster in ${embeddedRegions[1]} (six
                    storage nodes, readers, a reader endpoint, the replica applier) fed by the
                    global-replicator function from the primary's redo stream, and the global
                    writer endpoint (Data API + MySQL) that follows the primary region
  --secondary-readers N  readers of the secondary cluster, 0-15 (default 1)
  --help            this text`;

const { values } = parseFlags('npm start', {
  'state-dir': { type: 'string', default: defaultStateDir },
  readers: { type: 'string', default: '2' },
  'pg-count': { type: 'string', default: '8' },
  'pages-per-pg': { type: 'string', default: '65536' },
  cluster: { type: 'string', default: defaultClusterName },
  'restore-job': { type: 'string' },
  region: { type: 'string', default: primaryRegion },
  'binlog-format': { type: 'string', default: 'ROW' },
  'backtrack-window-s': { type: 'string', default: '3600' },
  'binlog-shards': { type: 'string', default: process.env[binlogShardsVariable] ?? '' },
  global: { type: 'boolean', default: false },
  'secondary-readers': { type: 'string', default: '1' },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const readers = nonNegativeIntFlag('npm start', 'readers', values.readers);
if (readers > 15) {
  console.error('npm start: --readers must be 0-15 (Aurora allows 15 replicas)');
  process.exit(2);
}
const pgCount = nonNegativeIntFlag('npm start', 'pg-count', values['pg-count']);
const pagesPerPg = nonNegativeIntFlag('npm start', 'pages-per-pg', values['pages-per-pg']);
const binlogFormat = parseBinlogFormat(values['binlog-format']!);
if (binlogFormat === undefined) {
  console.error(`npm start: --binlog-format must be ROW or OFF, got '${values['binlog-format']}'`);
  process.exit(2);
}
let binlogShardCount: number;
try {
  binlogShardCount = parseBinlogShardCount(values['binlog-shards']);
} catch (error) {
  console.error(`npm start: --binlog-shards: ${(error as Error).message}`);
  process.exit(2);
}
const stateDir = values['state-dir'];
const clusterName = values.cluster;
// The primary cluster comes with the system (emulators); any other cluster joins a running system.
const primary = clusterName === defaultClusterName;
const running = readSystemState(stateDir);
if (primary && running) {
  console.error(
    `borealis: a system already runs from ${stateDirPath(stateDir)} (launcher pid ${running.launcherPid}); stop it with Ctrl-C in its terminal or \`npx borealis down\``,
  );
  process.exit(1);
}
if (!primary && !running) {
  console.error(
    `borealis: cluster ${clusterName} needs the system running from ${stateDirPath(stateDir)}: start it with \`npm start\` first`,
  );
  process.exit(1);
}
if (!primary && readClusterEntry(stateDir, clusterName)) {
  console.error(`borealis: cluster ${clusterName} already runs from ${stateDirPath(stateDir)}`);
  process.exit(1);
}

// A cluster beside the system may run in another region (a restore asked there): its data and
// topology under that region's clusters dir, its entry (cluster.json) in clusters/NAME as every
// launcher's, so names stay unique on the machine.
const region = values.region!;
if (!(embeddedRegions as readonly string[]).includes(region) || (primary && region !== primaryRegion)) {
  console.error(
    `npm start: --region must be one of ${embeddedRegions.join(', ')}, and ${primaryRegion} for the primary cluster; got '${region}'`,
  );
  process.exit(2);
}
const clusterDir =
  region === primaryRegion
    ? clusterDirPath(stateDir, clusterName)
    : join(regionTopologyDir(stateDir, region), clusterName);
// Claimed at once (ready: false), so a second launcher of the same cluster — a restore takes a
// while before it serves — sees this one and refuses to start.
writeClusterEntry(stateDir, {
  name: clusterName,
  region,
  controlPlaneUrl: '',
  ready: false,
  launcherPid: process.pid,
});
console.log(
  `borealis: starting ${primary ? 'the embedded system' : `cluster ${clusterName}`} (state dir ${stateDirPath(stateDir)})`,
);
const emulators = primary
  ? await Emulators.start({ regions: embeddedRegions, dataDir: join(stateDir, 'emulators') })
  : undefined;
let cluster: LocalCluster | undefined;
let secondary: LocalCluster | undefined;
/** The function runner of each region (the secondary's with --global), by region. */
const runners = new Map<string, ManagedProcess>();
let globalEndpoint: ManagedProcess | undefined;
/** Each region's RDS API (services/rds-api), by region. */
const rdsApis = new Map<string, ManagedProcess>();
/** Regions brought back by `borealis global rejoin` (their first clusters died with the outage). */
const rejoined = new Map<string, LocalCluster>();
let stopping = false;
async function shutdown(code: number): Promise<void> {
  // npm and the terminal may both deliver Ctrl-C: a second signal must not cut the cleanup short.
  if (stopping) return;
  stopping = true;
  console.log('\nborealis: stopping every process this launcher started…');
  for (const r of runners.values()) await r.stop().catch(() => undefined);
  for (const r of rdsApis.values()) await r.stop().catch(() => undefined);
  await globalEndpoint?.stop().catch(() => undefined);
  await secondary?.stop().catch(() => undefined);
  for (const c of rejoined.values()) await c.stop().catch(() => undefined);
  if (secondary) removeGlobalState(stateDir);
  await cluster?.stop().catch(() => undefined);
  removeClusterEntry(stateDir, clusterName);
  // Clusters started beside the system (restores) go with it: they live on its emulators.
  if (emulators) await stopOtherClusters(stateDir, clusterName);
  if (emulators) {
    await emulators.stop();
    removeSystemState(stateDir);
  }
  console.log('borealis: stopped');
  process.exit(code);
}
/** Stops everything; never returns (a shutdown already under way exits the process itself). */
async function stopAndWait(code: number): Promise<never> {
  await shutdown(code);
  return new Promise<never>(() => undefined);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
// Run by `borealis up` in the foreground: go down with it even if it is SIGKILLed.
exitWithParent(() => void shutdown(0));

const env = { ...process.env, ...(emulators ? emulators.env() : emulatorEnv(running!.emulators)) };
const systemState = emulators && {
  launcherPid: process.pid,
  startedAt: new Date().toISOString(),
  emulators: emulators.state,
};
if (emulators) {
  try {
    for (const region of embeddedRegions) {
      await provisionRegion(regionalResources(region, defaultClusterName, { binlogShardCount }), env);
    }
  } catch (error) {
    console.error(`borealis: could not create the buckets and streams: ${(error as Error).message}`);
    await stopAndWait(1);
  }
  writeSystemState(stateDir, systemState!);
}

console.log(
  `borealis: starting cluster '${clusterName}' (${readers} readers; logs in ${join(clusterDir, 'logs')})`,
);
let status: ClusterStatus;
try {
  cluster = await LocalCluster.start({
    dir: clusterDir,
    name: clusterName,
    region,
    readers,
    env,
    publishRedo: primary,
    controlPlaneArgs: [
      '--pg-count',
      String(pgCount),
      '--pages-per-pg',
      String(pagesPerPg),
      '--binlog-format',
      binlogFormat,
      '--backtrack-window-s',
      values['backtrack-window-s']!,
      ...(values['restore-job'] ? ['--restore-job', values['restore-job']] : []),
      ...(emulators && values.global ? ['--global-primary'] : []),
    ],
  });
  status = await cluster.statusWhen(() => true, 'answered');
} catch (error) {
  console.error(`borealis: the cluster did not start: ${(error as Error).message}`);
  await stopAndWait(1);
}
// The Global Database's secondary cluster (--global), before the runner: its global-replicator
// finds the secondary through the environment set here.
let replicatorEnv: Record<string, string> = {};
if (emulators && values.global) {
  const secondaryReaders = nonNegativeIntFlag('npm start', 'secondary-readers', values['secondary-readers']);
  try {
    const started = await startSecondaryCluster({
      stateDir,
      cluster: clusterName,
      primaryDir: clusterDir,
      readers: Math.min(secondaryReaders, 15),
      env,
      // The writer's flags for after a promotion (a secondary's applier takes none).
      controlPlaneArgs: ['--binlog-format', binlogFormat],
    });
    secondary = started.cluster;
    replicatorEnv = started.replicatorEnv;
    // The global writer endpoint belongs to the global database, not to a region (ADR 018): a child of
    // this launcher, which `borealis kill --region` leaves running; it follows the members' roles.
    globalEndpoint = await spawnProcess({
      name: 'global-endpoint',
      entry: fileURLToPath(new URL('../services/global-endpoint/main.ts', import.meta.url)),
      args: [
        '--members',
        `${primaryRegion}=${cluster!.controlPlaneUrl},${started.member.region}=${started.member.controlPlaneUrl}`,
        '--global-cluster',
        clusterName,
      ],
      env,
      logFile: join(stateDirPath(stateDir), 'logs', 'global-endpoint.log'),
    });
    const ready = globalEndpoint.ready as unknown as {
      globalWriterEndpoint: string;
      globalWriterMysqlEndpoint: string;
      globalClusterArn: string;
      httpPort: number;
    };
    writeGlobalState(stateDir, {
      primary: {
        region: primaryRegion,
        cluster: clusterName,
        controlPlaneUrl: cluster!.controlPlaneUrl,
        dir: clusterDir,
        controlPlanePid: cluster!.controlPlane.pid,
        proxyPid: cluster!.proxy.pid,
        restart: {
          readers,
          controlPlaneArgs: [
            '--binlog-format',
            binlogFormat,
            '--port',
            new URL(cluster!.controlPlaneUrl).port,
          ],
        },
      },
      secondaries: [started.member],
      globalWriter: {
        dataApi: ready.globalWriterEndpoint,
        mysql: ready.globalWriterMysqlEndpoint,
        httpUrl: `http://127.0.0.1:${ready.httpPort}`,
        globalClusterArn: ready.globalClusterArn,
        pid: globalEndpoint.pid,
      },
    });
  } catch (error) {
    console.error(`borealis: the secondary cluster did not start: ${(error as Error).message}`);
    await stopAndWait(1);
  }
}
// The Lambda functions, run locally on the same event shapes (Kinesis, EventBridge): one runner for
// the system, started with the primary cluster. With --global, the secondary region has one too, with
// its own EventBridge bus and schedules: idle while it is a secondary (nothing is published there, the
// scheduled snapshot skips a secondary); after a switchover or failover its writer publishes to that
// region's redo stream, its archiver, snapshots and retention keep the backups there, restores and
// exports asked in that region run there, and its replicator carries the redo back to the other
// region once it rejoins (ADR 016).
const runnerSpecs = new Map<string, { args: string[]; env: NodeJS.ProcessEnv; logFile: string }>();
if (emulators) {
  runnerSpecs.set(primaryRegion, {
    args: ['--state-dir', stateDirPath(stateDir), '--region', primaryRegion, '--cluster', clusterName],
    env: { ...env, ...replicatorEnv },
    logFile: join(stateDirPath(stateDir), 'logs', 'function-runner.log'),
  });
}
if (emulators && secondary) {
  const region = readGlobalState(stateDir)!.secondaries[0]!.region;
  runnerSpecs.set(region, {
    args: ['--state-dir', stateDirPath(stateDir), '--region', region, '--cluster', clusterName],
    env: {
      ...env,
      [functionEnv.globalSecondaryRegion]: primaryRegion,
      [functionEnv.globalSecondaryCluster]: clusterName,
      [functionEnv.globalSecondaryTopologyDir]: join(stateDirPath(stateDir), 'clusters'),
    },
    logFile: join(stateDirPath(stateDir), 'logs', `function-runner-${region}.log`),
  });
}
function startRunner(region: string): Promise<ManagedProcess> {
  const spec = runnerSpecs.get(region)!;
  return spawnProcess({
    name: 'function-runner',
    entry: fileURLToPath(new URL('./function-runner-main.ts', import.meta.url)),
    ...spec,
  });
}
for (const region of runnerSpecs.keys()) {
  try {
    runners.set(region, await startRunner(region));
  } catch (error) {
    console.error(`borealis: the ${region} function runner did not start: ${(error as Error).message}`);
    await stopAndWait(1);
  }
}
// The RDS API of each region with a cluster (ADR 020): it finds the region's clusters through their
// published topologies, and is registered with their control planes (`endpoints.rds`).
function startRdsApi(region: string, controlPlaneUrl: string): Promise<ManagedProcess> {
  return startRdsApiProcess({
    region,
    controlPlaneUrl,
    env,
    eventBusDir: regionBusDir(stateDir, region),
    globalStateDir: stateDirPath(stateDir),
    topologyDir:
      region === primaryRegion
        ? join(stateDirPath(stateDir), 'clusters')
        : regionTopologyDir(stateDir, region),
    logFile: join(
      stateDirPath(stateDir),
      'logs',
      region === primaryRegion ? 'rds-api.log' : `rds-api-${region}.log`,
    ),
  });
}
for (const [region, member] of emulators
  ? [
      [primaryRegion, cluster!.controlPlaneUrl] as const,
      ...(secondary
        ? [[readGlobalState(stateDir)!.secondaries[0]!.region, secondary.controlPlaneUrl] as const]
        : []),
    ]
  : []) {
  try {
    rdsApis.set(region, await startRdsApi(region, member));
  } catch (error) {
    console.error(`borealis: the ${region} RDS API did not start: ${(error as Error).message}`);
    await stopAndWait(1);
  }
}
// What `borealis kill --region` takes besides the cluster: the region's emulators, functions and RDS API.
if (secondary) recordRegionProcesses();

function recordRegionProcesses(): void {
  if (!readGlobalState(stateDir) || !emulators) return;
  updateGlobalState(stateDir, (state) => ({
    ...state,
    regionProcesses: Object.fromEntries(
      [...runners].map(([region, p]) => [
        region,
        {
          emulatorPids: emulators.regionPids(region),
          functionRunnerPid: p.pid,
          ...(rdsApis.has(region) && { rdsApiPid: rdsApis.get(region)!.pid }),
        },
      ]),
    ),
  }));
}

const entry = {
  name: clusterName,
  region,
  controlPlaneUrl: cluster!.controlPlaneUrl,
  ready: true,
  controlPlanePid: cluster!.controlPlane.pid,
  proxyPid: cluster!.proxy.pid,
};
writeClusterEntry(stateDir, { ...entry, launcherPid: process.pid });
if (systemState) writeSystemState(stateDir, { ...systemState, cluster: entry });

for (const region of emulators ? embeddedRegions : []) {
  const endpoints = emulators!.endpoints(region);
  const resources = regionalResources(region);
  console.log(`\n  ${region}`);
  console.log(`    S3       ${endpoints.s3}   bucket  ${resources.backupBucket}`);
  console.log(
    `    Kinesis  ${endpoints.kinesis}   streams ${resources.redoStream.name}, ${resources.binlogStream.name}`,
  );
  const rds = rdsApis.get(region)?.ready as { url?: string } | undefined;
  if (rds?.url) console.log(`    RDS      ${rds.url}   (AWS_ENDPOINT_URL_RDS: aws rds, @aws-sdk/client-rds)`);
}
console.log(`
  cluster '${status!.cluster}' (${status!.region})
    cluster endpoint (writer)   ${status!.endpoints.writer}
    reader endpoint             ${status!.endpoints.reader}
${mysqlStartLines(status!)}    resourceArn                 ${status!.resourceArn}
    secretArn                   ${status!.secretArn}

  from another terminal:
    npx borealis sql "create table t(id integer primary key, v text)"
    npx borealis status
    npx borealis kill --writer

  from code (@aws-sdk/client-rds-data):
    import { RDSDataClient, ExecuteStatementCommand } from '@aws-sdk/client-rds-data';
    const client = new RDSDataClient({ endpoint: '${status!.endpoints.writer}', region: '${status!.region}',
      credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' } });
    const out = await client.send(new ExecuteStatementCommand({
      resourceArn: '${status!.resourceArn}',
      secretArn: '${status!.secretArn}',
      sql: 'select 1 as one', includeResultMetadata: true }));
`);
if (secondary) {
  const s = await secondary.statusWhen(() => true, 'answered');
  const g = readGlobalState(stateDir)?.globalWriter;
  console.log(`  global database: secondary cluster '${s.cluster}' (${s.region}), read-only
    reader endpoint             ${s.endpoints.reader}
    global writer endpoint      ${g?.dataApi ?? '(none)'}   (follows the primary region)
    mysql (global writer)       ${g?.mysql ?? '(none)'}
    globalClusterArn            ${g?.globalClusterArn ?? '(none)'}
    npx borealis global status
`);
}
console.log('borealis: ready — Ctrl-C stops everything');

/** The proxy's MySQL endpoints, as a command line to paste (ADR 017); nothing for a proxy without them. */
function mysqlStartLines(s: ClusterStatus): string {
  const mysql = mysqlConnectLines(s);
  if (mysql === undefined) return '';
  return `    mysql (cluster endpoint)    ${mysql.writer}\n    mysql (reader endpoint)     ${mysql.reader}\n`;
}

// Live status: one line whenever the shape of the cluster changes (roles, health, failovers).
let lastLine = '';
let lastFailover = status!.failovers.at(-1)?.at;
function summary(s: ClusterStatus): string {
  const readersUp = s.instances.filter((i) => i.role === 'reader' && i.healthy).length;
  const readersAll = s.instances.filter((i) => i.role === 'reader').length;
  const storageUp = s.storageNodes.filter((n) => n.healthy);
  const down = s.storageNodes.filter((n) => !n.healthy).map((n) => n.id);
  const instancesDown = s.instances.filter((i) => !i.healthy).map((i) => `${i.id} ${i.state}`);
  return [
    s.failoverInProgress ? 'writer: FAILOVER IN PROGRESS' : `writer ${s.writer ?? 'none'}`,
    `epoch ${s.epoch}`,
    `readers ${readersUp}/${readersAll}`,
    `storage ${storageUp.length}/${s.storageNodes.length}${down.length ? ` (down: ${down.join(', ')})` : ''}`,
    ...(instancesDown.length ? [`instances down: ${instancesDown.join(', ')}`] : []),
  ].join(' · ');
}
const watch = setInterval(() => {
  void (async () => {
    if (stopping) return;
    if (!emulators && !readSystemState(stateDir)) {
      console.error('borealis: the system this cluster runs beside has stopped');
      clearInterval(watch);
      await shutdown(0);
      return;
    }
    // With the Global Database a region's cluster may go down (`borealis kill --region`): the other
    // region carries on, so only the emulators and the function runner are vital then.
    // A region taken down by `borealis kill --region` is an outage, not a failure of the system.
    const down = regionsDown(stateDir);
    if (
      (emulators && !emulators.runningExcept(down)) ||
      (!cluster!.running && !secondary) ||
      [...runners, ...rdsApis].some(([region, r]) => !r.running && !down.has(region)) ||
      (globalEndpoint && !globalEndpoint.running)
    ) {
      console.error(
        'borealis: a process of the system exited unexpectedly; see the logs under the state dir',
      );
      clearInterval(watch);
      await shutdown(1);
      return;
    }
    if (secondary) for (const request of takeLauncherRequests(stateDir)) void answer(request);
    try {
      const s = await cluster!.status();
      const time = new Date().toISOString().slice(11, 19);
      for (const f of s.failovers.filter((x) => lastFailover === undefined || x.at > lastFailover)) {
        console.log(
          `[${time}] failover (${f.kind}): ${f.from ?? '-'} → ${f.to} in ${f.durationMs} ms, epoch ${f.epoch}`,
        );
        lastFailover = f.at;
      }
      const line = summary(s);
      if (line !== lastLine) {
        console.log(`[${time}] ${line}`);
        lastLine = line;
      }
    } catch {
      // The control plane is busy or restarting: the next tick tells.
    }
  })();
}, 500);

/** A request of `borealis global rejoin`: bring a region that was down back as a secondary. */
async function answer(request: RejoinRegionRequest): Promise<void> {
  let reply: LauncherReply;
  try {
    reply = await rejoinRegion(request.region);
  } catch (error) {
    reply = { ok: false, message: (error as Error).message };
  }
  putLauncherReply(stateDir, request.id, reply);
}

const rejoining = new Set<string>();

async function rejoinRegion(region: string): Promise<LauncherReply> {
  const state = readGlobalState(stateDir);
  const member = state && [state.primary, ...state.secondaries].find((m) => m.region === region);
  if (!state || !member) return { ok: false, message: `unknown region ${region}` };
  if (member === state.primary) {
    return {
      ok: false,
      message: `${region} is the primary region: rejoin brings back a region that is not (fail over first)`,
    };
  }
  if (rejoining.has(region)) return { ok: false, message: `${region} is already rejoining` };
  rejoining.add(region);
  try {
    return await bringBack(region, state, member);
  } finally {
    rejoining.delete(region);
  }
}

async function bringBack(
  region: string,
  state: NonNullable<ReturnType<typeof readGlobalState>>,
  member: GlobalMember,
): Promise<LauncherReply> {
  const answers = await fetch(`${member.controlPlaneUrl}/status`, {
    signal: AbortSignal.timeout(2_000),
  }).then(
    () => true,
    () => false,
  );
  if (answers) return { ok: false, message: `${region} is running: there is nothing to bring back` };
  // The region's AWS first (same ports: every endpoint handed out stays valid), then its functions —
  // after its archive's fence, so the backlog its redo stream kept through the outage can never put
  // the lost commits back into its archive.
  await emulators!.restartRegion(region);
  writeSystemState(stateDir, { ...readSystemState(stateDir)!, emulators: emulators!.state });
  const pending = state.pendingRejoins?.find((p) => p.region === region);
  if (pending) await fenceRegionArchive(stateDir, region, member.cluster, BigInt(pending.aboveLsn));
  if (runners.has(region) && !runners.get(region)!.running) runners.set(region, await startRunner(region));
  let archive: Awaited<ReturnType<typeof cutRegionArchive>> | undefined;
  if (pending) {
    // Its archive goes back to the promoted point first; then its volume discards above it.
    archive = await cutRegionArchive(stateDir, region, member.cluster, BigInt(pending.aboveLsn));
    writeRejoinRequest(member.dir, { ...pending, archiveFloor: archive.archiveFloor });
  }
  console.log(
    `borealis: ${region} is coming back as a secondary${pending ? ' (discarding its lost commits)' : ''}…`,
  );
  const restarted = await restartMemberAsSecondary(member, env);
  rejoined
    .get(region)
    ?.stop()
    .catch(() => undefined);
  rejoined.set(region, restarted);
  // Its RDS API again (same cluster control plane port), then what `kill --region` will take.
  if (rdsApis.has(region) && !rdsApis.get(region)!.running) {
    rdsApis.set(region, await startRdsApi(region, member.controlPlaneUrl));
  }
  recordRegionProcesses();
  const update = (m: GlobalMember) =>
    m.region === region
      ? { ...m, controlPlanePid: restarted.controlPlane.pid, proxyPid: restarted.proxy.pid }
      : m;
  updateGlobalState(stateDir, (now) => ({
    ...now,
    primary: update(now.primary),
    secondaries: now.secondaries.map(update),
    pendingRejoins: (now.pendingRejoins ?? []).filter((p) => p.region !== region),
  }));
  clearRegionDown(stateDir, region);
  const report = pending ? readRejoinReport(member.dir) : undefined;
  console.log(`borealis: ${region} rejoined as a secondary`);
  return {
    ok: true,
    message: `${region} rejoined as a secondary`,
    ...(report && { rejoin: { ...report, archive: archive?.cut } }),
  };
}
