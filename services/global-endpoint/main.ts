// Process entry of the global writer endpoint (ADR 018): one address, Data API and MySQL, that always
// reaches the current primary region's cluster endpoint, so an application survives a global failover
// without being reconfigured. It belongs to the global database, not to a region: it learns the
// members from --members and asks their control planes which is the primary (GET /global/role).
import { globalClusterArn, translateCallerArns } from '../../core/global/writer-target.ts';
import { newRegistry, startServiceHttp } from '../../core/http/service-http.ts';
import { createLogger } from '../../core/log.ts';
import {
  addressFlagOptions,
  addressFlags,
  addressFlagUsage,
  hostPort,
  httpUrl,
} from '../../core/process/address-flags.ts';
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { DataApiForwarder } from './data-api-forwarder.ts';
import { type Member, MemberPoller } from './member-poller.ts';
import { globalEndpointMetrics } from './metrics.ts';
import { parseHostPort, TcpForwarder } from './tcp-forwarder.ts';

/** Bounds (TigerBeetle style: everything has a named maximum). */
const membersMax = 10; // Aurora: a primary and up to 10 secondaries; 10 members here is plenty.
const waitingMax = 256;
const connectionsMax = 1024;
const requestBytesMax = 4 * 1024 * 1024; // the Data API's own request limit
const responseBytesMax = 16 * 1024 * 1024;
const defaults = { pollMs: 250, staleMs: 2_000, waitMs: 30_000, requestTimeoutMs: 1_000 };

const usage = `usage: global-endpoint --members REGION=URL,REGION=URL [options]

The global writer endpoint of a Borealis Global Database: a Data API port and a MySQL port that
forward to the cluster endpoint of whichever member is the primary now. A connection (MySQL) or
request (Data API) that arrives while no primary is known waits up to --wait-ms, then is refused;
when the primary changes, connections to the old one are closed. If two members claim the writer,
the one promoted last wins and the other is never routed to.

options:
  --members LIST        each member's region and control plane URL, comma-separated (required)
  --global-cluster NAME the global cluster's name, for its ARN (default borealis)
  --account ID          the account of the global cluster's ARN (default 000000000000)
  --data-api-port N     the Data API port (default 0: any)
  --mysql-port N        the MySQL port (default 0: any)
  --http-port N         /health and /metrics (default 0: any)
  --poll-ms N           how often each member is asked its role (default ${defaults.pollMs})
  --stale-ms N          a member silent this long is not routed to (default ${defaults.staleMs})
  --wait-ms N           how long a connection waits for a primary (default ${defaults.waitMs})
${addressFlagUsage(24)}
  --help                this text`;

const { values } = parseFlags('global-endpoint', {
  members: { type: 'string' },
  'global-cluster': { type: 'string', default: 'borealis' },
  account: { type: 'string', default: '000000000000' },
  'data-api-port': { type: 'string', default: '0' },
  'mysql-port': { type: 'string', default: '0' },
  'http-port': { type: 'string', default: '0' },
  'poll-ms': { type: 'string', default: String(defaults.pollMs) },
  'stale-ms': { type: 'string', default: String(defaults.staleMs) },
  'wait-ms': { type: 'string', default: String(defaults.waitMs) },
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}

function fail(message: string): never {
  console.error(`global-endpoint: ${message}`);
  process.exit(2);
}

function membersFlag(raw: string | undefined): Member[] {
  if (raw === undefined || raw === '') fail('--members REGION=URL,… is required (see --help)');
  const members = raw.split(',').map((item) => {
    const eq = item.indexOf('=');
    const region = item.slice(0, eq);
    const url = item.slice(eq + 1);
    if (eq <= 0 || !/^[a-z0-9-]{1,32}$/.test(region)) fail(`--members: '${item}' is not REGION=URL`);
    try {
      if (new URL(url).protocol !== 'http:') throw new Error('not http');
    } catch {
      fail(`--members: the control plane of ${region} must be an http:// URL, got '${url}'`);
    }
    return { region, controlPlaneUrl: url.replace(/\/$/, '') };
  });
  if (members.length > membersMax) fail(`--members: at most ${membersMax} members`);
  if (new Set(members.map((m) => m.region)).size !== members.length)
    fail('--members: a region is listed twice');
  return members;
}

const members = membersFlag(values.members);
const addresses = addressFlags('global-endpoint', values);
const int = (name: 'data-api-port' | 'mysql-port' | 'http-port' | 'poll-ms' | 'stale-ms' | 'wait-ms') =>
  nonNegativeIntFlag('global-endpoint', name, values[name]);
for (const name of ['data-api-port', 'mysql-port', 'http-port'] as const) {
  if (int(name) > 65535) fail(`--${name} must be 0..65535`);
}
if (int('poll-ms') === 0 || int('stale-ms') <= int('poll-ms')) {
  fail('--poll-ms must be positive and --stale-ms longer than it');
}
const globalArn = globalClusterArn(values.account!, values['global-cluster']!);

const logger = createLogger('global-endpoint', { globalCluster: values['global-cluster'] });
const registry = newRegistry('global-endpoint', { global_cluster: values['global-cluster']! });
const metrics = globalEndpointMetrics(registry, {
  active: () => ({ mysql: mysql.active, 'data-api': dataApi.active }),
  waiting: () => ({ mysql: mysql.waiting, 'data-api': dataApi.waiting }),
});
const mysql = new TcpForwarder({
  protocol: 'mysql',
  waitMs: int('wait-ms'),
  waitingMax,
  connectionsMax,
  logger,
  metrics,
});
const dataApi = new DataApiForwarder({
  waitMs: int('wait-ms'),
  waitingMax,
  inFlightMax: connectionsMax,
  requestBytesMax,
  responseBytesMax,
  logger,
  metrics,
  translate: (input, target) => {
    const primary = poller.known.find((m) => m.region === target.region);
    return primary ? { ...input, ...translateCallerArns(input, poller.known, globalArn, primary) } : input;
  },
});
const poller = new MemberPoller({
  members,
  pollMs: int('poll-ms'),
  requestTimeoutMs: Math.min(defaults.requestTimeoutMs, int('stale-ms')),
  staleAfterMs: int('stale-ms'),
  logger,
  onOverruled: (region) => metrics.overruledClaims.inc({ region }),
  onChange: (choice, previous) => {
    metrics.targetChanges.inc();
    metrics.primary.reset();
    const from = previous.kind === 'primary' ? previous.target.region : null;
    if (choice.kind === 'none') {
      logger.warn({ from, reason: choice.reason }, 'global writer endpoint: no primary known');
      dataApi.setTarget(undefined);
      mysql.setTarget(undefined);
      return;
    }
    const { target } = choice;
    metrics.primary.set({ region: target.region }, 1);
    logger.warn(
      {
        from,
        to: target.region,
        promotedAtMs: target.promotedAtMs,
        writerEndpoint: target.writerEndpoint,
        mysqlWriterEndpoint: target.mysqlWriterEndpoint,
        overruled: choice.overruled,
      },
      'global writer endpoint: routing to the primary',
    );
    dataApi.setTarget({ region: target.region, url: target.writerEndpoint! });
    const mysqlTarget =
      target.mysqlWriterEndpoint === null ? undefined : parseHostPort(target.mysqlWriterEndpoint);
    mysql.setTarget(mysqlTarget && { region: target.region, ...mysqlTarget });
  },
});

const dataApiPort = await dataApi.listen(int('data-api-port'), addresses.bind);
const mysqlPort = await mysql.listen(int('mysql-port'), addresses.bind);
poller.start();
const http = await startServiceHttp({
  port: int('http-port'),
  host: addresses.bind,
  registry,
  health: () => {
    const choice = poller.choice;
    return {
      healthy: true,
      service: 'global-endpoint',
      globalClusterArn: globalArn,
      primary: choice.kind === 'primary' ? choice.target.region : null,
      reason: choice.kind === 'none' ? choice.reason : undefined,
      overruled: choice.kind === 'primary' ? choice.overruled : [],
      members: poller.observations.map((o) => ({
        region: o.region,
        role: o.last?.role ?? null,
        promotedAtMs: o.last?.promotedAtMs ?? null,
        answeredAt: o.answeredAtMs === undefined ? null : new Date(o.answeredAtMs).toISOString(),
      })),
    };
  },
});

async function stop(code: number): Promise<never> {
  poller.stop();
  await Promise.race([
    Promise.all([dataApi.close(), mysql.close()]),
    new Promise((resolve) => setTimeout(resolve, 1_000)),
  ]);
  http.server.close();
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));

logger.info({ members, dataApiPort, mysqlPort, httpPort: http.port }, 'global writer endpoint ready');
announceReady({
  service: 'global-endpoint',
  dataApiPort,
  mysqlPort,
  httpPort: http.port,
  globalWriterEndpoint: httpUrl(addresses.advertise, dataApiPort),
  globalWriterMysqlEndpoint: hostPort(addresses.advertise, mysqlPort),
  globalClusterArn: globalArn,
});
