// Losing an AZ, then an AZ plus one node, as a client sees it through the proxy. An AZ down (two
// storage nodes and the instance in it, the writer included) keeps reads and writes going — the
// writer fails over to another AZ. One more node down leaves three copies: reads go on, writes
// wait; when a node returns they complete, and nothing acknowledged is lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../embedded/cluster.ts';
import {
  controlPlanePost,
  endpointClients,
  startTestCluster,
  WriteWorkload,
  waitForStatus,
  waitUntil,
} from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('AZ outage through the proxy', () => {
  const dir = makeTempDir('az');
  let cluster: LocalCluster;

  beforeAll(async () => {
    // A failed instance stays down long enough for the outage to be observed as one.
    cluster = await startTestCluster({
      dir: dir.path,
      readers: 2,
      controlPlaneArgs: ['--restart-delay-ms', '30000'],
    });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  it('AZ down: reads and writes go on; AZ + 1 node down: reads go on, writes wait, then succeed', async () => {
    const status = await cluster.status();
    const { writer, reader } = endpointClients(status);
    await writer.exec(WriteWorkload.createTableSql('az'));
    await writer.exec('create table kv (k text primary key, v text)');
    await writer.exec("insert into kv values ('before', 'outage')");
    const workload = new WriteWorkload(writer, 'az', 2, 10);
    try {
      await waitUntil(() => workload.acked().length >= 20, 30_000, 'writes flowing');

      // The writer's AZ: n1, n2 and instance-1 die together.
      const writerAz = status.instances.find((i) => i.id === status.writer)!.az;
      const killed = await controlPlanePost<{ killed: { id: string }[] }>(cluster, '/kill', { az: writerAz });
      expect(killed.killed.map((k) => k.id).sort()).toEqual(['instance-1', 'n1', 'n2']);
      const azDownAt = Date.now();
      await waitUntil(
        () => workload.firstAckAfter(azDownAt) !== undefined,
        60_000,
        'a write after the AZ died',
      );
      const afterAz = await waitForStatus(cluster, (s) => s.writer !== null && s.writer !== 'instance-1');
      expect(afterAz.instances.find((i) => i.id === afterAz.writer)!.az).not.toBe(writerAz);
      expect(await reader.rows("select v from kv where k = 'before'")).toEqual([['outage']]);

      // One more node, in another AZ and not beside the writer: three of six copies remain.
      const survivorAzs = afterAz.storageNodes.filter((n) => n.healthy).map((n) => n.id);
      const extra = survivorAzs.find((id) => id === 'n5')!;
      await controlPlanePost(cluster, '/kill', { node: extra });
      await new Promise((r) => setTimeout(r, 500));
      const ackedAtQuorumLoss = workload.acked().length;
      const lossAt = Date.now();
      await new Promise((r) => setTimeout(r, 2_000));
      // Writes wait: at most the ones already in flight were acknowledged after the node died.
      expect(workload.acked().filter((o) => o.doneAt > lossAt + 200)).toEqual([]);
      // Reads go on, on the reader endpoint, at a consistent read point.
      const rows = await reader.rows('select count(*) from az');
      expect(Number(rows[0]![0])).toBeGreaterThanOrEqual(Math.min(ackedAtQuorumLoss, 1));
      expect(await reader.rows("select v from kv where k = 'before'")).toEqual([['outage']]);

      // A node comes back: the waiting writes complete.
      const returnedAt = Date.now();
      await controlPlanePost(cluster, '/start', { node: extra });
      await waitUntil(
        () => workload.firstAckAfter(returnedAt) !== undefined,
        60_000,
        'writes after the node returned',
      );
    } finally {
      await workload.stop();
    }
    expect(await workload.verify(writer)).toEqual([]);
    writer.close();
    reader.close();
  }, 240_000);
});
