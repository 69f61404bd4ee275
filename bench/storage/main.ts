// bench/storage: the storage node's foreground path, measured — appends/s, MB/s and ack latency for
// one node and for a 6-node quorum, at batch sizes 1, 16 and 256 records — next to a raw
// write+fdatasync loop on the same disk, the physical limit of an acknowledged append.
// Run: npm run bench:storage [-- --seconds N --in-flight N]
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { computeDelta } from '../../core/delta.ts';
import { RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { StorageCluster } from '../../integration/harness/storage-cluster.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { LogShipper, type NewRecord } from '../../services/writer/log-shipper.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';

const usage = `usage: npm run bench:storage [-- --seconds N] [-- --in-flight N]

  --seconds N     measuring time per cell (default 3)
  --in-flight N   concurrent append requests (default 8)`;
const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    'in-flight': { type: 'string', default: '8' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = Number(values.seconds);
const inFlight = Number(values['in-flight']);
const batchSizes = [1, 16, 256];

interface Cell {
  system: string;
  batchRecords: number;
  appendsPerSecond: number;
  recordsPerSecond: number;
  megabytesPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
}

/** A typical small change: a 64-byte delta on a 4 KiB page. */
function deltaPayload(i: number): Uint8Array {
  const before = new Uint8Array(4096);
  const after = Uint8Array.from(before);
  const at = (i * 97) % 4000;
  for (let j = 0; j < 64; j++) after[at + j] = (i + j) & 0xff;
  return computeDelta(before, after);
}

async function measure(
  system: string,
  batchRecords: number,
  appendOnce: () => Promise<number>,
): Promise<Cell> {
  const latencies: number[] = [];
  let bytes = 0;
  let appends = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < deadline) {
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
      await measure('1 storage node', batchRecords, async () => {
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
  for (const batchRecords of batchSizes) {
    cells.push(
      await measure('6-node quorum (4/6)', batchRecords, async () => {
        const pg = batchNo++ % cluster.volume.placement.length;
        const first = pg * cluster.volume.pagesPerPg + 1;
        const records: NewRecord[] = Array.from({ length: batchRecords }, (_, i) => ({
          pageNo: first + ((batchNo * 31 + i) % cluster.volume.pagesPerPg),
          kind: RecordKind.PageDelta,
          flags: i === batchRecords - 1 ? RecordFlags.Cpl : 0,
          payload: deltaPayload(batchNo + i),
        }));
        const shipped = shipper.ship(records);
        await shipped.durable;
        return shipped.records.reduce((n, r) => n + 44 + r.payload.length, 0);
      }),
    );
  }
  shipper.close();
} finally {
  await cluster.stopAll();
  dir.remove();
}

console.log(
  `\nbench/storage — ${seconds} s per cell, ${inFlight} appends in flight, 64-byte deltas on 4 KiB pages`,
);
console.log(
  table(
    ['system', 'records/batch', 'appends/s', 'records/s', 'MB/s', 'ack p50 ms', 'ack p99 ms'],
    cells.map((c) => [
      c.system,
      c.batchRecords,
      c.appendsPerSecond,
      c.recordsPerSecond,
      c.megabytesPerSecond,
      c.ackP50Ms,
      c.ackP99Ms,
    ]),
  ),
);
const file = writeResult('storage', {
  date: new Date().toISOString(),
  machine: machine(),
  seconds,
  inFlight,
  cells,
});
console.log(`\nresults: ${file}`);
