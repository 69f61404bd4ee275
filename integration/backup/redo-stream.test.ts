// The writer's Kinesis redo stream, end to end with real processes: kinesalite + s3rver, six storage
// nodes, a writer publishing with --redo-stream/--backup-bucket. Writes go through the Data API; the
// stream is read back with the SDK and its redo batches decoded. Checked: the batches chain (prevLsn)
// gap-free from LSN 0 to the writer's VDL, every durable commit is in it exactly once per LSN, in
// order (transaction ids 1..N without a hole) — including across a kill -9 of the writer mid-load and a
// new writer (epoch bump) that resumes from the archive watermark by republishing from storage.

import { readFileSync } from 'node:fs';
import { GetRecordsCommand, GetShardIteratorCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { type ChunkInfo, planLogChain, type Watermark, watermarkKey } from '../../core/backup/archive.ts';
import { commitsOf, decodeRedoBatch, type RedoBatchHeader } from '../../core/backup/redo-batch.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { RedoRecord } from '../../core/record.ts';
import { regionalResources } from '../../core/resources.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import {
  endpointClients,
  percentile,
  startTestCluster,
  WriteWorkload,
  waitForStatus,
  waitUntil,
  writerOf,
} from '../harness/cluster.ts';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const region = 'us-east-1';
const cluster = 'borealis';
const resources = regionalResources(region, cluster);

interface StreamBatch {
  header: RedoBatchHeader;
  records: RedoRecord[];
}

async function health(
  writer: InstanceInfo,
): Promise<Record<string, unknown> & { redoStream: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${writer.httpPort}/health`);
  return (await response.json()) as Record<string, unknown> & { redoStream: Record<string, unknown> };
}

/** Every batch on the stream's one shard, from the start, decoded (and checked: CRCs, order, header). */
async function readStream(kinesis: KinesisClient): Promise<StreamBatch[]> {
  let iterator = (
    await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: resources.redoStream.name,
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    )
  ).ShardIterator;
  const out: StreamBatch[] = [];
  while (iterator) {
    const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 1000 }));
    for (const r of page.Records ?? []) {
      const batch = decodeRedoBatch(r.Data!);
      out.push({ header: batch.header, records: batch.records });
    }
    if ((page.Records ?? []).length === 0 && (page.MillisBehindLatest ?? 0) === 0) break;
    iterator = page.NextShardIterator;
  }
  return out;
}

function chunks(batches: StreamBatch[]): ChunkInfo[] {
  return batches.map((b, i) => ({ key: `stream-${i}`, ...b.header }));
}

/** The records of the gap-free chain from LSN 0 (each LSN once), and the chain's end. */
function chainRecords(batches: StreamBatch[]): { endLsn: Lsn; records: RedoRecord[] } {
  const chain = planLogChain(chunks(batches), 0n);
  const byKey = new Map(batches.map((b, i) => [`stream-${i}`, b]));
  const records: RedoRecord[] = [];
  let last = 0n;
  for (const c of chain.chunks) {
    for (const r of byKey.get(c.key)!.records) {
      if (r.lsn <= last) continue; // the overlap of a re-sent or republished batch
      records.push(r);
      last = r.lsn;
    }
  }
  return { endLsn: chain.endLsn, records };
}

/** Autocommit inserts from `clients` loops until stop(); returns how many were acknowledged. */
function load(sql: Sql, clients: number, start: number) {
  let stopped = false;
  let acked = 0;
  let failed = 0;
  const loops = Array.from({ length: clients }, async (_, c) => {
    for (let seq = start; !stopped; seq++) {
      try {
        await sql.exec('insert into t(client, seq, pad) values (:c, :s, :p)', {
          c,
          s: seq,
          p: 'x'.repeat(200),
        });
        acked++;
      } catch {
        failed++;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  });
  return {
    get acked() {
      return acked;
    },
    get failed() {
      return failed;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

describe('redo stream (writer → Kinesis)', () => {
  const dir = makeTempDir('redo-stream');
  let emulators: Emulators;
  let storage: StorageCluster;
  let kinesis: KinesisClient;
  let s3: S3Client;
  const writers: InstanceInfo[] = [];
  /** VDL once the table exists: every commit at or below it is DDL, every later one an insert. */
  let ddlVdl = 0n;
  const writerArgs = [
    '--redo-stream',
    resources.redoStream.name,
    '--backup-bucket',
    resources.backupBucket,
    '--cache-pages',
    '8192',
  ];

  beforeAll(async () => {
    emulators = await Emulators.start({ regions: [region], dataDir: `${dir.path}/emulators` });
    const env = emulators.env();
    await provisionRegion(resources, { ...process.env, ...env });
    // The writer processes inherit these: the embedded endpoints and the emulators' credentials.
    Object.assign(process.env, env);
    kinesis = kinesisClient({ region, env });
    s3 = s3Client({ region, env });
    storage = await StorageCluster.start({ dir: `${dir.path}/storage`, pgCount: 4, pagesPerPg: 1024 });
  }, 120_000);

  afterAll(async () => {
    for (const w of writers) await w.process.stop().catch(() => undefined);
    await storage?.stopAll();
    kinesis?.destroy();
    s3?.destroy();
    await emulators?.stop();
    dir.remove();
  }, 60_000);

  it('publishes every durable commit gap-free, in order, across a kill -9 failover', async () => {
    const first = await startWriter(storage, { id: 'writer-1', args: writerArgs });
    writers.push(first);
    const sql1 = new Sql(first);
    await sql1.exec(
      'create table t (id integer primary key autoincrement, client integer not null, seq integer not null, pad text)',
    );
    // Every commit so far is the DDL's (the load has not started).
    ddlVdl = BigInt((await health(first)).vdl as string);
    // Publish lag (VDL's commit time minus the last published commit's), sampled from /health.
    const lag: { writer: number; mode: string; ms: number }[] = [];
    const sampleLag = (w: InstanceInfo, writer: number) =>
      setInterval(() => {
        void health(w)
          .then((h) => lag.push({ writer, mode: String(h.redoStream.mode), ms: Number(h.redoStream.lagMs) }))
          .catch(() => undefined);
      }, 50);

    // Load, then kill -9 the writer in the middle of it.
    let sampler = sampleLag(first, 1);
    const load1 = load(sql1, 4, 0);
    await new Promise((r) => setTimeout(r, 4_000));
    const before = await health(first);
    expect(before.redoStream.mode).toBe('live');
    await first.process.kill();
    clearInterval(sampler);
    await load1.stop();
    sql1.close();
    expect(load1.acked).toBeGreaterThan(50);

    // What the first writer got onto the stream; an archiver would have advanced the watermark over
    // part of it: write one at a batch boundary in the middle, as the archiver would.
    const stream1 = await readStream(kinesis);
    expect(stream1.length).toBeGreaterThan(0);
    expect(chainRecords(stream1).endLsn).toBeGreaterThan(0n);
    const mid = stream1[Math.floor(stream1.length / 2)]!.header;
    const watermark: Watermark = {
      lsn: mid.lastLsn.toString(),
      commitLsn: mid.lastCommitLsn.toString(),
      commitTimeMs: mid.lastCommitTimeMs,
      updatedAt: new Date().toISOString(),
    };
    await s3.send(
      new PutObjectCommand({
        Bucket: resources.backupBucket,
        Key: watermarkKey(cluster),
        Body: JSON.stringify(watermark),
      }),
    );

    // A new writer on the same storage: epoch bump, recovery; it republishes (watermark, VDL] first.
    const second = await startWriter(storage, { id: 'writer-2', args: writerArgs });
    writers.push(second);
    const sql2 = new Sql(second);
    sampler = sampleLag(second, 2);
    const load2 = load(sql2, 4, 1_000_000);
    await new Promise((r) => setTimeout(r, 3_000));
    await load2.stop();
    clearInterval(sampler);

    // Quiesced: the stream catches up to VDL.
    let final: Awaited<ReturnType<typeof health>> | undefined;
    await eventually(
      async () => {
        final = await health(second);
        return final.redoStream.publishedLsn === final.vdl && final.redoStream.lagLsn === '0';
      },
      20_000,
      'the redo stream caught up with VDL',
    );
    expect(Number(final!.redoStream.recordsRepublished)).toBeGreaterThan(0);
    const metrics = await (await fetch(`http://127.0.0.1:${second.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/^borealis_writer_redo_publish_batches_total\{[^}]*\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^borealis_writer_redo_publish_lag_lsn\{[^}]*\} 0$/m);
    const vdl = BigInt(final!.vdl as string);
    expect(BigInt(final!.latestCommit as string)).toBe(vdl);

    const stream = await readStream(kinesis);
    // The new writer's first batch continues the archived log at the watermark.
    const firstOfSecond = stream.find((b) => b.header.epoch > mid.epoch)!;
    expect(firstOfSecond.header.prevLsn).toBe(mid.lastLsn);

    // Gap-free from 0 to VDL, and holding every durable commit: transaction ids 1..N in LSN order
    // (a new writer continues after the last durable transaction id), one commit per table row
    // plus the DDL before the load.
    const { endLsn, records } = chainRecords(stream);
    expect(endLsn).toBe(vdl);
    const commits = commitsOf(records);
    expect(commits.map((c) => c.txnId)).toEqual(commits.map((_, i) => BigInt(i + 1)));
    for (let i = 1; i < commits.length; i++) {
      expect(commits[i]!.commitTimeMs).toBeGreaterThanOrEqual(commits[i - 1]!.commitTimeMs);
    }
    const rows = Number((await sql2.rows('select count(*) from t'))[0]![0]);
    const ddlCommits = commits.filter((c) => c.lsn <= ddlVdl).length;
    expect(rows).toBeGreaterThanOrEqual(load1.acked + load2.acked);
    expect(commits.length).toBe(rows + ddlCommits);
    expect(ddlCommits).toBeGreaterThanOrEqual(1);
    expect(commits.at(-1)!.lsn).toBe(vdl);
    sql2.close();

    const summary = (writer: number) => {
      const ms = lag.filter((x) => x.writer === writer && x.mode === 'live').map((x) => x.ms);
      return `writer ${writer} live: p50 ${percentile(ms, 50)} ms, p99 ${percentile(ms, 99)} ms, max ${Math.max(...ms)} ms (${ms.length} samples)`;
    };
    console.log(
      `redo stream: ${stream.length} batches, ${records.length} records, ${commits.length} commits; ` +
        `acked ${load1.acked} + ${load2.acked}; republished ${final!.redoStream.recordsRepublished} records ` +
        `after the failover; publish lag under load: ${summary(1)}; ${summary(2)}`,
    );
  }, 120_000);

  it('bounded buffer: Kinesis paused (SIGSTOP) under load, the dropped records come back from storage', async () => {
    // The writer of the previous test hands over (SIGTERM): the new one resumes from the watermark.
    await writers.at(-1)!.process.stop();
    const writer = await startWriter(storage, {
      id: 'writer-3',
      args: [...writerArgs, '--redo-buffer-bytes', String(64 * 1024)],
    });
    writers.push(writer);
    const sql = new Sql(writer);
    const kinesisPid = emulators.state.pids.find((pid) =>
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('kinesis-emulator'),
    )!;
    const work = load(sql, 4, 2_000_000);
    await new Promise((r) => setTimeout(r, 1_500));
    process.kill(kinesisPid, 'SIGSTOP');
    const ackedBeforePause = work.acked;
    let ackedDuringPause = 0;
    try {
      await new Promise((r) => setTimeout(r, 4_000));
      const paused = await health(writer);
      expect(Number(paused.redoStream.bufferBytes)).toBeLessThanOrEqual(64 * 1024);
      expect(Number(paused.redoStream.overflows)).toBeGreaterThan(0);
      // Off the commit path: commits are acknowledged while the stream does not answer.
      ackedDuringPause = work.acked - ackedBeforePause;
      expect(ackedDuringPause).toBeGreaterThan(20);
    } finally {
      process.kill(kinesisPid, 'SIGCONT');
    }
    await new Promise((r) => setTimeout(r, 1_500));
    await work.stop();
    let final: Awaited<ReturnType<typeof health>> | undefined;
    await eventually(
      async () => {
        final = await health(writer);
        return final.redoStream.publishedLsn === final.vdl;
      },
      30_000,
      'the redo stream caught up with VDL',
    );
    const vdl = BigInt(final!.vdl as string);
    const { endLsn, records } = chainRecords(await readStream(kinesis));
    expect(endLsn).toBe(vdl);
    const commits = commitsOf(records);
    expect(commits.map((c) => c.txnId)).toEqual(commits.map((_, i) => BigInt(i + 1)));
    const rows = Number((await sql.rows('select count(*) from t'))[0]![0]);
    expect(commits.length).toBe(rows + commits.filter((c) => c.lsn <= ddlVdl).length);
    console.log(
      `Kinesis paused 4 s: ${ackedDuringPause} commits acked during the pause (${ackedBeforePause} in the 1.5 s before); buffer overflows ${final!.redoStream.overflows}, ` +
        `records read back from storage ${final!.redoStream.recordsRepublished}`,
    );
    sql.close();
  }, 120_000);
});

describe('redo stream through the control plane (startTestCluster with the embedded AWS)', () => {
  const dir = makeTempDir('redo-stream-cluster');
  let emulators: Emulators;
  let cluster: LocalCluster;
  let kinesis: KinesisClient;

  beforeAll(async () => {
    emulators = await Emulators.start({ regions: [region], dataDir: `${dir.path}/emulators` });
    await provisionRegion(resources, { ...process.env, ...emulators.env() });
    kinesis = kinesisClient({ region, env: emulators.env() });
    cluster = await startTestCluster({ dir: `${dir.path}/cluster`, readers: 1, env: emulators.env() });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    kinesis?.destroy();
    await emulators?.stop();
    dir.remove();
  }, 60_000);

  it('writers started by the control plane publish, and the stream stays gap-free across a failover', async () => {
    const serving = (s: ClusterStatus) =>
      s.writer !== null &&
      !s.failoverInProgress &&
      s.instances.some((i) => i.id === s.writer && i.pid !== null);
    const status = await cluster.status();
    const { writer } = endpointClients(status);
    await writer.exec(WriteWorkload.createTableSql('w'));
    const ddlVdl = BigInt((await instanceHealth(writerOf(status).httpPort!)).vdl as string);
    const workload = new WriteWorkload(writer, 'w', 2);
    try {
      await waitUntil(() => workload.acked().length >= 30, 30_000, 'writes flowing');
      // A loaded machine may have made the control plane fail the writer over already: kill whichever serves.
      const old = writerOf(await waitForStatus(cluster, serving, 60_000));
      process.kill(old.pid!, 'SIGKILL');
      const after = await waitForStatus(cluster, (s) => s.writer !== null && s.writer !== old.id, 60_000);
      const acked = workload.acked().length;
      await waitUntil(() => workload.acked().length >= acked + 30, 60_000, 'writes after the failover');
      expect(BigInt(after.epoch)).toBeGreaterThan(1n);
    } finally {
      await workload.stop();
    }
    const now = writerOf(await waitForStatus(cluster, serving, 60_000));
    let final: Record<string, unknown> & { redoStream: Record<string, unknown> } = { redoStream: {} };
    await eventually(
      async () => {
        final = await instanceHealth(now.httpPort!);
        return final.redoStream.publishedLsn === final.vdl;
      },
      20_000,
      'the redo stream caught up with VDL',
    );
    const { endLsn, records } = chainRecords(await readStream(kinesis));
    expect(endLsn).toBe(BigInt(final.vdl as string));
    const commits = commitsOf(records);
    expect(commits.map((c) => c.txnId)).toEqual(commits.map((_, i) => BigInt(i + 1)));
    const rows = Number((await writer.rows('select count(*) from w'))[0]![0]);
    expect(rows).toBeGreaterThanOrEqual(workload.acked().length);
    expect(commits.length).toBe(rows + commits.filter((c) => c.lsn <= ddlVdl).length);
    expect(await workload.verify(writer)).toEqual([]);
    writer.close();
  }, 180_000);
});

async function instanceHealth(
  httpPort: number,
): Promise<Record<string, unknown> & { redoStream: Record<string, unknown> }> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/health`);
  return (await response.json()) as Record<string, unknown> & { redoStream: Record<string, unknown> };
}
