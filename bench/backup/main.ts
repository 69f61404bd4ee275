// `npm run bench:backup`: how far the latest restorable time (the archive watermark's commit time)
// stays behind now while the continuous-backup pipeline carries a fixed commit rate — by default
// 1,000 commits/s, more than the SQL path reaches on a 2-core machine (bench/sysbench), so the redo
// is made here rather than by SQL clients. Everything after the writer's commit is the real thing:
// the writer's RedoPublisher (in this process, fed the records and VDL a writer would feed it) →
// the Kinesis emulator → the local function runner (its own process, the backup-archiver handler)
// → the S3 emulator, and the watermark read back from S3. At the end the archived log is checked
// for gaps (planLogChain from LSN 0 must reach the last commit).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { logPrefix, parseLogChunkKey, planLogChain } from '../../core/backup/archive.ts';
import { listObjects, readWatermark } from '../../core/backup/s3-archive.ts';
import { createLogger } from '../../core/log.ts';
import type { Lsn } from '../../core/lsn.ts';
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { defaultClusterName, primaryRegion, regionalResources } from '../../core/resources.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import { RedoPublisher } from '../../services/writer/redo-publisher.ts';
import {
  KinesisRedoSink,
  readWatermark as publisherWatermark,
} from '../../services/writer/redo-publisher-aws.ts';
import { delta, snapshot } from '../lib/proc-io.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';

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
const rate = positive('rate', values.rate);
const seconds = positive('seconds', values.seconds);
const pagesPerCommit = positive('pages', values.pages);
const deltaBytes = positive('delta-bytes', values['delta-bytes']);

const region = primaryRegion;
const cluster = defaultClusterName;
const resources = regionalResources(region, cluster);
const pgCount = 8;
const sampleEveryMs = 200;
const drainTimeoutMs = 60_000;

/** Commits as a writer makes them: page records spread over PGs, each PG's backlink chain kept. */
class CommitMaker {
  #nextLsn = 1n;
  #txnId = 1n;
  #lastCommit = { lsn: 0n, pg: 0 };
  readonly #pgTails = new Map<number, Lsn>();
  #page = 0;

  make(commitTimeMs: number): RedoRecord[] {
    const records: RedoRecord[] = [];
    const touched = new Map<number, Lsn>();
    for (let i = 0; i < pagesPerCommit; i++) {
      const pageNo = 1 + (this.#page++ % 4096);
      const pg = pageNo % pgCount;
      records.push(this.#record(pg, pageNo, RecordKind.PageDelta, 0, new Uint8Array(deltaBytes).fill(i)));
      touched.set(pg, records[records.length - 1]!.lsn);
    }
    const pg = records[records.length - 1]!.pg;
    const payload = encodeCommitPayload({
      txnId: this.#txnId++,
      commitTimeMs,
      pgTails: [...touched].sort((a, b) => a[0] - b[0]).map(([p, lastLsn]) => ({ pg: p, lastLsn })),
      vdlHint: this.#lastCommit.lsn,
      prevCommitLsn: this.#lastCommit.lsn,
      prevCommitPg: this.#lastCommit.pg,
    });
    const commit = this.#record(pg, 0, RecordKind.Commit, RecordFlags.Cpl, payload);
    records.push(commit);
    this.#lastCommit = { lsn: commit.lsn, pg };
    return records;
  }

  #record(
    pg: number,
    pageNo: number,
    kind: RedoRecord['kind'],
    flags: number,
    payload: Uint8Array,
  ): RedoRecord {
    const lsn = this.#nextLsn++;
    const record: RedoRecord = {
      lsn,
      pg,
      pageNo,
      prevLsnInPg: this.#pgTails.get(pg) ?? 0n,
      prevLsnOfPage: 0n,
      kind,
      flags,
      payload,
    };
    this.#pgTails.set(pg, lsn);
    return record;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'borealis-bench-backup-'));
const processes: ManagedProcess[] = [];
let emulators: Emulators | undefined;
async function cleanup(): Promise<void> {
  await Promise.all(processes.map((p) => p.stop().catch(() => undefined)));
  await emulators?.stop().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
}
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));

try {
  console.log(
    `bench/backup: ${rate} commits/s for ${seconds} s, ${pagesPerCommit} page records of ${deltaBytes} B each`,
  );
  emulators = await Emulators.start({ regions: [region], dataDir: join(dir, 'emulators') });
  const env = { ...process.env, ...emulators.env() };
  await provisionRegion(resources, env);
  const runner = await spawnProcess({
    name: 'function-runner',
    entry: fileURLToPath(new URL('../../embedded/function-runner-main.ts', import.meta.url)),
    args: ['--state-dir', join(dir, 'state'), '--region', region, '--cluster', cluster],
    env,
    logFile: join(dir, 'function-runner.log'),
  });
  processes.push(runner);
  const s3 = s3Client({ region, env });
  const publisher = new RedoPublisher({
    epoch: 1n,
    sink: new KinesisRedoSink(kinesisClient({ region, env }), resources.redoStream.name, cluster),
    storage: {
      // The load never overflows the publisher's buffer, and there is nothing to republish from LSN 0.
      // biome-ignore lint/correctness/useYield: it never yields, by design
      read: async function* () {
        throw new Error('bench/backup: the publisher asked storage for records (buffer overflow?)');
      },
    },
    readWatermark: () => publisherWatermark(s3, resources.backupBucket, cluster),
    logger: createLogger('redo-publisher', { bench: 'backup' }),
    vdl: 0n,
    vdlCommitTimeMs: 0,
    pgTails: new Map(),
  });
  publisher.start();

  const pids = [process.pid, runner.pid, ...emulators.state.pids];
  const before = snapshot(pids);
  const maker = new CommitMaker();
  let commits = 0;
  let lastLsn = 0n;
  let lastCommitTimeMs = 0;
  const startedAt = Date.now();
  const endAt = startedAt + seconds * 1000;
  const behindMs: number[] = [];
  let sampling = true;
  let watermarkReadErrors = 0;
  const sampler = (async () => {
    while (sampling) {
      await new Promise((r) => setTimeout(r, sampleEveryMs));
      const now = Date.now();
      try {
        const stored = await readWatermark(s3, resources.backupBucket, cluster);
        // Before the first watermark, everything since the start is unrestorable.
        if (now <= endAt) behindMs.push(now - (stored ? stored.value.commitTimeMs : startedAt));
      } catch {
        watermarkReadErrors++;
      }
    }
  })();
  // Commits in 10 ms steps, catching up on any step the event loop was late for.
  while (Date.now() < endAt) {
    const due = Math.floor(((Date.now() - startedAt) * rate) / 1000);
    const shipped: RedoRecord[] = [];
    for (; commits < due; commits++) {
      lastCommitTimeMs = Math.max(Date.now(), lastCommitTimeMs);
      shipped.push(...maker.make(lastCommitTimeMs));
    }
    if (shipped.length > 0) {
      publisher.shipped(shipped);
      lastLsn = shipped[shipped.length - 1]!.lsn;
      publisher.vdlAdvanced(lastLsn);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const loadEndedAt = Date.now();
  const after = snapshot(pids);
  // Drain: the watermark reaches the last commit.
  let drainedMs = Number.NaN;
  while (Date.now() - loadEndedAt < drainTimeoutMs) {
    const stored = await readWatermark(s3, resources.backupBucket, cluster).catch(() => undefined);
    if (stored && BigInt(stored.value.commitLsn) >= lastLsn) {
      drainedMs = Date.now() - loadEndedAt;
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  sampling = false;
  await sampler;
  await publisher.close();

  const chunks = (await listObjects(s3, resources.backupBucket, logPrefix(cluster)))
    .map((o) => parseLogChunkKey(o.key))
    .filter((c) => c !== undefined);
  const chain = planLogChain(chunks, 0n);
  const gapFree = chain.endLsn >= lastLsn;

  const used = delta(before, after);
  const elapsedS = (loadEndedAt - startedAt) / 1000;
  const sorted = [...behindMs].sort((a, b) => a - b);
  const cpuPer1k = (pid: number) => ((used.perPid.get(pid)?.cpuMs ?? 0) / commits) * 1000;
  const rows: (string | number)[][] = [
    ['commits/s achieved', commits / elapsedS],
    ['LRT behind now p50 ms', percentile(sorted, 50)],
    ['LRT behind now p99 ms', percentile(sorted, 99)],
    ['LRT behind now max ms', sorted[sorted.length - 1] ?? Number.NaN],
    ['drain after the load ms', drainedMs],
    ['archived log gap-free', gapFree ? 'yes' : `no (ends at ${chain.endLsn}, last ${lastLsn})`],
    ['log chunks', chunks.length],
    ['watermark reads that failed (not sampled)', watermarkReadErrors],
    ['CPU ms / 1,000 commits: publisher (this process)', cpuPer1k(process.pid)],
    ['CPU ms / 1,000 commits: function runner', cpuPer1k(runner.pid)],
    [
      'CPU ms / 1,000 commits: emulators (S3 + Kinesis)',
      emulators.state.pids.reduce((sum, pid) => sum + cpuPer1k(pid), 0),
    ],
  ];
  console.log(`\nbench/backup — ${new Date().toISOString().slice(0, 10)}, ${JSON.stringify(machine())}\n`);
  console.log(table(['figure', 'value'], rows));
  const file = writeResult('backup', {
    date: new Date().toISOString(),
    machine: machine(),
    options: { rate, seconds, pagesPerCommit, deltaBytes },
    commits,
    elapsedS,
    behindMs: {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1),
      samples: sorted.length,
    },
    drainedMs,
    watermarkReadErrors,
    gapFree,
    chunks: chunks.length,
    publisher: publisher.snapshot(),
  });
  console.log(`\nresults: ${file}`);
  s3.destroy();
  await cleanup();
  process.exit(gapFree ? 0 : 1);
} catch (error) {
  console.error(`bench/backup failed: ${(error as Error).stack ?? error}`);
  await cleanup();
  process.exit(1);
}
