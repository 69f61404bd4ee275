// Log collection with real storage-node processes: under a write load whose floors move, every node's
// log and index stay under a bound while the bytes written grow far past it; a node killed, wiped and
// restarted after its peers collected the log it would need rebuilds from page images and serves every
// page exactly (compared with the values written and with a peer).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgIdAll } from '../../core/limits.ts';
import { expectReply } from '../../core/wire/client.ts';
import { LogShipper } from '../../services/writer/log-shipper.ts';
import { RedoWorkload } from '../harness/redo-workload.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const seed = Number(process.env.BOREALIS_TEST_SEED ?? Date.now() % 1_000_000);
const logFileBytes = 64 * 1024;
/** Every node's log stays under this once the floors move: a handful of files, whatever was written. */
const logBytesBound = 8 * logFileBytes;

interface NodeLog {
  bytes: number;
  files: number;
  segments: {
    pg: number;
    baseLsn: string;
    oldestRetainedLsn: string;
    retainedBy: string;
    indexEntries: number;
  }[];
}

describe('storage log collection', () => {
  const dir = makeTempDir('storage-log-collection');
  let cluster: StorageCluster;
  let workload: RedoWorkload;
  let shipper: LogShipper;

  async function write(batches: number): Promise<void> {
    const pending = [];
    for (let i = 0; i < batches; i++) pending.push(workload.ship(shipper).durable);
    await Promise.all(pending);
  }

  /** What the writer sends every few seconds: PGMRPL (here: VDL) and its collection inputs (no backup). */
  async function sendFloors(ids = cluster.nodeIds.filter((id) => cluster.isRunning(id))): Promise<void> {
    await Promise.all(
      ids.flatMap((id) => [
        cluster.client(id).request({ type: 'readPointFloor', pg: pgIdAll, lsn: shipper.vdl }),
        cluster.client(id).request({
          type: 'collectionFloor',
          epoch: 1n,
          archive: 'none',
          backtrack: 'none',
          globalSecondary: 'none',
        }),
      ]),
    );
  }

  async function nodeLog(id: string): Promise<NodeLog> {
    return (await cluster.health(id)).log as NodeLog;
  }

  beforeAll(async () => {
    console.log(`storage-log-collection seed ${seed}`);
    cluster = await StorageCluster.start({
      dir: dir.path,
      pgCount: 3,
      pagesPerPg: 16,
      nodeArgs: [
        '--gossip-interval-ms',
        '100',
        '--coalesce-interval-ms',
        '200',
        '--gc-interval-ms',
        '200',
        '--collect-interval-ms',
        '200',
        '--retention-ms',
        '0',
        '--log-file-bytes-max',
        String(logFileBytes),
        '--peer-stale-ms',
        '3000',
      ],
    });
    workload = new RedoWorkload(cluster.volume, seed, 8);
    shipper = new LogShipper({ volume: cluster.volume, epoch: 1n, clients: cluster.clients(), nextLsn: 1n });
  }, 60_000);
  afterAll(async () => {
    shipper?.close();
    await cluster?.stopAll();
    dir.remove();
  });

  it('keeps every node’s log and index under a bound while the floors move under a write load', async () => {
    const rounds = 24;
    let indexEntriesMax = 0;
    for (let round = 0; round < rounds; round++) {
      await write(120);
      await sendFloors();
      // Collection runs in the background: each round, every node gets back under the bound.
      await eventually(
        async () => {
          const logs = await Promise.all(cluster.nodeIds.map((id) => nodeLog(id)));
          return logs.every((l) => l.bytes <= logBytesBound);
        },
        30_000,
        `round ${round}: every node's log under ${logBytesBound} bytes`,
      );
      for (const id of cluster.nodeIds) {
        const log = await nodeLog(id);
        indexEntriesMax = Math.max(indexEntriesMax, ...log.segments.map((s) => s.indexEntries));
      }
    }
    for (const id of cluster.nodeIds) {
      // The bound means something: every node wrote far more than it keeps.
      expect(await cluster.metric(id, 'borealis_storage_bytes_appended_total')).toBeGreaterThan(
        4 * logBytesBound,
      );
      expect(await cluster.metric(id, 'borealis_storage_log_files_removed_total')).toBeGreaterThan(0);
      const log = await nodeLog(id);
      for (const s of log.segments) {
        expect(BigInt(s.baseLsn)).toBeGreaterThan(0n);
        expect(BigInt(s.oldestRetainedLsn)).toBeGreaterThan(BigInt(s.baseLsn));
      }
      // /metrics says the same, with the input that retains the log.
      const text = await cluster.metrics(id);
      expect(text).toMatch(/borealis_storage_log_bytes\{[^}]*\} \d+/);
      expect(text).toMatch(/borealis_storage_oldest_retained_lsn\{[^}]*retained_by="[a-zA-Z]+"[^}]*\} \d+/);
    }
    // The index too: at most a few rounds' records per segment, not all of them.
    const recordsPerPg = workload.shipped.size / cluster.volume.placement.length;
    expect(indexEntriesMax).toBeLessThan(recordsPerPg / 4);
  }, 300_000);

  it('rebuilds a wiped node from page images after its peers collected its log, and reads pages exactly', async () => {
    await cluster.allCaughtUp(workload.lastLsnByPg(), 60_000);
    await cluster.stop('n1');
    cluster.wipe('n1');
    // The others go on writing and, once n1 is stale to them, collect past everything n1 ever had.
    const collectedPast = workload.lastLsnByPg();
    await eventually(
      async () => {
        await write(120);
        await sendFloors();
        for (const id of cluster.nodeIds.filter((x) => x !== 'n1')) {
          for (const s of (await nodeLog(id)).segments) {
            if (BigInt(s.baseLsn) <= (collectedPast.get(s.pg) ?? 0n)) return false;
          }
        }
        return true;
      },
      90_000,
      'peers collecting past what n1 held',
    );
    await cluster.start('n1');
    await write(30);
    await cluster.allCaughtUp(workload.lastLsnByPg(), 60_000);
    // n1's segments start past 0: full ones were rebuilt from a peer's page images, tails at a base.
    const rebuilt = await nodeLog('n1');
    for (const s of rebuilt.segments) expect(BigInt(s.baseLsn)).toBeGreaterThan(0n);
    // Every page n1 serves (its full segments) is exactly what was written, and what a peer serves.
    let pagesCompared = 0;
    for (const placement of cluster.volume.placement) {
      const mine = placement.segments.find((s) => s.nodeId === 'n1' && s.kind === 'full');
      if (!mine) continue;
      const peer = placement.segments.find((s) => s.nodeId !== 'n1' && s.kind === 'full')!;
      const readPoint = workload.lastLsnByPg().get(placement.pg)!;
      for (const pageNo of workload.writtenPages()) {
        if (Math.floor((pageNo - 1) / cluster.volume.pagesPerPg) !== placement.pg) continue;
        const ask = async (id: string) =>
          expectReply(
            await cluster.client(id).request({ type: 'getPage', pg: placement.pg, pageNo, readPoint }),
            'page',
          );
        const [page, peerPage] = await Promise.all([ask('n1'), ask(peer.nodeId)]);
        const expected = workload.pageAt(pageNo, readPoint)!;
        expect(Buffer.from(page.page).equals(Buffer.from(expected.bytes)), `page ${pageNo}`).toBe(true);
        expect(Buffer.from(page.page).equals(Buffer.from(peerPage.page))).toBe(true);
        expect(page.versionLsn).toBe(expected.lsn);
        pagesCompared++;
      }
    }
    expect(pagesCompared).toBeGreaterThan(0);
    // And it takes appends and collects again like the others.
    expect((await cluster.health('n1')).acceptsAppends).toBe(true);
    await write(60);
    await sendFloors();
    await cluster.allCaughtUp(workload.lastLsnByPg(), 60_000);
  }, 300_000);
});
