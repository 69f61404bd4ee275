// bench/binlog/capture-cost: what binlog capture (binlog_format ROW) costs the writer, in CPU per
// transaction, next to the same writer with capture OFF, measured in the same run (phases alternate,
// the median of the rounds is printed). The writer's whole SQL path runs in this process — executor,
// SQLite with the Borealis VFS, writer engine (deltas, RowImages encoding), log shipper — over a
// storage stand-in that acknowledges every Append at once and does nothing else, so the CPU counted
// is the writer's alone (no HTTP, no storage). Workloads: single-row autocommit INSERT and UPDATE, and
// sysbench oltp_write_only's transaction (two UPDATEs, a DELETE and an INSERT), on a 10,000-row sbtest.
// Run: node --import tsx bench/binlog/capture-cost.ts [--quick] [--rounds N]
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { TriggerCapture } from '../../core/binlog/capture.ts';
import type { SqlValue } from '../../core/data-api/types.ts';
import { databaseName, loadRuntimeOver, vfsName } from '../../core/engine/instance.ts';
import { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SqlExecutor } from '../../core/engine/sql-executor.ts';
import { defaultPlacement, type StorageNodeAddress, type VolumeConfig } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import type { StorageMessage } from '../../core/wire/messages.ts';
import { LogShipper } from '../../services/writer/log-shipper.ts';
import { WriterEngine } from '../../services/writer/writer-engine.ts';
import { machine, table, writeResult } from '../lib/stats.ts';
import { formatSpread, spread } from '../lib/summary.ts';

const usage = `usage: node --import tsx bench/binlog/capture-cost.ts [--quick] [--rounds N]

CPU per transaction of the writer's SQL path with binlog capture ON (ROW) and OFF, same run.
  --quick     1 s phases (default 4 s)
  --rounds N  alternating ON/OFF rounds per workload (default 3)`;
const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const phaseMs = values.quick ? 1_000 : 4_000;
const rounds = Number(values.rounds);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  console.error('capture-cost: --rounds must be an integer from 1 to 20');
  process.exit(2);
}
const tableRows = 10_000;
/** Rows per preload transaction. */
const preloadRowsPerTxn = 500;
const padText = (n: number, seed: number) => `${seed}-`.repeat(Math.ceil(n / 4)).slice(0, n);

type Mode = 'OFF' | 'ROW';

interface Writer {
  mode: Mode;
  run: (sql: string, parameters?: Record<string, SqlValue>, transactionId?: string) => Promise<unknown>;
  executor: SqlExecutor;
  engine: WriterEngine;
  capture: TriggerCapture | undefined;
  close: () => Promise<void>;
}

/** One PG on six stand-in nodes that acknowledge every Append as complete up to the newest LSN. */
async function openWriter(mode: Mode): Promise<Writer> {
  const nodes: StorageNodeAddress[] = Array.from({ length: 6 }, (_, i) => ({
    id: `n${i + 1}`,
    az: `az-${'abc'[Math.floor(i / 2)]}`,
    host: '127.0.0.1',
    port: 1,
    httpPort: 1,
  }));
  const volume: VolumeConfig = {
    volumeId: `bench-capture-${mode}`,
    pageSizeBytes: 4096,
    pagesPerPg: 1 << 20,
    nodes,
    placement: defaultPlacement(nodes, 1),
  };
  let shipper: LogShipper | undefined;
  const ack = async (): Promise<StorageMessage> => ({
    type: 'appendAck',
    epoch: 1n,
    scls: [{ pg: 0, scl: shipper!.nextLsn - 1n }],
  });
  const clients = new Map(
    nodes.map((n) => [
      n.id,
      {
        name: n.id,
        request: async (message: StorageMessage): Promise<StorageMessage> => {
          // The buffer cache holds every page this database ever has (capacity far above its size):
          // storage is only asked for pages never written, which are empty.
          if (message.type === 'getPage') return { type: 'page', versionLsn: 0n, page: new Uint8Array(0) };
          if (message.type !== 'append') throw new Error(`stand-in storage: no ${message.type}`);
          return ack();
        },
        requestRaw: () => ack(),
      } as unknown as StorageClient,
    ]),
  );
  shipper = new LogShipper({ volume, epoch: 1n, clients, nextLsn: 1n, retryIntervalMs: 3_600_000 });
  const logger = pino({ level: 'silent' });
  const engine = new WriterEngine({
    volume,
    shipper,
    fetcher: new PageFetcher({ volume, clients }),
    logger,
    cacheCapacityPages: 65_536,
    vdl: 0n,
    lastCommit: { lsn: 0n, pg: 0, commitTimeMs: 0 },
    nextTxnId: 1n,
  });
  const runtime = await loadRuntimeOver(engine);
  const capture = mode === 'ROW' ? new TriggerCapture({ sink: engine }) : undefined;
  const executor = new SqlExecutor({
    runtime,
    databaseName,
    vfsName,
    readOnly: false,
    // As the writer sets its connections up (services/writer/main.ts).
    connectionInitSql: `PRAGMA page_size=${volume.pageSizeBytes}; PRAGMA journal_mode=MEMORY; PRAGMA cache_size=-65536;`,
    logger,
    visibleLsn: () => engine.latestCommitLsn,
    waitDurable: (lsn) => shipper!.waitForVdl(lsn),
    durableLsn: () => shipper!.vdl,
    progressLsn: () => shipper!.vcl,
    ...(capture && { capture }),
  });
  const run = (sql: string, parameters: Record<string, SqlValue> = {}, transactionId?: string) =>
    executor.executeStatement({
      sql,
      parameters: new Map(Object.entries(parameters)),
      ...(transactionId === undefined ? {} : { transactionId }),
      includeResultMetadata: false,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: false,
    });
  await run(
    'CREATE TABLE sbtest (id INTEGER PRIMARY KEY, k INTEGER NOT NULL, c TEXT NOT NULL, pad TEXT NOT NULL)',
  );
  await run('CREATE INDEX k_idx ON sbtest (k)');
  for (let first = 1; first <= tableRows; first += preloadRowsPerTxn) {
    const id = await executor.beginTransaction();
    for (let i = first; i < first + preloadRowsPerTxn; i++) {
      await run(
        'INSERT INTO sbtest VALUES (:id, :k, :c, :pad)',
        { id: BigInt(i), k: BigInt(i), c: padText(120, i), pad: padText(60, i) },
        id,
      );
    }
    await executor.commitTransaction(id);
  }
  return {
    mode,
    run,
    executor,
    engine,
    capture,
    close: async () => {
      await executor.close();
      shipper!.close();
    },
  };
}

interface Workload {
  name: string;
  /** One transaction; x is a pseudo-random number. */
  txn: (w: Writer, x: number, n: number) => Promise<void>;
}

const workloads: Workload[] = [
  {
    name: 'INSERT (autocommit)',
    txn: async (w, x) => {
      await w.run('INSERT INTO sbtest (k, c, pad) VALUES (:k, :c, :pad)', {
        k: BigInt(x % tableRows),
        c: padText(120, x),
        pad: padText(60, x),
      });
    },
  },
  {
    name: 'UPDATE by key (autocommit)',
    txn: async (w, x) => {
      await w.run('UPDATE sbtest SET k = k + 1 WHERE id = :id', { id: BigInt(1 + (x % tableRows)) });
    },
  },
  {
    name: 'oltp_write_only txn (4 statements)',
    txn: async (w, x, n) => {
      const id = await w.executor.beginTransaction();
      const key = BigInt(1 + (x % tableRows));
      await w.run('UPDATE sbtest SET k = k + 1 WHERE id = :id', { id: key }, id);
      await w.run(
        'UPDATE sbtest SET c = :c WHERE id = :id',
        { id: BigInt(1 + ((x >> 3) % tableRows)), c: padText(120, n) },
        id,
      );
      await w.run('DELETE FROM sbtest WHERE id = :id', { id: key }, id);
      await w.run(
        'INSERT INTO sbtest (id, k, c, pad) VALUES (:id, :k, :c, :pad)',
        { id: key, k: BigInt(x % tableRows), c: padText(120, x), pad: padText(60, x) },
        id,
      );
      await w.executor.commitTransaction(id);
    },
  },
];

interface Phase {
  txns: number;
  cpuMicrosPerTxn: number;
  txnPerSecond: number;
  rowImagesBytesPerTxn: number;
}

async function phase(w: Writer, workload: Workload): Promise<Phase> {
  let x = 12345;
  let n = 0;
  const bytesBefore = w.engine.binlogBytes;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const deadline = started + phaseMs;
  while (performance.now() < deadline) {
    x = (x * 1103515245 + 12345) % 2147483648;
    await workload.txn(w, x, n++);
  }
  const elapsedMs = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  return {
    txns: n,
    cpuMicrosPerTxn: (cpu.user + cpu.system) / n,
    txnPerSecond: (n / elapsedMs) * 1000,
    rowImagesBytesPerTxn: (w.engine.binlogBytes - bytesBefore) / n,
  };
}

const writers = { OFF: await openWriter('OFF'), ROW: await openWriter('ROW') };
const rows: (string | number)[][] = [];
const result: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: machine(),
  phaseMs,
  rounds,
};
const measured: Record<string, Record<Mode, Phase[]>> = {};
for (const workload of workloads) {
  const phases: Record<Mode, Phase[]> = { OFF: [], ROW: [] };
  // Warm-up (JIT, page cache), then rounds alternating which mode goes first.
  for (const mode of ['OFF', 'ROW'] as const) await phase(writers[mode], { ...workload });
  for (let r = 0; r < rounds; r++) {
    const order: Mode[] = r % 2 === 0 ? ['OFF', 'ROW'] : ['ROW', 'OFF'];
    for (const mode of order) phases[mode].push(await phase(writers[mode], workload));
  }
  measured[workload.name] = phases;
  const cpu = (mode: Mode) => spread(phases[mode].map((p) => p.cpuMicrosPerTxn));
  const tps = (mode: Mode) => spread(phases[mode].map((p) => p.txnPerSecond)).median;
  // Paired by round (the two phases ran back to back): robust to a neighbour's load changing.
  const extra = spread(phases.ROW.map((p, r) => p.cpuMicrosPerTxn - phases.OFF[r]!.cpuMicrosPerTxn));
  const ratio = spread(phases.ROW.map((p, r) => p.cpuMicrosPerTxn / phases.OFF[r]!.cpuMicrosPerTxn));
  rows.push([
    workload.name,
    formatSpread(cpu('OFF')),
    formatSpread(cpu('ROW')),
    formatSpread(extra),
    `${((ratio.median - 1) * 100).toFixed(0)} %`,
    spread(phases.ROW.map((p) => p.rowImagesBytesPerTxn)).median,
    tps('OFF'),
    tps('ROW'),
  ]);
}
for (const w of Object.values(writers)) await w.close();
result.measured = measured;
result.captureStats = writers.ROW.capture?.stats;
console.log(`capture: ${JSON.stringify(writers.ROW.capture?.stats)}`);
console.log(
  `\nbinlog capture cost — writer SQL path in one process, storage acks at once; ${rounds} rounds of ${phaseMs / 1000} s: median (min–max); capture µs/txn and ROW vs OFF paired by round\n`,
);
console.log(
  table(
    [
      'workload',
      'CPU µs/txn OFF',
      'CPU µs/txn ROW',
      'capture µs/txn',
      'ROW vs OFF',
      'RowImages B/txn',
      'txn/s OFF',
      'txn/s ROW',
    ],
    rows,
  ),
);
console.log(`\nresult: ${writeResult('binlog-capture-cost', result)}`);
