// Process entry of the proxy (Borealis's RDS Proxy): the cluster (writer) endpoint on --writer-port and
// the reader endpoint on --reader-port, both speaking the RDS Data API; follows the control plane's
// topology, holds writes through a failover, and registers its endpoints with the control plane.
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
import { registerEndpoints, TopologyFollower } from './control-plane-client.ts';
import { Dispatcher } from './dispatcher.ts';
import { Forwarder } from './forwarder.ts';
import { holdMsDefault, queueMaxDefault } from './limits.ts';
import { proxyMetrics } from './metrics.ts';
import { proxyMysqlFlagOptions, proxyMysqlFlagUsage, startProxyMysql } from './mysql/front-end.ts';
import { Router } from './router.ts';
import { startProxyServer } from './server.ts';

const usage = `usage: proxy --control-plane URL [options]

The Borealis proxy (RDS Proxy): a cluster endpoint that always reaches the current writer and holds
requests through a failover, and a reader endpoint that spreads reads across healthy readers.

options:
  --control-plane URL   the control plane's HTTP API (topology, endpoint registration)
  --writer-port N       cluster (writer) endpoint, RDS Data API (default 0: any)
  --reader-port N       reader endpoint, RDS Data API (default 0: any)
  --http-port N         /health and /metrics (default 0: any)
  --hold-ms N           how long a request waits for a writer during a failover (default ${holdMsDefault})
  --queue-max N         requests held at once; more are refused (default ${queueMaxDefault})
${proxyMysqlFlagUsage}
${addressFlagUsage(24)}
                        (the endpoints registered with the control plane use the advertised one)
  --help                this text`;

const { values } = parseFlags('proxy', {
  'control-plane': { type: 'string' },
  'writer-port': { type: 'string', default: '0' },
  'reader-port': { type: 'string', default: '0' },
  'http-port': { type: 'string', default: '0' },
  'hold-ms': { type: 'string', default: String(holdMsDefault) },
  'queue-max': { type: 'string', default: String(queueMaxDefault) },
  ...proxyMysqlFlagOptions,
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const controlPlane = controlPlaneFlag(values['control-plane']);
const addresses = addressFlags('proxy', values);
const intFlag = (name: 'writer-port' | 'reader-port' | 'http-port' | 'hold-ms' | 'queue-max') =>
  nonNegativeIntFlag('proxy', name, values[name]);
const ports = { writer: intFlag('writer-port'), reader: intFlag('reader-port'), http: intFlag('http-port') };
for (const [name, port] of Object.entries(ports)) {
  if (port > 65535) {
    console.error(`proxy: --${name}-port must be 0..65535, got ${port}`);
    process.exit(2);
  }
}

function controlPlaneFlag(raw: string | undefined): URL {
  if (raw === undefined || raw === '') {
    console.error('proxy: --control-plane URL is required (see --help)');
    process.exit(2);
  }
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http(s)');
    return url;
  } catch {
    console.error(`proxy: --control-plane must be an http:// URL, got '${raw}'`);
    process.exit(2);
  }
}

const logger = createLogger('proxy');
const router = new Router();
const forwarder = new Forwarder(logger);
const registry = newRegistry('proxy');
const metrics = proxyMetrics(registry, {
  // Read at scrape time, after `dispatcher` exists.
  held: () => dispatcher.held,
  topologyVersion: () => router.version,
  inFlight: () => new Map(router.backends().map((b) => [b.id, router.inFlight(b.key)])),
});
const dispatcher = new Dispatcher({
  router,
  forwarder,
  metrics,
  logger,
  holdMs: intFlag('hold-ms'),
  queueMax: intFlag('queue-max'),
});
// Callers must name the cluster's ARNs, as the instances require; unchecked until the first topology.
const endpointOptions = { dispatcher, metrics, logger, callerArns: () => router.topology };
const writerServer = await startProxyServer({
  endpoint: 'writer',
  port: ports.writer,
  host: addresses.bind,
  ...endpointOptions,
});
const readerServer = await startProxyServer({
  endpoint: 'reader',
  port: ports.reader,
  host: addresses.bind,
  ...endpointOptions,
});
// The same endpoints over the MySQL protocol, through the same dispatcher (ADR 017).
const mysql = await startProxyMysql({
  values,
  host: addresses.bind,
  dispatcher,
  arns: () => router.topology,
  holdMs: intFlag('hold-ms'),
  registry,
  logger,
});
let stopped = false;
const follower = new TopologyFollower({
  controlPlane,
  logger,
  onTopology: (topology) => dispatcher.topologyChanged(topology),
});
follower.start();
const http = await startServiceHttp({
  port: ports.http,
  host: addresses.bind,
  registry,
  health: () => ({
    healthy: true,
    service: 'proxy',
    topologyVersion: router.version,
    writer: router.writer?.id ?? null,
    writerRefusing: router.writerRefusing,
    readers: router.topology?.readers.filter((r) => r.healthy).map((r) => r.id) ?? [],
    held: dispatcher.held,
  }),
});

async function stop(code: number): Promise<never> {
  stopped = true;
  follower.stop();
  dispatcher.close();
  await Promise.race([
    Promise.all([writerServer.close(), readerServer.close(), mysql.close()]),
    new Promise((resolve) => setTimeout(resolve, 1_000)),
  ]);
  forwarder.close();
  http.server.close();
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));

const endpoints = {
  writer: httpUrl(addresses.advertise, writerServer.port),
  reader: httpUrl(addresses.advertise, readerServer.port),
  mysql: {
    writer: `${addresses.advertise}:${mysql.writer.port}`,
    reader: `${addresses.advertise}:${mysql.reader.port}`,
  },
};
announceReady({
  service: 'proxy',
  writerPort: writerServer.port,
  readerPort: readerServer.port,
  mysqlWriterPort: mysql.writer.port,
  mysqlReaderPort: mysql.reader.port,
  httpPort: http.port,
  ...endpoints,
});
void registerEndpoints({ controlPlane, endpoints, logger, stopped: () => stopped });
