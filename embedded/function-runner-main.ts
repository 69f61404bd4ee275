// Process entry of the local function runner (embedded mode): one per region and cluster, feeding the
// Kinesis-triggered functions of core/functions.ts from that region's emulator, delivering that
// region's EventBridge bus (the state dir's event boxes) and running its schedules. Endpoints and
// credentials come from the environment, as for every Borealis process (core/aws/endpoints.ts).
import { join } from 'node:path';
import { kinesisClient, s3Client } from '../core/aws/clients.ts';
import { topologyDirVariable } from '../core/cluster/topology-store.ts';
import {
  borealisEventSource,
  eventDetailTypes,
  functionDefinitions,
  functionEnv,
  functionEnvironment,
  rateMs,
} from '../core/functions.ts';
import { createLogger } from '../core/log.ts';
import { parseFlags } from '../core/process/flags.ts';
import { exitWithParent } from '../core/process/parent-watch.ts';
import { announceReady } from '../core/process/spawn.ts';
import { defaultClusterName, primaryRegion, regionalResources } from '../core/resources.ts';
import { createHandler as createRetentionHandler } from '../functions/backup-retention/index.ts';
import { handleRestoreRequested } from '../functions/restore/handler.ts';
import { createHandler as createSnapshotHandler } from '../functions/snapshot/index.ts';
import { createHandler as createExportHandler } from '../functions/snapshot-export/index.ts';
import { EventRunner } from './event-runner.ts';
import {
  FunctionRunner,
  kinesisFunctionsFor,
  lambdaContext,
  pollIntervalMsDefault,
  pollIntervalMsMin,
} from './function-runner.ts';
import { regionTopologyDir } from './global.ts';
import { makeEvent } from './local-events.ts';
import { LocalProvisioner } from './restore-provisioner.ts';
import { defaultStateDir, stateDirPath } from './state.ts';

const usage = `usage: function-runner [options]

Runs the Borealis Lambda functions locally: reads each Kinesis trigger's stream from the emulator,
invokes the same handlers with the same event shapes as Lambda, and checkpoints every shard in
the state dir (<state-dir>/functions/<region>/checkpoints; skipped batches in .../failed).

options:
  --state-dir DIR    the embedded state dir (default ${defaultStateDir})
  --region NAME      the region whose emulators and resources to use (default ${primaryRegion})
  --cluster NAME     the cluster whose streams and bucket to use (default ${defaultClusterName})
  --poll-ms N        longest idle poll interval per shard (default ${pollIntervalMsDefault}); right
                     after records a shard is polled every ${pollIntervalMsMin} ms, backing off to N
  --help             this text`;

const { values } = parseFlags('function-runner', {
  'state-dir': { type: 'string', default: defaultStateDir },
  region: { type: 'string', default: primaryRegion },
  cluster: { type: 'string', default: defaultClusterName },
  'poll-ms': { type: 'string', default: String(pollIntervalMsDefault) },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const pollIntervalMs = Number(values['poll-ms']);
if (!Number.isInteger(pollIntervalMs) || pollIntervalMs < 1) {
  console.error(`function-runner: --poll-ms must be a positive integer, got '${values['poll-ms']}'`);
  process.exit(2);
}
let resources: ReturnType<typeof regionalResources>;
try {
  resources = regionalResources(values.region, values.cluster);
} catch (error) {
  console.error(`function-runner: ${(error as Error).message}`);
  process.exit(2);
}
// The backup retention period (BACKUP_RETENTION_DAYS of this process, 1–35, default 1): a bad value
// stops the runner now rather than failing the hourly expiry.
let retentionEnvironment: Record<string, string>;
try {
  retentionEnvironment = functionEnvironment(resources, values.cluster, {
    backupRetentionDays: process.env[functionEnv.backupRetentionDays],
  });
} catch (error) {
  console.error(`function-runner: ${(error as Error).message}`);
  process.exit(2);
}

const logger = createLogger('function-runner', { region: values.region, cluster: values.cluster });
const kinesis = kinesisClient({ region: values.region, env: process.env });
const functions = kinesisFunctionsFor(resources, values.cluster, process.env);
const runner = new FunctionRunner({
  region: values.region,
  stateDir: values['state-dir'],
  kinesis,
  functions,
  logger,
  pollIntervalMs,
});
await runner.start();
// EventBridge rules: events the CLI puts in the state dir's inbox, for the same handlers.
const s3 = s3Client({ region: values.region, env: process.env });
// Snapshot exports (`borealis export start --no-wait`): the same handler as the Lambda function.
const exportHandler = createExportHandler({
  ...process.env,
  AWS_REGION: values.region,
  ...functionEnvironment(resources, values.cluster),
});
const exportDefinition = functionDefinitions['snapshot-export'];
const events: EventRunner = new EventRunner({
  stateDir: values['state-dir'],
  region: values.region,
  logger,
  routes: [
    {
      name: 'restore',
      source: borealisEventSource,
      detailType: eventDetailTypes.restoreRequested,
      handler: (event) =>
        handleRestoreRequested(event, {
          s3,
          bucket: resources.backupBucket,
          region: values.region,
          provisioner: new LocalProvisioner(values['state-dir']),
          emit: async (detailType, detail) =>
            events.emit(makeEvent(borealisEventSource, detailType, detail, values.region)),
        }),
    },
    {
      name: 'snapshot',
      source: borealisEventSource,
      detailType: eventDetailTypes.snapshotRequested,
      handler: (event) => invokeSnapshot(event),
    },
    {
      name: 'snapshot-export',
      source: borealisEventSource,
      detailType: eventDetailTypes.exportRequested,
      handler: (event) =>
        exportHandler(
          event as never,
          lambdaContext(exportDefinition, values.region, Date.now() + exportDefinition.timeoutSeconds * 1000),
        ),
    },
  ],
});
events.start();

// Schedules (EventBridge `rate(...)` expressions of core/functions.ts), for the snapshot function.
const snapshotEnv = {
  ...process.env,
  AWS_REGION: values.region,
  // The snapshot function finds a cluster through the topology its control plane persists there (a
  // Global Database secondary's is the region's; it skips the schedule while a secondary).
  [topologyDirVariable]:
    values.region === primaryRegion
      ? join(stateDirPath(values['state-dir']), 'clusters')
      : regionTopologyDir(values['state-dir'], values.region),
  ...functionEnvironment(resources, values.cluster),
};
const snapshotHandler = createSnapshotHandler(snapshotEnv);
const snapshotDefinition = functionDefinitions.snapshot;
function invokeSnapshot(event: unknown): Promise<unknown> {
  const deadline = Date.now() + snapshotDefinition.timeoutSeconds * 1000;
  return snapshotHandler(event as never, lambdaContext(snapshotDefinition, values.region, deadline));
}
const schedules: NodeJS.Timeout[] = [];
for (const trigger of snapshotDefinition.triggers) {
  if (trigger.kind !== 'schedule') continue;
  const everyMs = rateMs(trigger.expression);
  schedules.push(
    setInterval(() => {
      invokeSnapshot(makeEvent('aws.events', 'Scheduled Event', {}, values.region)).catch((error: Error) =>
        logger.error({ function: 'snapshot', err: error.message }, 'scheduled snapshot failed'),
      );
    }, everyMs),
  );
}
// The backup retention function, on its own schedule.
const retentionHandler = createRetentionHandler({
  ...process.env,
  AWS_REGION: values.region,
  ...retentionEnvironment,
});
const retentionDefinition = functionDefinitions['backup-retention'];
for (const trigger of retentionDefinition.triggers) {
  if (trigger.kind !== 'schedule') continue;
  schedules.push(
    setInterval(() => {
      const deadline = Date.now() + retentionDefinition.timeoutSeconds * 1000;
      const event = makeEvent('aws.events', 'Scheduled Event', {}, values.region);
      retentionHandler(event as never, lambdaContext(retentionDefinition, values.region, deadline)).catch(
        (error: Error) =>
          logger.error(
            { function: 'backup-retention', err: error.message },
            'scheduled backup expiry failed',
          ),
      );
    }, rateMs(trigger.expression)),
  );
}
logger.info({ functions: functions.map((f) => `${f.name} <- ${f.streamName}`) }, 'function runner started');
announceReady({
  service: 'function-runner',
  functions: [...functions.map((f) => f.name), 'restore', 'snapshot', 'snapshot-export', 'backup-retention'],
});

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    events.stop();
    for (const timer of schedules) clearInterval(timer);
    await Promise.race([runner.stop(), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    kinesis.destroy();
  }
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));
