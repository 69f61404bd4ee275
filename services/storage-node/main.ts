// Process entry of a storage node: `node --import tsx services/storage-node/main.ts --id n1 --az
// us-east-1a --port P --data-dir D --volume-config volume.json`. Serves the binary storage protocol
// on --port and /health + /metrics on --http-port, runs gossip, coalescing, GC, log collection and
// scrub in the background, and prints {"ready":true,...} once it serves.
import { isIP } from 'node:net';
import { newRegistry, startServiceHttp } from '../../core/http/service-http.ts';
import { createLogger } from '../../core/log.ts';
import { lsnToString } from '../../core/lsn.ts';
import {
  addressFlagOptions,
  addressFlags,
  addressFlagUsage,
  isWildcard,
} from '../../core/process/address-flags.ts';
import { nonNegativeIntFlag, parseFlags, volumeConfigFlag } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { nodeById } from '../../core/volume.ts';
import { backtrackRoute } from './backtrack.ts';
import { storageMetrics } from './metrics.ts';
import { Peers } from './peers.ts';
import { startStorageServer } from './server.ts';
import { coalesceIntervalMsDefault, peerStaleMsDefault, StorageNode } from './storage-node.ts';
import { logFileBytesMax, logFileBytesMin } from './store/log-file.ts';

const usage = `usage: storage-node --id ID --az AZ --data-dir DIR --volume-config FILE [options]

A Borealis storage node: hosts the segments the volume config places on node ID.

options:
  --id ID                  node id, as in the volume config
  --az AZ                  availability zone (must match the volume config)
  --port N                 binary protocol port (default: the volume config's)
  --http-port N            /health and /metrics port (default: the volume config's; 0 = any)
  --data-dir DIR           log and page store; an empty dir is rebuilt from peer segments
  --volume-config FILE     geometry and placement (JSON)
  --gossip-interval-ms N   gossip round period (default 200)
  --coalesce-interval-ms N page coalescing period (default 1000; sooner when a page's records pile up)
  --scrub-interval-ms N    CRC scrub period (default 5000)
  --gc-interval-ms N       page version GC period (default 5000)
  --retention-ms N         keep superseded page versions at least this long (default 300000: as long
                           as the writer's default read-point floor window; no backtrack window yet)
  --collect-interval-ms N  log collection period (default 5000)
  --log-file-bytes-max N   log files roll over at this size; collection deletes whole files
                           (default ${logFileBytesMax}; at least 65536)
  --peer-stale-ms N        a peer segment silent this long no longer holds log collection back;
                           it rebuilds from page images when it returns (default ${peerStaleMsDefault})
${addressFlagUsage(27)}
                           (peers and the writer connect to the volume config's host of this node)
  --help                   this text`;

const { values } = parseFlags('storage-node', {
  id: { type: 'string' },
  az: { type: 'string' },
  port: { type: 'string' },
  'http-port': { type: 'string' },
  'data-dir': { type: 'string' },
  'volume-config': { type: 'string' },
  'gossip-interval-ms': { type: 'string', default: '200' },
  'coalesce-interval-ms': { type: 'string', default: String(coalesceIntervalMsDefault) },
  'scrub-interval-ms': { type: 'string', default: '5000' },
  'gc-interval-ms': { type: 'string', default: '5000' },
  'retention-ms': { type: 'string', default: '300000' },
  'collect-interval-ms': { type: 'string', default: '5000' },
  'log-file-bytes-max': { type: 'string', default: String(logFileBytesMax) },
  'peer-stale-ms': { type: 'string', default: String(peerStaleMsDefault) },
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
for (const required of ['id', 'az', 'data-dir', 'volume-config'] as const) {
  if (values[required] === undefined) {
    console.error(`storage-node: --${required} is required\n\n${usage}`);
    process.exit(2);
  }
}
function intFlag(name: keyof typeof values): number {
  return nonNegativeIntFlag('storage-node', name, values[name] as string | undefined);
}

const id = values.id!;
const logger = createLogger('storage-node', { node: id, az: values.az });
const volume = volumeConfigFlag('storage-node', values['volume-config']!);
const self = nodeById(volume, id);
if (self.az !== values.az) {
  console.error(`storage-node: --az ${values.az} does not match the volume config (${self.az})`);
  process.exit(2);
}
const addresses = addressFlags('storage-node', values);
if (!isWildcard(addresses.bind) && isIP(self.host) !== 0 && self.host !== addresses.bind) {
  // Peers and the writer would connect to an address nobody listens on.
  console.error(
    `storage-node: the volume config places ${id} at ${self.host}, but it would bind ${addresses.bind} (--bind-address)`,
  );
  process.exit(2);
}

if (intFlag('log-file-bytes-max') < logFileBytesMin) {
  console.error(`storage-node: --log-file-bytes-max must be at least ${logFileBytesMin}\n\n${usage}`);
  process.exit(2);
}
const node = StorageNode.open({
  id,
  az: self.az,
  dataDir: values['data-dir']!,
  volume,
  logger,
  retentionMs: intFlag('retention-ms'),
  coalesceIntervalMs: intFlag('coalesce-interval-ms'),
  logFileBytesMax: intFlag('log-file-bytes-max'),
  peerStaleMs: intFlag('peer-stale-ms'),
});
const registry = newRegistry('storage-node', { node: id, az: self.az });
const metrics = storageMetrics(registry, {
  scl: () => [...node.segments.values()].map((s) => ({ pg: s.pg, kind: s.kind, scl: s.scl })),
  epoch: () => node.epoch,
  versionsRetained: () => node.versionsRetained,
  logBytes: () => node.logBytes,
  logFiles: () => node.logFiles,
  pageStoreBytes: () => node.pageStoreBytes,
  logStatus: () => node.logStatus(),
});
node.attachMetrics(metrics);
const peers = new Peers(node, volume, logger);

let stopping = false;
async function stop(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    for (const t of timers) clearInterval(t);
    peers.close();
    server.close();
    await node.close().catch(() => undefined);
  }
  process.exit(code);
}
function failStop(error: Error): void {
  logger.fatal({ err: error }, 'fail-stop: a broken invariant or a failed fsync');
  process.exit(70);
}

const server = await startStorageServer(node, {
  port: values.port === undefined ? self.port : intFlag('port'),
  host: addresses.bind,
  logger,
  metrics,
  onFatal: failStop,
});
const http = await startServiceHttp({
  port: values['http-port'] === undefined ? self.httpPort : intFlag('http-port'),
  host: addresses.bind,
  registry,
  routes: (request) => backtrackRoute(node, request),
  health: () => ({
    healthy: true,
    id,
    az: self.az,
    role: 'storage',
    host: addresses.advertise,
    epoch: node.epoch.toString(),
    acceptsAppends: node.acceptsAppends,
    // The control plane re-pushes its marker list to a node that reports fewer (ADR 015).
    backtrack: {
      markers: node.backtrackMarkers.length,
      lastSeq: node.backtrackMarkers[node.backtrackMarkers.length - 1]?.seq ?? null,
    },
    segments: [...node.segments.values()].map((s) => ({
      pg: s.pg,
      kind: s.kind,
      scl: s.scl.toString(),
      maxLsn: s.maxLsn.toString(),
      coalescedLsn: s.coalescedLsn.toString(),
      records: s.recordCount,
    })),
    // Appends refused for want of space (the disk is full): the node stays up and says so.
    ...(node.spaceError && {
      diskFull: { error: node.spaceError.message, at: new Date(node.spaceError.atMs).toISOString() },
    }),
    log: {
      bytes: node.logBytes,
      files: node.logFiles,
      pageStoreBytes: node.pageStoreBytes,
      segments: node.logStatus().map((s) => ({
        pg: s.pg,
        baseLsn: s.baseLsn.toString(),
        oldestRetainedLsn: s.oldestRetainedLsn.toString(),
        retainedBy: s.retainedBy,
        indexEntries: s.indexEntries,
      })),
    },
  }),
});

/** A background task failing the same way again is logged at most this often. */
const repeatedFailureLogIntervalMs = 10_000;
/** Runs a background task every periodMs, never two at once; a failure is logged, not fatal — except a broken invariant. */
function every(
  name: string,
  periodMs: number,
  task: () => Promise<unknown>,
  immediate = false,
): NodeJS.Timeout {
  let running = false;
  // The same failure again (a full disk fails every gossip round) is logged once per interval, counted.
  let last: { message: string; loggedAtMs: number; repeats: number } | undefined;
  const tick = () => {
    if (running || stopping) return;
    running = true;
    task()
      .catch((error: Error) => {
        if (error.name === 'InvariantViolation') failStop(error);
        const now = Date.now();
        if (last && last.message === error.message && now - last.loggedAtMs < repeatedFailureLogIntervalMs) {
          last.repeats++;
          return;
        }
        logger.warn(
          { task: name, err: error.message, ...(last?.repeats && { repeatsSinceLastLog: last.repeats }) },
          'background task failed',
        );
        last = { message: error.message, loggedAtMs: now, repeats: 0 };
      })
      .finally(() => {
        running = false;
      });
  };
  if (immediate) setImmediate(tick);
  return setInterval(tick, periodMs);
}
const gossipIntervalMs = intFlag('gossip-interval-ms');
let lastGossipMs = 0;
const timers = [
  // A node on an empty dir learns the epoch by gossip before it takes appends: until then it asks
  // every 100 ms, whatever the configured interval.
  every(
    'gossip',
    Math.min(100, gossipIntervalMs),
    async () => {
      if (node.acceptsAppends && Date.now() - lastGossipMs < gossipIntervalMs) return;
      lastGossipMs = Date.now();
      await peers.gossipRound();
    },
    true,
  ),
  // Checked often, run when due: a page whose records pile up is coalesced before the interval is up.
  every('coalesce', Math.min(100, intFlag('coalesce-interval-ms')), () => node.coalesceIfDue()),
  every('scrub', intFlag('scrub-interval-ms'), () => peers.scrubRound()),
  every('gc', intFlag('gc-interval-ms'), () => node.collectGarbage()),
  every('collect', intFlag('collect-interval-ms'), () => node.collectLog()),
];

process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));
announceReady({
  service: 'storage-node',
  id,
  az: self.az,
  host: addresses.advertise,
  port: (server.address() as { port: number }).port,
  httpPort: http.port,
  epoch: node.epoch.toString(),
  tailCutBytes: node.openStats.tailCutBytes,
  segments: [...node.segments.values()].map((s) => ({ pg: s.pg, kind: s.kind, scl: lsnToString(s.scl) })),
});
