// Failover as a client sees it: continuous writes through the proxy's cluster endpoint, SIGKILL the
// writer (a real signal to its pid), and the writes resume on the promoted reader with nothing
// changed on the client; every acknowledged write is there exactly once; the old writer returns
// as a reader under a newer epoch and cannot write. RTO (kill → first acknowledged write) is bounded
// by rtoMaxMs on every kill and printed; BOREALIS_FAILOVER_RUNS sets the number of kills (default 3).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { isPidAlive } from '../../embedded/state.ts';
import {
  endpointClients,
  percentile,
  startTestCluster,
  WriteWorkload,
  waitForStatus,
  waitUntil,
  writerOf,
} from '../harness/cluster.ts';
import { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';

const runs = Number(process.env.BOREALIS_FAILOVER_RUNS ?? '3');
/**
 * Every kill's RTO stays under this. Aurora: 70 % of failovers under 10 s, all under 30 s. Here the
 * worst of 20 kills was 2.3 s on 2026-12-01 at load ~10 (docs/benchmarks.md); on 2026-12-02, two runs
 * of 3 kills at load 9–19 gave 4.4–7.7 s and 3.0–4.8 s.
 */
const rtoMaxMs = 10_000;

describe('failover through the proxy', () => {
  const dir = makeTempDir('failover');
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await startTestCluster({ dir: dir.path, readers: 2 });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  it(
    `SIGKILL the writer ${runs} times under writes: writes resume within ${rtoMaxMs / 1000} s, nothing acknowledged is lost`,
    async () => {
      const status = await cluster.status();
      expect(status.writer).toBe('instance-1');
      expect(status.instances.map((i) => [i.id, i.role, i.tier, i.az])).toEqual([
        ['instance-1', 'writer', 1, 'us-east-1a'],
        ['instance-2', 'reader', 0, 'us-east-1b'],
        ['instance-3', 'reader', 1, 'us-east-1c'],
      ]);
      const { writer, reader } = endpointClients(status);
      await writer.exec(WriteWorkload.createTableSql('w'));
      const workload = new WriteWorkload(writer, 'w', 4);
      const rtos: number[] = [];
      const promotions: string[] = [];
      try {
        for (let run = 0; run < runs; run++) {
          // Let every instance be up (the one killed last comes back as a reader) and writes flow.
          const before = await waitForStatus(
            cluster,
            (s) => !s.failoverInProgress && s.instances.every((i) => i.healthy),
            60_000,
            'all instances healthy',
          );
          const ackedBefore = workload.acked().length;
          await waitUntil(() => workload.acked().length >= ackedBefore + 20, 30_000, 'writes flowing');
          const old = writerOf(before);
          const expectedTarget = [...before.instances]
            .filter((i) => i.role === 'reader')
            .sort((a, b) => a.tier - b.tier || (a.lagMs ?? 1e9) - (b.lagMs ?? 1e9))[0]!;
          const killedAt = Date.now();
          process.kill(old.pid!, 'SIGKILL');
          // A SIGKILLed process may still finish a write() it was in: count only writes sent once
          // it is gone, but measure from the kill.
          await waitUntil(() => !isPidAlive(old.pid!), 5_000, 'the writer gone');
          const goneAt = Date.now();
          await waitUntil(
            () => workload.firstAckAfter(goneAt) !== undefined,
            60_000,
            'a write after the kill',
          );
          const rto = workload.firstAckAfter(goneAt)!.doneAt - killedAt;
          rtos.push(rto);
          expect(rto, `RTO of kill ${run + 1}`).toBeLessThanOrEqual(rtoMaxMs);
          const after = await waitForStatus(cluster, (s) => s.writer !== null && s.writer !== old.id, 30_000);
          promotions.push(`${old.id}→${after.writer}`);
          // The lowest tier wins (equal tiers: least lag, which the test cannot predict exactly).
          expect(after.instances.find((i) => i.id === after.writer)!.tier).toBe(expectedTarget.tier);
          expect(BigInt(after.epoch)).toBeGreaterThan(BigInt(before.epoch));
        }
      } finally {
        await workload.stop();
      }
      const problems = await workload.verify(writer);
      expect(problems).toEqual([]);
      const counts = { acked: 0, failed: 0, unknown: 0 };
      for (const o of workload.outcomes) counts[o.result]++;
      console.log(
        `failover RTO over ${rtos.length} kills: p50 ${percentile(rtos, 50)} ms, max ${Math.max(...rtos)} ms ` +
          `(${rtos.join(', ')}); promotions ${promotions.join(', ')}; writes ${JSON.stringify(counts)}`,
      );
      // Reads through the reader endpoint see the same table (a prefix of commits, so at least the
      // rows acknowledged before the last kill once the reader has caught up).
      const total = Number((await writer.rows('select count(*) from w'))[0]![0]);
      await waitUntil(
        async () => Number((await reader.rows('select count(*) from w'))[0]![0]) === total,
        30_000,
        'reader endpoint catching up',
      );
      writer.close();
      reader.close();
    },
    Math.max(240_000, runs * 60_000),
  );

  it('the old writer came back as a reader under a newer epoch and cannot write', async () => {
    const status = await waitForStatus(
      cluster,
      (s) => !s.failoverInProgress && s.instances.every((i) => i.healthy),
      60_000,
      'all instances healthy',
    );
    // The last writer killed (after an even number of kills the first one is the writer again).
    const last = status.failovers[status.failovers.length - 1]!;
    expect(last.from).not.toBe(last.to);
    const old = status.instances.find((i) => i.id === last.from)!;
    expect(old.role).toBe('reader');
    expect(old.restarts).toBeGreaterThan(0);
    // Every storage node has moved past the epoch the old writer opened with.
    for (const node of status.storageNodes) expect(BigInt(node.epoch!)).toBeGreaterThan(1n);
    const direct = new Sql({
      endpoint: old.endpoint!,
      resourceArn: status.resourceArn,
      secretArn: status.secretArn,
    });
    const refused = await direct
      .exec('insert into w(client, seq, at) values (99, 0, 0)')
      .catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toMatch(/read-only/);
    const { writer } = endpointClients(status);
    expect(await writer.rows('select count(*) from w where client = 99')).toEqual([[0]]);
    direct.close();
    writer.close();
  });
});
