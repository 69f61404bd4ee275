// A storage node that missed a backtrack's marker push (SIGKILLed before it) learns the marker list
// in the background once it is back (ADR 015): the control plane sees the short count in its /health
// and re-pushes the list, without another backtrack. Then the node takes appends on the new timeline:
// with both nodes of another AZ killed, every PG's write quorum (4 of 6, never all 3 full segments
// among the other survivors) needs it, and writes still succeed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { controlPlanePost, waitForStatus, waitUntil } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { backtrackTo, retrying, stamp, startBacktrackCluster } from './rig.ts';
import { settled } from './settle.ts';

/** The marker count a storage node reports in /health (undefined: no answer). */
async function markerCount(httpPort: number): Promise<number | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    const body = (await response.json()) as { backtrack?: { markers?: number } };
    return body.backtrack?.markers;
  } catch {
    return undefined;
  }
}

async function repushesOk(cluster: LocalCluster): Promise<number> {
  const text = await (await fetch(`${cluster.controlPlaneUrl}/metrics`)).text();
  const line = text
    .split('\n')
    .find((l) => l.startsWith('borealis_backtrack_marker_repushes_total{') && l.includes('result="ok"'));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('backtrack marker re-push', () => {
  const dir = makeTempDir('backtrack-repush');
  let cluster: LocalCluster;
  let writer: Sql;

  beforeAll(async () => {
    ({ cluster, writer } = await startBacktrackCluster(dir.path));
  }, 180_000);

  afterAll(async () => {
    await settled(cluster);
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  const ids = async () =>
    retrying(async () => (await writer.rows('SELECT id FROM t ORDER BY id')).map((r) => Number(r[0])));
  const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

  it('a node SIGKILLed before a backtrack gets the marker list once back, then carries writes on the new timeline', async () => {
    await writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    for (let i = 1; i <= 10; i++) await writer.exec('INSERT INTO t VALUES (:id)', { id: i });
    const t1 = await stamp();
    for (let i = 11; i <= 15; i++) await writer.exec('INSERT INTO t VALUES (:id)', { id: i });

    const status: ClusterStatus = await cluster.status();
    const missed = status.storageNodes[0]!;
    const otherAz = status.storageNodes.filter(
      (n) => n.az !== missed.az && n.az === status.storageNodes.find((m) => m.az !== missed.az)!.az,
    );
    expect(otherAz).toHaveLength(2);
    expect(await markerCount(missed.httpPort)).toBe(0);

    await controlPlanePost(cluster, '/kill', { node: missed.id });
    await waitForStatus(cluster, (s) => s.storageNodes.find((n) => n.id === missed.id)!.pid === null, 10_000);
    const first = await backtrackTo(cluster, t1);
    expect(first.Status, first.StatusReason).toBe('completed');
    expect(await ids()).toEqual(range(1, 10));
    await retrying(() => writer.exec('INSERT OR IGNORE INTO t VALUES (20)'));

    // Back, with the list it had before the backtrack; the control plane re-pushes it, no backtrack needed.
    const okBefore = await repushesOk(cluster);
    await controlPlanePost(cluster, '/start', { node: missed.id });
    const started = performance.now();
    await waitUntil(
      async () => (await markerCount(missed.httpPort)) === 1,
      15_000,
      `${missed.id} holds the marker`,
    );
    console.log(`marker re-push: node start → marker held in ${Math.round(performance.now() - started)} ms`);
    expect(await repushesOk(cluster)).toBeGreaterThan(okBefore);

    // Both nodes of another AZ down: every PG's write quorum now needs the node that came back.
    for (const n of otherAz) await controlPlanePost(cluster, '/kill', { node: n.id });
    for (let i = 21; i <= 25; i++)
      await retrying(() => writer.exec('INSERT OR IGNORE INTO t VALUES (:id)', { id: i }), 150);
    expect(await ids()).toEqual([...range(1, 10), ...range(20, 25)]);

    for (const n of otherAz) await controlPlanePost(cluster, '/start', { node: n.id });
    await waitForStatus(
      cluster,
      (s) => s.storageNodes.every((n) => n.healthy),
      60_000,
      'every storage node healthy',
    );
  }, 120_000);
});
