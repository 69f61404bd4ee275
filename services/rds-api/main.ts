// Process entry of a region's RDS API (ADR 020): the Query protocol endpoint that `@aws-sdk/client-rds`
// and `aws rds --endpoint-url` (or AWS_ENDPOINT_URL_RDS) talk to, over the clusters that published a
// topology in the region. It registers its URL with each cluster's control plane (`endpoints.rds` in
// `borealis status --json`).
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Histogram } from 'prom-client';
import { eventBridgeClient, s3Client, ssmClient } from '../../core/aws/clients.ts';
import { topologyDirVariable } from '../../core/cluster/topology-store.ts';
import { functionEnv } from '../../core/functions.ts';
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
import { queryBodyBytesMax, queryErrorXml, RdsApiError } from '../../core/rds/query-protocol.ts';
import { primaryRegion } from '../../core/resources.ts';
import { RdsApi } from './api.ts';
import { ClusterBackupSettings } from './backup-settings.ts';
import { allClusterStatuses, fileClusterDirectory, ssmClusterDirectory } from './clusters.ts';
import { regionS3Clients, SnapshotCopier } from './copy-snapshot.ts';
import { eventBridgeRdsEventSink, fileRdsEventSink, RdsEventPublisher } from './event-publisher.ts';
import { RegionEvents } from './events.ts';
import { ClusterExports, exportTaskActions } from './exports.ts';
import { GlobalClusters } from './global-clusters.ts';
import { ClusterModifier } from './modify-cluster.ts';
import { ClusterRestores, eventBridgeRestoreBus, fileRestoreBus } from './restores.ts';
import { ClusterSnapshots } from './snapshots.ts';

const usage = `usage: rds-api [options]

The RDS API of one region (AWS Query protocol, API version 2014-10-31) over the Borealis clusters
that published a topology there: ${topologyDirVariable} (embedded mode) or SSM /borealis/*/topology.

options:
  --region NAME     the region it serves (default ${primaryRegion})
  --port N          the API port (default 0: any)
  --http-port N     /health and /metrics (default 0: any)
  --event-bus-dir D the region's embedded event bus (restores, exports: its inbox); default EventBridge
  --global-state-dir D  embedded mode: the state dir whose global.json holds the Global Database
${addressFlagUsage(20)}
  --help            this text`;

const { values } = parseFlags('rds-api', {
  region: { type: 'string', default: primaryRegion },
  port: { type: 'string', default: '0' },
  'http-port': { type: 'string', default: '0' },
  'event-bus-dir': { type: 'string' },
  'global-state-dir': { type: 'string' },
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const region = values.region!;
const addresses = addressFlags('rds-api', values);
const port = nonNegativeIntFlag('rds-api', 'port', values.port);
const httpPort = nonNegativeIntFlag('rds-api', 'http-port', values['http-port']);
const logger = createLogger('rds-api', { region });
const registry = newRegistry('rds-api', { region });
const requests = new Counter({
  name: 'borealis_rds_api_requests_total',
  help: 'RDS API requests by action and HTTP status',
  labelNames: ['action', 'status'],
  registers: [registry],
});
const seconds = new Histogram({
  name: 'borealis_rds_api_request_duration_seconds',
  help: 'RDS API request latency by action',
  labelNames: ['action'],
  buckets: [0.005, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

const topologyDir = process.env[topologyDirVariable];
const ssm = topologyDir ? undefined : ssmClient({ region, env: process.env });
const directory = topologyDir ? fileClusterDirectory(topologyDir) : ssmClusterDirectory(ssm!);

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > queryBodyBytesMax)
      throw new RdsApiError('MalformedQueryString', `request body over ${queryBodyBytesMax} bytes`, 413);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

let api: RdsApi;
const server = createServer((req, res) => {
  const started = performance.now();
  const send = (status: number, xml: string, action: string | undefined) => {
    requests.inc({ action: action ?? 'none', status: String(status) });
    seconds.observe({ action: action ?? 'none' }, (performance.now() - started) / 1000);
    res.writeHead(status, { 'content-type': 'text/xml' });
    res.end(xml);
  };
  if (req.method !== 'POST') {
    send(
      405,
      queryErrorXml(
        new RdsApiError('InvalidAction', 'the RDS API takes POST requests (AWS Query protocol)', 405),
      ),
      undefined,
    );
    return;
  }
  readBody(req).then(
    async (body) => {
      const answer = await api.handle(body);
      send(answer.status, answer.xml, answer.action);
    },
    (error: unknown) => {
      const e = error instanceof RdsApiError ? error : new RdsApiError('MalformedQueryString', String(error));
      send(e.status, queryErrorXml(e), undefined);
    },
  );
});
await new Promise<void>((resolve) => server.listen(port, addresses.bind, resolve));
const apiPort = (server.address() as AddressInfo).port;
const url = httpUrl(addresses.advertise, apiPort);
const s3 = s3Client({ region, env: process.env });
const events = values['event-bus-dir'] ? undefined : eventBridgeClient({ region, env: process.env });
const bus = values['event-bus-dir']
  ? fileRestoreBus(values['event-bus-dir'])
  : eventBridgeRestoreBus(events!);
const snapshots = new ClusterSnapshots({ region, s3, readTopology: directory.read, logger });
const copier = new SnapshotCopier({
  region,
  s3,
  snapshots,
  logger,
  regions: regionS3Clients(region, s3, process.env),
  runningClusters: () => allClusterStatuses(directory),
});
const clusterExports = new ClusterExports({
  region,
  s3,
  bus,
  logger,
  listClusters: () => directory.names(),
  listSnapshots: async () => snapshots.list(await allClusterStatuses(directory)),
});
// BackupRetentionPeriod of a cluster without a setting: this process's BACKUP_RETENTION_DAYS (the
// functions'), checked now — a bad value stops the service at start, as it stops the function runner.
const modifier = new ClusterModifier({
  directory,
  logger,
  backup: new ClusterBackupSettings({
    region,
    s3,
    readTopology: directory.read,
    logger,
    retentionDaysDefault: process.env[functionEnv.backupRetentionDays],
  }),
});
const restores = new ClusterRestores({ region, s3, bus, logger });
const regionEvents = new RegionEvents({ region, s3, directory, snapshots, restores, logger });
api = new RdsApi({
  region,
  directory,
  logger,
  selfUrl: url,
  snapshots,
  restores,
  actions: {
    ...exportTaskActions(clusterExports),
    ...modifier.actions(),
    ...copier.actions(),
    ...new GlobalClusters({
      region,
      stateDir: values['global-state-dir'],
      s3For: (r) => s3Client({ region: r, env: process.env }),
      logger,
    }).actions(),
  },
  clusterExtras: (status) => modifier.clusterExtras(status),
  events: regionEvents,
});
// RDS's events on the region's bus as RDS puts them (event-publisher.ts): EventBridge, or the file bus.
const eventsPut = new Counter({
  name: 'borealis_rds_events_put_total',
  help: 'RDS events (source aws.rds) put on the bus, failed (retried) or refused, by detail-type',
  labelNames: ['detail_type', 'result'],
  registers: [registry],
});
const publisher = new RdsEventPublisher({
  region,
  derive: async () => regionEvents.of(await allClusterStatuses(directory)),
  sink: values['event-bus-dir']
    ? fileRdsEventSink(values['event-bus-dir'])
    : eventBridgeRdsEventSink(events!),
  logger,
  onResult: (detailType, result) => eventsPut.inc({ detail_type: detailType, result }),
});
publisher.start();
const http = await startServiceHttp({
  port: httpPort,
  host: addresses.bind,
  registry,
  health: () => ({ healthy: true, service: 'rds-api', region, url, requests: api.requests }),
});

async function stop(code: number): Promise<never> {
  // A round in flight may be cut: a file-bus event is written whole or not at all (tmp + rename).
  void publisher.stop();
  server.close();
  http.server.close();
  ssm?.destroy();
  s3.destroy();
  events?.destroy();
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));

logger.info({ url, httpPort: http.port, clusters: topologyDir ?? 'SSM' }, 'RDS API ready');
announceReady({ service: 'rds-api', port: apiPort, httpPort: http.port, url });
