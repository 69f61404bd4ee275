// bench/storage: the storage node's foreground path, measured — appends/s, MB/s and ack latency for
// one node and for a 6-node quorum, at batch sizes 1, 16 and 256 records, and a paced cell at the
// rate of a small OLTP load — next to a raw write+fdatasync loop on the same disk, the physical
// limit of an acknowledged append. For every cell it also reports what the storage nodes cost per
// record copy (each node stores one copy), background work (coalescing, gossip) included, since each
// cell waits for the background to settle before sampling:
// - CPU time (utime + stime from /proc/<pid>/stat);
// - write_bytes from /proc/<pid>/io. Beware: the kernel charges a whole page-cache folio when a write
//   dirties it, and with large folios (ext4 on recent kernels) a 4 KiB pwrite into a file that was
//   read or written in big chunks is charged up to 2 MiB, so this overstates real writes many times;
// - the block device's sectors written (/sys/dev/block/M:m/stat) over the cell: real writes, journal
//   included, but of the whole machine (other processes' writes land here too);
// - page versions the coalescers stored, per record copy on a full segment (the node's own metric).
// Run: npm run bench:storage [-- --seconds N --in-flight N --paced-rate N --settle-ms N]
import { closeSync, fdatasyncSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeDelta } from '../../core/delta.ts';
import { RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { StorageCluster } from '../../integration/harness/storage-cluster.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { LogShipper, type NewRecord } from '../../services/writer/log-shipper.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';

const usage = `usage: npm run bench:storage [-- --seconds N] [-- --in-flight N] [-- --paced-rate N]

  --seconds N     measuring time per cell (default 3)
  --in-flight N   concurrent append requests (default 8)
  --paced-rate N  batches/s of the paced quorum cell, one at a time (default 25)
  --settle-ms N   wait after a cell before reading /proc, so its background work counts (default 2000)`;
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '8' },
    'paced-rate': { type: 'string', default: '25' },
    'settle-ms': { type: 'string', default: '2000' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = Number(values.seconds);
const inFlight = Number(values['in-flight']);
const pacedRate = Number(values['paced-rate']);
const settleMs = Number(values['settle-ms']);
const batchSizes = [1, 16, 256];
/** Records per batch of the paced cell: a few page changes and a commit, like one OLTP transaction. */
const pacedBatchRecords = 8;

interface Cell {
  system: string;
  batchRecords: number;
  appendsPerSecond: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  /** Per record copy (each of the nodes written to stores one), background work included. */
  cost?: NodeCost;
}

interface NodeCost {
  cpuUsPerRecord: number;
  /** /proc/<pid>/io write_bytes: charged per dirtied page-cache folio, so an overstatement. */
  writeBytesKbPerRecord: number;
  /** The block device's writes over the cell, of the whole machine. */
  deviceKbPerRecord: number;
  /** Page versions the full segments' coalescers stored, per record copy on a full segment. */
  versionsPerFullCopy: number;
  /** Mean fdatasync time of the nodes' logs (the node's own histogram). */
  logFsyncMeanMs: number;
}

/** Counters of the storage node processes and the disk under them. */
interface Usage {
  cpuSeconds: number;
  writeBytes: number;
  deviceBytes: number;
  versions: number;
  fsyncs: number;
  fsyncSeconds: number;
}

const clockTicksPerSecond = 100; // USER_HZ on Linux

/** The stat file of the block device holding path (NaN readings where there is none). */
function deviceStatFile(path: string): string {
  const dev = statSync(path).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | ((Math.floor(dev / 4096) & 0xfff00) >>> 0);
  return `/sys/dev/block/${major}:${minor}/stat`;
}

function deviceBytesWritten(statFile: string): number {
  try {
    // Field 7 of the block stat file: sectors written (always 512-byte units).
    return Number(readFileSync(statFile, 'utf8').trim().split(/\s+/)[6]) * 512;
  } catch {
    return Number.NaN;
  }
}

async function usageOf(cluster: StorageCluster, ids: string[], statFile: string): Promise<Usage> {
  const usage: Usage = {
    cpuSeconds: 0,
    writeBytes: 0,
    deviceBytes: deviceBytesWritten(statFile),
    versions: 0,
    fsyncs: 0,
    fsyncSeconds: 0,
  };
  const metric = (text: string, name: string) =>
    Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  for (const id of ids) {
    const pid = cluster.pid(id)!;
    const io = readFileSync(`/proc/${pid}/io`, 'utf8');
    usage.writeBytes += Number(/^write_bytes: (\d+)$/m.exec(io)?.[1] ?? Number.NaN);
    // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    usage.cpuSeconds += (Number(fields[11]) + Number(fields[12])) / clockTicksPerSecond;
    const metrics = await cluster.metrics(id);
    usage.versions += metric(metrics, 'borealis_storage_page_versions_coalesced_total');
    usage.fsyncs += metric(metrics, 'borealis_storage_fsync_duration_seconds_count');
    usage.fsyncSeconds += metric(metrics, 'borealis_storage_fsync_duration_seconds_sum');
  }
  return usage;
}

/**
 * Runs a cell and charges what the nodes `ids` did meanwhile (and during the settle time after it)
 * to its record copies: `copies` per record in all, `fullCopies` of them on full segments.
 */
async function withNodeCost(
  cluster: StorageCluster,
  ids: string[],
  copies: { all: number; full: number },
  run: () => Promise<Cell>,
): Promise<Cell> {
  const statFile = deviceStatFile(cluster.dir);
  const before = await usageOf(cluster, ids, statFile);
  const cell = await run();
  await new Promise((r) => setTimeout(r, settleMs));
  const after = await usageOf(cluster, ids, statFile);
  const records = cell.recordsPerSecond * seconds;
  return {
    ...cell,
    cost: {
      cpuUsPerRecord: ((after.cpuSeconds - before.cpuSeconds) * 1e6) / (records * copies.all),
      writeBytesKbPerRecord: (after.writeBytes - before.writeBytes) / 1024 / (records * copies.all),
      deviceKbPerRecord: (after.deviceBytes - before.deviceBytes) / 1024 / (records * copies.all),
      versionsPerFullCopy: (after.versions - before.versions) / (records * copies.full),
      logFsyncMeanMs: ((after.fsyncSeconds - before.fsyncSeconds) * 1000) / (after.fsyncs - before.fsyncs),
    },
  };
}

/** A typical small change: a 64-byte delta on a 4 KiB page. */
function deltaPayload(i: number): Uint8Array {
  const before = new Uint8Array(4096);
  const after = Uint8Array.from(before);
  const at = (i * 97) % 4000;
  for (let j = 0; j < 64; j++) after[at + j] = (i + j) & 0xff;
  return computeDelta(before, after);
}

/**
 * Appends for `seconds`: `inFlight` loops back to back, or, with a pace, one loop that starts an
 * append every 1/pace seconds (and waits for it), like a single client committing at a steady rate.
 */
async function measure(
  system: string,
  batchRecords: number,
  appendOnce: () => Promise<number>,
  pace?: number,
): Promise<Cell> {
  const latencies: number[] = [];
  let bytes = 0;
  let appends = 0;
  const started0 = performance.now();
  const deadline = started0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: pace === undefined ? inFlight : 1 }, async () => {
      while (performance.now() < deadline) {
        if (pace !== undefined) {
          const due = started0 + (appends * 1000) / pace;
          if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
        }
        const started = performance.now();
        const appended = await appendOnce();
        bytes += appended;
        latencies.push(performance.now() - started);
        appends++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    system,
    batchRecords,
    appendsPerSecond: appends / seconds,
    recordsPerSecond: (appends * batchRecords) / seconds,
    megabytesPerSecond: bytes / seconds / 1e6,
    ackP50Ms: percentile(latencies, 50),
    ackP99Ms: percentile(latencies, 99),
  };
}

function rawFsync(dir: string): Cell {
  const fd = openSync(join(dir, 'fsync-probe'), 'w');
  const block = Buffer.alloc(4096, 7);
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let position = 0;
  while (performance.now() < deadline) {
    const started = performance.now();
    writeSync(fd, block, 0, block.length, position);
    fdatasyncSync(fd);
    latencies.push(performance.now() - started);
    position += block.length;
  }
  closeSync(fd);
  latencies.sort((a, b) => a - b);
  return {
    system: 'raw write+fdatasync (4 KiB)',
    batchRecords: 1,
    appendsPerSecond: latencies.length / seconds,
    recordsPerSecond: latencies.length / seconds,
    megabytesPerSecond: (latencies.length * block.length) / seconds / 1e6,
    ackP50Ms: percentile(latencies, 50),
    ackP99Ms: percentile(latencies, 99),
  };
}

const dir = makeTempDir('bench-storage');
let idleCpuMsPerNodeSecond = Number.NaN;
const cells: Cell[] = [rawFsync(dir.path)];
// One node: append straight to n1's full segment of PG 0. Gossip is off in this cluster, or the
// five other segments of PG 0 would copy n1's records and the cell would measure six nodes' work.
const solo = await StorageCluster.start({
  dir: join(dir.path, 'solo'),
  pgCount: 6,
  pagesPerPg: 1024,
  nodeArgs: ['--gossip-interval-ms', '3600000'],
});
try {
  const single = solo.client('n1');
  let lsn = 0n;
  for (const batchRecords of batchSizes) {
    cells.push(
      await withNodeCost(solo, ['n1'], { all: 1, full: 1 }, () =>
        measure('1 storage node', batchRecords, async () => {
          const records: RedoRecord[] = [];
          for (let i = 0; i < batchRecords; i++) {
            lsn++;
            records.push({
              lsn,
              pg: 0,
              pageNo: 1 + Number(lsn % 1000n),
              prevLsnInPg: lsn - 1n,
              prevLsnOfPage: 0n,
              kind: RecordKind.PageDelta,
              flags: i === batchRecords - 1 ? RecordFlags.Cpl : 0,
              payload: deltaPayload(Number(lsn)),
            });
          }
          await single.request({ type: 'append', epoch: 1n, records });
          return records.reduce((n, r) => n + 44 + r.payload.length, 0);
        }),
      ),
    );
  }
} finally {
  await solo.stopAll();
}

const cluster = await StorageCluster.start({ dir: join(dir.path, 'quorum'), pgCount: 6, pagesPerPg: 1024 });
try {
  // Six nodes: the writer's shipper, each batch to one PG's six segments, acked on a write quorum.
  const shipper = new LogShipper({
    volume: cluster.volume,
    epoch: 1n,
    clients: cluster.clients(),
    nextLsn: 1n,
  });
  let batchNo = 0;
  /**
   * One batch to one PG. Spread: every record on another page. Skewed (the paced cell, like an OLTP
   * transaction): the first half on a PG's four hot pages (B-tree roots, the right-most leaf that
   * inserts keep touching), the rest spread.
   */
  const shipOne = async (batchRecords: number, skewed = false) => {
    const pg = batchNo++ % cluster.volume.placement.length;
    const first = pg * cluster.volume.pagesPerPg + 1;
    const spread = (i: number) => (batchNo * 31 + i) % cluster.volume.pagesPerPg;
    const records: NewRecord[] = Array.from({ length: batchRecords }, (_, i) => ({
      pageNo: first + (skewed && i < batchRecords / 2 ? i % 4 : spread(i)),
      kind: RecordKind.PageDelta,
      flags: i === batchRecords - 1 ? RecordFlags.Cpl : 0,
      payload: deltaPayload(batchNo + i),
    }));
    const shipped = shipper.ship(records);
    await shipped.durable;
    return shipped.records.reduce((n, r) => n + 44 + r.payload.length, 0);
  };
  // What the nodes cost doing nothing (gossip rounds, timers): the floor under every cell's CPU.
  const idleBefore = await usageOf(cluster, cluster.nodeIds, deviceStatFile(cluster.dir));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const idleAfter = await usageOf(cluster, cluster.nodeIds, deviceStatFile(cluster.dir));
  idleCpuMsPerNodeSecond =
    ((idleAfter.cpuSeconds - idleBefore.cpuSeconds) * 1000) / seconds / cluster.nodeIds.length;
  // Every record goes to the six segments of its PG: six copies, one per node, three of them full.
  const copies = { all: 6, full: 3 };
  for (const batchRecords of batchSizes) {
    cells.push(
      await withNodeCost(cluster, cluster.nodeIds, copies, () =>
        measure('6-node quorum (4/6)', batchRecords, () => shipOne(batchRecords)),
      ),
    );
  }
  cells.push(
    await withNodeCost(cluster, cluster.nodeIds, copies, () =>
      measure(
        `6-node quorum, paced ${pacedRate}/s, skewed`,
        pacedBatchRecords,
        () => shipOne(pacedBatchRecords, true),
        pacedRate,
      ),
    ),
  );
  shipper.close();
} finally {
  await cluster.stopAll();
  dir.remove();
}

console.log(
  `\nbench/storage — ${seconds} s per cell, ${inFlight} appends in flight, 64-byte deltas on 4 KiB pages;` +
    ` node costs per record copy, background work included (${settleMs} ms settle); write_bytes` +
    ` overstates (folio accounting), device KB counts the whole machine; an idle node burns` +
    ` ${idleCpuMsPerNodeSecond.toFixed(1)} ms CPU per second`,
);
console.log(
  table(
    [
      'system',
      'records/batch',
      'appends/s',
      'records/s',
      'MB/s',
      'ack p50 ms',
      'ack p99 ms',
      'CPU µs/rec',
      'write_bytes KB/rec',
      'device KB/rec',
      'versions/rec',
      'log fsync ms',
    ],
    cells.map((c) => [
      c.system,
      c.batchRecords,
      c.appendsPerSecond,
      c.recordsPerSecond,
      c.megabytesPerSecond,
      c.ackP50Ms,
      c.ackP99Ms,
      c.cost?.cpuUsPerRecord ?? Number.NaN,
      c.cost?.writeBytesKbPerRecord ?? Number.NaN,
      c.cost?.deviceKbPerRecord ?? Number.NaN,
      c.cost?.versionsPerFullCopy ?? Number.NaN,
      c.cost?.logFsyncMeanMs ?? Number.NaN,
    ]),
  ),
);
const file = writeResult('storage', {
  date: new Date().toISOString(),
  machine: machine(),
  seconds,
  inFlight,
  pacedRate,
  settleMs,
  idleCpuMsPerNodeSecond,
  cells,
});
console.log(`\nresults: ${file}`);
