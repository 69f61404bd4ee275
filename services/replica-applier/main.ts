// Process entry of the replica applier: the "writer" slot of a Global Database secondary cluster
// (control plane --global-secondary). It opens the secondary volume under a new epoch WITHOUT the
// writer's recovery (no truncation: the records above the secondary's VDL are the primary's and will
// come again), takes the primary's redo batches on POST /apply of --port (from the global-replicator
// function), ships them to storage on a write quorum and streams them to the secondary's readers on
// --redo-port. Every Data API request on --port is refused: a secondary is read-only. /health and
// /metrics (the AuroraGlobalDB* metrics) on --http-port.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { dirname, join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { redoBatchBytesMax } from '../../core/backup/redo-batch.ts';
import { storageClients } from '../../core/engine/instance.ts';
import { BorealisError, ErrorCode, isBorealisError } from '../../core/errors.ts';
import { replicationLagMs } from '../../core/global/replication.ts';
import { newRegistry, startServiceHttp } from '../../core/http/service-http.ts';
import { createLogger } from '../../core/log.ts';
import { lsnToString } from '../../core/lsn.ts';
import { addressFlagOptions, addressFlags, addressFlagUsage } from '../../core/process/address-flags.ts';
import { nonNegativeIntFlag, parseFlags, volumeConfigFlag } from '../../core/process/flags.ts';
import { exitWithParent } from '../../core/process/parent-watch.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { clusterArns, secondaryRegion } from '../../core/resources.ts';
import { expectReply } from '../../core/wire/client.ts';
import { LogShipper } from '../writer/log-shipper.ts';
import { recoverVolume } from '../writer/recovery.ts';
import { RedoStreamServer } from '../writer/redo-stream.ts';
import {
  type RejoinReport,
  ReplicaApplier,
  type ReplicaState,
  readRejoinReport,
  rejoinFileName,
  rejoinReportFileName,
  replicaStateFileName,
} from './applier.ts';
import { discardDivergentSuffix } from './rejoin.ts';

/** POST /apply takes one redo batch; anything larger is not one. */
const applyBodyBytesMax = redoBatchBytesMax + 64 * 1024;
export const applyRoute = '/apply';

const usage = `usage: replica-applier --volume-config FILE [options]

The replica applier of a Global Database secondary cluster: applies the primary's redo batches
(POST ${applyRoute}, from the global-replicator function) to this region's volume and streams them to
its readers. The secondary is read-only: Data API requests on --port are refused.

options:
  --id ID                 instance id (default instance-1)
  --volume-config FILE    geometry and placement of the storage nodes (JSON); the applier keeps
                          its position (replica-applier.json) beside it
  --port N                apply endpoint (and refused Data API) port (default 0: any)
  --redo-port N           redo stream port for readers (default 0: any)
  --http-port N           /health and /metrics (default 0: any)
  --region R              region of the cluster ARNs (default ${secondaryRegion})
  --cluster NAME          cluster name in the ARNs (default borealis)
  --cache-pages N         accepted for the instance flags' sake; the applier caches no pages
${addressFlagUsage(26)}
  --help                  this text`;

const { values } = parseFlags('replica-applier', {
  id: { type: 'string', default: 'instance-1' },
  'volume-config': { type: 'string' },
  port: { type: 'string', default: '0' },
  'redo-port': { type: 'string', default: '0' },
  'http-port': { type: 'string', default: '0' },
  region: { type: 'string', default: secondaryRegion },
  cluster: { type: 'string', default: 'borealis' },
  'cache-pages': { type: 'string', default: '0' },
  ...addressFlagOptions,
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
if (!values['volume-config']) {
  console.error(`replica-applier: --volume-config is required\n\n${usage}`);
  process.exit(2);
}
const intFlag = (name: 'port' | 'redo-port' | 'http-port') =>
  nonNegativeIntFlag('replica-applier', name, values[name]);
const addresses = addressFlags('replica-applier', values);
const logger = createLogger('replica-applier', { instance: values.id });
const volume = volumeConfigFlag('replica-applier', values['volume-config']);
const clients = storageClients(volume);
/** volume.json's folder: the applier's position, rejoin request and report live beside it. */
const volumeDir = dirname(values['volume-config']);
const stateFile = join(volumeDir, replicaStateFileName);

function readState(): ReplicaState {
  try {
    const doc = JSON.parse(readFileSync(stateFile, 'utf8')) as Record<string, string | number>;
    return {
      durableTail: BigInt(doc.durableTail!),
      vdl: BigInt(doc.vdl!),
      vdlCommitTimeMs: Number(doc.vdlCommitTimeMs),
      ...(doc.archiveFloor !== undefined && { archiveFloor: BigInt(doc.archiveFloor) }),
    };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { durableTail: 0n, vdl: 0n, vdlCommitTimeMs: 0 };
    throw new Error(`replica-applier: cannot read ${stateFile}: ${(error as Error).message}`);
  }
}

function writeState(state: ReplicaState): void {
  // Written whole and renamed: a crash leaves the old position or the new one, never half of one.
  const tmp = `${stateFile}.tmp`;
  writeFileSync(
    tmp,
    JSON.stringify({
      durableTail: state.durableTail.toString(),
      vdl: state.vdl.toString(),
      vdlCommitTimeMs: state.vdlCommitTimeMs,
      ...(state.archiveFloor !== undefined && { archiveFloor: state.archiveFloor.toString() }),
    }),
    { flush: true },
  );
  renameSync(tmp, stateFile);
}

/**
 * A new epoch above every epoch a node has seen, installed on every node that answers: it fences any
 * older applier (or the writer of a cluster this volume was before a failover) and needs no
 * truncation. Retries until a majority of the nodes answered.
 */
async function openEpoch(): Promise<bigint> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const ask = (epoch: bigint) =>
      Promise.all(
        [...clients.values()].map((c) =>
          c
            .request({ type: 'recoveryInfo', epoch }, 3_000)
            .then((reply) => expectReply(reply, 'recoveryInfoReply'))
            .catch(() => undefined),
        ),
      );
    const seen = (await ask(0n)).reduce((max, r) => (r && r.epoch > max ? r.epoch : max), 0n);
    const installed = (await ask(seen + 1n)).filter((r) => r !== undefined).length;
    if (installed * 2 > clients.size) return seen + 1n;
    if (Date.now() > deadline) throw new Error(`only ${installed} of ${clients.size} storage nodes answered`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * A primary demoted to secondary (services/control-plane/global.ts writes rejoin.json beside
 * volume.json and removes any old replica-applier.json): its volume holds its own log, so the applier
 * opens it as a writer would — a new epoch fences the old writer, the commit walk finds VDL and the
 * incomplete suffix above it is voided. After a switchover it replicates the new primary from that VDL
 * on. After an unplanned failover rejoin.json names the point the new primary was promoted at: the
 * commits above it are lost — named in global-rejoin.json (rejoin.ts), then voided — and replication
 * continues from that point. The new primary allocates from far above anything this volume holds
 * (--global-promotion), so its records never fall into a voided range. The position is written before
 * rejoin.json goes: a crash in between repeats the recovery (nothing was applied yet), and the report,
 * written before the truncation, is kept.
 */
async function rejoin(file: string): Promise<{ epoch: bigint; state: ReplicaState }> {
  const request = JSON.parse(readFileSync(file, 'utf8')) as {
    aboveLsn?: string;
    aboveCommitTimeMs?: number;
    /** This region's archive watermark after its cut (absent: nothing archived at or below the point). */
    archiveFloor?: string;
  };
  const recovered = await recoverVolume({ volume, clients, logger });
  let state: ReplicaState = {
    durableTail: recovered.vdl,
    vdl: recovered.vdl,
    vdlCommitTimeMs: recovered.lastCommit.commitTimeMs,
  };
  const previous = readRejoinReport(volumeDir);
  // Asked again for a discard this volume already made (a launcher retrying a rejoin whose cluster
  // did not start): what lies above the point now is the new primary's, replicated — never void it.
  const done = previous?.discardedAbove === request.aboveLsn && previous?.truncated === true;
  if (done) logger.warn({ above: request.aboveLsn }, 'rejoin: the lost suffix was discarded before');
  if (request.aboveLsn !== undefined && !done) {
    const aboveLsn = BigInt(request.aboveLsn);
    await discardDivergentSuffix({
      volume,
      clients,
      logger,
      recovered,
      aboveLsn,
      keepAbove: request.archiveFloor === undefined ? aboveLsn : BigInt(request.archiveFloor),
      beforeTruncation: (result) => {
        // A repeat after a crash past the truncation finds nothing above the point: keep the first.
        if (previous?.discardedAbove === request.aboveLsn && result.transactions === 0) return;
        writeJsonAtomically(rejoinReportFile, {
          rejoinedAt: new Date().toISOString(),
          discardedAbove: aboveLsn.toString(),
          oldVdl: recovered.vdl.toString(),
          lost: result,
        } satisfies RejoinReport);
      },
    });
    const report = readRejoinReport(volumeDir);
    if (report) writeJsonAtomically(rejoinReportFile, { ...report, truncated: true } satisfies RejoinReport);
    // The volume now ends at the promoted point (or below it, had it never got that far).
    if (aboveLsn < recovered.vdl) {
      state = { durableTail: aboveLsn, vdl: aboveLsn, vdlCommitTimeMs: request.aboveCommitTimeMs ?? 0 };
    }
    if (request.archiveFloor !== undefined) state.archiveFloor = BigInt(request.archiveFloor);
  }
  writeState(state);
  rmSync(file, { force: true });
  logger.warn(
    { epoch: recovered.epoch.toString(), vdl: lsnToString(state.vdl) },
    'rejoined as a secondary: the old writer is fenced, replication continues from VDL',
  );
  return { epoch: recovered.epoch, state };
}

const rejoinReportFile = join(volumeDir, rejoinReportFileName);
function writeJsonAtomically(file: string, doc: unknown): void {
  writeFileSync(`${file}.tmp`, `${JSON.stringify(doc, null, 2)}\n`, { flush: true });
  renameSync(`${file}.tmp`, file);
}

mkdirSync(dirname(stateFile), { recursive: true });
const rejoinFile = join(volumeDir, rejoinFileName);
const opened = existsSync(rejoinFile)
  ? await rejoin(rejoinFile)
  : { state: readState(), epoch: await openEpoch() };
const { state: start, epoch } = opened;
const rejoinReport = readRejoinReport(volumeDir);
const rejoinSummary = rejoinReport && {
  rejoinedAt: rejoinReport.rejoinedAt,
  discardedAbove: rejoinReport.discardedAbove,
  oldVdl: rejoinReport.oldVdl,
  lostTransactions: rejoinReport.lost.transactions,
};
let redo: RedoStreamServer | undefined;
let applier: ReplicaApplier | undefined;
const shipper = new LogShipper({
  volume,
  epoch,
  clients,
  nextLsn: start.durableTail + 1n,
  durableLsn: start.vdl,
  onVdl: (vdl) => {
    applier?.vdlAdvanced(vdl);
    redo?.vdlAdvanced(vdl);
  },
  onFenced: (error) => {
    // A writer opened this volume (the secondary was promoted): this applier must stop at once.
    logger.fatal({ err: error.message }, 'fenced by a newer epoch: stopping');
    setTimeout(() => process.exit(75), 50);
  },
});
applier = new ReplicaApplier(
  {
    shipReplicated: (records) => {
      const shipped = shipper.shipReplicated(records);
      redo?.publish(shipped.records);
      return shipped;
    },
    get vdl() {
      return shipper.vdl;
    },
  },
  logger,
  start,
  writeState,
);
const replica = applier;
redo = await RedoStreamServer.start({
  port: intFlag('redo-port'),
  host: addresses.bind,
  logger,
  vdl: start.vdl,
  pgTails: () => shipper.pgTails(),
});

function send(res: ServerResponse, status: number, body: unknown, errorType?: string): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    ...(errorType === undefined ? {} : { 'x-amzn-ErrorType': errorType }),
  });
  res.end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req) {
    bytes += (chunk as Buffer).length;
    if (bytes > applyBodyBytesMax) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

const arns = clusterArns(values.region, values.cluster);
const applyServer = createServer((req, res) => {
  void (async () => {
    if (req.method !== 'POST' || req.url !== applyRoute) {
      // The Data API of a secondary: Aurora refuses writes there; Borealis's secondary has no SQL
      // engine in this slot at all (its readers serve reads through the reader endpoint).
      req.resume();
      send(
        res,
        400,
        {
          message: `cluster ${arns.resourceArn} is a read-only secondary of a global database: send writes to the global writer endpoint or the primary region, reads to this cluster's reader endpoint`,
        },
        'BadRequestException',
      );
      return;
    }
    const body = await readBody(req);
    if (body === undefined) {
      send(res, 413, {
        code: ErrorCode.INVALID_ARGUMENT,
        message: `a redo batch is at most ${applyBodyBytesMax} bytes`,
      });
      return;
    }
    try {
      const result = await replica.apply(body);
      send(res, 200, {
        placement: result.placement,
        lastLsn: result.lastLsn.toString(),
        vdl: result.vdl.toString(),
      });
    } catch (error) {
      const code = isBorealisError(error) ? error.code : ErrorCode.INTERNAL;
      const status = code === ErrorCode.INVALID_ARGUMENT ? 400 : code === ErrorCode.NOT_COMPLETE ? 409 : 503;
      send(res, status, {
        code,
        message: (error as Error).message,
        shippedTail: replica.shippedTail.toString(),
        retryable: !(error instanceof BorealisError) || error.retryable,
      });
    }
  })();
});
await new Promise<void>((resolve, reject) => {
  applyServer.once('error', reject);
  applyServer.listen(intFlag('port'), addresses.bind, () => resolve());
});
const applyPort = (applyServer.address() as { port: number }).port;

const registry = newRegistry('replica-applier', { instance: values.id });
/** Lag against the newest primary commit this applier has heard of (global status uses the primary's VDL). */
const lag = () =>
  replicationLagMs({
    nowMs: Date.now(),
    secondaryCommitTimeMs: replica.vdlCommitTimeMs,
    secondaryVdl: replica.vdl,
    primaryVdl: replica.newestReceivedCommit.lsn,
    primaryCommitTimeMs: replica.newestReceivedCommit.commitTimeMs,
  });
new Gauge({
  name: 'AuroraGlobalDBReplicationLag',
  help: 'ms: now minus the commit time of the newest primary commit visible on this secondary, while the primary has newer ones (0 when caught up)',
  registers: [registry],
  collect() {
    this.set(lag());
  },
});
new Gauge({
  name: 'AuroraGlobalDBRPOLag',
  help: 'ms: how much commit time a failover to this secondary would lose now (newest durable secondary commit vs the newest primary commit received)',
  registers: [registry],
  collect() {
    this.set(lag());
  },
});
new Counter({
  name: 'AuroraGlobalDBDataTransferBytes',
  help: 'Bytes of redo received from the primary region',
  registers: [registry],
  collect() {
    this.reset();
    this.inc(replica.bytesReceived);
  },
});
new Gauge({
  name: 'borealis_global_secondary_vdl',
  help: 'VDL of the secondary volume (the newest primary commit durable here)',
  registers: [registry],
  collect() {
    this.set(Number(replica.vdl));
  },
});
const http = await startServiceHttp({
  port: intFlag('http-port'),
  host: addresses.bind,
  registry,
  health: () => ({
    healthy: shipper.fenced === undefined,
    id: values.id,
    role: 'replica-applier',
    host: addresses.advertise,
    epoch: epoch.toString(),
    vdl: replica.vdl.toString(),
    vcl: shipper.vcl.toString(),
    vdlCommitTimeMs: replica.vdlCommitTimeMs,
    durableTail: replica.durableTail.toString(),
    newestReceivedCommitLsn: replica.newestReceivedCommit.lsn.toString(),
    replicationLagMs: lag(),
    dataTransferBytes: replica.bytesReceived,
    batchesApplied: replica.batchesApplied,
    batchesRefused: replica.batchesRefused,
    readers: redo?.subscriberCount ?? 0,
    // The last rejoin after an unplanned failover: what was lost (global-rejoin.json has the list).
    rejoin: rejoinSummary,
  }),
});

// After a rejoin that cut this region's archive back, storage keeps the log above the archive's new
// watermark (this applier's epoch replaces the old writer's collection inputs, which were above it).
const collectionTimer =
  replica.archiveFloor === undefined
    ? undefined
    : setInterval(() => {
        for (const client of clients.values()) {
          client
            .request({
              type: 'collectionFloor',
              epoch,
              archive: replica.archiveFloor!,
              backtrack: 'none',
              globalSecondary: 'none',
            })
            .catch(() => undefined);
        }
      }, 1_000);
collectionTimer?.unref();

function stop(code: number): never {
  clearInterval(collectionTimer);
  applyServer.close();
  redo?.close();
  http.server.close();
  shipper.close();
  for (const c of clients.values()) c.close();
  process.exit(code);
}
process.on('SIGTERM', () => stop(0));
process.on('SIGINT', () => stop(0));
exitWithParent(() => stop(0));
logger.info(
  { epoch: epoch.toString(), vdl: lsnToString(start.vdl), durableTail: lsnToString(start.durableTail) },
  'replica applier open',
);
announceReady({
  service: 'replica-applier',
  id: values.id,
  host: addresses.advertise,
  port: applyPort,
  redoPort: redo.port,
  httpPort: http.port,
  epoch: epoch.toString(),
  vdl: start.vdl.toString(),
  ...arns,
});
