// Backtrack duration (request → first write accepted) for a small and a larger database and for a
// short vs a longer distance, and the log bytes a write load adds per hour (what the window costs).
// A measurement, not a CI test: `npm run bench:backtrack` runs it with its own vitest config (this
// folder's), so `npm test` never picks it up (docs/benchmarks.md).
// BOREALIS_BACKTRACK_BENCH_MB (default 20) sizes the larger database, _DISTANCE_S (default 60) the
// longer distance.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { settled } from '../../integration/backtrack/settle.ts';
import { controlPlanePost, endpointClients, startTestCluster } from '../../integration/harness/cluster.ts';
import type { Sql } from '../../integration/harness/sql.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';

const largeMb = Number(process.env.BOREALIS_BACKTRACK_BENCH_MB ?? '20');
const distanceS = Number(process.env.BOREALIS_BACKTRACK_BENCH_DISTANCE_S ?? '60');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
// The window must reach back over the fill and the distance (a 1 GB fill takes minutes here).
const windowS = Math.max(3_600, distanceS + 1_800 + largeMb * 2);
const progress = (what: string) => console.log(`${new Date().toISOString()} ${what}`);

describe('backtrack duration (benchmark)', () => {
  const dir = makeTempDir('backtrack-bench');
  let cluster: LocalCluster;
  let writer: Sql;

  beforeAll(async () => {
    cluster = await startTestCluster({
      dir: dir.path,
      readers: 1,
      controlPlaneArgs: [
        '--backtrack-window-s',
        String(windowS),
        '--binlog-format',
        'OFF',
        '--pages-per-pg',
        '131072',
      ],
    });
    ({ writer } = endpointClients(await cluster.status()));
  }, 180_000);

  afterAll(async () => {
    await settled(cluster);
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  async function retrying<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= 300) throw error;
        await sleep(50);
      }
    }
  }

  let probes = 0;
  /**
   * Backtrack to `to`; ms from the request to the first write the proxy gets acknowledged on the new
   * timeline. Probe inserts go on one after another from the request until one is acknowledged after
   * the backtrack returned; the first write is the earliest acknowledged probe still there afterwards
   * (one acknowledged before the switch, during the old writer's drain, is after `to`: voided).
   */
  async function measure(to: number): Promise<{ completedMs: number; firstWriteMs: number }> {
    const started = performance.now();
    let completedMs: number | undefined;
    const acked: { probe: number; ms: number }[] = [];
    const probing = (async () => {
      await sleep(20);
      for (;;) {
        const probe = ++probes;
        await retrying(() => writer.exec(`INSERT INTO probe VALUES (${probe})`));
        const ms = performance.now() - started;
        acked.push({ probe, ms });
        if (completedMs !== undefined && ms > completedMs) return;
      }
    })();
    const result = await controlPlanePost<{ Status: string }>(cluster, '/backtrack', {
      to: new Date(to).toISOString(),
    });
    completedMs = performance.now() - started;
    expect(result.Status).toBe('completed');
    await probing;
    const kept = new Set(
      (await writer.rows(`SELECT x FROM probe WHERE x >= ${acked[0]!.probe}`)).map((r) => Number(r[0])),
    );
    const first = acked.find((a) => kept.has(a.probe));
    expect(first).toBeDefined();
    return { completedMs: Math.round(completedMs), firstWriteMs: Math.round(first!.ms) };
  }

  const logBytes = async () =>
    (await cluster.status()).storageNodes.reduce((sum, n) => sum + (n.log?.bytes ?? 0), 0);

  it(
    'small vs larger database, short vs longer distance',
    async () => {
      await writer.exec('CREATE TABLE probe (x INTEGER)');
      await writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v BLOB)');
      // The small database: 10 MB of 100 KB blobs.
      for (let i = 0; i < 100; i++) await writer.exec('INSERT INTO t (v) VALUES (randomblob(100000))');
      await sleep(1_000);
      const small = await measure(Date.now() - 500);

      // A larger database: largeMb in all of 100 KB blobs.
      for (let i = 100; i < largeMb * 10; i++) {
        await writer.exec('INSERT INTO t (v) VALUES (randomblob(100000))');
        if ((i + 1) % 1_000 === 0) progress(`filled ${(i + 1) / 10} MB of ${largeMb}`);
      }
      await sleep(1_000);
      const large = await measure(Date.now() - 500);

      progress(`larger database measured: ${JSON.stringify(large)}`);
      // A longer distance: distanceS of small writes, then back to its start.
      const from = Date.now();
      const bytesBefore = await logBytes();
      let writes = 0;
      while (Date.now() - from < distanceS * 1000) {
        await writer.exec('INSERT INTO t (v) VALUES (randomblob(200))');
        writes++;
        if (writes % 20_000 === 0)
          progress(`${writes} writes, ${Math.round((Date.now() - from) / 1000)} s of ${distanceS}`);
      }
      const bytesPerHour = ((await logBytes()) - bytesBefore) * (3_600_000 / (Date.now() - from));
      const far = await measure(from);
      const near = await measure(Date.now() - 1_000);
      console.log(
        JSON.stringify({
          smallDb: { mb: 10, ...small },
          largeDb: { mb: largeMb, ...large },
          distance: { seconds: distanceS, ...far },
          distance1s: near,
          writesDuringDistance: writes,
          logBytesPerHourAllNodes: Math.round(bytesPerHour),
        }),
      );
    },
    (900 + distanceS + largeMb * 2) * 1_000,
  );
});
