// The snapshot function against real processes: six storage nodes, a writer, an S3 emulator (no
// backup archiver here, so every snapshot reads every page: integration/backup/snapshot-restore.test.ts
// shows the incremental reads). Shows that a snapshot is exactly the database at its LSN (rebuilt from
// its page packs and opened by SQLite), that the second one stores only changed pages, that
// re-running is idempotent, and that snapshots taken back to back under a write load (paced, as the
// Lambda runs them) keep the load's throughput at throughputKeptMin or more (both figures printed).
// Not "no impact": on this 2-core box the snapshot, the storage nodes and the writer share the CPU.
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupStatus } from '../../cli/backup-view.ts';
import { runCli } from '../../cli/program.ts';
import type { SnapshotCreated, SnapshotListEntry } from '../../cli/snapshot-view.ts';
import { memoryIo, sampleStatus } from '../../cli/testing.ts';
import { packObjectKey, type SnapshotManifest, watermarkKey } from '../../core/backup/archive.ts';
import { pageLocation } from '../../core/backup/snapshot-manifest.ts';
import type { ConsistentPoint } from '../../core/cluster/consistent-point.ts';
import { spawnProcess } from '../../core/process/spawn.ts';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { writeSystemState } from '../../embedded/state.ts';
import { listManifests } from '../../functions/snapshot/catalog.ts';
import { pageReadPoint, sha256Hex, takeSnapshot } from '../../functions/snapshot/handler.ts';
import { storagePageReader, writerConsistentPoint } from '../../functions/snapshot/source.ts';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { type SnapshotRig, startSnapshotRig } from '../harness/snapshot-rig.ts';
import { Sql } from '../harness/sql.ts';
import type { StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const loopEntry = fileURLToPath(new URL('./snapshot-loop.ts', import.meta.url));
const bucket = 'borealis-backup-us-east-1';
/**
 * The share of a 4-client write load's throughput left while snapshots run back to back at the
 * default pace (500 page reads/s). Measured on 2026-12-02 (load average 8–21): 84, 94 and 88 %, and
 * 58 % in a run with two CPU-bound test processes beside it; 63 % in `.ci/run`, where another test
 * file runs beside this one on the 2 cores (the snapshot function and the S3 emulator share them
 * with the cluster here; in AWS they run elsewhere). functions/snapshot/handler.ts gives ~65 %
 * unpaced. The bound is what holds on this machine under CI, not a claim of no impact.
 */
const throughputKeptMin = 0.5;
const cluster = 'borealis';

async function objectBytes(s3: S3Client, key: string): Promise<Uint8Array> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return got.Body!.transformToByteArray();
}

/** The database file a manifest describes, from its page packs in S3 (each pack read once). */
async function rebuild(s3: S3Client, manifest: SnapshotManifest): Promise<Buffer> {
  expect(manifest.format).toBe(2);
  const packs = new Map<string, Uint8Array>();
  for (const pack of manifest.packs!)
    packs.set(pack.id, await objectBytes(s3, packObjectKey(cluster, pack.id)));
  const size = manifest.pageSizeBytes;
  return Buffer.concat(
    manifest.pages.map((_, i) => {
      const { packId, slot } = pageLocation(manifest, i + 1);
      return packs.get(packId)!.subarray(slot * size, (slot + 1) * size);
    }),
  );
}

describe('snapshot function', () => {
  const dir = makeTempDir('snapshot');
  let storage: StorageCluster;
  let writer: InstanceInfo;
  let rig: SnapshotRig | undefined;
  let s3: S3Client;
  let sql: Sql;
  let reader: ReturnType<typeof storagePageReader>;
  /** The consistent point each snapshot pinned, by LSN. */
  const points = new Map<string, ConsistentPoint>();
  const snapshot = (snapshotId?: string) =>
    takeSnapshot(
      {
        s3,
        bucket,
        cluster,
        volume: storage.volume,
        readPoint: async () => {
          const point = await writerConsistentPoint(`http://127.0.0.1:${writer.httpPort}`);
          points.set(point.lsn.toString(), point);
          return point;
        },
        fetchPage: reader.fetchPage,
      },
      snapshotId === undefined ? {} : { snapshotId },
    );

  beforeAll(async () => {
    rig = await startSnapshotRig({ dir: dir.path, pgCount: 8, pagesPerPg: 512, bucket });
    ({ storage, writer, s3 } = rig);
    reader = storagePageReader(storage.volume);
    sql = new Sql(writer);
  }, 120_000);
  afterAll(async () => {
    sql?.close();
    reader?.close();
    await rig?.stop();
    dir.remove();
  });

  it('is the database at its LSN, and the next one stores only the pages that changed', async () => {
    await sql.exec('create table t(id integer primary key, v integer, data text)');
    // ~2,000 rows of ~400 bytes: a few hundred pages over several PGs.
    await sql.exec(`with recursive n(i) as (select 1 union all select i + 1 from n where i < 2000)
      insert into t(id, v, data) select i, 0, printf('%0400d', i) from n`);

    const first = await snapshot();
    expect(first.created).toBe(true);
    const m1 = first.manifest;
    expect(m1.parent).toBeNull();
    expect(m1.pageCount).toBeGreaterThan(150);
    expect(m1.pages).toHaveLength(m1.pageCount);
    expect(m1.bytesTotal).toBe(m1.pageCount * 4096);
    expect(m1.packs!.length).toBeLessThanOrEqual(2); // ~4 MiB of pages per pack
    expect(m1.bytesUploaded).toBeGreaterThan(0);
    expect(m1.bytesUploaded).toBeLessThanOrEqual(m1.bytesTotal);
    expect(m1.snapshotId).toMatch(/^snap-\d{8}T\d{9}Z-\d{20}$/);

    // Nothing committed since: the newest snapshot is the answer (idempotent schedule).
    const again = await snapshot();
    expect(again.created).toBe(false);
    expect(again.manifest.snapshotId).toBe(m1.snapshotId);

    // Change a handful of rows, then check the first snapshot against storage read at its LSN.
    for (let i = 0; i < 5; i++) await sql.exec('update t set v = v + 1 where id = :id', { id: 1 + i * 397 });
    const point = points.get(m1.lsn)!;
    expect(point.commitTimeMs).toBe(m1.commitTimeMs);
    for (let pageNo = 1; pageNo <= m1.pageCount; pageNo++) {
      const atS = await reader.fetchPage(pageNo, pageReadPoint(storage.volume, point, pageNo));
      expect(sha256Hex(atS), `page ${pageNo} at LSN ${m1.lsn}`).toBe(m1.pages[pageNo - 1]);
    }
    const file = join(dir.path, 'snap1.db');
    const image = await rebuild(s3, m1);
    for (let i = 0; i < m1.pageCount; i++) {
      expect(sha256Hex(image.subarray(i * 4096, (i + 1) * 4096))).toBe(m1.pages[i]);
    }
    writeFileSync(file, image);
    const db = new Database(file, { readonly: true });
    expect(db.prepare('select count(*) as n, sum(v) as v from t').get()).toEqual({ n: 2000, v: 0 });
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    db.close();

    const second = await snapshot();
    const m2 = second.manifest;
    expect(second.created).toBe(true);
    expect(m2.parent).toBe(m1.snapshotId);
    expect(BigInt(m2.lsn)).toBeGreaterThan(BigInt(m1.lsn));
    console.log(
      `snapshot 1: ${m1.pageCount} pages, ${m1.bytesUploaded} B uploaded in ${first.durationMs} ms; ` +
        `snapshot 2: ${second.pagesUploaded} pages, ${m2.bytesUploaded} of ${m2.bytesTotal} B uploaded in ${second.durationMs} ms`,
    );
    expect(m2.changedPagesFrom).toBe('full'); // no archived log to say which pages changed
    expect(second.pagesRead).toBe(m2.pageCount);
    expect(second.pagesUploaded).toBeLessThanOrEqual(12);
    expect(m2.bytesUploaded * 10).toBeLessThan(m2.bytesTotal);
    const file2 = join(dir.path, 'snap2.db');
    writeFileSync(file2, await rebuild(s3, m2));
    const db2 = new Database(file2, { readonly: true });
    expect(db2.prepare('select count(*) as n, sum(v) as v from t').get()).toEqual({ n: 2000, v: 5 });
    db2.close();

    // A named, on-demand snapshot: retried with the same id, it is the same snapshot.
    const named = await snapshot('before-upgrade');
    expect(named.created).toBe(true);
    const retried = await snapshot('before-upgrade');
    expect(retried.created).toBe(false);
    expect(retried.manifest).toEqual(named.manifest);
    // Oldest first: by LSN, then id (the named one shares the second one's LSN).
    expect((await listManifests(s3, bucket, cluster)).map((m) => m.snapshotId)).toEqual([
      m1.snapshotId,
      'before-upgrade',
      m2.snapshotId,
    ]);
  }, 180_000);

  it('after a writer restart, snapshots read quiet PGs as of their recovered tails', async () => {
    await writer.process.kill();
    writer = await startWriter(storage);
    sql.close();
    sql = new Sql(writer);
    // Recovery changes nothing: the newest snapshot is still the current one.
    expect((await snapshot()).created).toBe(false);
    await sql.exec('update t set v = v + 10 where id = 2000');
    const after = await snapshot();
    expect(after.created).toBe(true);
    expect(after.pagesUploaded).toBeLessThanOrEqual(3);
    const point = points.get(after.manifest.lsn)!;
    // Most PGs were not written since the restart: they are read as of their tails, below the LSN.
    expect([...point.pgTails.values()].filter((tail) => tail < point.lsn).length).toBeGreaterThan(0);
    const file = join(dir.path, 'snap-restart.db');
    writeFileSync(file, await rebuild(s3, after.manifest));
    const db = new Database(file, { readonly: true });
    expect(db.prepare('select count(*) as n, sum(v) as v from t').get()).toEqual({ n: 2000, v: 15 });
    db.close();
  }, 120_000);

  it('`borealis snapshot create|list` and `backup status` work against the running cluster', async () => {
    // A system as `npm start` describes it: system.json (this process stands in for the launcher),
    // the cluster dir's volume.json, and a control plane whose /status names the writer.
    const stateDir = join(dir.path, 'state');
    const clusterDir = join(stateDir, 'clusters', cluster);
    mkdirSync(clusterDir, { recursive: true });
    copyFileSync(storage.volumePath, join(clusterDir, 'volume.json'));
    const writerStatus = sampleStatus().instances[1]!;
    const controlPlane = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          sampleStatus({
            writer: writerStatus.id,
            instances: [{ ...writerStatus, httpPort: writer.httpPort }],
          }),
        ),
      );
    });
    await new Promise<void>((r) => controlPlane.listen(0, '127.0.0.1', () => r()));
    const s3Url = `http://127.0.0.1:${rig!.s3server.ready.port}`;
    writeSystemState(stateDir, {
      launcherPid: process.pid,
      startedAt: new Date().toISOString(),
      emulators: { regions: [{ region: 'us-east-1', s3: s3Url, kinesis: 'http://127.0.0.1:9' }], pids: [] },
      cluster: {
        name: cluster,
        region: 'us-east-1',
        controlPlaneUrl: `http://127.0.0.1:${(controlPlane.address() as AddressInfo).port}`,
        ready: true,
      },
    });
    // What the archiver would have written: the watermark and one chunk.
    const now = Date.now();
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: watermarkKey(cluster),
        Body: JSON.stringify({
          lsn: '1',
          commitLsn: '1',
          commitTimeMs: now - 1_000,
          updatedAt: new Date(now).toISOString(),
        }),
      }),
    );
    const run = async (...args: string[]) => {
      const io = memoryIo();
      const code = await runCli([...args, '--state-dir', stateDir], io);
      expect(io.stderr(), args.join(' ')).toBe('');
      expect(code).toBe(0);
      return io.stdout();
    };
    try {
      await sql.exec('insert into t(id, v, data) values (999999, 1, :d)', { d: 'cli' });
      const created = JSON.parse(await run('snapshot', 'create', '--json')) as SnapshotCreated;
      expect(created.created).toBe(true);
      expect(created.pageCount).toBeGreaterThan(0);
      expect(created.bytesUploaded).toBeLessThan(created.bytesTotal);
      expect(await run('snapshot', 'create')).toMatch(/already exists/);

      const listed = JSON.parse(await run('snapshot', 'list', '--json')) as {
        snapshots: SnapshotListEntry[];
      };
      expect(listed.snapshots.at(-1)!.snapshotId).toBe(created.snapshotId);
      const table = await run('snapshot', 'list');
      expect(table).toContain(created.snapshotId);
      expect(table.split('\n')[1]).toMatch(/^ID +LSN +TIME +PAGES +NEW +TOTAL$/);

      const status = JSON.parse(await run('backup', 'status', '--json')) as BackupStatus;
      expect(status.snapshots.count).toBe(listed.snapshots.length);
      expect(status.latestRestorableTime).toBe(
        new Date(Math.max(now - 1_000, Date.parse(created.time))).toISOString(),
      );
      expect(status.earliestRestorableTime).toBe(listed.snapshots[0]!.time);
      expect(status.lagMs).toBeGreaterThanOrEqual(0);
      const human = await run('backup', 'status');
      console.log(`borealis backup status:\n${human}`);
      expect(human).toMatch(/^latest restorable +\d{4}-/m);

      const io = memoryIo();
      expect(await runCli(['snapshot', 'create', '--cluster', 'other', '--state-dir', stateDir], io)).toBe(1);
      expect(io.stderr()).toMatch(
        /^borealis: cluster 'other' does not run from .* \(it runs 'borealis'\)\n$/,
      );
    } finally {
      controlPlane.close();
    }
  }, 120_000);

  it(`keeps a concurrent write load at ${throughputKeptMin * 100} % or more of its throughput`, async () => {
    await sql.exec('create table load(id integer primary key, worker integer, data text)');
    // A bigger database (~1,100 pages in all), so that each snapshot reads for a while.
    await sql.exec('create table big(id integer primary key, data text)');
    await sql.exec(`with recursive n(i) as (select 1 union all select i + 1 from n where i < 8000)
      insert into big(id, data) select i, printf('%0400d', i) from n`);
    const workers = 4;
    const windowMs = 3_000;
    const load = async (): Promise<number> => {
      const deadline = Date.now() + windowMs;
      let commits = 0;
      await Promise.all(
        Array.from({ length: workers }, async (_, w) => {
          const client = new Sql(writer);
          try {
            while (Date.now() < deadline) {
              await client.exec('insert into load(worker, data) values (:w, :d)', { w, d: 'x'.repeat(100) });
              commits++;
            }
          } finally {
            client.close();
          }
        }),
      );
      return (commits * 1000) / windowMs;
    };
    // Snapshots run in their own process, as the Lambda or `borealis snapshot create` does.
    const withSnapshots = async (
      round: number,
    ): Promise<{ rate: number; snapshots: number; pages: number }> => {
      const logFile = join(dir.path, 'logs', `snapshot-loop-${round}.log`);
      const loop = await spawnProcess({
        name: 'snapshot-loop',
        entry: loopEntry,
        args: [
          storage.volumePath,
          `http://127.0.0.1:${writer.httpPort}`,
          `http://127.0.0.1:${rig!.s3server.ready.port}`,
          bucket,
          cluster,
          ...(process.env.SNAPSHOT_PACE ? [process.env.SNAPSHOT_PACE] : []),
        ],
        env: {
          AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
        },
        logFile,
      });
      const rate = await load();
      await loop.stop(30_000);
      const lines = readFileSync(logFile, 'utf8')
        .split('\n')
        .filter((l) => l.startsWith('{"snapshot"'))
        .map((l) => JSON.parse(l) as { pages: number; durationMs: number });
      console.log(
        `round ${round}: snapshots took ${lines.map((l) => `${l.pages} pages/${l.durationMs} ms`).join(', ')}`,
      );
      return { rate, snapshots: lines.length, pages: lines.reduce((n, l) => n + l.pages, 0) };
    };
    await load(); // warm-up
    // The steady state: a parent exists, so each snapshot reads every page and uploads what changed.
    await snapshot();
    // Alternate, so that a neighbour's burst of CPU on this shared machine hits both sides alike.
    const baseline: number[] = [];
    const during: number[] = [];
    let snapshots = 0;
    let pagesRead = 0;
    for (let round = 0; round < 3; round++) {
      baseline.push(await load());
      const r = await withSnapshots(round);
      during.push(r.rate);
      snapshots += r.snapshots;
      pagesRead += r.pages;
    }
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    console.log(
      `write load (${workers} clients): ${mean(baseline).toFixed(0)} txn/s without a snapshot ` +
        `[${baseline.map((x) => x.toFixed(0)).join(', ')}], ${mean(during).toFixed(0)} txn/s while ` +
        `${snapshots} snapshots ran back to back (${pagesRead} pages read) [${during.map((x) => x.toFixed(0)).join(', ')}]: ` +
        `${((100 * mean(during)) / mean(baseline)).toFixed(0)} % kept`,
    );
    expect(snapshots).toBeGreaterThanOrEqual(2);
    expect(mean(during) / mean(baseline)).toBeGreaterThanOrEqual(throughputKeptMin);
  }, 180_000);
});
