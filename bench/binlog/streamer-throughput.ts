// bench/binlog/streamer-throughput: how many events per second the binlog-streamer handler sustains,
// fed Lambda-shaped invocations (100 redo batches each, the trigger's batchSize) of synthetic
// RowImages records and putting the events on a Kinesis emulator stream (kinesalite, its own process,
// as `npm start` runs it), beside the same records only decoded to envelope JSON in this process (the
// handler's CPU floor: what it could do if putting cost nothing). Workloads: sysbench
// oltp_write_only's transaction (two UPDATEs, a DELETE and an INSERT of ~200-byte sbtest rows: four
// events) over 10,000 keys, and single-row INSERTs of 1 KiB rows. One shard and four.
// Run: node --import tsx bench/binlog/streamer-throughput.ts [--quick] [--txns N]
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { packRedoBatches, type RedoBatch } from '../../core/backup/redo-batch.ts';
import { envelopeJson, eventsOfRecord, MemoryFragmentStore } from '../../core/binlog/events.ts';
import type { BinlogChange, BinlogTable, BinlogValue } from '../../core/binlog/row-images.ts';
import { functionDefinitions, type KinesisTrigger } from '../../core/functions.ts';
import { regionalResources } from '../../core/resources.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import { streamBinlog } from '../../functions/binlog-streamer/handler.ts';
import {
  createStream,
  redoEvent,
  rowImagesLog,
  type TestTxn,
} from '../../functions/binlog-streamer/testing.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { machine, table, writeResult } from '../lib/stats.ts';

const usage = `usage: node --import tsx bench/binlog/streamer-throughput.ts [--quick] [--txns N]

Events/s of the binlog-streamer handler against the Kinesis emulator (1 and 4 shards), beside decoding
alone, for sysbench write_only transactions and 1 KiB inserts.
  --quick    2,000 transactions per workload (default 10,000)
  --txns N   transactions per workload`;
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    txns: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const txnCount = values.txns !== undefined ? Number(values.txns) : values.quick ? 2_000 : 10_000;
if (!Number.isInteger(txnCount) || txnCount < 100 || txnCount > 1_000_000) {
  console.error('streamer-throughput: --txns must be an integer from 100 to 1,000,000');
  process.exit(2);
}
const trigger = functionDefinitions['binlog-streamer'].triggers[0] as KinesisTrigger;
/** Transactions per redo batch (the writer's publisher batches what became durable together). */
const txnsPerBatch = 10;
const keys = 10_000;
const region = 'us-east-1';

const sbtest: BinlogTable = { name: 'sbtest1', columns: ['id', 'k', 'c', 'pad'], primaryKey: [0] };
const wide: BinlogTable = { name: 'docs', columns: ['id', 'body'], primaryKey: [0] };
const text = (n: number, seed: number) => `${seed}-`.repeat(Math.ceil(n / 4) + 1).slice(0, n);
const sbRow = (id: number, seed: number): BinlogValue[] => [
  BigInt(id),
  BigInt(seed % keys),
  text(120, seed),
  text(60, seed + 1),
];

function writeOnly(count: number): TestTxn[] {
  let seed = 1;
  const next = () => {
    seed = (Math.imul(seed, 1_103_515_245) + 12_345) >>> 0;
    return (seed >>> 8) % keys;
  };
  return Array.from({ length: count }, (_, t) => {
    const [a, b, d] = [next(), next(), next()];
    const changes: BinlogChange[] = [
      {
        kind: 'row',
        table: 0,
        op: 'u',
        rowid: BigInt(a),
        before: sbRow(a, t),
        after: sbRow(a, t + 1),
        tableOrdinal: 1,
      },
      {
        kind: 'row',
        table: 0,
        op: 'u',
        rowid: BigInt(b),
        before: sbRow(b, t),
        after: sbRow(b, t + 2),
        tableOrdinal: 2,
      },
      { kind: 'row', table: 0, op: 'd', rowid: BigInt(d), before: sbRow(d, t), after: null, tableOrdinal: 3 },
      {
        kind: 'row',
        table: 0,
        op: 'c',
        rowid: BigInt(d),
        before: null,
        after: sbRow(d, t + 3),
        tableOrdinal: 4,
      },
    ];
    return {
      txnId: BigInt(t + 1),
      commitTimeMs: 1_700_000_000_000 + t,
      captured: { tables: [sbtest], changes },
    };
  });
}

function inserts(count: number): TestTxn[] {
  return Array.from({ length: count }, (_, t) => ({
    txnId: BigInt(t + 1),
    commitTimeMs: 1_700_000_000_000 + t,
    captured: {
      tables: [wide],
      changes: [
        {
          kind: 'row',
          table: 0,
          op: 'c',
          rowid: BigInt(t),
          before: null,
          after: [BigInt(t), text(1024, t)],
          tableOrdinal: 1,
        },
      ],
    },
  }));
}

/** The log cut into redo batches of txnsPerBatch transactions each. */
function batchesOf(txns: TestTxn[]): RedoBatch[] {
  const out: RedoBatch[] = [];
  let lsn = 0n;
  for (let i = 0; i < txns.length; i += txnsPerBatch) {
    const records = rowImagesLog(txns.slice(i, i + txnsPerBatch), lsn);
    out.push(...packRedoBatches(1n, lsn, records));
    lsn = records.at(-1)!.lsn;
  }
  return out;
}

async function decodeOnly(batches: RedoBatch[]): Promise<{ events: number; seconds: number }> {
  const store = new MemoryFragmentStore();
  const ctx = { cluster: 'bench', serverId: 1, nowMs: Date.now };
  let events = 0;
  let bytes = 0;
  const started = performance.now();
  for (const b of batches) {
    for (const r of b.records) {
      for (const e of await eventsOfRecord(r, ctx, store)) {
        bytes += envelopeJson(e.envelope).length;
        events++;
      }
    }
  }
  if (bytes === 0) throw new Error('no events decoded');
  return { events, seconds: (performance.now() - started) / 1000 };
}

const dir = makeTempDir('bench-binlog-streamer');
const emulators = await Emulators.start({ regions: [region], dataDir: join(dir.path, 'aws') });
const resources = regionalResources(region, 'bench');
const kinesis = kinesisClient({ region, env: emulators.env() });
const s3 = s3Client({ region, env: emulators.env() });
const rows: (string | number)[][] = [];
const results: Record<string, unknown>[] = [];
try {
  await provisionRegion(resources, emulators.env());
  let streamNo = 0;
  for (const [workload, txns] of [
    ['write_only (4 events/txn)', writeOnly(txnCount)],
    ['insert 1 KiB (1 event/txn)', inserts(txnCount)],
  ] as const) {
    const batches = batchesOf(txns);
    const decoded = await decodeOnly(batches);
    rows.push([
      workload,
      'decode only',
      decoded.events,
      decoded.seconds,
      decoded.events / decoded.seconds,
      '—',
    ]);
    results.push({ workload, mode: 'decode', ...decoded });
    for (const shards of [1, 4]) {
      const stream = `bench-binlog-${++streamNo}`;
      await createStream(kinesis, stream, shards);
      const deps = {
        kinesis,
        s3,
        bucket: resources.backupBucket,
        cluster: 'bench',
        binlogStream: stream,
        logger: pino({ level: 'silent' }),
      };
      let events = 0;
      let requests = 0;
      const started = performance.now();
      for (let i = 0; i < batches.length; i += trigger.batchSize) {
        const out = await streamBinlog(redoEvent(batches.slice(i, i + trigger.batchSize)), deps);
        if (out.batchItemFailures.length > 0) throw new Error(`invocation ${i} reported failures`);
        events += out.summary.events;
        requests += out.summary.requests;
      }
      const seconds = (performance.now() - started) / 1000;
      rows.push([
        workload,
        `handler → kinesalite, ${shards} shard(s)`,
        events,
        seconds,
        events / seconds,
        events / requests,
      ]);
      results.push({ workload, mode: 'handler', shards, events, seconds, requests });
    }
  }
  console.log(
    `\nbench/binlog/streamer-throughput — ${new Date().toISOString().slice(0, 10)}, ${JSON.stringify(machine())}`,
  );
  console.log(
    `${txnCount} transactions per workload, ${txnsPerBatch} per redo batch, ${trigger.batchSize} batches per invocation\n`,
  );
  console.log(table(['workload', 'path', 'events', 'seconds', 'events/s', 'events/PutRecords'], rows));
  console.log(`\nresult: ${writeResult('binlog-streamer-throughput', { txnCount, txnsPerBatch, results })}`);
} finally {
  kinesis.destroy();
  s3.destroy();
  await emulators.stop();
  dir.remove();
}
