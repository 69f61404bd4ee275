// Process entry of the control plane: owns one cluster's processes (six storage nodes in three AZs,
// a writer, readers), health-checks them, fails the writer over, brings failed instances back as
// readers and publishes the topology (state dir file; SSM when an AWS endpoint is configured).
// Serves its API, /health and /metrics on --port. Prints {"ready":true,...} once the cluster serves.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Counter, Gauge, Histogram } from 'prom-client';
import { ssmClient } from '../../core/aws/clients.ts';
import { resolveEndpoint } from '../../core/aws/endpoints.ts';
import { isWindowSeconds } from '../../core/backtrack/request.ts';
import { parseBinlogFormat } from '../../core/binlog/capture.ts';
import { newRegistry, startServiceHttp } from '../../core/http/service-http.ts';
import { createLogger } from '../../core/log.ts';
import {
  addressFlagOptions,
  addressFlags,
  addressFlagUsage,
  httpUrl,
} from '../../core/process/address-flags.ts';
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { clusterArns, defaultClusterName, primaryRegion } from '../../core/resources.ts';
import { controlPlaneApi } from './api.ts';
import { BacktrackService } from './backtrack.ts';
import { Controller } from './controller.ts';
import { ecsFleetFromEnv, ecsVolumeFromEnv } from './ecs-fleet-env.ts';
import type { Fleet } from './fleet.ts';
import { type GlobalRole, globalRoutes, withGlobalRoutes } from './global.ts';
import {
  applyInstanceChanges,
  instanceChangesOf,
  readInstanceChanges,
  writeInstanceChanges,
} from './instance-changes.ts';
import { LocalProcessFleet } from './local-fleet.ts';
import { type Placement, readPlacement } from './placement.ts';
import { readRestoreJob, runRestore } from './restore.ts';
import { readPersistedTopology, TopologyPublisher } from './topology-publisher.ts';
import { setUpVolume, volumePath } from './volume-setup.ts';

const replicaApplierEntry = fileURLToPath(new URL('../replica-applier/main.ts', import.meta.url));

import { readRejoinReport, writeRejoinRequest } from '../replica-applier/applier.ts';

const usage = `usage: control-plane --dir DIR [options]

The Borealis control plane for one cluster: starts six storage nodes in three AZs, a writer and
readers, health-checks them, fails over, and publishes the topology.

options:
  --dir DIR                 the cluster's data: volume.json, nodes/, logs/, topology.json
  --cluster NAME            cluster name (default ${defaultClusterName})
  --region R                region (default ${primaryRegion}); AZs are R + a, b, c
  --readers N               readers besides the writer, 0-15 (default 2); tiers 0, 1, 2, …
  --port N                  API, /health and /metrics (default 0: any)
  --pg-count N              protection groups of a new volume (default 8)
  --pages-per-pg N          pages per PG of a new volume (default 65536)
  --page-size N             page size of a new volume (default 4096)
  --cache-pages N           buffer cache of each instance in pages (default 65536)
  --health-interval-ms N    how often each process is asked for /health (default 1000); a crashed
                            process is seen at once from its exit, a silent one after the threshold
  --health-timeout-ms N     one health check's timeout (default 1000)
  --failure-threshold-ms N  no healthy answer for this long: the instance is failed (default 5000)
  --restart-delay-ms N      a failed instance comes back as a reader after this (default 3000)
  --drain-ms N              planned failover: at most this long for the proxy to hold new requests
                            before the old writer stops (it finishes statements in flight itself;
                            a proxy that long-polls says at once) (default 500)
  --redo-flush-window-ms N  the writers' redo stream aggregation window (default: the writer's, 200 ms)
  --writer-standby on|off   local fleet: keep a warm standby writer process that a failover or
                            backtrack activates instead of starting Node (default on; ADR 019)
  --restore-job FILE        create this cluster's volume from a backup first (a JSON RestoreJob
                            written by the restore function; done once, remembered in the dir)
  --redo-stream NAME        writers publish durable redo to this Kinesis stream (needs --backup-bucket)
  --backup-bucket NAME      the backup bucket (archive watermark) writers resume the redo stream from
  --binlog-format ROW|OFF   the cluster's binlog_format: ROW (default) has every writer capture
                            row changes into the redo (the binlog); OFF captures nothing
  --backtrack-window-s N     keep history to backtrack this far (0-259200 s; default 0: off);
                            POST /backtrack, GET /backtracks (ADR 015)
  --publish-ssm             also write the topology to SSM (on by default when an SSM/AWS
                            endpoint is configured: AWS_ENDPOINT_URL[_SSM])
  --placement FILE          local fleet: run storage nodes and instances where this file says
                            (a launcher and an address each; network-partition tests)
  --global-secondary        a Global Database secondary cluster: the writer slot runs the replica
                            applier (services/replica-applier), which applies the primary's redo
  --global-primary          the primary cluster of a Global Database (a secondary replicates it):
                            backtrack is refused, as on Aurora
  --fleet local|ecs         where storage nodes and instances run (default local: child processes;
                            ecs: ECS tasks, configured by BOREALIS_ECS_* variables — see ecs-fleet-env.ts)
${addressFlagUsage(28)}
  --help                    this text

API (JSON): GET /status, GET /topology?after=V (long-poll), POST /endpoints, POST /kill,
POST /start, POST /failover, GET /volume — see core/cluster/topology.ts and docs/cluster.md.`;

const { values } = parseFlags('control-plane', {
  dir: { type: 'string' },
  cluster: { type: 'string', default: defaultClusterName },
  region: { type: 'string', default: primaryRegion },
  readers: { type: 'string', default: '2' },
  port: { type: 'string', default: '0' },
  'pg-count': { type: 'string', default: '8' },
  'pages-per-pg': { type: 'string', default: '65536' },
  'page-size': { type: 'string', default: '4096' },
  'cache-pages': { type: 'string', default: '65536' },
  'health-interval-ms': { type: 'string', default: '1000' },
  'health-timeout-ms': { type: 'string', default: '1000' },
  'failure-threshold-ms': { type: 'string', default: '5000' },
  'restart-delay-ms': { type: 'string', default: '3000' },
  'drain-ms': { type: 'string', default: '500' },
  'writer-standby': { type: 'string', default: 'on' },
  'redo-flush-window-ms': { type: 'string' },
  'publish-ssm': { type: 'boolean', default: false },
  'redo-stream': { type: 'string' },
  'backup-bucket': { type: 'string' },
  'binlog-format': { type: 'string', default: 'ROW' },
  'backtrack-window-s': { type: 'string', default: '0' },
  'restore-job': { type: 'string' },
  fleet: { type: 'string', default: 'local' },
  'global-secondary': { type: 'boolean', default: false },
  'global-primary': { type: 'boolean', default: false },
  placement: { type: 'string' },
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values.dir) {
  console.error(`control-plane: --dir is required\n\n${usage}`);
  process.exit(2);
}
type IntFlag =
  | 'readers'
  | 'port'
  | 'pg-count'
  | 'pages-per-pg'
  | 'page-size'
  | 'cache-pages'
  | 'health-interval-ms'
  | 'health-timeout-ms'
  | 'failure-threshold-ms'
  | 'restart-delay-ms'
  | 'drain-ms';
const int = (name: IntFlag) => nonNegativeIntFlag('control-plane', name, values[name]);
const readers = int('readers');
if (readers > 15) {
  console.error('control-plane: --readers must be 0-15 (Aurora allows 15 replicas)');
  process.exit(2);
}

const backtrackWindowSeconds = Number(values['backtrack-window-s']);
if (!/^\d+$/.test(values['backtrack-window-s']!) || !isWindowSeconds(backtrackWindowSeconds)) {
  console.error('control-plane: --backtrack-window-s must be 0-259200 (seconds; 0 turns backtrack off)');
  process.exit(2);
}
const binlogFormat = parseBinlogFormat(values['binlog-format']!);
if (binlogFormat === undefined) {
  console.error(`control-plane: --binlog-format must be ROW or OFF, got '${values['binlog-format']}'`);
  process.exit(2);
}
if (values['writer-standby'] !== 'on' && values['writer-standby'] !== 'off') {
  console.error(`control-plane: --writer-standby must be on or off, got '${values['writer-standby']}'`);
  process.exit(2);
}
if (values.fleet !== 'local' && values.fleet !== 'ecs') {
  console.error(`control-plane: --fleet must be local or ecs, got '${values.fleet}'`);
  process.exit(2);
}
const addresses = addressFlags('control-plane', values);
let placement: Placement | undefined;
try {
  placement = values.placement === undefined ? undefined : readPlacement(values.placement);
} catch (error) {
  console.error(`control-plane: ${(error as Error).message}`);
  process.exit(2);
}
const dir = values.dir;
const { cluster, region } = values;
const logger = createLogger('control-plane', { cluster });
const azs = ['a', 'b', 'c'].map((x) => `${region}${x}`);
// On ECS the deployment computed the volume config (storage nodes by their Cloud Map names).
const volume =
  values.fleet === 'ecs'
    ? ecsVolumeFromEnv(process.env, dir)
    : await setUpVolume({
        dir,
        azs,
        volumeId: `${cluster}-volume`,
        pgCount: int('pg-count'),
        pagesPerPg: int('pages-per-pg'),
        pageSizeBytes: int('page-size'),
        hostOf: (id) => placement?.storage[id]?.host,
      });
// instance-1 starts as the writer (tier 1); readers get tiers 0, 1, 2, … in order; AZs round-robin.
const flagInstances = Array.from({ length: readers + 1 }, (_, i) => ({
  id: `instance-${i + 1}`,
  az: azs[i % azs.length]!,
  tier: i === 0 ? 1 : Math.min(i - 1, 15),
}));
// Instances created and deleted through the RDS API outlive a restart of the control plane.
const instanceChangesFile = join(dir, 'instances.json');
const instances = applyInstanceChanges(flagInstances, readInstanceChanges(instanceChangesFile));
const topologyFile = join(dir, 'topology.json');
const persisted = readPersistedTopology(topologyFile);
// instance-1 unless the topology names another, or instance-1 was deleted (DeleteDBInstance).
const firstWriter =
  persisted?.writer && instances.some((i) => i.id === persisted.writer!.id)
    ? persisted.writer.id
    : (instances.find((i) => i.id === 'instance-1') ?? instances[0]!).id;

const registry = newRegistry('control-plane', { cluster });
const failovers = new Counter({
  name: 'borealis_control_plane_failovers_total',
  help: 'Writer failovers by kind (unplanned, planned, restart)',
  labelNames: ['kind'],
  registers: [registry],
});
const failoverSeconds = new Histogram({
  name: 'borealis_control_plane_failover_duration_seconds',
  help: 'Writer failure detected (or planned failover asked) to new writer open',
  buckets: [0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60],
  registers: [registry],
});
let controller: Controller | undefined;
const globalRole: GlobalRole = {
  secondary: values['global-secondary'] === true,
  promoting: false,
  promotedAtMs: null,
};
// The backtrack service is made after the fleet (it needs the controller); no writer starts before.
const backtrackWindowNow = (): number => backtrackService?.windowSeconds ?? backtrackWindowSeconds;
let backtrackService: BacktrackService | undefined;
const fleetOptions = {
  region,
  cluster,
  instanceArgs: ['--cache-pages', String(int('cache-pages'))],
  // At each writer start: the backtrack window is ModifyDBCluster's once it set one.
  writerArgs: () => [
    '--binlog-format',
    binlogFormat,
    ...(backtrackWindowNow() === 0 ? [] : ['--backtrack-window-s', String(backtrackWindowNow())]),
    ...(values['redo-stream'] === undefined ? [] : ['--redo-stream', values['redo-stream']]),
    ...(values['backup-bucket'] === undefined ? [] : ['--backup-bucket', values['backup-bucket']]),
    ...(values['redo-flush-window-ms'] === undefined
      ? []
      : [
          '--redo-flush-window-ms',
          String(nonNegativeIntFlag('control-plane', 'redo-flush-window-ms', values['redo-flush-window-ms'])),
        ]),
  ],
  onExit: (kind: 'storage' | 'instance', id: string, info: { code: number | null; signal: string | null }) =>
    controller?.onExit(kind, id, info),
};
const fleet: Fleet =
  values.fleet === 'ecs'
    ? ecsFleetFromEnv(process.env, { ...fleetOptions, logger }, volume.nodes, instances)
    : new LocalProcessFleet(
        {
          ...fleetOptions,
          dir,
          volumePath: volumePath(dir),
          storageArgs: [],
          placement,
          writerStandby: values['writer-standby'] === 'on',
          ...(values['global-secondary'] && { writerEntry: replicaApplierEntry }),
        },
        volume.nodes,
        instances,
      );
const arns = clusterArns(region, cluster);
controller = new Controller({
  fleet,
  logger,
  cluster,
  region,
  ...arns,
  healthIntervalMs: int('health-interval-ms'),
  healthTimeoutMs: int('health-timeout-ms'),
  failureThresholdMs: int('failure-threshold-ms'),
  restartDelayMs: int('restart-delay-ms'),
  drainMs: int('drain-ms'),
  restartWriterInPlace: () => globalRole.secondary,
  globalRole: () =>
    values['global-secondary'] === true || values['global-primary'] === true
      ? globalRole.secondary
        ? 'secondary'
        : 'primary'
      : undefined,
  onEvent: (event) => {
    failovers.inc({ kind: event.kind });
    failoverSeconds.observe(event.durationMs / 1000);
  },
  onInstancesChanged: () =>
    writeInstanceChanges(
      instanceChangesFile,
      instanceChangesOf(flagInstances, [...fleet.instances.values()]),
    ),
});
const ctl = controller;
new Gauge({
  name: 'borealis_control_plane_instances_healthy',
  help: 'Instances answering their health checks, by role',
  labelNames: ['role'],
  registers: [registry],
  collect() {
    this.reset();
    for (const i of ctl.status().instances) if (i.healthy) this.inc({ role: i.role });
  },
});
new Gauge({
  name: 'borealis_control_plane_storage_nodes_healthy',
  help: 'Storage nodes answering their health checks',
  registers: [registry],
  collect() {
    this.set(ctl.status().storageNodes.filter((n) => n.healthy).length);
  },
});
new Gauge({
  name: 'borealis_control_plane_epoch',
  help: 'Volume epoch of the current writer',
  registers: [registry],
  collect() {
    this.set(Number(ctl.status().epoch));
  },
});

const publishSsm = values['publish-ssm'] || resolveEndpoint('ssm', region) !== undefined;
const publisher = new TopologyPublisher(
  { file: topologyFile, logger, ssm: publishSsm ? ssmClient({ region }) : undefined },
  {
    cluster,
    region,
    epoch: persisted?.epoch ?? '0',
    writer: null,
    readers: [],
    failoverInProgress: false,
    ...arns,
  },
  persisted?.version ?? 0,
);
controller.attach(publisher);
// A storage node that missed a marker push learns the list in the background (ADR 015).
const markerRepushes = new Counter({
  name: 'borealis_backtrack_marker_repushes_total',
  help: 'Background re-pushes of the backtrack marker list to a storage node that reported fewer markers',
  labelNames: ['result'],
  registers: [registry],
});
const backtrack = new BacktrackService({
  dir,
  volume,
  logger,
  controller,
  windowSeconds: backtrackWindowSeconds,
  binlogOn: binlogFormat === 'ROW',
  // A Global Database member refuses backtrack (Aurora): a secondary, or the primary it replicates.
  isGlobalMember: values['global-secondary'] === true || values['global-primary'] === true,
  onMarkerRepush: (result) => markerRepushes.inc({ result }),
});
backtrackService = backtrack;
backtrack.startMarkerRepush(int('health-interval-ms'));
// Aurora's backtrack metrics (ADR 015).
new Gauge({
  name: 'borealis_backtrack_change_records_stored',
  help: 'BacktrackChangeRecordsStored: redo records storage holds (one copy)',
  registers: [registry],
  collect() {
    this.set(backtrack.changeRecordsStored());
  },
});
new Gauge({
  name: 'borealis_backtrack_window_actual_minutes',
  help: 'BacktrackWindowActual: how far back a backtrack can go now, in minutes',
  registers: [registry],
  collect() {
    this.set(backtrack.windowActualMinutes());
  },
});
new Gauge({
  name: 'borealis_backtrack_window_target_minutes',
  help: 'BacktrackWindowTarget: the backtrack window asked for (--backtrack-window-s), in minutes',
  registers: [registry],
  collect() {
    this.set(backtrack.windowSeconds / 60);
  },
});
// Global Database: a secondary can be promoted (POST /global/promote, services/control-plane/global.ts).
const globalApi = globalRoutes({
  role: globalRole,
  controller,
  promoteFleet: (lsnFloor) => {
    if (!(fleet instanceof LocalProcessFleet))
      throw new Error('a global secondary runs on the local fleet only');
    fleet.promoteToWriter(lsnFloor);
  },
  globalMember: values['global-secondary'] === true || values['global-primary'] === true,
  demoteFleet: (discard) => {
    if (!(fleet instanceof LocalProcessFleet))
      throw new Error('a global database member runs on the local fleet only');
    // The applier opens this volume with the writer's recovery (rejoin.json), not at a position an
    // earlier spell as a secondary left behind.
    writeRejoinRequest(dir, discard);
    fleet.demoteToApplier(replicaApplierEntry);
  },
  rejoinReport: () => readRejoinReport(dir),
  logger,
});
const http = await startServiceHttp({
  port: int('port'),
  host: addresses.bind,
  registry,
  health: () => ({ healthy: true, service: 'control-plane', cluster, writer: ctl.writer?.id ?? null }),
  routes: withGlobalRoutes(globalApi, controlPlaneApi(controller, publisher, volume, backtrack)),
});

// Before the cluster is ready (a restore can take minutes) the CLI follows progress through /status.
writeFileSync(join(dir, 'control-plane.url'), `${httpUrl(addresses.advertise, http.port)}\n`);
// Published with the topology (with the volume's URL): how deployed functions reach the cluster.
controller.setControlPlaneUrl(httpUrl(addresses.advertise, http.port));

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    logger.info('stopping the cluster');
    publisher.close();
    await ctl.stop();
    http.server.close();
  }
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));

const restoreJob = values['restore-job'] ? readRestoreJob(values['restore-job']) : undefined;
try {
  await controller.bootstrap(
    firstWriter,
    restoreJob &&
      (() =>
        runRestore({
          job: restoreJob,
          dir,
          volume,
          logger,
          report: (progress) => {
            ctl.restore = progress;
          },
        })),
  );
} catch (error) {
  logger.fatal({ err: (error as Error).message }, 'the cluster did not start');
  console.error(`control-plane: the cluster did not start: ${(error as Error).message}`);
  await stop(1);
}
controller.start();
logger.info({ port: http.port, writer: firstWriter, readers }, 'control plane ready');
announceReady({
  service: 'control-plane',
  port: http.port,
  url: httpUrl(addresses.advertise, http.port),
  cluster,
  region,
  writer: firstWriter,
  ...arns,
});
