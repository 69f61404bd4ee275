// Point-in-time restore, exactly: a serial workload commits one row per transaction (so the i-th
// insert commit is the i-th row by seq); the archive's commit records give each commit's time. A
// restore to T must hold exactly the rows whose commit time is <= T — checked row by row, for a T
// between two commits 1 ms apart, a T mid-load, and after a kill -9 of the writer mid-load (the
// archived log stays gap-free across the failover). A missing chunk fails the restore with the
// missing LSN range, and nothing of the half-made cluster is left.
import { existsSync } from 'node:fs';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ChunkInfo,
  logPrefix,
  parseLogChunkKey,
  planLogChain,
  type Watermark,
} from '../../core/backup/archive.ts';
import { commitsOf, decodeRedoBatch } from '../../core/backup/redo-batch.ts';
import { listObjects, readWatermark as readArchiveWatermark } from '../../core/backup/s3-archive.ts';
import { regionalResources } from '../../core/resources.ts';
import { clusterDirPath, readClusterEntry } from '../../embedded/state.ts';
import { endpointClients, waitUntil } from '../harness/cluster.ts';
import { restoredRows, stopCluster } from '../harness/restore.ts';
import type { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const gunzipAsync = promisify(gunzip);
const bucket = regionalResources('us-east-1').backupBucket;

describe('point-in-time restore', () => {
  const dir = makeTempDir('pitr');
  let system: TestSystem;
  let s3: S3Client;
  let source: Sql;

  beforeAll(async () => {
    system = await TestSystem.small(dir.path, 1);
    s3 = system.s3();
    source = endpointClients(await system.status()).writer;
  }, 180_000);

  afterAll(async () => {
    for (const name of ['r1', 'r2', 'r3', 'r4', 'gap']) await stopCluster(dir.path, name);
    source?.close();
    s3?.destroy();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  /** Every commit of the archived log, in order, from LSN 0 to the watermark (which must be gap-free). */
  async function archivedCommits(): Promise<{ lsn: bigint; commitTimeMs: number }[]> {
    const watermark = await readWatermark(s3);
    if (!watermark) return [];
    const chunks = await listChunks(s3);
    const chain = planLogChain(chunks, 0n);
    expect(chain.endLsn, 'the archive is gap-free up to its watermark').toBeGreaterThanOrEqual(
      BigInt(watermark.lsn),
    );
    const commits: { lsn: bigint; commitTimeMs: number }[] = [];
    let last = 0n;
    for (const c of chain.chunks) {
      const body = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: c.key }));
      const batch = decodeRedoBatch(await gunzipAsync(Buffer.from(await body.Body!.transformToByteArray())));
      for (const commit of commitsOf(batch.records.filter((r) => r.lsn > last))) commits.push(commit);
      last = batch.records.at(-1)!.lsn;
    }
    return commits;
  }

  async function archivedThrough(commitCount: number): Promise<void> {
    await waitUntil(
      async () => (await archivedCommits()).length >= commitCount,
      60_000,
      'the archive catching up',
    );
  }

  /** Runs `borealis restore` to T as `name` and returns the restored rows (seq order). */
  async function restoreRows(name: string, t: number): Promise<number[]> {
    return (await restoredRows(system, name, t, 'select seq from p order by seq')).map((r) => Number(r[0]));
  }

  it('restores exactly the commits with commit time <= T, also across a kill -9 of the writer', async () => {
    await source.exec('create table p (seq integer primary key, client_time integer not null)');
    const before = (await archivedCommits().catch(() => [])).length;
    await waitUntil(async () => (await archivedCommits()).length > before, 60_000, 'the DDL archived');
    const ddlCommits = (await archivedCommits()).length;

    // Phase 1: a serial load; phase 2: the same, with the writer SIGKILLed in the middle.
    let seq = 0;
    const acked: number[] = [];
    const load = async (ms: number, midway?: () => Promise<void>) => {
      const end = Date.now() + ms;
      let killed = false;
      while (Date.now() < end) {
        if (midway && !killed && Date.now() > end - ms / 2) {
          killed = true;
          await midway();
        }
        const s = seq++;
        try {
          await source.exec('insert into p values (:seq, :t)', { seq: s, t: Date.now() });
          acked.push(s);
        } catch {
          // outcome unknown or failed over: the archive, not the client, says whether it committed
        }
      }
    };
    await load(4_000);
    await load(6_000, async () => {
      const writer = (await system.status()).instances.find((i) => i.role === 'writer')!;
      process.kill(writer.pid!, 'SIGKILL');
    });
    const rows = (await source.rows('select seq from p order by seq')).map((r) => Number(r[0]));
    for (const s of acked) expect(rows).toContain(s);
    await archivedThrough(ddlCommits + rows.length);
    const commits = await archivedCommits();
    // One commit per row, in seq order (a serial client): the i-th insert commit is rows[i].
    const inserts = commits.slice(ddlCommits);
    expect(inserts).toHaveLength(rows.length);
    const expectedAt = (t: number) => rows.slice(0, inserts.filter((c) => c.commitTimeMs <= t).length);

    // T exactly at a commit whose successor is 1 ms or more later: that commit in, the next out.
    const k = inserts.findIndex(
      (c, i) => i > 10 && inserts[i + 1] !== undefined && inserts[i + 1]!.commitTimeMs - c.commitTimeMs >= 1,
    );
    expect(k).toBeGreaterThan(0);
    const t1 = inserts[k]!.commitTimeMs;
    expect(await restoreRows('r1', t1)).toEqual(expectedAt(t1));
    // One millisecond later takes in exactly the commits of that millisecond.
    expect(await restoreRows('r2', t1 + 1)).toEqual(expectedAt(t1 + 1));
    // After the failover: the log went on gap-free under the new writer.
    const failoverAt = inserts[Math.floor(inserts.length * 0.9)]!.commitTimeMs;
    expect(await restoreRows('r3', failoverAt)).toEqual(expectedAt(failoverAt));
  }, 600_000);

  it('the backup status reports restorable times; the latest is the newest archived commit', async () => {
    const out = JSON.parse((await system.cli('backup', 'status', '--json')).stdout) as {
      latestRestorableTime: string;
      earliestRestorableTime: string;
    };
    expect(Date.parse(out.earliestRestorableTime)).toBeLessThanOrEqual(Date.parse(out.latestRestorableTime));
    // Nothing has been written since the last test: the latest restorable time is the last commit.
    const commits = await archivedCommits();
    expect(Date.parse(out.latestRestorableTime)).toBe(commits.at(-1)!.commitTimeMs);
  }, 60_000);

  it('a missing chunk: the restore fails naming the missing LSN range, nothing half-restored is left', async () => {
    const chunks = (await listChunks(s3)).sort((a, b) => (a.prevLsn < b.prevLsn ? -1 : 1));
    const victim = chunks[Math.floor(chunks.length / 2)]!;
    // Hide it (a copy stays in memory to put it back is not needed: this is the last test).
    const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
    // Any other chunk covering the victim's range would mend the gap: remove those too.
    for (const c of chunks.filter((x) => x.prevLsn <= victim.prevLsn && x.lastLsn > victim.prevLsn)) {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: c.key }));
    }
    const watermark = await readWatermark(s3);
    const failure = (await system
      .cli('restore', '--to-time', new Date(watermark!.commitTimeMs).toISOString(), '--as', 'gap')
      .catch((e: { code: number; stderr: string }) => e)) as { code: number; stderr: string };
    expect(failure.code).toBe(1);
    expect(failure.stderr.trim().split('\n')).toHaveLength(1);
    expect(failure.stderr).toMatch(new RegExp(`after LSN ${victim.prevLsn} up to \\d+ are missing`));
    expect(readClusterEntry(dir.path, 'gap')).toBeUndefined();
    expect(existsSync(clusterDirPath(dir.path, 'gap'))).toBe(false);
  }, 120_000);
});

/** The watermark through the same reader the functions use (it retries a torn read). */
async function readWatermark(s3: S3Client): Promise<Watermark | undefined> {
  return (await readArchiveWatermark(s3, bucket, 'borealis'))?.value;
}

async function listChunks(s3: S3Client): Promise<ChunkInfo[]> {
  const listed = await listObjects(s3, bucket, logPrefix('borealis'));
  return listed.map((o) => parseLogChunkKey(o.key)).filter((c): c is ChunkInfo => c !== undefined);
}
