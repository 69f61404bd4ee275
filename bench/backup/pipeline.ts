// The continuous-backup pipeline under a fixed commit rate, for bench/backup and the integration test
// of the latest restorable time: everything after the writer's commit is real — the writer's
// RedoPublisher (in this process, fed the records and VDL a writer would feed it) → the Kinesis
// emulator → the local function runner (its own process, the backup-archiver handler) → the S3
// emulator — and the archive watermark is read back from S3 while the load runs. The redo is made
// here, not by SQL clients: the SQL path does not reach 1,000 commits/s on a 2-core machine
// (bench/sysbench), and what is measured is whether backup keeps up with such a rate.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { logPrefix, parseLogChunkKey, planLogChain } from '../../core/backup/archive.ts';
import { listObjects, readWatermark } from '../../core/backup/s3-archive.ts';
import { createLogger } from '../../core/log.ts';
import type { Lsn } from '../../core/lsn.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { defaultClusterName, primaryRegion, regionalResources } from '../../core/resources.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import { RedoPublisher, type RedoPublisherStats } from '../../services/writer/redo-publisher.ts';
import {
  KinesisRedoSink,
  readWatermark as publisherWatermark,
} from '../../services/writer/redo-publisher-aws.ts';
import { delta, snapshot } from '../lib/proc-io.ts';
import { percentile } from '../lib/stats.ts';

export interface BackupLoadOptions {
  commitsPerSecond: number;
  seconds: number;
  pagesPerCommit: number;
  deltaBytes: number;
}

export interface BackupLoadResult {
  commits: number;
  elapsedS: number;
  /** Latest restorable time behind now, sampled every 200 ms during the load. */
  behindMs: { p50: number; p99: number; max: number; samples: number };
  watermarkReadErrors: number;
  /** From the end of the load until the watermark reached the last commit (NaN: it did not). */
  drainedMs: number;
  lastLsn: Lsn;
  /** Where the archived log's gap-free chain from LSN 0 ends. */
  chainEndLsn: Lsn;
  chunks: number;
  cpuMsPer1kCommits: { publisher: number; functionRunner: number; emulators: number };
  publisher: RedoPublisherStats;
}

const region = primaryRegion;
const cluster = defaultClusterName;
const resources = regionalResources(region, cluster);
const pgCount = 8;
const sampleEveryMs = 200;
const drainTimeoutMs = 60_000;

/** Commits as a writer makes them: page records spread over PGs, each PG's backlink chain kept. */
class CommitMaker {
  constructor(
    readonly pagesPerCommit: number,
    readonly deltaBytes: number,
  ) {}

  #nextLsn = 1n;
  #txnId = 1n;
  #lastCommit = { lsn: 0n, pg: 0 };
  readonly #pgTails = new Map<number, Lsn>();
  #page = 0;

  make(commitTimeMs: number): RedoRecord[] {
    const records: RedoRecord[] = [];
    const touched = new Map<number, Lsn>();
    for (let i = 0; i < this.pagesPerCommit; i++) {
      const pageNo = 1 + (this.#page++ % 4096);
      const pg = pageNo % pgCount;
      records.push(
        this.#record(pg, pageNo, RecordKind.PageDelta, 0, new Uint8Array(this.deltaBytes).fill(i)),
      );
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

/** Runs the pipeline in a temp dir for the given load; every process it starts is stopped. */
export async function runBackupLoad(options: BackupLoadOptions): Promise<BackupLoadResult> {
  const { commitsPerSecond: rate, seconds } = options;
  const dir = mkdtempSync(join(tmpdir(), 'borealis-backup-load-'));
  const processes: ManagedProcess[] = [];
  let emulators: Emulators | undefined;
  try {
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
          throw new Error('backup load: the publisher asked storage for records (buffer overflow?)');
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
    const maker = new CommitMaker(options.pagesPerCommit, options.deltaBytes);
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
    const used = delta(before, after);
    const sorted = [...behindMs].sort((a, b) => a - b);
    const cpuPer1k = (pid: number) => ((used.perPid.get(pid)?.cpuMs ?? 0) / commits) * 1000;
    const result: BackupLoadResult = {
      commits,
      elapsedS: (loadEndedAt - startedAt) / 1000,
      behindMs: {
        p50: percentile(sorted, 50),
        p99: percentile(sorted, 99),
        max: sorted[sorted.length - 1] ?? Number.NaN,
        samples: sorted.length,
      },
      watermarkReadErrors,
      drainedMs,
      lastLsn,
      chainEndLsn: chain.endLsn,
      chunks: chunks.length,
      cpuMsPer1kCommits: {
        publisher: cpuPer1k(process.pid),
        functionRunner: cpuPer1k(runner.pid),
        emulators: emulators.state.pids.reduce((sum, pid) => sum + cpuPer1k(pid), 0),
      },
      publisher: publisher.snapshot(),
    };
    s3.destroy();
    return result;
  } finally {
    await Promise.all(processes.map((p) => p.stop().catch(() => undefined)));
    await emulators?.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}
