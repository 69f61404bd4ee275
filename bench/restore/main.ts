// bench/restore: continuous backup and restore, in one run on the embedded system. (1) Latest
// restorable time behind now while 16 clients write as fast as they can: the archive watermark's
// commit time sampled every 250 ms. (2) Restore speed: a database of --mb megabytes (blobs generated
// on the writer), a snapshot, then a restore of it as a new cluster; MB/s = database bytes / wall
// time until the new cluster serves.
// Run: npm run bench:restore [-- --mb 200]
import { parseArgs } from 'node:util';
import { s3Client } from '../../core/aws/clients.ts';
import { readWatermark } from '../../core/backup/s3-archive.ts';
import { primaryRegion, regionalResources } from '../../core/resources.ts';
import { emulatorEnv } from '../../embedded/emulators.ts';
import { readSystemState } from '../../embedded/state.ts';
import { endpointClients } from '../../integration/harness/cluster.ts';
import type { Sql } from '../../integration/harness/sql.ts';
import { TestSystem } from '../../integration/harness/system.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    'lrt-seconds': { type: 'string', default: '30' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log(
    'usage: npm run bench:restore [-- --mb N] [--lrt-seconds S]   (database size, default 200 MB; load phase, default 30 s)',
  );
  process.exit(0);
}
const mb = Number(values.mb);
if (!Number.isInteger(mb) || mb < 1) {
  console.error(`bench:restore: --mb must be a positive integer, got '${values.mb}'`);
  process.exit(2);
}

const lrtSeconds = Number(values['lrt-seconds']);

/** Writes with 16 clients for `seconds` while sampling how far the archive watermark is behind now. */
async function measureLatestRestorableTime(writer: Sql, seconds: number) {
  const s3 = s3Client({
    region: primaryRegion,
    env: { ...process.env, ...emulatorEnv(readSystemState(dir.path)!.emulators) },
  });
  const bucket = regionalResources(primaryRegion).backupBucket;
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
        const w = await readWatermark(s3, bucket, 'borealis');
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

const dir = makeTempDir('bench-restore');
const system = await TestSystem.start(dir.path, ['--readers', '0']);
const result: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), mb };
const rows: (string | number)[][] = [];
try {
  const { writer } = endpointClients(await system.status());
  await writer.exec('create table load (id integer primary key, client integer, at integer)');
  const lrt = await measureLatestRestorableTime(writer, lrtSeconds);
  rows.push([
    `LRT behind now at ${lrt.txnPerSecond.toFixed(0)} txn/s (16 clients)`,
    '',
    `p50 ${lrt.p50Ms} ms`,
    `max ${lrt.maxMs} ms`,
  ]);
  result.latestRestorableTime = lrt;
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

  const snapStarted = performance.now();
  const snapshot = JSON.parse(
    (await system.cli('snapshot', 'create', '--json', '--pages-per-second', '0')).stdout,
  ) as {
    snapshotId: string;
    bytesTotal: number;
  };
  const snapSeconds = (performance.now() - snapStarted) / 1000;
  rows.push([
    'snapshot create',
    (snapshot.bytesTotal / 2 ** 20).toFixed(0),
    snapSeconds.toFixed(1),
    (snapshot.bytesTotal / 2 ** 20 / snapSeconds).toFixed(1),
  ]);

  const restore = async (label: string, args: string[], name: string) => {
    const started = performance.now();
    const detail = JSON.parse((await system.cli('restore', ...args, '--as', name, '--json')).stdout) as {
      endpoints: { writer: string };
      resourceArn: string;
      secretArn: string;
    };
    const seconds = (performance.now() - started) / 1000;
    rows.push([
      label,
      (snapshot.bytesTotal / 2 ** 20).toFixed(0),
      seconds.toFixed(1),
      (snapshot.bytesTotal / 2 ** 20 / seconds).toFixed(1),
    ]);
    result[name] = { seconds, endpoints: detail.endpoints };
  };
  await restore('restore from the snapshot', ['--snapshot', snapshot.snapshotId], 'from-snapshot');
  writer.close();
} finally {
  console.log(table(['what', 'MB', 'seconds', 'MB/s'], rows));
  result.rows = rows;
  writeResult('restore', result);
  await system.stop();
  dir.remove();
}
