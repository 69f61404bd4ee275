// `borealis up --aws`: one cluster's processes on this machine — the control plane (which starts the
// storage nodes, writer and readers) and the proxy — against the AWS endpoint of the environment
// (LocalStack or AWS: AWS_ENDPOINT_URL and the per-service overrides, core/aws/endpoints.ts), with no
// emulators and no local function runner: the deployed Lambda functions do that work. The control
// plane publishes the topology to the deployed SSM parameter, the writer publishes redo to the
// deployed stream, and restores asked on the provision queue start here (provision-consumer.ts).
// It writes the state dir like `npm start` does, so `borealis status|sql|kill|down` work unchanged.

import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetQueueUrlCommand } from '@aws-sdk/client-sqs';
import { s3Client, sqsClient, ssmClient } from '../../core/aws/clients.ts';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import { parseBinlogFormat } from '../../core/binlog/capture.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import type { ManagedProcess } from '../../core/process/spawn.ts';
import { defaultClusterName, primaryRegion, regionalResources } from '../../core/resources.ts';
import { LocalCluster } from '../../embedded/cluster.ts';
import { startRdsApi } from '../../embedded/rds-api-process.ts';
import {
  clusterDirPath,
  defaultStateDir,
  readClusterEntry,
  readSystemState,
  removeClusterEntry,
  removeSystemState,
  stateDirPath,
  writeClusterEntry,
  writeSystemState,
} from '../../embedded/state.ts';
import { checkDeployedResources, DeployedResourceError } from './checks.ts';
import { ProvisionConsumer, type ProvisionedClusters } from './provision-consumer.ts';

const usage = `usage: borealis up --aws [options]    (this process: cli/aws-launcher/main.ts)

Runs one Borealis cluster on this machine against deployed AWS resources (LocalStack or AWS), in the
foreground until SIGINT/SIGTERM: the control plane (six storage nodes in three AZs, a writer,
readers) and the proxy. Endpoints and credentials come from the environment (AWS_ENDPOINT_URL,
AWS_ENDPOINT_URL_<SERVICE>, AWS_ACCESS_KEY_ID, …). Checks first that the region's backup bucket, redo
stream, topology parameter and provision queue exist (deploy first: npm run deploy:local).

options:
  --state-dir DIR   where data, logs and system.json go (default ${defaultStateDir})
  --cluster NAME    the deployed cluster (default ${defaultClusterName})
  --region R        the region (default: AWS_REGION, else ${primaryRegion})
  --readers N       readers besides the writer, 0-15 (default 2); restored clusters get as many
  --pg-count N      protection groups of a new volume (default 8); restored clusters get as many
  --pages-per-pg N  pages per PG of a new volume (default 65536)
  --binlog-format ROW|OFF  the cluster's binlog_format (default ROW); restored clusters get the same
  --help            this text`;

const { values } = parseFlags('borealis up --aws', {
  'state-dir': { type: 'string', default: defaultStateDir },
  cluster: { type: 'string', default: defaultClusterName },
  region: { type: 'string', default: process.env.AWS_REGION || primaryRegion },
  readers: { type: 'string', default: '2' },
  'pg-count': { type: 'string', default: '8' },
  'pages-per-pg': { type: 'string', default: '65536' },
  'binlog-format': { type: 'string', default: 'ROW' },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const program = 'borealis up --aws';
const readers = nonNegativeIntFlag(program, 'readers', values.readers);
if (readers > 15) {
  console.error(`${program}: --readers must be 0-15 (Aurora allows 15 replicas)`);
  process.exit(2);
}
const binlogFormat = parseBinlogFormat(values['binlog-format']!);
if (binlogFormat === undefined) {
  console.error(`${program}: --binlog-format must be ROW or OFF, got '${values['binlog-format']}'`);
  process.exit(2);
}
// Geometry and settings of the cluster (and of the clusters restored here).
const geometry = [
  '--binlog-format',
  binlogFormat,
  '--pg-count',
  String(nonNegativeIntFlag(program, 'pg-count', values['pg-count'])),
  '--pages-per-pg',
  String(nonNegativeIntFlag(program, 'pages-per-pg', values['pages-per-pg'])),
];
const stateDir = values['state-dir'];
const { cluster: clusterName, region } = values;
const resources = regionalResources(region, clusterName);
const env: NodeJS.ProcessEnv = { ...process.env, AWS_REGION: region };

const running = readSystemState(stateDir);
if (running) {
  console.error(
    `borealis: a system already runs from ${stateDirPath(stateDir)} (launcher pid ${running.launcherPid}); stop it with \`borealis down\` first`,
  );
  process.exit(1);
}
try {
  await checkDeployedResources({ region, cluster: clusterName, env });
} catch (error) {
  console.error(
    `borealis: ${error instanceof DeployedResourceError ? error.message : (error as Error).message}`,
  );
  process.exit(1);
}

// Claimed at once (no cluster yet), so a second launcher on the same state dir refuses to start.
const systemState = {
  launcherPid: process.pid,
  startedAt: new Date().toISOString(),
  emulators: { regions: [], pids: [] },
};
writeSystemState(stateDir, systemState);
console.log(
  `borealis: starting cluster '${clusterName}' in ${region} against deployed resources (state dir ${stateDirPath(stateDir)})`,
);

let cluster: LocalCluster | undefined;
let consumer: ProvisionConsumer | undefined;
let rdsApi: ManagedProcess | undefined;
const restored = new Map<string, { cluster: LocalCluster; requestId: string }>();
const sqs = sqsClient({ region, env });
const ssm = ssmClient({ region, env });
const s3 = s3Client({ region, env });
let stopping = false;

async function shutdown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    console.log('\nborealis: stopping every process this launcher started…');
    await consumer?.stop().catch(() => undefined);
    for (const [name, r] of restored) {
      await r.cluster.stop().catch(() => undefined);
      removeClusterEntry(stateDir, name);
    }
    await rdsApi?.stop().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    removeClusterEntry(stateDir, clusterName);
    removeSystemState(stateDir);
    sqs.destroy();
    ssm.destroy();
    s3.destroy();
    console.log('borealis: stopped');
  }
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(0));
process.on('SIGTERM', () => void shutdown(0));
exitWithParent(() => void shutdown(0));

const clusterDir = clusterDirPath(stateDir, clusterName);
try {
  cluster = await LocalCluster.start({
    dir: clusterDir,
    name: clusterName,
    region,
    readers,
    env,
    // The flags are given explicitly: on AWS itself no endpoint variable is set.
    publishRedo: false,
    controlPlaneArgs: [
      ...geometry,
      '--publish-ssm',
      '--redo-stream',
      resources.redoStream.name,
      '--backup-bucket',
      resources.backupBucket,
    ],
  });
} catch (error) {
  console.error(`borealis: the cluster did not start: ${(error as Error).message}`);
  await shutdown(1);
}
// The region's RDS API: `aws rds` and @aws-sdk/client-rds at AWS_ENDPOINT_URL_RDS (everything else
// at the deployed AWS: LocalStack or AWS). It finds clusters through their SSM topology parameters.
try {
  rdsApi = await startRdsApi({
    region,
    controlPlaneUrl: cluster!.controlPlaneUrl,
    env,
    logFile: join(clusterDir, 'logs', 'rds-api.log'),
  });
} catch (error) {
  console.error(`borealis: the RDS API did not start: ${(error as Error).message}`);
  await shutdown(1);
}
// Assigned, or the launcher has stopped (shutdown never returns).
let status!: ClusterStatus;
try {
  status = await cluster!.statusWhen((s) => s.endpoints.rds !== undefined, 'the RDS API registered');
} catch (error) {
  console.error(`borealis: the cluster did not start: ${(error as Error).message}`);
  await shutdown(1);
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
writeSystemState(stateDir, { ...systemState, cluster: entry });

/** Restored clusters run here too, each from its own dir; their entries name their control plane. */
const clusters: ProvisionedClusters = {
  // A stopped cluster's data counts too: a restore into its dir would reopen the old volume.
  exists: (name) =>
    restored.has(name) ||
    readClusterEntry(stateDir, name) !== undefined ||
    existsSync(clusterDirPath(stateDir, name)),
  runningRequest: (name) => restored.get(name)?.requestId,
  async start(job: RestoreJob) {
    const dir = clusterDirPath(stateDir, job.targetCluster);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const jobFile = join(dir, 'restore-job.json');
    writeFileSync(jobFile, `${JSON.stringify(job, null, 2)}\n`);
    const started = await LocalCluster.start({
      dir,
      name: job.targetCluster,
      region,
      readers,
      env,
      // A restored cluster has no deployed stream or bucket of its own: it does not publish redo.
      publishRedo: false,
      controlPlaneArgs: [...geometry, '--publish-ssm', '--restore-job', jobFile],
    });
    restored.set(job.targetCluster, { cluster: started, requestId: job.requestId });
    writeClusterEntry(stateDir, {
      name: job.targetCluster,
      region,
      controlPlaneUrl: started.controlPlaneUrl,
      ready: true,
      controlPlanePid: started.controlPlane.pid,
      proxyPid: started.proxy.pid,
      // `borealis down --cluster NAME` stops this cluster alone: its control plane stands for it.
      launcherPid: started.controlPlane.pid,
    });
  },
  async remove(name: string) {
    const r = restored.get(name);
    restored.delete(name);
    await r?.cluster.stop();
    removeClusterEntry(stateDir, name);
    rmSync(clusterDirPath(stateDir, name), { recursive: true, force: true });
  },
};

try {
  const queueUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: resources.provisionQueue })))
    .QueueUrl!;
  consumer = new ProvisionConsumer({
    sqs,
    ssm,
    s3,
    queueUrl,
    clusters,
    protectedClusters: new Set([clusterName]),
    log: (message, fields) =>
      console.log(`borealis: ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}`),
  });
  consumer.start();
} catch (error) {
  console.error(
    `borealis: cannot consume the provision queue ${resources.provisionQueue}: ${(error as Error).message}`,
  );
  await shutdown(1);
}

console.log(`
  cluster '${status.cluster}' (${status.region}) on deployed resources
    cluster endpoint (writer)   ${status.endpoints.writer}
    reader endpoint             ${status.endpoints.reader}
    resourceArn                 ${status.resourceArn}
    secretArn                   ${status.secretArn}
    topology                    SSM /borealis/${clusterName}/topology
    redo stream                 ${resources.redoStream.name}   bucket ${resources.backupBucket}
    restores                    from SQS ${resources.provisionQueue}
    RDS API                     ${status.endpoints.rds}   (AWS_ENDPOINT_URL_RDS for aws rds / client-rds)
`);
console.log('borealis: ready — Ctrl-C stops everything');

// A cluster whose processes exit takes the launcher down (the primary) or is forgotten (a restored
// one stopped with `borealis down --cluster NAME`: its proxy goes with it).
const watch = setInterval(() => {
  if (stopping) return;
  if (!cluster!.running) {
    console.error('borealis: a process of the cluster exited unexpectedly; see the logs under the state dir');
    clearInterval(watch);
    void shutdown(1);
    return;
  }
  for (const [name, r] of restored) {
    if (r.cluster.running) continue;
    restored.delete(name);
    removeClusterEntry(stateDir, name);
    void r.cluster.stop().catch(() => undefined);
    console.log(`borealis: restored cluster ${name} stopped`);
  }
}, 500);
