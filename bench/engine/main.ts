// bench/engine: the writer and a reader on the 6-node quorum volume, next to native SQLite (WAL,
// synchronous=FULL) on local disk, in one run. Prints: txn/s and commit latency (1 and 16 clients,
// single-row update transactions), redo bytes sent to storage per transaction, reader lag at paced
// update rates, and writer open time after SIGKILL with a 10 MB and a 1 GB log — SQLite's open after
// kill -9 with the same amount of WAL beside it.
// Run: npm run bench:engine [-- --quick]
import { fork } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { type InstanceInfo, startReader, startWriter } from '../../integration/harness/instances.ts';
import { Sql } from '../../integration/harness/sql.ts';
import { StorageCluster } from '../../integration/harness/storage-cluster.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { histogramQuantile, metricValue, scrape } from '../lib/prometheus.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';
import { benchRows, createSbtest, processWriteBytes, runSqliteUpdates } from './baseline-sqlite.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench:engine [-- --quick]   (--quick: 3 s phases, 200 MB instead of 1 GB)');
  process.exit(0);
}
const seconds = values.quick ? 3 : 10;
const bigLogBytes = values.quick ? 200e6 : 1e9;
const rows: (string | number)[][] = [];
const result: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), seconds };
const dir = makeTempDir('bench-engine');

function latencyRow(system: string, clients: number, latencies: number[], extra: string | number = '—') {
  latencies.sort((a, b) => a - b);
  const row = [
    system,
    `${clients} client${clients > 1 ? 's' : ''}`,
    latencies.length / seconds,
    percentile(latencies, 50),
    percentile(latencies, 99),
    extra,
  ];
  rows.push(row);
  return row;
}

async function updates(sql: Sql, clients: number, perClientIntervalMs = 0): Promise<number[]> {
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      let x = c * 7919 + 1;
      while (performance.now() < deadline) {
        x = (x * 1103515245 + 12345) % 2147483648;
        const started = performance.now();
        await sql.exec('update sbtest set k = k + 1 where id = :id', { id: 1 + (x % benchRows) });
        const took = performance.now() - started;
        latencies.push(took);
        if (perClientIntervalMs > took) await new Promise((r) => setTimeout(r, perClientIntervalMs - took));
      }
    }),
  );
  return latencies;
}

// --- Borealis ------------------------------------------------------------------------------------
const cluster = await StorageCluster.start({ dir: join(dir.path, 'cluster'), pgCount: 8, pagesPerPg: 65536 });
let writer: InstanceInfo = await startWriter(cluster);
let reader: InstanceInfo | undefined;
try {
  let sql = new Sql(writer);
  await sql.exec(
    'create table sbtest(id integer primary key, k integer not null, c text not null, pad text not null)',
  );
  for (let first = 1; first <= benchRows; first += 500) {
    await sql.batch(
      'insert into sbtest(id, k, c, pad) values (:id, :k, :c, :pad)',
      Array.from({ length: 500 }, (_, i) => ({
        id: first + i,
        k: first + i,
        c: `c-${first + i}`.padEnd(120, 'x'),
        pad: 'pad'.padEnd(60, 'y'),
      })),
    );
  }
  reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);

  for (const clients of [1, 16]) {
    const before = await scrape(writer.httpPort);
    const latencies = await updates(sql, clients);
    const after = await scrape(writer.httpPort);
    const commits =
      metricValue(after, 'borealis_writer_commits_shipped') -
      metricValue(before, 'borealis_writer_commits_shipped');
    const bytes =
      metricValue(after, 'borealis_writer_redo_bytes_shipped') -
      metricValue(before, 'borealis_writer_redo_bytes_shipped');
    latencyRow(
      'Borealis (6 storage nodes, Data API)',
      clients,
      latencies,
      `${Math.round(bytes / commits)} B/txn to each of 6 segments`,
    );
    result[`borealis_${clients}`] = {
      txnPerSecond: latencies.length / seconds,
      redoBytesPerTxnPerSegment: bytes / commits,
    };
  }

  const lag: Record<string, unknown> = {};
  for (const rate of [1_000, 5_000]) {
    const clients = 16;
    const before = await scrape(reader.httpPort);
    const latencies = await updates(sql, clients, (1_000 * clients) / rate);
    const after = await scrape(reader.httpPort);
    const p50 = histogramQuantile(before, after, 'borealis_reader_lag_seconds', 0.5) * 1000;
    const p99 = histogramQuantile(before, after, 'borealis_reader_lag_seconds', 0.99) * 1000;
    const achieved = latencies.length / seconds;
    rows.push([
      `Borealis reader lag, paced ${rate}/s`,
      `${Math.round(achieved)}/s achieved`,
      '',
      p50,
      p99,
      'lag ms (p50, p99)',
    ]);
    lag[rate] = { achievedPerSecond: achieved, lagP50Ms: p50, lagP99Ms: p99 };
  }
  result.readerLag = lag;

  // Writer open after SIGKILL, with the volume's log at ~10 MB and then at the big size.
  const logBytes = async () =>
    metricValue(await scrape(cluster.node('n1').httpPort), 'borealis_storage_bytes_appended_total');
  await sql.exec('create table blobs(id integer primary key, data blob)');
  const open: Record<string, unknown> = {};
  for (const [label, target] of [
    ['10 MB', 10e6],
    [values.quick ? '200 MB' : '1 GB', bigLogBytes],
  ] as const) {
    const fillStarted = performance.now();
    while ((await logBytes()) < target) {
      await sql.exec('insert into blobs(data) values (randomblob(:n))', {
        n: Math.min(1_000_000, Math.max(100_000, target / 50)),
      });
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    const opens: number[] = [];
    const starts: number[] = [];
    for (let run = 0; run < 3; run++) {
      // Kill it in the middle of a write load, the way a crash comes.
      const load = updates(sql, 4).catch(() => []);
      await new Promise((r) => setTimeout(r, 300));
      await writer.process.kill();
      await load;
      const spawned = performance.now();
      writer = await startWriter(cluster);
      starts.push(performance.now() - spawned);
      opens.push(writer.process.ready.openMs as number);
      sql.close();
      sql = new Sql(writer);
    }
    const size = await logBytes();
    opens.sort((a, b) => a - b);
    starts.sort((a, b) => a - b);
    rows.push([
      `Borealis writer open after kill -9, ${label} log`,
      `${(size / 1e6).toFixed(0)} MB log`,
      '',
      opens[1]!,
      opens[2]!,
      `volume open ms (median, max of 3); process start ${Math.round(starts[1]!)} ms`,
    ]);
    open[label] = {
      logBytes: size,
      openMsMedian: opens[1],
      openMsMax: opens[2],
      processStartMsMedian: starts[1],
      fillSeconds,
    };
  }
  result.writerOpen = open;
  sql.close();
} finally {
  await reader?.process.stop();
  await writer.process.stop();
  await cluster.stopAll();
}

// --- SQLite baseline -----------------------------------------------------------------------------
const sqlitePath = join(dir.path, 'sqlite', 'bench.db');
(await import('node:fs')).mkdirSync(join(dir.path, 'sqlite'), { recursive: true });
createSbtest(sqlitePath);
for (const clients of [1, 16]) {
  const written = processWriteBytes();
  const latencies = await runSqliteUpdates(sqlitePath, clients, seconds);
  const bytes = processWriteBytes() - written;
  latencyRow(
    'SQLite (better-sqlite3, WAL, synchronous=FULL)',
    clients,
    latencies,
    `${Math.round(bytes / latencies.length)} B/txn to disk`,
  );
  result[`sqlite_${clients}`] = {
    txnPerSecond: latencies.length / seconds,
    diskBytesPerTxn: bytes / latencies.length,
  };
}
const sqliteOpen: Record<string, unknown> = {};
for (const [label, target] of [
  ['10 MB', 10e6],
  [values.quick ? '200 MB' : '1 GB', bigLogBytes],
] as const) {
  const path = join(dir.path, 'sqlite', `wal-${Math.round(target)}.db`);
  createSbtest(path);
  // A child fills the WAL with checkpoints off, then dies by SIGKILL.
  const child = fork(
    fileURLToPath(new URL('./sqlite-wal-filler.mjs', import.meta.url)),
    [path, String(target)],
    { stdio: 'ignore' },
  );
  await new Promise((r) => child.once('exit', r));
  const started = performance.now();
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.prepare('select count(*) from sbtest').get();
  const ms = performance.now() - started;
  db.close();
  rows.push([
    `SQLite open after kill -9, ${label} of WAL`,
    '',
    '',
    ms,
    ms,
    'open + first query ms (WAL replay)',
  ]);
  sqliteOpen[label] = { openMs: ms };
}
result.sqliteOpen = sqliteOpen;
dir.remove();

console.log(
  `\nbench/engine — ${seconds} s per phase, single-row update transactions on a ${benchRows}-row table`,
);
console.log(table(['system', 'clients', 'txn/s', 'p50 ms', 'p99 ms', 'notes'], rows));
console.log(`\nresults: ${writeResult('engine', result)}`);
