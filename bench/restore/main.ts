// bench/restore: restore speed. Starts the embedded system, fills a database of --mb megabytes
// (blobs generated on the writer), takes a snapshot, then restores it as a new cluster and as of
// the latest restorable time; prints MB/s for each (database bytes / restore wall time, the new
// cluster serving at the end).
// Run: npm run bench:restore [-- --mb 200]
import { parseArgs } from 'node:util';
import { endpointClients } from '../../integration/harness/cluster.ts';
import { TestSystem } from '../../integration/harness/system.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { machine, table, writeResult } from '../lib/stats.ts';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '200' },
    help: { type: 'boolean', default: false },
  },
});
if (values.help) {
  console.log('usage: npm run bench:restore [-- --mb N]   (database size, default 200 MB)');
  process.exit(0);
}
const mb = Number(values.mb);
if (!Number.isInteger(mb) || mb < 1) {
  console.error(`bench:restore: --mb must be a positive integer, got '${values.mb}'`);
  process.exit(2);
}

const dir = makeTempDir('bench-restore');
const system = await TestSystem.start(dir.path, ['--readers', '0']);
const result: Record<string, unknown> = { date: new Date().toISOString(), machine: machine(), mb };
const rows: (string | number)[][] = [];
try {
  const { writer } = endpointClients(await system.status());
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
  const snapshot = JSON.parse((await system.cli('snapshot', 'create', '--json')).stdout) as {
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
