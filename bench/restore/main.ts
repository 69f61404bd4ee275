// bench/restore: continuous backup, snapshots and restore, in one run on the embedded system.
// (1) Latest restorable time behind now while 16 clients write as fast as they can: the archive
//     watermark's commit time sampled every 250 ms.
// (2) A database of --mb megabytes (1 MB blobs generated on the writer), then a first snapshot, read
//     unpaced (every page: there is no parent): snapshot MB/s = database bytes / wall time.
// (3) Foreground impact: a 4-client write load in windows that alternate between no snapshot,
//     incremental snapshots back to back (pages from the archived log) and full-read snapshots back
//     to back at the default pace — txn/s, commit latency, and CPU ms per transaction of the writer
//     and storage nodes (steadier than txn/s on a shared machine), and the snapshot process's CPU.
// (4) Restore of the newest snapshot as a new cluster: MB/s = database bytes / wall time until the
//     new cluster serves, with the restored control plane's split into S3 download and loading.
// Run: npm run bench:restore [-- --mb 200]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { s3Client } from '../../core/aws/clients.ts';
import { readWatermark } from '../../core/backup/s3-archive.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { primaryRegion, regionalResources } from '../../core/resources.ts';
import { emulatorCredentials, emulatorEnv } from '../../embedded/emulators.ts';
import { clusterDirPath, isPidAlive, readClusterEntry, readSystemState } from '../../embedded/state.ts';
import { pageReadsPerSecondDefault } from '../../functions/snapshot/handler.ts';
import { writerConsistentPoint } from '../../functions/snapshot/source.ts';
import { endpointClients } from '../../integration/harness/cluster.ts';
import type { Sql } from '../../integration/harness/sql.ts';
import { TestSystem } from '../../integration/harness/system.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';
import { cpuSeconds, pidsMatching, totalCpuSeconds } from './cpu.ts';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    'lrt-seconds': { type: 'string', default: '30' },
    'window-seconds': { type: 'string', default: '12' },
    rounds: { type: 'string', default: '3' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    [
      'usage: npm run bench:restore [-- --mb N] [--lrt-seconds S] [--window-seconds S] [--rounds N]',
      '  --mb              database size (default 200 MB)',
      '  --lrt-seconds     latest-restorable-time load phase (default 30 s; 0 skips it)',
      '  --window-seconds  each foreground-load window (default 12 s)',
      '  --rounds          rounds of (no snapshot, incremental, full-read) windows (default 3; 0 skips',
      '                    them and the wait for the archive to catch up with the load)',
    ].join('\n'),
  );
  process.exit(0);
}
const positiveInt = (name: string, raw: string | undefined, min: number) => {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`bench:restore: --${name} must be an integer >= ${min}, got '${raw}'`);
    process.exit(2);
  }
  return n;
};
const mb = positiveInt('mb', values.mb, 1);
const lrtSeconds = positiveInt('lrt-seconds', values['lrt-seconds'], 0);
const windowSeconds = positiveInt('window-seconds', values['window-seconds'], 1);
const rounds = positiveInt('rounds', values.rounds, 0);
const loopEntry = fileURLToPath(new URL('../../integration/backup/snapshot-loop.ts', import.meta.url));
const cluster = 'borealis';
const bucket = regionalResources(primaryRegion).backupBucket;

const dir = makeTempDir('bench-restore');
const s3Url = () => readSystemState(dir.path)!.emulators.regions.find((r) => r.region === primaryRegion)!.s3;

/** Writes with 16 clients for `seconds` while sampling how far the archive watermark is behind now. */
async function measureLatestRestorableTime(writer: Sql, seconds: number) {
  const s3 = s3Client({
    region: primaryRegion,
    env: { ...process.env, ...emulatorEnv(readSystemState(dir.path)!.emulators) },
  });
  const lags: number[] = [];
  let commits = 0;
  const end = Date.now() + seconds * 1000;
  const clients = Array.from({ length: 16 }, async (_, c) => {
    while (Date.now() < end) {
      await writer.exec('insert into load (client, at) values (:c, :t)', { c, t: Date.now() }).then(
        () => commits++,
        () => undefined,
      );
    }
  });
  const sampler = (async () => {
    while (Date.now() < end) {
      try {
        const w = await readWatermark(s3, bucket, cluster);
        if (w) lags.push(Date.now() - w.value.commitTimeMs);
      } catch {
        // read while being rewritten more often than the reader retries: the next sample tells
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  await Promise.all([...clients, sampler]);
  s3.destroy();
  lags.sort((a, b) => a - b);
  return {
    txnPerSecond: commits / seconds,
    samples: lags.length,
    p50Ms: percentile(lags, 50),
    p99Ms: percentile(lags, 99),
    maxMs: lags.at(-1) ?? Number.NaN,
  };
}

/** Seconds until the archive watermark reaches the writer's newest durable commit as of now. */
async function archiveCatchUp(status: Awaited<ReturnType<TestSystem['status']>>): Promise<number> {
  const started = performance.now();
  const writer = status.instances.find((i) => i.id === status.writer)!;
  const target = (await writerConsistentPoint(`http://127.0.0.1:${writer.httpPort}`)).lsn;
  const s3 = s3Client({
    region: primaryRegion,
    env: { ...process.env, ...emulatorEnv(readSystemState(dir.path)!.emulators) },
  });
  try {
    for (;;) {
      const w = await readWatermark(s3, bucket, cluster).catch(() => undefined);
      if (w && BigInt(w.value.lsn) >= target) return (performance.now() - started) / 1000;
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    s3.destroy();
  }
}

/** The processes a snapshot must not slow: the writer and the storage nodes of the cluster. */
function foregroundPids(): number[] {
  const clusterDir = clusterDirPath(dir.path, cluster);
  return [
    ...pidsMatching('services/storage-node/main.ts', clusterDir),
    ...pidsMatching('services/writer/main.ts', clusterDir),
  ];
}

interface WindowResult {
  txnPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  foregroundCpuMsPerTxn: number;
  snapshotCpuSeconds: number;
  snapshots: number;
  pagesRead: number;
}

/** A 4-client insert load for `seconds`, and what it cost the foreground processes. */
async function writeWindow(
  clients: Sql[],
  seconds: number,
): Promise<Omit<WindowResult, 'snapshotCpuSeconds' | 'snapshots' | 'pagesRead'>> {
  const pids = foregroundPids();
  const cpuBefore = totalCpuSeconds(pids);
  const latencies: number[] = [];
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    clients.map(async (sql, w) => {
      while (Date.now() < end) {
        const t0 = performance.now();
        await sql.exec('insert into fg (worker, data) values (:w, :d)', { w, d: 'x'.repeat(100) });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const cpu = totalCpuSeconds(pids) - cpuBefore;
  latencies.sort((a, b) => a - b);
  return {
    txnPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    foregroundCpuMsPerTxn: (cpu * 1000) / Math.max(1, latencies.length),
  };
}

/** Snapshots back to back in their own process (as the Lambda runs) while `work` runs. */
async function withSnapshotLoop(
  mode: 'log' | 'full',
  round: number,
  work: () => Promise<Omit<WindowResult, 'snapshotCpuSeconds' | 'snapshots' | 'pagesRead'>>,
): Promise<WindowResult> {
  const status = await system.status();
  const writer = status.instances.find((i) => i.id === status.writer)!;
  const logFile = join(dir.path, 'logs', `snapshot-loop-${mode}-${round}.log`);
  const loop: ManagedProcess = await spawnProcess({
    name: 'snapshot-loop',
    entry: loopEntry,
    args: [
      ...(mode === 'log' ? ['--from-log'] : []),
      join(clusterDirPath(dir.path, cluster), 'volume.json'),
      `http://127.0.0.1:${writer.httpPort}`,
      s3Url(),
      bucket,
      cluster,
      String(pageReadsPerSecondDefault),
    ],
    env: {
      AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
    },
    logFile,
  });
  const cpuBefore = cpuSeconds(loop.pid);
  const result = await work();
  const snapshotCpuSeconds = cpuSeconds(loop.pid) - cpuBefore;
  // A full-read snapshot of a large database outlasts the window: cut it (its packs are orphans
  // that retention removes).
  await loop.stop(500);
  const lines = readFileSync(logFile, 'utf8').split('\n');
  const stopping = lines.find((l) => l.startsWith('{"stopping"'));
  return {
    ...result,
    snapshotCpuSeconds,
    snapshots: lines.filter((l) => l.startsWith('{"snapshot"')).length,
    pagesRead: stopping ? (JSON.parse(stopping) as { pagesReadTotal: number }).pagesReadTotal : 0,
  };
}

const system = await TestSystem.start(dir.path, ['--readers', '0']);
const result: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), mb };
const rows: (string | number)[][] = [];
const foregroundRows: (string | number)[][] = [];
try {
  const status = await system.status();
  const { writer } = endpointClients(status);
  await writer.exec('create table load (id integer primary key, client integer, at integer)');
  if (lrtSeconds > 0) {
    const lrt = await measureLatestRestorableTime(writer, lrtSeconds);
    rows.push([
      `LRT behind now at ${lrt.txnPerSecond.toFixed(0)} txn/s (16 clients)`,
      '',
      `p50 ${lrt.p50Ms} ms`,
      `max ${lrt.maxMs} ms`,
    ]);
    result.latestRestorableTime = lrt;
  }
  await writer.exec('create table blobs (id integer primary key, b blob not null)');
  const loadStarted = performance.now();
  // 1 MB rows, 16 per transaction, generated on the writer (the Data API caps a request at 1 MB).
  for (let i = 0; i < mb; i += 16) {
    await writer.exec(
      `insert into blobs(b) select randomblob(1000000) from (select 1 from (values (1),(2),(3),(4)) a, (values (1),(2),(3),(4)) b limit ${Math.min(16, mb - i)})`,
    );
  }
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  const count = Number((await writer.rows('select count(*) from blobs'))[0]![0]);
  console.log(`loaded ${count} MB in ${loadSeconds.toFixed(1)} s`);
  // The redo stream is rate-limited per shard, so the archive trails a bulk load for a while; the
  // foreground windows measure the steady state, with the archive caught up.
  if (rounds > 0) {
    const archivedAfterSeconds = await archiveCatchUp(status);
    rows.push(['archive caught up, after the load ended', count, archivedAfterSeconds.toFixed(1), '']);
  }

  const snapshotCreate = async (label: string, args: string[]) => {
    const started = performance.now();
    const created = JSON.parse((await system.cli('snapshot', 'create', '--json', ...args)).stdout) as {
      snapshotId: string;
      bytesTotal: number;
      pagesRead: number;
      bytesUploaded: number;
      created: boolean;
    };
    const seconds = (performance.now() - started) / 1000;
    const totalMb = created.bytesTotal / 2 ** 20;
    rows.push([
      created.created
        ? `${label} (${created.pagesRead} pages read, ${(created.bytesUploaded / 2 ** 20).toFixed(1)} MB stored)`
        : `${label} (nothing committed since the newest: that one)`,
      totalMb.toFixed(0),
      seconds.toFixed(1),
      (totalMb / seconds).toFixed(1),
    ]);
    result[label] = { seconds, ...created };
    return created;
  };
  await snapshotCreate('snapshot create, first (every page, unpaced)', ['--pages-per-second', '0']);

  if (rounds > 0) {
    await writer.exec('create table fg (id integer primary key, worker integer, data text)');
    const clients = Array.from({ length: 4 }, () => endpointClients(status).writer);
    await writeWindow(clients, 3); // warm-up
    const windows: Record<string, WindowResult[]> = { none: [], log: [], full: [] };
    for (let round = 0; round < rounds; round++) {
      windows.none!.push({
        ...(await writeWindow(clients, windowSeconds)),
        snapshotCpuSeconds: 0,
        snapshots: 0,
        pagesRead: 0,
      });
      windows.log!.push(await withSnapshotLoop('log', round, () => writeWindow(clients, windowSeconds)));
      windows.full!.push(await withSnapshotLoop('full', round, () => writeWindow(clients, windowSeconds)));
      console.log(
        `round ${round}: ${JSON.stringify({ none: windows.none!.at(-1), log: windows.log!.at(-1), full: windows.full!.at(-1) })}`,
      );
    }
    for (const c of clients) c.close();
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const baseline = mean(windows.none!.map((w) => w.txnPerSecond));
    for (const [label, list] of [
      ['no snapshot', windows.none!],
      ['incremental snapshots back to back (pages from the archived log)', windows.log!],
      [`full-read snapshots back to back (${pageReadsPerSecondDefault} pages/s)`, windows.full!],
    ] as const) {
      const tps = mean(list.map((w) => w.txnPerSecond));
      foregroundRows.push([
        label,
        tps.toFixed(0),
        `${((tps / baseline) * 100).toFixed(0)} %`,
        mean(list.map((w) => w.p50Ms)).toFixed(1),
        mean(list.map((w) => w.p99Ms)).toFixed(1),
        mean(list.map((w) => w.foregroundCpuMsPerTxn)).toFixed(2),
        list.reduce((n, w) => n + w.snapshots, 0),
        list.reduce((n, w) => n + w.pagesRead, 0),
        mean(list.map((w) => w.snapshotCpuSeconds / windowSeconds)).toFixed(2),
      ]);
    }
    result.foreground = windows;
  }
  const latest = await snapshotCreate('snapshot create, incremental (pages from the log)', []);

  const restore = async (label: string, args: string[], name: string) => {
    const started = performance.now();
    const detail = JSON.parse((await system.cli('restore', ...args, '--as', name, '--json')).stdout) as {
      endpoints: { writer: string };
    };
    const seconds = (performance.now() - started) / 1000;
    const split = restoreSplit(name);
    rows.push([
      `${label}${split ? ` (download ${split.downloadSeconds} s in ${split.snapshotRequests} GETs, load ${split.loadSeconds} s)` : ''}`,
      (latest.bytesTotal / 2 ** 20).toFixed(0),
      seconds.toFixed(1),
      (latest.bytesTotal / 2 ** 20 / seconds).toFixed(1),
    ]);
    result[name] = { seconds, endpoints: detail.endpoints, split };
    await stopCluster(name);
  };
  await restore('restore from the snapshot', ['--snapshot', latest.snapshotId], 'from-snapshot');
  writer.close();
} finally {
  console.log(table(['what', 'MB', 'seconds', 'MB/s'], rows));
  if (foregroundRows.length > 0) {
    console.log(
      table(
        [
          `foreground: 4 clients, ${rounds} × ${windowSeconds} s windows`,
          'txn/s',
          'vs none',
          'p50 ms',
          'p99 ms',
          'fg CPU ms/txn',
          'snapshots',
          'pages read',
          'snapshot CPU s/s',
        ],
        foregroundRows,
      ),
    );
  }
  result.rows = rows;
  result.foregroundRows = foregroundRows;
  console.log(`result: ${writeResult('restore', result)}`);
  await system.stop();
  dir.remove();
}

/** The restored control plane's own account of the restore (its 'restore loaded' log line). */
function restoreSplit(
  name: string,
): { downloadSeconds: string; loadSeconds: string; snapshotRequests: number } | undefined {
  try {
    const log = readFileSync(join(clusterDirPath(dir.path, name), 'logs', 'control-plane.log'), 'utf8');
    const line = log.split('\n').find((l) => l.includes('"restore loaded"'));
    return line
      ? (JSON.parse(line) as { downloadSeconds: string; loadSeconds: string; snapshotRequests: number })
      : undefined;
  } catch {
    return undefined;
  }
}

async function stopCluster(name: string): Promise<void> {
  const entry = readClusterEntry(dir.path, name);
  if (!entry || !isPidAlive(entry.launcherPid)) return;
  process.kill(entry.launcherPid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (isPidAlive(entry.launcherPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
}
