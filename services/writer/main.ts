// Process entry of the writer (the primary instance): recovers the volume (no replay), then serves
// the RDS Data API on --port and the redo stream to readers on --redo-port. /health and /metrics on
// --http-port. Prints {"ready":true,...} with its ports and how long the open took. With --redo-stream it
// also publishes every durable batch to the region's Kinesis redo stream (redo-publisher.ts).
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { BacktrackFloor } from '../../core/backtrack/floor.ts';
import { backtrackWindowSecondsMax, writerBacktrackWindowRoute } from '../../core/backtrack/request.ts';
import { archiveMarkers } from '../../core/backup/s3-archive.ts';
import { parseBinlogFormat, TriggerCapture } from '../../core/binlog/capture.ts';
import { consistentPointRoute, encodeConsistentPoint } from '../../core/cluster/consistent-point.ts';
import { startDataApiServer } from '../../core/data-api/server.ts';
import { databaseName, loadRuntimeOver, storageClients, vfsName } from '../../core/engine/instance.ts';
import { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SqliteRuntime } from '../../core/engine/runtime.ts';
import { SqlExecutor } from '../../core/engine/sql-executor.ts';
import { newRegistry, startServiceHttp } from '../../core/http/service-http.ts';
import { globalPromotionLsnGap, pgIdAll } from '../../core/limits.ts';
import { createLogger } from '../../core/log.ts';
import { lsnToString } from '../../core/lsn.ts';
import { mysqlFlagOptions, mysqlFlagUsage, startInstanceMysql } from '../../core/mysql/instance.ts';
import { addressFlagOptions, addressFlags, addressFlagUsage } from '../../core/process/address-flags.ts';
import { nonNegativeIntFlag, parseFlags, volumeConfigFlag } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { instanceArgs } from '../../core/process/standby.ts';
import { clusterArns, primaryRegion } from '../../core/resources.ts';
import { backtrackFloorSeed } from './backtrack-floor-seed.ts';
import { readVolumeMarkers } from './backtrack-markers.ts';
import { LogShipper } from './log-shipper.ts';
import { writerMetrics } from './metrics.ts';
import { ReadPointFloor } from './read-point-floor.ts';
import { recoverVolume } from './recovery.ts';
import {
  flushWindowMsDefault,
  publishBufferBytesMax,
  RedoPublisher,
  redoStreamHealth,
} from './redo-publisher.ts';
import { KinesisRedoSink, readWatermark } from './redo-publisher-aws.ts';
import { SegmentLogReader } from './redo-publisher-storage.ts';
import { RedoStreamServer } from './redo-stream.ts';
import { WriterEngine } from './writer-engine.ts';

const usage = `usage: writer --volume-config FILE [options]

The Borealis writer: opens the volume (bumping the epoch, no redo replay) and serves SQL.

options:
  --id ID                 instance id (default writer-1)
  --volume-config FILE    geometry and placement of the storage nodes (JSON)
  --port N                RDS Data API port (default 0: any)
  --redo-port N           redo stream port for readers (default 0: any)
  --http-port N           /health and /metrics (default 0: any)
  --region R              region of the cluster ARNs (default ${primaryRegion})
  --cluster NAME          cluster name in the ARNs (default borealis)
  --cache-pages N         buffer cache size in pages (default 65536)
  --redo-stream NAME      publish every durable redo batch to this Kinesis stream (off if absent)
  --backup-bucket NAME    the backup bucket holding the archive watermark (required with --redo-stream)
  --binlog-format ROW|OFF  ROW: every committed transaction's row changes ride in its redo as
                          RowImages records, for the binlog (default OFF; the control plane passes
                          the cluster's setting, ROW unless set otherwise)
  --redo-flush-window-ms N  durable records wait at most this long for more before a PutRecords to the
                          redo stream (default 200): shorter cuts a Global Database's replication lag,
                          at one stream request, archiver invocation and S3 chunk per window
  --redo-buffer-bytes N   records waiting for the redo stream, at most (default 64 MiB; past it
                          they are dropped and read back from storage)
  --statement-timeout-ms N        Data API statement timeout (default 45000)
  --idle-transaction-timeout-ms N roll back transactions idle this long (default 180000)
  --read-point-floor-window-ms N  PGMRPL trails VDL by this long (default 300000): storage may collect
                          page versions below it, so a reader transaction or snapshot older than
                          this may have page reads refused (readers do not report read points yet)
  --backtrack-window-s N  storage keeps log and page versions this far back for backtrack (default 0:
                          off): the writer sends the floor (the VDL at now − window) with CollectionFloor
${mysqlFlagUsage}
${addressFlagUsage(26)}
  --global-promotion      this open promotes a Global Database secondary: allocate LSNs from far above
                          the volume's highest (the old primary may have gone further; ADR 016)
  --global-promotion-floor N  with --global-promotion: count that gap from at least LSN N (decimal;
                          the previous promotion's first LSN, in whichever region)
  --standby               (the only flag) a warm standby: load, then take the flags from one
                          activation line on stdin (ADR 019; the control plane starts these)
  --help                  this text`;

// A standby loads the Wasm ahead; its flags arrive when a failover or backtrack needs a writer.
let preloadedRuntime: Promise<SqliteRuntime> | undefined;
const args = await instanceArgs('writer', async () => {
  preloadedRuntime = SqliteRuntime.load();
  await preloadedRuntime;
});
const { values } = parseFlags(
  'writer',
  {
    id: { type: 'string', default: 'writer-1' },
    'volume-config': { type: 'string' },
    port: { type: 'string', default: '0' },
    'redo-port': { type: 'string', default: '0' },
    'http-port': { type: 'string', default: '0' },
    region: { type: 'string', default: primaryRegion },
    cluster: { type: 'string', default: 'borealis' },
    'cache-pages': { type: 'string', default: '65536' },
    'statement-timeout-ms': { type: 'string', default: '45000' },
    'idle-transaction-timeout-ms': { type: 'string', default: '180000' },
    'read-point-floor-window-ms': { type: 'string', default: '300000' },
    'backtrack-window-s': { type: 'string', default: '0' },
    'redo-stream': { type: 'string' },
    'backup-bucket': { type: 'string' },
    'redo-buffer-bytes': { type: 'string', default: String(publishBufferBytesMax) },
    'redo-flush-window-ms': { type: 'string', default: String(flushWindowMsDefault) },
    'binlog-format': { type: 'string', default: 'OFF' },
    'global-promotion': { type: 'boolean', default: false },
    'global-promotion-floor': { type: 'string', default: '0' },
    ...mysqlFlagOptions,
    ...addressFlagOptions,
    help: { type: 'boolean', default: false },
  },
  args,
);
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values['volume-config']) {
  console.error(`writer: --volume-config is required\n\n${usage}`);
  process.exit(2);
}
if (values['redo-stream'] !== undefined && values['backup-bucket'] === undefined) {
  // Without the archive watermark a new writer cannot know where the stream's consumers stopped.
  console.error(`writer: --redo-stream needs --backup-bucket (the archive watermark)\n\n${usage}`);
  process.exit(2);
}
const binlogFormat = parseBinlogFormat(values['binlog-format']!);
if (binlogFormat === undefined) {
  console.error(`writer: --binlog-format must be ROW or OFF, got '${values['binlog-format']}'`);
  process.exit(2);
}
function intFlag(
  name:
    | 'port'
    | 'redo-port'
    | 'http-port'
    | 'cache-pages'
    | 'statement-timeout-ms'
    | 'idle-transaction-timeout-ms'
    | 'redo-buffer-bytes'
    | 'redo-flush-window-ms'
    | 'read-point-floor-window-ms'
    | 'backtrack-window-s',
): number {
  return nonNegativeIntFlag('writer', name, values[name]);
}

const addresses = addressFlags('writer', values);
const logger = createLogger('writer', { instance: values.id });
const volume = volumeConfigFlag('writer', values['volume-config']);
const clients = storageClients(volume);
const openStarted = performance.now();
const recovered = await recoverVolume({
  volume,
  clients,
  logger,
  ...(values['global-promotion'] && {
    truncationGap: globalPromotionLsnGap,
    truncationFloor: decimalLsnFlag('writer', 'global-promotion-floor', values['global-promotion-floor']!),
  }),
});

let redo: RedoStreamServer | undefined;
// The Kinesis redo stream: resumes from the archive watermark (republishing from storage), then live.
const backupS3 = values['backup-bucket'] === undefined ? undefined : s3Client({ region: values.region });
// The batches carry the backtrack timeline they belong to, and its markers go to the archive first.
const markers = values['redo-stream'] === undefined ? [] : await readVolumeMarkers(volume);
const publisher =
  values['redo-stream'] === undefined
    ? undefined
    : new RedoPublisher({
        epoch: recovered.epoch,
        timeline: markers.length,
        sink: new KinesisRedoSink(
          kinesisClient({ region: values.region }),
          values['redo-stream'],
          values.cluster,
        ),
        storage: new SegmentLogReader(volume, clients, logger),
        readWatermark: () => readWatermark(backupS3!, values['backup-bucket']!, values.cluster),
        logger,
        vdl: recovered.vdl,
        vdlCommitTimeMs: recovered.lastCommit.commitTimeMs,
        pgTails: recovered.pgTails,
        bufferBytesMax: intFlag('redo-buffer-bytes'),
        flushWindowMs: intFlag('redo-flush-window-ms'),
      });
const shipper = new LogShipper({
  volume,
  epoch: recovered.epoch,
  clients,
  nextLsn: recovered.nextLsn,
  pgTails: recovered.pgTails,
  onVdl: (vdl) => {
    redo?.vdlAdvanced(vdl);
    publisher?.vdlAdvanced(vdl);
  },
  onFenced: (error) => {
    // Deliberate fail-stop: a newer writer owns the volume; this one must not serve another write.
    logger.fatal({ err: error.message }, 'fenced by a newer epoch: stopping');
    setTimeout(() => process.exit(75), 50);
  },
});
const engine = new WriterEngine({
  volume,
  shipper,
  fetcher: new PageFetcher({ volume, clients }),
  logger,
  cacheCapacityPages: intFlag('cache-pages'),
  vdl: recovered.vdl,
  lastCommit: recovered.lastCommit,
  nextTxnId: recovered.nextTxnId,
  epoch: recovered.epoch,
  onShipped: (records) => {
    redo?.publish(records);
    publisher?.shipped(records);
  },
});
const runtime = await loadRuntimeOver(engine, preloadedRuntime);
const capture = binlogFormat === 'ROW' ? new TriggerCapture({ sink: engine, logger }) : undefined;
const executor = new SqlExecutor({
  runtime,
  databaseName,
  vfsName,
  readOnly: false,
  // MEMORY is the only journal mode in which SQLite hands every transaction to the VFS as one
  // atomic batch; a large page cache keeps big transactions from spilling (spills are staged anyway).
  // max_page_count: a full volume is SQLite's own "database or disk is full" (SQLITE_FULL, a clean
  // rollback), not a commit that fails on a page beyond the last PG.
  connectionInitSql: `PRAGMA page_size=${volume.pageSizeBytes}; PRAGMA journal_mode=MEMORY; PRAGMA cache_size=-65536; PRAGMA max_page_count=${volume.placement.length * volume.pagesPerPg};`,
  logger,
  statementTimeoutMs: intFlag('statement-timeout-ms'),
  idleTransactionTimeoutMs: intFlag('idle-transaction-timeout-ms'),
  visibleLsn: () => engine.latestCommitLsn,
  waitDurable: (lsn) => shipper.waitForVdl(lsn),
  durableLsn: () => shipper.vdl,
  progressLsn: () => shipper.vcl,
  ...(capture && { capture }),
});
redo = await RedoStreamServer.start({
  port: intFlag('redo-port'),
  host: addresses.bind,
  logger,
  vdl: recovered.vdl,
  pgTails: () => shipper.pgTails(),
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
const mysql = await startInstanceMysql('writer', values, {
  executor,
  host: addresses.bind,
  readOnly: false,
  cluster: values.cluster!,
  logger,
});
const openMs = performance.now() - openStarted;

let stopping = false;
if (publisher) void archiveMarkersThenPublish(publisher);

/**
 * A restore must know a timeline before the archive holds a record of it (ADR 015): the markers go to
 * S3 before the publisher starts. Until then durable records wait in its buffer (bounded: past it, the
 * publisher republishes from storage, as after any overflow).
 */
async function archiveMarkersThenPublish(p: RedoPublisher): Promise<void> {
  for (let attempt = 1; !stopping; attempt++) {
    try {
      const put = await archiveMarkers(backupS3!, values['backup-bucket']!, values.cluster!, markers);
      if (put > 0) logger.info({ markers: markers.length, put }, 'backtrack markers archived');
      p.start();
      return;
    } catch (error) {
      logger.warn({ err: (error as Error).message, attempt }, 'archiving backtrack markers failed: retrying');
      await new Promise((resolve) => setTimeout(resolve, Math.min(attempt * 500, 10_000)));
    }
  }
}
// PGMRPL to every storage node, every few seconds — resent even when unchanged: a restarted node
// keeps it in memory only, and without it never collects a page version.
const readPointFloorIntervalMs = 5_000;
const readPointFloor = new ReadPointFloor(intFlag('read-point-floor-window-ms'));
// The backtrack window's start as an LSN (ADR 015): storage keeps log and page versions above it.
const backtrackFloor = new BacktrackFloor(intFlag('backtrack-window-s') * 1000, Date.now());
// Storage's history gives the floor for the first window after open (else it stays 0 that long).
if (intFlag('backtrack-window-s') > 0) {
  // The marker list read for the publisher serves here too (one read of storage at open, not two).
  backtrackFloorSeed(
    volume,
    backtrackFloor.seedCutoffMs,
    recovered.vdl,
    values['redo-stream'] === undefined ? undefined : markers,
  ).then(
    (seed) => {
      backtrackFloor.seed(seed.floor);
      logger.info(
        { floor: lsnToString(seed.floor), targetLsn: lsnToString(seed.targetLsn), markers: seed.markers },
        'backtrack floor seeded from storage',
      );
    },
    (error: Error) =>
      logger.warn(
        { err: error.message },
        'backtrack floor not seeded: storage keeps everything for a window',
      ),
  );
}
const floorTimer = setInterval(() => {
  const lsn = readPointFloor.advance(Date.now(), shipper.vdl, engine.oldestReadPoint());
  // Log collection's inputs from the writer (ADR 013): the archive watermark when continuous backup
  // runs (records at or below it are in S3; 0 until it has been read), 'none' without backup;
  // backtrack and the global secondary do not hold the log yet.
  const archive = publisher ? (publisher.snapshot().watermarkLsn ?? 0n) : 'none';
  backtrackFloor.note(Date.now(), shipper.vdl);
  for (const client of clients.values()) {
    client
      .request({
        type: 'collectionFloor',
        epoch: recovered.epoch,
        archive,
        backtrack: backtrackFloor.floor(Date.now()),
        globalSecondary: 'none',
      })
      .catch(() => undefined);
  }
  if (lsn === 0n) return;
  for (const client of clients.values()) {
    client.request({ type: 'readPointFloor', pg: pgIdAll, lsn }).catch(() => undefined);
  }
}, readPointFloorIntervalMs);
floorTimer.unref();
const registry = newRegistry('writer', { instance: values.id });
const metrics = writerMetrics(registry, {
  vdl: () => shipper.vdl,
  vcl: () => shipper.vcl,
  epoch: () => recovered.epoch,
  commits: () => engine.commitsShipped,
  bytesShipped: () => engine.bytesShipped,
  cacheHits: () => engine.cache.hits,
  cacheMisses: () => engine.cache.misses,
  cachePages: () => engine.cache.pageCount,
  openTransactions: () => executor.openTransactions,
  writeLockQueue: () => executor.writeLockQueue,
  readers: () => redo?.subscriberCount ?? 0,
  binlogRowEvents: () => engine.binlogRowEvents,
  binlogBytes: () => engine.binlogBytes,
  redoPublisher: publisher && (() => publisher.snapshot()),
});
void metrics;
const http = await startServiceHttp({
  port: intFlag('http-port'),
  host: addresses.bind,
  registry,
  health: () => ({
    healthy: shipper.fenced === undefined,
    id: values.id,
    role: 'writer',
    host: addresses.advertise,
    epoch: recovered.epoch.toString(),
    vdl: shipper.vdl.toString(),
    vcl: shipper.vcl.toString(),
    latestCommit: engine.latestCommitLsn.toString(),
    openMs: Math.round(openMs),
    readers: redo?.subscriberCount ?? 0,
    readPointFloor: readPointFloor.floor.toString(),
    backtrackFloor: backtrackFloor.floor(Date.now()).toString(),
    backtrackWindowSeconds: backtrackFloor.windowMs / 1000,
    binlogFormat,
    mysqlPort: mysql.port,
    ...(publisher && { redoStream: redoStreamHealth(values['redo-stream']!, publisher.snapshot()) }),
  }),
  routes: async ({ method, url, body }) => {
    // The control plane's ModifyDBCluster BacktrackWindow (it also starts later writers with it).
    if (method === 'POST' && url.pathname === writerBacktrackWindowRoute) {
      const seconds = (body as { backtrackWindowSeconds?: unknown } | undefined)?.backtrackWindowSeconds;
      if (
        typeof seconds !== 'number' ||
        !Number.isSafeInteger(seconds) ||
        seconds < 0 ||
        seconds > backtrackWindowSecondsMax
      ) {
        const message = `backtrackWindowSeconds must be 0-${backtrackWindowSecondsMax}`;
        return { status: 400, body: { error: 'BadRequest', message } };
      }
      backtrackFloor.setWindow(seconds * 1000);
      logger.info({ backtrackWindowSeconds: seconds }, 'backtrack window changed');
      return { status: 200, body: { backtrackWindowSeconds: seconds } };
    }
    // Read-only: the point a snapshot pins (functions/snapshot reads pages from storage, not from here).
    if (method !== 'GET' || url.pathname !== consistentPointRoute) return undefined;
    // One tick: the durable commit and the PG tails it is consistent with.
    const point = { ...engine.durableCommit(), pgTails: shipper.pgTails() };
    return { status: 200, body: encodeConsistentPoint(point, recovered.epoch) };
  },
});

/** A clean stop hands the redo stream what is durable first (bounded: the fleet's grace is 3 s). */
const publisherDrainMs = 2_000;
/**
 * A clean stop lets the Data API statements in flight finish first: a planned failover stops the old
 * writer once the proxy holds new requests, so this is its drain. It serves on until no request has
 * been in flight for `statementQuietMs` (the proxy may still send what it queued for this writer before
 * the switch, and a request can sit unread while a statement runs), then closes and waits for the
 * rest. Bounded, with the publisher's drain, within the fleet's 3 s grace.
 */
const statementDrainMs = 500;
const statementQuietMs = 50;

async function stop(code: number): Promise<never> {
  if (stopping) return new Promise<never>(() => undefined);
  stopping = true;
  void mysql.close();
  const drainUntil = performance.now() + statementDrainMs;
  for (let quietSince = performance.now(); performance.now() < drainUntil; ) {
    if (dataApi.requestsInFlight > 0) quietSince = performance.now();
    else if (performance.now() - quietSince >= statementQuietMs) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  let drainTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    dataApi.close(),
    new Promise((resolve) => {
      drainTimer = setTimeout(resolve, Math.max(0, drainUntil - performance.now()));
    }),
  ]);
  clearTimeout(drainTimer);
  redo?.close();
  if (publisher) {
    const drained = await publisher.drain(publisherDrainMs);
    const { publishedLsn, vdl } = publisher.snapshot();
    logger.info(
      { drained, publishedLsn: lsnToString(publishedLsn), vdl: lsnToString(vdl) },
      drained ? 'redo stream has every durable record' : 'redo stream not drained: storage has the rest',
    );
  }
  void publisher?.close();
  http.server.close();
  shipper.close();
  clearInterval(floorTimer);
  for (const c of clients.values()) c.close();
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
exitWithParent(() => void stop(0));
logger.info(
  { openMs: Math.round(openMs), vdl: lsnToString(recovered.vdl), epoch: recovered.epoch.toString() },
  'writer open',
);
announceReady({
  service: 'writer',
  id: values.id,
  host: addresses.advertise,
  port: dataApi.port,
  mysqlPort: mysql.port,
  redoPort: redo.port,
  httpPort: http.port,
  epoch: recovered.epoch.toString(),
  vdl: recovered.vdl.toString(),
  // The newest commit it opened on (a Global Database promotion reports it as the promoted point).
  vdlCommitTimeMs: recovered.lastCommit.commitTimeMs,
  // The first LSN this writer allocates (a Global Database promotion records it: ADR 016).
  nextLsn: recovered.nextLsn.toString(),
  openMs,
  recoveryMs: recovered.stats.durationMs,
  ...arns,
});

/** A decimal LSN flag; bad input exits with a usage error. */
function decimalLsnFlag(program: string, name: string, value: string): bigint {
  if (!/^\d{1,20}$/.test(value) || BigInt(value) >= 1n << 64n) {
    console.error(`${program}: --${name} must be a decimal LSN, got '${value}'`);
    process.exit(2);
  }
  return BigInt(value);
}
