// The warm standby writer (ADR 019): the control plane keeps one loaded writer process waiting (two
// once one was used); a failover activates one (the new writer is that very process, not a new Node
// start), another standby follows, and none outlives its control plane — a clean stop or a SIGKILL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { isPidAlive } from '../../embedded/state.ts';
import { endpointClients, startTestCluster, waitForStatus, waitUntil, writerOf } from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('warm standby writer', () => {
  const dir = makeTempDir('standby-writer');
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await startTestCluster({ dir: dir.path, readers: 1 });
  }, 180_000);

  afterAll(async () => {
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  it('a SIGKILLed writer is replaced by the standby process itself, and a new standby follows', async () => {
    const first = await waitForStatus(cluster, (s) => s.standbyWriter != null, 60_000, 'a standby writer');
    const standbyPid = first.standbyWriter!.pid;
    expect(isPidAlive(standbyPid)).toBe(true);
    const { writer } = endpointClients(first);
    await writer.exec('CREATE TABLE t (x INTEGER)');
    await writer.exec('INSERT INTO t VALUES (1)');

    const old = writerOf(first);
    process.kill(old.pid!, 'SIGKILL');
    const after = await waitForStatus(
      cluster,
      (s) => !s.failoverInProgress && s.writer !== null && writerOf(s).pid !== old.pid && writerOf(s).healthy,
      60_000,
      'a new writer',
    );
    // The promoted writer is the process that was waiting, not a fresh start.
    expect(writerOf(after).pid).toBe(standbyPid);
    await writer.exec('INSERT INTO t VALUES (2)');
    expect(await writer.rows('SELECT x FROM t ORDER BY x')).toEqual([[1], [2]]);

    const next = await waitForStatus(
      cluster,
      (s) => s.standbyWriter != null && s.standbyWriter.pid !== standbyPid,
      60_000,
      'the next standby writer',
    );
    expect(isPidAlive(next.standbyWriter!.pid)).toBe(true);
  }, 240_000);

  it('once one was used, two are kept: planned failovers (what a backtrack runs) back to back each activate one', async () => {
    const before = await waitForStatus(
      cluster,
      (s) => s.standbyWriters?.length === 2 && !s.failoverInProgress && s.instances.every((i) => i.healthy),
      60_000,
      'two standby writers and every instance healthy',
    );
    const pids = before.standbyWriters!.map((p) => p.pid);
    expect(before.standbyWriter!.pid).toBe(pids[0]);
    const writers: number[] = [];
    for (let i = 0; i < 2; i++) {
      // The second as soon as a reader can be promoted: the second standby is taken, not a new one.
      const response = await fetch(`${cluster.controlPlaneUrl}/failover`, { method: 'POST' });
      expect(response.status).toBe(200);
      const after = await waitForStatus(
        cluster,
        (s) => !s.failoverInProgress && s.writer !== null && s.instances.every((x) => x.healthy),
        60_000,
        'the new writer and a reader to promote',
      );
      writers.push(writerOf(after).pid!);
    }
    expect(writers).toEqual(pids);
  }, 240_000);

  it('the standby goes with its control plane, even one killed with SIGKILL', async () => {
    const status = await waitForStatus(
      cluster,
      (s) => s.standbyWriters?.length === 2,
      60_000,
      'two standby writers',
    );
    process.kill(cluster.controlPlane.pid, 'SIGKILL');
    // Their stdin closes with the control plane: they exit at once (the others watch the parent pid).
    for (const { pid } of status.standbyWriters!) {
      await waitUntil(() => !isPidAlive(pid), 10_000, `standby writer ${pid} gone`);
    }
    for (const i of status.instances) {
      if (i.pid !== null) await waitUntil(() => !isPidAlive(i.pid!), 10_000, `${i.id} gone`);
    }
  }, 60_000);
});
