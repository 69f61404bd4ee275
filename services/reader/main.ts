// Process entry of a reader (a replica): shares the volume, does no writes, follows the writer's redo
// stream, and serves read-only SQL over the RDS Data API on --port. /health reports its lag.
import { Histogram } from 'prom-client';
import { startDataApiServer } from '../../core/data-api/server.ts';
import { databaseName, loadRuntimeOver, storageClients, vfsName } from '../../core/engine/instance.ts';
import { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SqlExecutor } from '../../core/engine/sql-executor.ts';
import { newRegistry, startServiceHttp } from '../../core/http/service-http.ts';
import { createLogger } from '../../core/log.ts';
import { mysqlFlagOptions, mysqlFlagUsage, startInstanceMysql } from '../../core/mysql/instance.ts';
import { addressFlagOptions, addressFlags, addressFlagUsage } from '../../core/process/address-flags.ts';
import { nonNegativeIntFlag, parseFlags, volumeConfigFlag } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { clusterArns, primaryRegion } from '../../core/resources.ts';
import { pgOfPage } from '../../core/volume.ts';
import { ReaderEngine } from './reader-engine.ts';
import { RedoSubscriber } from './redo-subscriber.ts';

const usage = `usage: reader --volume-config FILE --writer-redo HOST:PORT [options]

A Borealis reader: a read-only instance on the shared volume, following the writer's redo stream.

options:
  --id ID                 instance id (default reader-1)
  --volume-config FILE    geometry and placement of the storage nodes (JSON)
  --writer-redo HOST:PORT the writer's redo stream
  --port N                RDS Data API port (default 0: any)
  --http-port N           /health and /metrics (default 0: any)
  --region R              region of the cluster ARNs (default ${primaryRegion})
  --cluster NAME          cluster name in the ARNs (default borealis)
  --cache-pages N         buffer cache size in pages (default 65536)
  --statement-timeout-ms N        Data API statement timeout (default 45000)
  --idle-transaction-timeout-ms N roll back transactions idle this long (default 180000)
${mysqlFlagUsage}
${addressFlagUsage(26)}
  --help                  this text`;

const { values } = parseFlags('reader', {
  id: { type: 'string', default: 'reader-1' },
  'volume-config': { type: 'string' },
  'writer-redo': { type: 'string' },
  port: { type: 'string', default: '0' },
  'http-port': { type: 'string', default: '0' },
  region: { type: 'string', default: primaryRegion },
  cluster: { type: 'string', default: 'borealis' },
  'cache-pages': { type: 'string', default: '65536' },
  'statement-timeout-ms': { type: 'string', default: '45000' },
  'idle-transaction-timeout-ms': { type: 'string', default: '180000' },
  ...mysqlFlagOptions,
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const redoAddress = /^([^:]+):(\d+)$/.exec(values['writer-redo'] ?? '');
if (!values['volume-config'] || !redoAddress) {
  console.error(`reader: --volume-config and --writer-redo HOST:PORT are required\n\n${usage}`);
  process.exit(2);
}
function intFlag(
  name: 'port' | 'http-port' | 'cache-pages' | 'statement-timeout-ms' | 'idle-transaction-timeout-ms',
): number {
  return nonNegativeIntFlag('reader', name, values[name]);
}

const addresses = addressFlags('reader', values);
const logger = createLogger('reader', { instance: values.id });
const volume = volumeConfigFlag('reader', values['volume-config']);
const clients = storageClients(volume);
const registry = newRegistry('reader', { instance: values.id });
const lagHistogram = new Histogram({
  name: 'borealis_reader_lag_seconds',
  help: 'Replica lag: commit on the writer to visible on this reader',
  buckets: [
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 5,
  ],
  registers: [registry],
});
let lastLagMs = 0;
const engine = new ReaderEngine({
  pageSizeBytes: volume.pageSizeBytes,
  pgOf: (pageNo) => pgOfPage(volume, pageNo),
  fetcher: new PageFetcher({ volume, clients }),
  cacheCapacityPages: intFlag('cache-pages'),
  onCommitApplied: (commitTimeMs) => {
    lastLagMs = Math.max(0, Date.now() - commitTimeMs);
    lagHistogram.observe(lastLagMs / 1000);
  },
});
const subscriber = new RedoSubscriber(
  { host: redoAddress[1]!, port: Number(redoAddress[2]) },
  engine,
  logger,
);
subscriber.start();

const runtime = await loadRuntimeOver(engine);
const executor = new SqlExecutor({
  runtime,
  databaseName,
  vfsName,
  readOnly: true,
  logger,
  statementTimeoutMs: intFlag('statement-timeout-ms'),
  idleTransactionTimeoutMs: intFlag('idle-transaction-timeout-ms'),
  // A reader only shows commits at or below VDL: nothing to wait for.
  visibleLsn: () => engine.visibleLsn,
  waitDurable: async () => undefined,
});
const arns = clusterArns(values.region, values.cluster);
const dataApi = await startDataApiServer({
  port: intFlag('port'),
  host: addresses.bind,
  executor,
  ...arns,
  logger,
});
// The MySQL protocol over the same executor (one executor, two front ends).
const mysql = await startInstanceMysql('reader', values, {
  executor,
  host: addresses.bind,
  readOnly: true,
  cluster: values.cluster!,
  logger,
});
const http = await startServiceHttp({
  port: intFlag('http-port'),
  host: addresses.bind,
  registry,
  health: () => ({
    healthy: true,
    id: values.id,
    role: 'reader',
    host: addresses.advertise,
    connectedToWriter: subscriber.connected,
    writerRedo: subscriber.writerRedo,
    visibleLsn: engine.visibleLsn.toString(),
    writerVdl: engine.writerVdl.toString(),
    lagLsn: engine.lagLsn.toString(),
    lagMs: lastLagMs,
    resyncs: engine.resyncs,
    cachePages: engine.cache.pageCount,
    mysqlPort: mysql.port,
  }),
  // The control plane points readers at the new writer after a failover.
  routes: async ({ method, url, body }) => {
    if (method !== 'POST' || url.pathname !== '/admin/writer-redo') return undefined;
    const address = /^([^:]+):(\d+)$/.exec(
      String((body as { writerRedo?: unknown } | undefined)?.writerRedo),
    );
    if (!address)
      return { status: 400, body: { error: 'BadRequest', message: 'writerRedo must be HOST:PORT' } };
    subscriber.retarget({ host: address[1]!, port: Number(address[2]) });
    return { status: 200, body: { writerRedo: subscriber.writerRedo } };
  },
});

function stop(code: number): never {
  subscriber.stop();
  dataApi.server.close();
  void mysql.close();
  http.server.close();
  for (const c of clients.values()) c.close();
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
exitWithParent(() => stop(0));
announceReady({
  service: 'reader',
  id: values.id,
  host: addresses.advertise,
  port: dataApi.port,
  mysqlPort: mysql.port,
  httpPort: http.port,
  ...arns,
});
