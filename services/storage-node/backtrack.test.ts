// A storage node in-process moving between timelines (ADR 015): a backtrack marker voids the log above
// its target without touching a record, the next writer's deltas (against the page at the target)
// apply on top, a backtrack forward brings the voided records back, a recovery truncation after a
// backtrack leaves the marker's range to the marker, a restart keeps all of it, and bad lists change
// nothing.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { markersFromJson, markersToJson } from '../../core/backtrack/json.ts';
import type { BacktrackMarker } from '../../core/backtrack/timeline.ts';
import { computeDelta } from '../../core/delta.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { defaultPlacement, type StorageNodeAddress, type VolumeConfig } from '../../core/volume.ts';
import type { StorageMessage } from '../../core/wire/messages.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { backtrackRoute } from './backtrack.ts';
import { StorageNode } from './storage-node.ts';

const pageSize = 4096;
const nodes: StorageNodeAddress[] = Array.from({ length: 6 }, (_, i) => ({
  id: `n${i + 1}`,
  az: `az-${'abc'[Math.floor(i / 2)]}`,
  host: '127.0.0.1',
  port: 1,
  httpPort: 1,
}));
// n1 holds PG 0's full segment (and PG 1's tail); page 1 is in PG 0.
const volume: VolumeConfig = {
  volumeId: 'unit',
  pageSizeBytes: pageSize,
  pagesPerPg: 6,
  nodes,
  placement: defaultPlacement(nodes, 2),
};
const logger = pino({ level: 'silent' });
const opened: StorageNode[] = [];
const dirs: { remove: () => void }[] = [];

afterEach(async () => {
  for (const node of opened.splice(0)) await node.close();
  for (const dir of dirs.splice(0)) dir.remove();
});

function openNode(dataDir: string): StorageNode {
  const node = StorageNode.open({ id: 'n1', az: 'az-a', dataDir, volume, logger, retentionMs: 0 });
  node.acceptsAppends = true;
  opened.push(node);
  return node;
}

/** Page 1 filled with one letter, then a stripe of another: the versions the tests write. */
function page(base: Uint8Array | undefined, letter: string, at: number): Uint8Array {
  const out = base ? Buffer.from(base) : Buffer.alloc(pageSize, 0x2e);
  out.fill(letter, at, at + 16);
  return out;
}

function commit(lsn: Lsn, prevLsnInPg: Lsn): RedoRecord {
  return {
    lsn,
    pg: 0,
    pageNo: 0,
    prevLsnInPg,
    prevLsnOfPage: 0n,
    kind: RecordKind.Commit,
    flags: RecordFlags.Cpl,
    payload: encodeCommitPayload({
      txnId: lsn,
      commitTimeMs: Number(lsn),
      pgTails: [],
      vdlHint: 0n,
      prevCommitLsn: 0n,
      prevCommitPg: 0,
    }),
  };
}

/** One transaction: page 1 from `before` to `after` (a delta) at `lsn`, its commit at lsn + 1. */
function txn(
  lsn: Lsn,
  prevLsnInPg: Lsn,
  prevLsnOfPage: Lsn,
  before: Uint8Array | undefined,
  after: Uint8Array,
) {
  const change: RedoRecord = before
    ? {
        lsn,
        pg: 0,
        pageNo: 1,
        prevLsnInPg,
        prevLsnOfPage,
        kind: RecordKind.PageDelta,
        flags: 0,
        payload: computeDelta(before, after),
      }
    : {
        lsn,
        pg: 0,
        pageNo: 1,
        prevLsnInPg,
        prevLsnOfPage,
        kind: RecordKind.PageImage,
        flags: 0,
        payload: after,
      };
  return [change, commit(lsn + 1n, lsn)];
}

async function append(node: StorageNode, epoch: bigint, records: RedoRecord[]): Promise<StorageMessage> {
  return node.handle({ type: 'append', epoch, records });
}

async function readPage(node: StorageNode, readPoint: Lsn): Promise<Buffer> {
  const reply = await node.handle({ type: 'getPage', pg: 0, pageNo: 1, readPoint });
  if (reply.type !== 'page') throw new Error(`expected a page, got ${reply.type}`);
  return Buffer.from(reply.page);
}

const marker = (m: Partial<BacktrackMarker> & Pick<BacktrackMarker, 'seq' | 'epoch'>): BacktrackMarker => ({
  appliedAtMs: 0,
  targetLsn: 0n,
  targetTimeMs: 0,
  fromLsn: 0n,
  ...m,
});

describe('storage node backtrack', () => {
  it('voids the log above the target, takes the next timeline, comes back forward, and keeps it all over a restart', async () => {
    const dir = makeTempDir('storage-backtrack-unit');
    dirs.push(dir);
    let node = openNode(dir.path);
    // Timeline 0: A (1, 2), B (3, 4), C (5, 6).
    const a = page(undefined, 'A', 0);
    const b = page(a, 'B', 100);
    const c = page(b, 'C', 200);
    await append(node, 1n, [
      ...txn(1n, 0n, 0n, undefined, a),
      ...txn(3n, 2n, 1n, a, b),
      ...txn(5n, 4n, 3n, b, c),
    ]);
    await node.coalesce(); // a stored version at 5, which the backtrack voids: reads must step over it
    expect(node.segments.get(0)!.scl).toBe(6n);

    // Backtrack 1 (epoch 2) to after A: (2, 6] void, the new writer resumes above 6.
    const m1 = marker({ seq: 1, epoch: 2n, appliedAtMs: 100, targetLsn: 2n, targetTimeMs: 50, fromLsn: 6n });
    await node.applyBacktrackMarkers([m1]);
    const segment = node.segments.get(0)!;
    expect(segment.scl).toBe(2n);
    expect(node.epoch).toBe(2n);
    // The new writer's recovery (epoch 3) finds VDL = 2 and truncates far above it: only its own part
    // above the marker's resume point becomes a truncation.
    const truncated = await node.handle({ type: 'truncate', epoch: 3n, pg: 0, aboveLsn: 2n, uptoLsn: 20n });
    expect(truncated).toMatchObject({ type: 'truncated', tailLsn: 2n });
    expect(segment.truncations.map((t) => [t.aboveLsn, t.uptoLsn])).toEqual([[6n, 20n]]);
    // It allocates above 20, its delta made against the page at 2 (A), backlinked to 2.
    const d = page(a, 'D', 300);
    const ack = await append(node, 3n, txn(21n, 2n, 1n, a, d));
    expect(ack).toMatchObject({ type: 'appendAck', scls: [{ pg: 0, scl: 22n }] });
    expect(await readPage(node, 22n)).toEqual(Buffer.from(d));
    await node.coalesce();
    expect(await readPage(node, 22n)).toEqual(Buffer.from(d));
    // The voided records are still in the log, set aside; recovery and gossip see the void.
    expect(segment.voidedCount).toBe(4);
    const info = node.recoveryInfo().find((s) => s.pg === 0)!;
    expect(info.truncatedUpto).toBe(20n);
    const gossip = await node.handle({
      type: 'gossipPull',
      epoch: 0n,
      pg: 0,
      afterLsn: 0n,
      uptoLsn: 0n,
      maxBytes: 1 << 20,
    });
    expect(gossip.type === 'gossipRecords' && gossip.truncations.map((t) => [t.aboveLsn, t.uptoLsn])).toEqual(
      [
        [6n, 20n],
        [2n, 6n],
      ],
    );

    // Backtrack 2 (epoch 4) forward, to a time before backtrack 1: the timeline then, cut at C.
    const m2 = marker({ seq: 2, epoch: 4n, appliedAtMs: 200, targetLsn: 6n, targetTimeMs: 90, fromLsn: 22n });
    await node.applyBacktrackMarkers([m1, m2]);
    expect(segment.scl).toBe(6n);
    expect(await readPage(node, 6n)).toEqual(Buffer.from(c));
    expect(await readPage(node, 4n)).toEqual(Buffer.from(b));
    const e = page(c, 'E', 400);
    await append(node, 4n, txn(23n, 6n, 5n, c, e));
    expect(await readPage(node, 24n)).toEqual(Buffer.from(e));
    await node.coalesce();
    expect(await readPage(node, 24n)).toEqual(Buffer.from(e));

    // A restart replays the log onto the same timeline.
    opened.splice(opened.indexOf(node), 1);
    await node.close();
    node = openNode(dir.path);
    expect(node.backtrackMarkers).toEqual([m1, m2]);
    expect(node.segments.get(0)!.scl).toBe(24n);
    expect(await readPage(node, 24n)).toEqual(Buffer.from(e));
    expect(await readPage(node, 6n)).toEqual(Buffer.from(c));
    expect(await readPage(node, 2n)).toEqual(Buffer.from(a));
  });

  it('refuses a stale or malformed marker list and changes nothing', async () => {
    const dir = makeTempDir('storage-backtrack-unit');
    dirs.push(dir);
    const node = openNode(dir.path);
    const a = page(undefined, 'A', 0);
    await append(node, 1n, txn(1n, 0n, 0n, undefined, a));
    const m1 = marker({ seq: 1, epoch: 2n, appliedAtMs: 100, targetLsn: 0n, fromLsn: 2n });
    await node.applyBacktrackMarkers([m1]);
    const file = readFileSync(join(dir.path, 'backtrack.json'), 'utf8');
    const refused = async (markers: BacktrackMarker[], code: string) => {
      const error = await node.applyBacktrackMarkers(markers).catch((x: unknown) => x);
      expect(error).toBeInstanceOf(BorealisError);
      expect((error as BorealisError).code).toBe(code);
      expect(node.backtrackMarkers).toEqual([m1]);
      expect(readFileSync(join(dir.path, 'backtrack.json'), 'utf8')).toBe(file);
    };
    await refused([], ErrorCode.INVALID_ARGUMENT); // shorter than held
    await refused([{ ...m1, targetLsn: 1n }], ErrorCode.INVALID_ARGUMENT); // rewrites history
    await refused(
      [m1, marker({ seq: 2, epoch: 2n, appliedAtMs: 200, fromLsn: 2n })],
      ErrorCode.INVALID_ARGUMENT,
    );
    // A writer opened at epoch 5 since: a backtrack fenced at 3 is too late.
    await node.handle({ type: 'recoveryInfo', epoch: 5n });
    await refused([m1, marker({ seq: 2, epoch: 3n, appliedAtMs: 200, fromLsn: 2n })], ErrorCode.STALE_EPOCH);
    expect(() => markersFromJson([{ seq: 1 }])).toThrow(/malformed/);
    expect(markersFromJson(markersToJson([m1]))).toEqual([m1]);
    expect(existsSync(join(dir.path, 'backtrack.json.tmp'))).toBe(false);
  });

  it("takes the control plane's catch-up re-push under a newer epoch, and two pushes at once never shorten the list", async () => {
    const dir = makeTempDir('storage-backtrack-unit');
    dirs.push(dir);
    const node = openNode(dir.path);
    await append(node, 1n, txn(1n, 0n, 0n, undefined, page(undefined, 'A', 0)));
    const m1 = marker({ seq: 1, epoch: 2n, appliedAtMs: 100, targetLsn: 0n, fromLsn: 2n });
    const m2 = marker({ seq: 2, epoch: 3n, appliedAtMs: 200, targetLsn: 0n, fromLsn: 2n });
    // The node missed both pushes; a writer opened at epoch 5 since (it joined on the new timeline).
    await node.handle({ type: 'recoveryInfo', epoch: 5n });
    const post = (body: unknown) =>
      backtrackRoute(node, { method: 'POST', url: new URL('http://node/admin/backtrack'), body });
    expect(await post({ markers: markersToJson([m1]) })).toMatchObject({ status: 409 });
    expect(await post({ markers: markersToJson([m1]), catchUp: 'yes' })).toMatchObject({ status: 400 });
    expect(node.backtrackMarkers).toEqual([]);
    // Both lists in flight at once, the longer one first: the shorter one must not replace it.
    const [longer, shorter] = await Promise.all([
      post({ markers: markersToJson([m1, m2]), catchUp: true }),
      post({ markers: markersToJson([m1]), catchUp: true }),
    ]);
    expect(longer).toEqual({ status: 200, body: { markers: 2 } });
    expect(shorter).toMatchObject({ status: 400 });
    expect(node.backtrackMarkers).toEqual([m1, m2]);
    expect(node.epoch).toBe(5n); // an older marker epoch is not adopted
    expect(
      markersFromJson(JSON.parse(readFileSync(join(dir.path, 'backtrack.json'), 'utf8')).markers),
    ).toEqual([m1, m2]);
    // A repeat is a no-op (the re-push after the node already has it).
    expect(await post({ markers: markersToJson([m1, m2]), catchUp: true })).toEqual({
      status: 200,
      body: { markers: 2 },
    });
  });
});
