// `npm run bench:backup`: how far the latest restorable time (the archive watermark's commit time)
// stays behind now while the continuous-backup pipeline carries a fixed commit rate — by default
// 1,000 commits/s (bench/backup/pipeline.ts says what is real and why the redo is made in process).
// At the end the archived log is checked for gaps (planLogChain from LSN 0 reaches the last commit).
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { machine, table, writeResult } from '../lib/stats.ts';
import { runBackupLoad } from './pipeline.ts';

const usage = `usage: npm run bench:backup [-- options]

The latest restorable time behind now while the backup pipeline (writer's redo publisher → Kinesis
emulator → function runner's backup-archiver → S3 emulator) carries a fixed commit rate.

options:
  --rate N            commits per second (default 1000)
  --seconds S         length of the load (default 30)
  --pages N           page records per commit, besides the commit record (default 3)
  --delta-bytes N     payload of each page record (default 120: a small row change)
  --help              this text`;

const { values } = parseFlags('bench:backup', {
  rate: { type: 'string', default: '1000' },
  seconds: { type: 'string', default: '30' },
  pages: { type: 'string', default: '3' },
  'delta-bytes': { type: 'string', default: '120' },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
function positive(name: string, raw: string | undefined): number {
  const n = nonNegativeIntFlag('bench:backup', name, raw);
  if (n === 0) {
    console.error(`bench:backup: --${name} must be at least 1`);
    process.exit(2);
  }
  return n;
}
const options = {
  commitsPerSecond: positive('rate', values.rate),
  seconds: positive('seconds', values.seconds),
  pagesPerCommit: positive('pages', values.pages),
  deltaBytes: positive('delta-bytes', values['delta-bytes']),
};

console.log(
  `bench/backup: ${options.commitsPerSecond} commits/s for ${options.seconds} s, ${options.pagesPerCommit} page records of ${options.deltaBytes} B each`,
);
try {
  const r = await runBackupLoad(options);
  const gapFree = r.chainEndLsn >= r.lastLsn;
  console.log(`\nbench/backup — ${new Date().toISOString().slice(0, 10)}, ${JSON.stringify(machine())}\n`);
  console.log(
    table(
      ['figure', 'value'],
      [
        ['commits/s achieved', r.commits / r.elapsedS],
        ['LRT behind now p50 ms', r.behindMs.p50],
        ['LRT behind now p99 ms', r.behindMs.p99],
        ['LRT behind now max ms', r.behindMs.max],
        ['drain after the load ms', r.drainedMs],
        ['archived log gap-free', gapFree ? 'yes' : `no (ends at ${r.chainEndLsn}, last ${r.lastLsn})`],
        ['log chunks', r.chunks],
        ['watermark reads that failed (not sampled)', r.watermarkReadErrors],
        ['CPU ms / 1,000 commits: publisher (this process)', r.cpuMsPer1kCommits.publisher],
        ['CPU ms / 1,000 commits: function runner', r.cpuMsPer1kCommits.functionRunner],
        ['CPU ms / 1,000 commits: emulators (S3 + Kinesis)', r.cpuMsPer1kCommits.emulators],
      ],
    ),
  );
  const file = writeResult('backup', { date: new Date().toISOString(), machine: machine(), options, ...r });
  console.log(`\nresults: ${file}`);
  process.exit(gapFree ? 0 : 1);
} catch (error) {
  console.error(`bench/backup failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
}
