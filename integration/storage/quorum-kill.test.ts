// Invariant 1 at the storage layer: a batch acknowledged by a write quorum survives SIGKILL of one,
// then two storage nodes, and once gossip has caught up every full segment serves it at its LSN.
// Nothing is ever reported that the client did not append.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Lsn } from '../../core/lsn.ts';
import { pageRangeOfPg } from '../../core/volume.ts';
import { expectReply } from '../../core/wire/client.ts';
import { LogShipper } from '../../services/writer/log-shipper.ts';
import { RedoWorkload } from '../harness/redo-workload.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const batchCount = 10_000;
const inFlightMax = 64;
const seed = Number(process.env.BOREALIS_TEST_SEED ?? Date.now() % 1_000_000);

describe('storage quorum under SIGKILL', () => {
  const dir = makeTempDir('quorum-kill');
  let cluster: StorageCluster;

  beforeAll(async () => {
    console.log(`quorum-kill seed ${seed} (BOREALIS_TEST_SEED to replay)`);
    cluster = await StorageCluster.start({
      dir: dir.path,
      pgCount: 4,
      pagesPerPg: 32,
      nodeArgs: ['--gossip-interval-ms', '100', '--scrub-interval-ms', '1000'],
    });
  });
  afterAll(async () => {
    await cluster?.stopAll();
    dir.remove();
  });

  it('keeps every quorum-acknowledged batch through one, then two node kills', async () => {
    const workload = new RedoWorkload(cluster.volume, seed);
    const shipper = new LogShipper({
      volume: cluster.volume,
      epoch: 1n,
      clients: cluster.clients(),
      nextLsn: 1n,
    });
    const acknowledged: Lsn[][] = [];
    const inFlight = new Set<Promise<void>>();
    const events: Record<number, () => Promise<void>> = {
      2000: () => cluster.kill('n2'),
      4000: async () => void (await cluster.start('n2')),
      5000: async () => void (await Promise.all([cluster.kill('n3'), cluster.kill('n6')])),
      7500: async () => void (await Promise.all([cluster.start('n3'), cluster.start('n6')])),
    };
    for (let i = 0; i < batchCount; i++) {
      await events[i]?.();
      const batch = workload.ship(shipper);
      const p = batch.durable.then(() => {
        acknowledged.push(batch.records.map((r) => r.lsn));
      });
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
      if (inFlight.size >= inFlightMax) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    shipper.close();
    expect(acknowledged).toHaveLength(batchCount);

    // Gossip brings every segment (the restarted ones included) to the last LSN of its PG.
    const lastByPg = workload.lastLsnByPg();
    await eventually(
      async () => {
        for (const id of cluster.nodeIds) {
          const info = expectReply(
            await cluster.client(id).request({ type: 'recoveryInfo', epoch: 0n }),
            'recoveryInfoReply',
          );
          for (const s of info.segments) if (s.scl < (lastByPg.get(s.pg) ?? 0n)) return false;
        }
        return true;
      },
      60_000,
      'all segments complete',
    );

    // Every acknowledged record is on every full segment, byte for byte, at its LSN — and every
    // record any segment holds is one the client appended.
    for (const placement of cluster.volume.placement) {
      for (const segment of placement.segments) {
        const client = cluster.client(segment.nodeId);
        let after = 0n;
        const held: Lsn[] = [];
        for (;;) {
          const reply = expectReply(
            await client.request({
              type: 'gossipPull',
              epoch: 0n,
              pg: placement.pg,
              afterLsn: after,
              uptoLsn: lastByPg.get(placement.pg) ?? 0n,
              maxBytes: 4 * 1024 * 1024,
            }),
            'gossipRecords',
          );
          if (reply.records.length === 0) break;
          for (const r of reply.records) {
            const sent = workload.shipped.get(r.lsn);
            expect(sent, `record ${r.lsn} on ${segment.nodeId} was never appended`).toBeDefined();
            expect(r.pg).toBe(sent!.pg);
            expect(r.prevLsnInPg).toBe(sent!.prevLsnInPg);
            expect(Buffer.from(r.payload).equals(Buffer.from(sent!.payload))).toBe(true);
            held.push(r.lsn);
          }
          after = reply.records[reply.records.length - 1]!.lsn;
        }
        const expected = [...workload.shipped.values()]
          .filter((r) => r.pg === placement.pg)
          .map((r) => r.lsn);
        expect(held, `segment of pg ${placement.pg} on ${segment.nodeId}`).toEqual(expected);
      }
    }

    // Full segments serve every written page as of the end, and as of a point in the middle.
    const midpoint = BigInt(Math.floor(Number(shipper.nextLsn) / 2));
    for (const placement of cluster.volume.placement) {
      const range = pageRangeOfPg(cluster.volume, placement.pg);
      const pages = workload.writtenPages().filter((p) => p >= range.first && p <= range.last);
      for (const segment of placement.segments.filter((s) => s.kind === 'full')) {
        for (const readPoint of [lastByPg.get(placement.pg)!, midpoint]) {
          for (const pageNo of pages) {
            const reply = expectReply(
              await cluster
                .client(segment.nodeId)
                .request({ type: 'getPage', pg: placement.pg, pageNo, readPoint }),
              'page',
            );
            const model = workload.pageAt(pageNo, readPoint);
            expect(reply.versionLsn).toBe(model?.lsn ?? 0n);
            expect(Buffer.from(reply.page).equals(Buffer.from(model?.bytes ?? new Uint8Array(0)))).toBe(true);
          }
        }
      }
    }
  }, 240_000);
});
