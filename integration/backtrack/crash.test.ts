// Backtrack under crashes (issue 17): kill -9 of the writer and of two storage nodes in the middle of a
// backtrack. Afterwards the cluster is at the old state or the new one — never between — and, with the
// nodes back, a second backtrack (and one forward again) works.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { controlPlanePost, waitUntil } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { backtrackTo, retrying, sleep, stamp, startBacktrackCluster } from './rig.ts';
import { settled } from './settle.ts';

describe('backtrack under kill -9', () => {
  const dir = makeTempDir('backtrack-crash');
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

  const backtrack = (to: string) => backtrackTo(cluster, to);

  it('the writer and two storage nodes SIGKILLed mid-backtrack: old state or new, then backtracks work again', async () => {
    await writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    for (let i = 1; i <= 10; i++) await writer.exec('INSERT INTO t VALUES (:id)', { id: i });
    const t1 = await stamp();
    for (let i = 11; i <= 15; i++) await writer.exec('INSERT INTO t VALUES (:id)', { id: i });
    const t2 = await stamp();

    const status = await cluster.status();
    const running = status.instances.find((i) => i.id === status.writer)!;
    const pending = backtrack(t1);
    // The writer dies while it drains; two storage nodes (different AZs) while storage is fenced
    // and the marker goes out.
    await sleep(200);
    await controlPlanePost(cluster, '/kill', { instance: running.id }).catch(() => undefined);
    await sleep(500);
    await controlPlanePost(cluster, '/kill', { node: 'n1' }).catch(() => undefined);
    await controlPlanePost(cluster, '/kill', { node: 'n3' }).catch(() => undefined);
    const first = await pending;
    const after = await ids();
    console.log(
      `backtrack under kills: ${first.Status}${first.StatusReason ? ` (${first.StatusReason})` : ''}`,
    );
    expect([range(1, 10), range(1, 15)]).toContainEqual(after);
    if (first.Status === 'completed') expect(after).toEqual(range(1, 10));
    else expect(after).toEqual(range(1, 15));

    // The nodes come back; the next backtracks work in both directions.
    for (const node of ['n1', 'n3']) {
      await controlPlanePost(cluster, '/start', { node }).catch(() => undefined);
    }
    await waitUntil(
      async () => {
        const s: ClusterStatus = await cluster.status();
        return s.storageNodes.every((n) => n.healthy) && s.writer !== null;
      },
      60_000,
      'every storage node healthy again',
    );
    const second = await backtrack(t1);
    expect(second.Status, second.StatusReason).toBe('completed');
    expect(await ids()).toEqual(range(1, 10));
    const third = await backtrack(t2);
    expect(third.Status, third.StatusReason).toBe('completed');
    expect(await ids()).toEqual(range(1, 15));
    await retrying(() => writer.exec('INSERT INTO t VALUES (16)'));
    expect(await ids()).toEqual(range(1, 16));
  }, 240_000);
});
