// Disk full on one storage node, for real: the node's data dir is a size-limited tmpfs the test mounts
// (root only; skipped with the reason printed otherwise), filled by another file as a neighbour on the
// disk would. The node refuses appends with a clear error frame and says so in /health, it does not
// crash; the volume keeps committing on the other five; when the space returns the node takes appends
// again and gossip brings it every record it refused.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../core/errors.ts';
import { LogShipper } from '../../services/writer/log-shipper.ts';
import { RedoWorkload } from '../harness/redo-workload.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const seed = Number(process.env.BOREALIS_TEST_SEED ?? Date.now() % 1_000_000);
const fullNode = 'n6';
const tmpfsBytes = 48 * 1024 * 1024;

/** Mounts a tmpfs of `bytes` at dir, or says why it cannot (not root, no mount permission). */
function mountSmallDisk(dir: string, bytes: number): string | undefined {
  if (process.getuid?.() !== 0) return 'not root: cannot mount a size-limited tmpfs';
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir], { stdio: 'pipe' });
    return undefined;
  } catch (error) {
    return `mount -t tmpfs failed: ${(error as Error).message.split('\n')[0]}`;
  }
}

/** Fills the file system under dir with one file until it is full. */
function fill(path: string): number {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  try {
    for (;;) written += writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return written;
}

const dir = makeTempDir('storage-disk-full');
const nodeDir = join(dir.path, 'nodes', fullNode);
const skipReason = mountSmallDisk(nodeDir, tmpfsBytes);
if (skipReason) console.log(`disk-full test skipped: ${skipReason}`);

describe.skipIf(skipReason !== undefined)('disk full on one storage node', () => {
  let cluster: StorageCluster;
  let workload: RedoWorkload;
  let shipper: LogShipper;
  const filler = join(nodeDir, 'filler');

  async function write(batches: number): Promise<void> {
    const pending = [];
    for (let i = 0; i < batches; i++) pending.push(workload.ship(shipper).durable);
    await Promise.all(pending);
  }

  beforeAll(async () => {
    console.log(`storage-disk-full seed ${seed}`);
    cluster = await StorageCluster.start({
      dir: dir.path,
      pgCount: 3,
      pagesPerPg: 16,
      nodeArgs: [
        '--gossip-interval-ms',
        '100',
        '--coalesce-interval-ms',
        '200',
        '--log-file-bytes-max',
        '65536',
      ],
    });
    workload = new RedoWorkload(cluster.volume, seed, 4);
    shipper = new LogShipper({ volume: cluster.volume, epoch: 1n, clients: cluster.clients(), nextLsn: 1n });
    await write(100);
  }, 60_000);
  afterAll(async () => {
    shipper?.close();
    await cluster?.stopAll();
    try {
      execFileSync('umount', [nodeDir], { stdio: 'pipe' });
    } catch {
      // not mounted (skipped) or already gone
    }
    dir.remove();
  });

  it('refuses appends clearly while full, the volume goes on, and it catches up when space returns', async () => {
    const pid = cluster.pid(fullNode);
    const filled = fill(filler);
    expect(filled).toBeGreaterThan(0);
    const rejectedBefore = await cluster.metric(fullNode, 'borealis_storage_requests_rejected_total', {
      code: ErrorCode.UNAVAILABLE,
    });
    // The volume keeps committing: five nodes are a write quorum of every PG.
    await write(300);
    expect(cluster.isRunning(fullNode)).toBe(true);
    expect(cluster.pid(fullNode)).toBe(pid);
    // Clearly: error frames (UNAVAILABLE, retryable), and /health says why.
    expect(
      await cluster.metric(fullNode, 'borealis_storage_requests_rejected_total', {
        code: ErrorCode.UNAVAILABLE,
      }),
    ).toBeGreaterThan(rejectedBefore);
    const health = await cluster.health(fullNode);
    expect(health.diskFull).toMatchObject({ error: expect.stringMatching(/no space left/) });
    const last = workload.lastLsnByPg();
    const behind = await cluster.sclOf(fullNode);
    expect([...behind].some(([pg, scl]) => scl < last.get(pg)!)).toBe(true);
    // Space returns: the node takes appends again and gossip fills what it refused.
    rmSync(filler);
    await write(50);
    const end = workload.lastLsnByPg();
    await eventually(
      async () => [...(await cluster.sclOf(fullNode))].every(([pg, scl]) => scl >= (end.get(pg) ?? 0n)),
      60_000,
      `${fullNode} complete again`,
    );
    await eventually(
      async () => (await cluster.health(fullNode)).diskFull === undefined,
      20_000,
      'disk full cleared',
    );
    expect(cluster.pid(fullNode)).toBe(pid);
  }, 180_000);
});
