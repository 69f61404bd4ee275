// The writer's backtrack floor right after a failover (ADR 015): a writer that opens on a volume with
// history older than the window seeds its floor from storage (the newest commit at or before
// open − window) instead of sending 0 — which made storage keep everything for one window after every
// writer start. Seen in the writer's /health (backtrackFloor) before a whole window has passed since
// it opened, when its own noted VDLs cannot give it yet.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { controlPlanePost, waitForStatus, waitUntil, writerOf } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { retrying, sleep, startBacktrackCluster } from './rig.ts';
import { settled } from './settle.ts';

const windowSeconds = 4;

async function writerHealth(
  httpPort: number,
): Promise<{ backtrackFloor?: string; vdl?: string } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${httpPort}/health`, {
      signal: AbortSignal.timeout(2_000),
    });
    return (await response.json()) as { backtrackFloor?: string; vdl?: string };
  } catch {
    return undefined;
  }
}

describe('backtrack floor seeded at writer open', () => {
  const dir = makeTempDir('backtrack-floor-seed');
  let cluster: LocalCluster;
  let writer: Sql;

  beforeAll(async () => {
    ({ cluster, writer } = await startBacktrackCluster(dir.path, { readers: 0, windowSeconds }));
  }, 180_000);

  afterAll(async () => {
    await settled(cluster);
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  it('a writer opened after a failover sends a nonzero floor at once, from the history older than the window', async () => {
    await writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY)');
    for (let i = 1; i <= 20; i++) await writer.exec('INSERT INTO t VALUES (:id)', { id: i });
    // The history must be older than a window when the next writer opens.
    await sleep(windowSeconds * 1000 + 1_500);
    const before = writerOf(await cluster.status());
    await controlPlanePost(cluster, '/kill', { writer: true });
    const status = await waitForStatus(
      cluster,
      // No readers: the control plane restarts the writer in place (a new incarnation).
      (s) =>
        s.writer !== null &&
        writerOf(s).incarnation > before.incarnation &&
        writerOf(s).healthy &&
        writerOf(s).httpPort !== null,
      60_000,
      'a new writer',
    );
    const opened = performance.now();
    const httpPort = writerOf(status).httpPort!;
    let health: { backtrackFloor?: string; vdl?: string } | undefined;
    await waitUntil(
      async () => {
        health = await writerHealth(httpPort);
        return health?.backtrackFloor !== undefined && health.backtrackFloor !== '0';
      },
      windowSeconds * 1000,
      'the new writer sends a nonzero backtrack floor',
    );
    const seededMs = Math.round(performance.now() - opened);
    console.log(
      `backtrack floor ${health!.backtrackFloor} (VDL ${health!.vdl}) ${seededMs} ms after the writer showed`,
    );
    // Within the window since it opened: its own noted VDLs cannot be what gave it.
    expect(seededMs).toBeLessThan(windowSeconds * 1000);
    expect(BigInt(health!.backtrackFloor!)).toBeLessThanOrEqual(BigInt(health!.vdl!));
    await retrying(() => writer.exec('INSERT OR IGNORE INTO t VALUES (21)'));
    expect(Number((await writer.rows('SELECT count(*) FROM t'))[0]![0])).toBe(21);
  }, 120_000);
});
