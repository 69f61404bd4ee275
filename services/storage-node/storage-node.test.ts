// The storage node in-process, against a model of every page at every LSN: page reads at any allowed
// read point while the coalescer keeps only the newest version of a page per batch, GC and record
// pruning under a read point floor, a restart, a truncation whose page-store half a crash lost, a
// rotten page version, and log collection (its inputs, whole files, a restart after it, and an empty
// segment rebuilt from a peer's page images).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { open } from 'lmdb';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { computeDelta } from '../../core/delta.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { pgIdAll } from '../../core/limits.ts';
import type { Lsn } from '../../core/lsn.ts';
import { prng } from '../../core/prng.ts';
import {
  encodeCommitPayload,
  encodeRecords,
  encodeTruncateRangePayload,
  RecordFlags,
  RecordKind,
  type RedoRecord,
} from '../../core/record.ts';
import { defaultPlacement, type StorageNodeAddress, type VolumeConfig } from '../../core/volume.ts';
import type { StorageMessage } from '../../core/wire/messages.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { StorageNode } from './storage-node.ts';
import { LogFile } from './store/log-file.ts';

const pageSize = 4096;
const pagesPerPg = 6;
const nodes: StorageNodeAddress[] = Array.from({ length: 6 }, (_, i) => ({
  id: `n${i + 1}`,
  az: `az-${'abc'[Math.floor(i / 2)]}`,
  host: '127.0.0.1',
  port: 1,
  httpPort: 1,
}));
// n1 holds PG 0's full segment (and PG 1's tail).
const volume: VolumeConfig = {
  volumeId: 'unit',
  pageSizeBytes: pageSize,
  pagesPerPg,
  nodes,
  placement: defaultPlacement(nodes, 2),
};

/** PG 0's records and the bytes of every page after each of its records. */
class Model {
  readonly records: RedoRecord[] = [];
  readonly #history = new Map<number, { lsn: Lsn; bytes: Uint8Array }[]>();
  #random: () => number;
  lastLsn = 0n;

  constructor(seed: number) {
    this.#random = prng(seed);
  }

  /** The next batch: a few page changes (an image on a page's first write, deltas after) and a commit. */
  batch(): RedoRecord[] {
    const out: RedoRecord[] = [];
    const changes = 1 + Math.floor(this.#random() * 4);
    for (let i = 0; i <= changes; i++) {
      const lsn = ++this.lastLsn;
      const common = { lsn, pg: 0, prevLsnInPg: lsn - 1n, prevLsnOfPage: 0n, flags: 0 };
      if (i === changes) {
        out.push({
          ...common,
          pageNo: 0,
          kind: RecordKind.Commit,
          flags: RecordFlags.Cpl,
          payload: encodeCommitPayload({
            txnId: lsn,
            commitTimeMs: 0,
            pgTails: [],
            vdlHint: 0n,
            prevCommitLsn: 0n,
            prevCommitPg: 0,
          }),
        });
        continue;
      }
      // Page 1 is hot (half the changes), the rest share the other half.
      const pageNo = this.#random() < 0.5 ? 1 : 2 + Math.floor(this.#random() * (pagesPerPg - 1));
      const history = this.#history.get(pageNo) ?? [];
      const old = history[history.length - 1]?.bytes;
      const next = old ? Uint8Array.from(old) : new Uint8Array(pageSize);
      const at = Math.floor(this.#random() * (pageSize - 32));
      for (let j = 0; j < 32; j++) next[at + j] = Math.floor(this.#random() * 256);
      history.push({ lsn, bytes: next });
      this.#history.set(pageNo, history);
      out.push(
        old
          ? { ...common, pageNo, kind: RecordKind.PageDelta, payload: computeDelta(old, next) }
          : { ...common, pageNo, kind: RecordKind.PageImage, payload: next },
      );
    }
    this.records.push(...out);
    return out;
  }

  /** Records in (aboveLsn, uptoLsn] are void: as if they had never been written. */
  truncate(range: { aboveLsn: Lsn; uptoLsn: Lsn }): void {
    const live = (lsn: Lsn) => lsn <= range.aboveLsn || lsn > range.uptoLsn;
    for (const [pageNo, history] of this.#history)
      this.#history.set(
        pageNo,
        history.filter((h) => live(h.lsn)),
      );
    this.records.splice(0, this.records.length, ...this.records.filter((r) => live(r.lsn)));
  }

  /** The page as of readPoint. */
  pageAt(pageNo: number, readPoint: Lsn) {
    const visible = (this.#history.get(pageNo) ?? []).filter((h) => h.lsn <= readPoint);
    const last = visible[visible.length - 1];
    return { lsn: last?.lsn ?? 0n, bytes: last?.bytes ?? new Uint8Array(0) };
  }
}

const logger = pino({ level: 'silent' });
const dirs: { remove: () => void }[] = [];
const opened: StorageNode[] = [];
afterEach(async () => {
  for (const node of opened.splice(0)) await node.close();
  for (const dir of dirs.splice(0)) dir.remove();
});

/** `timing`: a coalescing interval and a clock of the test's own (default: the node's). */
function openNode(
  dataDir: string,
  timing: { coalesceIntervalMs: number; clock: () => number } | Record<string, never> = {},
): StorageNode {
  const node = StorageNode.open({ id: 'n1', az: 'az-a', dataDir, volume, logger, retentionMs: 0, ...timing });
  node.acceptsAppends = true;
  opened.push(node);
  return node;
}

async function closeNode(node: StorageNode): Promise<void> {
  opened.splice(opened.indexOf(node), 1);
  await node.close();
}

function tempDir(): string {
  const dir = makeTempDir('storage-node-unit');
  dirs.push(dir);
  return dir.path;
}

async function request(node: StorageNode, message: StorageMessage): Promise<StorageMessage> {
  return node.handle(message);
}

async function readPage(node: StorageNode, pageNo: number, readPoint: Lsn) {
  const reply = await request(node, { type: 'getPage', pg: 0, pageNo, readPoint });
  if (reply.type !== 'page') throw new Error(`expected a page, got ${reply.type}`);
  return { lsn: reply.versionLsn, bytes: Buffer.from(reply.page) };
}

/** Every page at every LSN in [from, to] as the model has it; returns how many reads were refused. */
async function expectPages(
  node: StorageNode,
  model: Model,
  from: Lsn,
  to: Lsn,
  options: { refusable?: boolean } = {},
): Promise<number> {
  let refused = 0;
  for (let readPoint = from; readPoint <= to; readPoint++) {
    for (let pageNo = 1; pageNo <= pagesPerPg; pageNo++) {
      const expected = model.pageAt(pageNo, readPoint);
      let page: { lsn: Lsn; bytes: Buffer };
      try {
        page = await readPage(node, pageNo, readPoint);
      } catch (error) {
        // Below the floor a read may be refused — clearly — but never answered wrong.
        if (!options.refusable || !(error instanceof BorealisError)) throw error;
        expect(error.code).toBe(ErrorCode.INVALID_ARGUMENT);
        expect(error.message).toMatch(/below the read point floor/);
        refused++;
        continue;
      }
      expect({ pageNo, readPoint, lsn: page.lsn }).toEqual({ pageNo, readPoint, lsn: expected.lsn });
      expect(page.bytes.equals(Buffer.from(expected.bytes)), `page ${pageNo} at ${readPoint}`).toBe(true);
    }
  }
  return refused;
}

async function appendBatches(node: StorageNode, model: Model, batches: number, coalesceEvery = 3) {
  for (let i = 0; i < batches; i++) {
    await request(node, { type: 'append', epoch: 1n, records: model.batch() });
    if (i % coalesceEvery === coalesceEvery - 1) await node.coalesce();
  }
}

describe('storage node page reads', () => {
  it('serves every page at every read point while storing only the newest version per batch', async () => {
    const node = openNode(tempDir());
    const model = new Model(7);
    await appendBatches(node, model, 60);
    await node.coalesce();
    const pageRecords = model.records.filter((r) => r.kind !== RecordKind.Commit).length;
    // Collapsing: far fewer versions than page records (one per page per batch at most).
    expect(node.versionsRetained).toBeGreaterThan(0);
    expect(node.versionsRetained).toBeLessThan(pageRecords / 2);
    await expectPages(node, model, 1n, model.lastLsn);
  });

  it('a coalescing tick takes at most 4 MiB of log, and the ticks after it the rest, pages exact', async () => {
    // A clock that never moves: only a tick cut short makes the next check due, not the interval.
    const node = openNode(tempDir(), { coalesceIntervalMs: 1000, clock: () => 1000 });
    // 1,600 whole-page images (6.4 MB of log) in 16 transactions: more than one tick's budget.
    const random = prng(5);
    const pages = new Map<number, { lsn: Lsn; bytes: Uint8Array }[]>();
    let lsn = 0n;
    for (let txn = 0; txn < 16; txn++) {
      const records: RedoRecord[] = [];
      for (let i = 0; i < 100; i++) {
        const pageNo = 1 + (i % pagesPerPg);
        const bytes = Uint8Array.from({ length: pageSize }, () => Math.floor(random() * 256));
        lsn++;
        records.push({
          lsn,
          pg: 0,
          pageNo,
          prevLsnInPg: lsn - 1n,
          prevLsnOfPage: 0n,
          flags: 0,
          kind: RecordKind.PageImage,
          payload: bytes,
        });
        pages.set(pageNo, [...(pages.get(pageNo) ?? []), { lsn, bytes }]);
      }
      lsn++;
      const commit = encodeCommitPayload({
        txnId: lsn,
        commitTimeMs: 0,
        pgTails: [],
        vdlHint: 0n,
        prevCommitLsn: 0n,
        prevCommitPg: 0,
      });
      records.push({
        lsn,
        pg: 0,
        pageNo: 0,
        prevLsnInPg: lsn - 1n,
        prevLsnOfPage: 0n,
        flags: RecordFlags.Cpl,
        kind: RecordKind.Commit,
        payload: commit,
      });
      await request(node, { type: 'append', epoch: 1n, records });
    }
    const segment = node.segments.get(0)!;
    expect(await node.coalesceIfDue()).toBeGreaterThan(0); // the first interval is up (0 → 1000)
    const first = segment.coalescedLsn;
    // ~1,000 images of 4 KB fit the budget: part of the log, not all of it, not nothing.
    expect(first).toBeGreaterThan(900n);
    expect(first).toBeLessThan(1_100n);
    expect(await node.coalesceIfDue()).toBeGreaterThan(0); // cut short: due again at once
    expect(segment.coalescedLsn).toBe(lsn);
    expect(await node.coalesceIfDue()).toBe(0); // all done, and the interval is not up
    for (const readPoint of [first - 1n, first, first + 1n, lsn]) {
      for (const [pageNo, history] of pages) {
        const expected = history.filter((h) => h.lsn <= readPoint).at(-1)!;
        const page = await readPage(node, pageNo, readPoint);
        expect({ pageNo, readPoint, lsn: page.lsn }).toEqual({ pageNo, readPoint, lsn: expected.lsn });
        expect(page.bytes.equals(Buffer.from(expected.bytes))).toBe(true);
      }
    }
  });

  it('coalesces early when a page piles up records, and on the interval otherwise', async () => {
    let now = 0;
    const node = openNode(tempDir(), { coalesceIntervalMs: 1000, clock: () => now });
    const model = new Model(3);
    now = 1000;
    await request(node, { type: 'append', epoch: 1n, records: model.batch() });
    expect(await node.coalesceIfDue()).toBeGreaterThan(0); // the interval is up
    await request(node, { type: 'append', epoch: 1n, records: model.batch() });
    expect(await node.coalesceIfDue()).toBe(0); // not yet, and no page has many records
    // The hot page (half the changes) reaches the early-coalesce threshold well within 100 batches.
    let early = 0;
    for (let i = 0; i < 100 && early === 0; i++) {
      await request(node, { type: 'append', epoch: 1n, records: model.batch() });
      early = await node.coalesceIfDue();
    }
    expect(early).toBeGreaterThan(0);
    await expectPages(node, model, 1n, model.lastLsn);
  });

  it('collects versions and prunes records below the floor; reads at or above it stay exact', async () => {
    const dir = tempDir();
    let node = openNode(dir);
    const model = new Model(11);
    await appendBatches(node, model, 80, 2);
    await node.coalesce();
    const floor = model.lastLsn / 2n;
    await request(node, { type: 'readPointFloor', pg: pgIdAll, lsn: floor });
    const before = node.versionsRetained;
    expect(await node.collectGarbage()).toBeGreaterThan(0);
    expect(node.versionsRetained).toBeLessThan(before);
    await expectPages(node, model, floor, model.lastLsn);
    // Below the floor: exact or refused, never wrong; and some are refused (their versions are gone).
    expect(await expectPages(node, model, 1n, floor - 1n, { refusable: true })).toBeGreaterThan(0);
    // A lower floor arriving late does not bring anything back, nor break reads at the real floor.
    await request(node, { type: 'readPointFloor', pg: pgIdAll, lsn: 1n });
    await appendBatches(node, model, 20, 2);
    await node.coalesce();
    await node.collectGarbage();
    await expectPages(node, model, floor, model.lastLsn);
    // After a restart the floor is forgotten and the lists are whole again: the log serves every point.
    await closeNode(node);
    node = openNode(dir);
    await expectPages(node, model, 1n, model.lastLsn);
  });

  it('keeps reads exact across a truncation, also when a crash lost its page-store half', async () => {
    const dir = tempDir();
    let node = openNode(dir);
    const model = new Model(5);
    await appendBatches(node, model, 40, 1);
    const voidRange = { aboveLsn: model.lastLsn - 12n, uptoLsn: model.lastLsn };
    await closeNode(node);
    // The truncation marker reached the log, the crash came before the page store dropped the range.
    const { log } = LogFile.open(join(dir, 'log'), () => undefined);
    await log.append([
      encodeRecords([
        {
          lsn: voidRange.uptoLsn,
          pg: 0,
          pageNo: 0,
          prevLsnInPg: 0n,
          prevLsnOfPage: 0n,
          kind: RecordKind.TruncateRange,
          flags: 0,
          payload: encodeTruncateRangePayload({ epoch: 2n, ...voidRange }),
        },
      ]),
    ]);
    log.close();
    node = openNode(dir);
    model.truncate(voidRange);
    expect(node.segments.get(0)!.scl).toBe(voidRange.aboveLsn);
    await expectPages(node, model, 1n, voidRange.aboveLsn);
    // The next epoch writes above the range, chained to the last record below it. Reads above the
    // range must not start from a version of a void record that the page store still had.
    const tail = model.records[model.records.length - 1]!.lsn;
    model.lastLsn = voidRange.uptoLsn + 100n;
    const next = model.batch().map((r, i) => (i === 0 ? { ...r, prevLsnInPg: tail } : r));
    model.records.splice(model.records.length - next.length, next.length, ...next);
    await request(node, { type: 'append', epoch: 2n, records: next });
    await expectPages(node, model, next[0]!.lsn, model.lastLsn);
    await node.coalesce();
    await expectPages(node, model, next[0]!.lsn, model.lastLsn);
    // And a truncation through the protocol, after its range was coalesced.
    const second = { aboveLsn: next[0]!.lsn, uptoLsn: model.lastLsn };
    await request(node, { type: 'truncate', epoch: 3n, pg: 0, ...second });
    model.truncate(second);
    await expectPages(node, model, 1n, second.aboveLsn);
    await closeNode(node);
    node = openNode(dir);
    await expectPages(node, model, 1n, second.aboveLsn);
  });

  it('reads around a rotten page version from an older one and the log, and the scrub finds it', async () => {
    const dir = tempDir();
    let node = openNode(dir);
    const model = new Model(9);
    await appendBatches(node, model, 30, 2);
    await node.coalesce();
    await closeNode(node);
    const root = open({ path: join(dir, 'pages'), compression: false });
    const versions = root.openDB<Buffer, Buffer>({
      name: 'versions',
      encoding: 'binary',
      keyEncoding: 'binary',
    });
    // The newest version of page 1: flip a byte of its page bytes, keep its stored CRC.
    let rotten: { key: Buffer; value: Buffer } | undefined;
    for (const { key, value } of versions.getRange({ reverse: true })) {
      if (key.readUInt32BE(4) === 1) {
        rotten = { key: Buffer.from(key), value: Buffer.from(value) };
        break;
      }
    }
    expect(rotten).toBeDefined();
    rotten!.value[100] = rotten!.value[100]! ^ 0xff;
    await versions.put(rotten!.key, rotten!.value);
    await root.close();
    node = openNode(dir);
    expect(node.corruptVersions().map((v) => v.lsn)).toEqual([rotten!.key.readBigUInt64BE(8)]);
    await expectPages(node, model, 1n, model.lastLsn);
  });
});

describe('storage node recovery queries', () => {
  /** The commit record cplBelow answers for pg 0 below `belowLsn` (undefined: none). */
  async function cplBelow(node: StorageNode, belowLsn: Lsn): Promise<RedoRecord | undefined> {
    const reply = await request(node, { type: 'cplBelow', pg: 0, belowLsn });
    if (reply.type !== 'cplBelowReply') throw new Error(`expected a cplBelowReply, got ${reply.type}`);
    expect(reply.pg).toBe(0);
    return reply.record;
  }

  /** What cplBelow must answer: the model's newest commit below belowLsn. */
  function expectedBelow(model: Model, belowLsn: Lsn): RedoRecord | undefined {
    return model.records.filter((r) => r.kind === RecordKind.Commit && r.lsn < belowLsn).at(-1);
  }

  async function expectCplBelowEverywhere(node: StorageNode, model: Model): Promise<void> {
    for (let belowLsn = 0n; belowLsn <= model.lastLsn + 2n; belowLsn++) {
      const record = await cplBelow(node, belowLsn);
      const expected = expectedBelow(model, belowLsn);
      expect({ belowLsn, lsn: record?.lsn }).toEqual({ belowLsn, lsn: expected?.lsn });
      if (expected) expect(Buffer.from(record!.payload).equals(Buffer.from(expected.payload))).toBe(true);
    }
  }

  it('cplBelow answers the newest commit record held below an LSN, never a void one, across a restart', async () => {
    const dir = tempDir();
    let node = openNode(dir);
    const model = new Model(11);
    await appendBatches(node, model, 12);
    await expectCplBelowEverywhere(node, model);
    // A truncation voids the commits in its range: they are never the answer again.
    const voidRange = { aboveLsn: model.lastLsn - 7n, uptoLsn: model.lastLsn };
    await request(node, { type: 'truncate', epoch: 2n, pg: 0, ...voidRange });
    model.truncate(voidRange);
    await expectCplBelowEverywhere(node, model);
    await closeNode(node);
    node = openNode(dir);
    await expectCplBelowEverywhere(node, model);
  });

  it('cplBelow of a PG the node does not hold is UNKNOWN_PG, and changes nothing', async () => {
    const node = openNode(tempDir());
    const model = new Model(12);
    await appendBatches(node, model, 2);
    const error = await request(node, { type: 'cplBelow', pg: 5, belowLsn: 10n }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.UNKNOWN_PG });
    expect(node.recoveryInfo().find((s) => s.pg === 0)).toMatchObject({ maxLsn: model.lastLsn });
  });
});

describe('storage node log collection', () => {
  const peersOfN1 = ['n2', 'n3', 'n4', 'n5', 'n6'];

  function openSmallLogNode(dataDir: string, id = 'n1'): StorageNode {
    const node = StorageNode.open({
      id,
      az: nodes.find((n) => n.id === id)!.az,
      dataDir,
      volume,
      logger,
      retentionMs: 0,
      logFileBytesMax: 64 * 1024,
    });
    node.acceptsAppends = true;
    opened.push(node);
    return node;
  }

  /** Every peer has PG 0 complete to lsn (and PG 1, which the model never writes, to 0). */
  function hearPeers(node: StorageNode, lsn: Lsn): void {
    for (const id of peersOfN1) {
      node.notePeerSegments(id, [
        { pg: 0, scl: lsn },
        { pg: 1, scl: 0n },
      ]);
    }
  }

  /** Writes, coalesces and prunes (GC) so that a floor at `floor` lets the log go below it. */
  async function loadAndSettle(node: StorageNode, model: Model, batches: number): Promise<void> {
    await appendBatches(node, model, batches, 2);
    await node.coalesce();
  }

  async function floors(node: StorageNode, readPoint: Lsn, archive: Lsn | 'none', epoch = 1n) {
    await request(node, { type: 'readPointFloor', pg: pgIdAll, lsn: readPoint });
    await request(node, {
      type: 'collectionFloor',
      epoch,
      archive,
      backtrack: 'none',
      globalSecondary: 'none',
    });
    // GC prunes page-record lists at the floor: what lets page records leave the log.
    for (let i = 0; i < 3; i++) await node.collectGarbage();
  }

  it('collects nothing without a floor from the writer, whatever else allows it', async () => {
    const node = openSmallLogNode(tempDir());
    const model = new Model(21);
    await loadAndSettle(node, model, 150);
    hearPeers(node, model.lastLsn);
    await request(node, { type: 'readPointFloor', pg: pgIdAll, lsn: model.lastLsn });
    await node.collectGarbage();
    const bytes = node.logBytes;
    expect(await node.collectLog()).toBe(0);
    expect(node.logBytes).toBe(bytes);
    expect(node.logStatus().find((s) => s.pg === 0)).toMatchObject({
      baseLsn: 0n,
      retainedBy: 'noWriterFloor',
    });
  });

  it('collects below the lowest input only, deletes whole files, and keeps reads exact across a restart', async () => {
    const dir = tempDir();
    let node = openSmallLogNode(dir);
    const model = new Model(22);
    await loadAndSettle(node, model, 700);
    const filesBefore = node.logFiles;
    expect(filesBefore).toBeGreaterThan(3);
    const recordsBefore = node.logStatus().find((s) => s.pg === 0)!.indexEntries;
    // A peer that has not answered yet holds everything.
    const archive = model.lastLsn / 2n;
    await floors(node, (model.lastLsn * 3n) / 4n, archive);
    expect(await node.collectLog()).toBe(0);
    expect(node.logStatus().find((s) => s.pg === 0)!.retainedBy).toBe('peerScl');
    // The archive watermark is the lowest input: the base stays at or below it.
    hearPeers(node, model.lastLsn);
    expect(await node.collectLog()).toBeGreaterThan(0);
    let status = node.logStatus().find((s) => s.pg === 0)!;
    expect(status.retainedBy).toBe('archive');
    expect(status.baseLsn).toBeGreaterThan(0n);
    expect(status.baseLsn).toBeLessThanOrEqual(archive);
    expect(status.oldestRetainedLsn).toBeGreaterThan(status.baseLsn);
    expect(status.indexEntries).toBeLessThan(recordsBefore);
    expect(node.logFiles).toBeLessThan(filesBefore);
    // The newest commit at or below the target is kept (recovery walks from a segment's newest commit).
    const keptCommit = model.records.filter((r) => r.kind === RecordKind.Commit && r.lsn <= archive).at(-1)!;
    expect(status.baseLsn).toBeLessThan(keptCommit.lsn);
    // A late, lower archive watermark (same writer) lowers nothing.
    await floors(node, (model.lastLsn * 3n) / 4n, archive / 2n);
    await node.collectLog();
    expect(node.logStatus().find((s) => s.pg === 0)!.baseLsn).toBe(status.baseLsn);
    // A writer without backup (a newer epoch): PGMRPL, and the lists it lets GC prune, is the limit.
    const floor = (model.lastLsn * 3n) / 4n;
    await floors(node, floor, 'none', 2n);
    await node.collectLog();
    status = node.logStatus().find((s) => s.pg === 0)!;
    expect(status.baseLsn).toBeGreaterThan(archive);
    expect(status.baseLsn).toBeLessThanOrEqual(floor);
    await expectPages(node, model, floor, model.lastLsn);
    expect(await expectPages(node, model, 1n, status.baseLsn, { refusable: true })).toBeGreaterThan(0);
    // Restart: the chain starts at the base, reads at or above the floor stay exact, below refused or exact.
    await closeNode(node);
    node = openSmallLogNode(dir);
    const reopened = node.segments.get(0)!;
    expect(reopened.baseLsn).toBe(status.baseLsn);
    expect(reopened.scl).toBe(model.lastLsn);
    // The epoch marker went with the first log file; the collection manifest kept the epoch.
    expect(existsSync(join(dir, 'log', '00000001.log'))).toBe(false);
    expect(node.epoch).toBe(1n);
    await expectPages(node, model, floor, model.lastLsn);
    await expectPages(node, model, 1n, floor - 1n, { refusable: true });
    // And it goes on taking records and collecting.
    await loadAndSettle(node, model, 100);
    hearPeers(node, model.lastLsn);
    await floors(node, model.lastLsn - 10n, 'none', 2n);
    await node.collectLog();
    expect(node.segments.get(0)!.baseLsn).toBeGreaterThan(status.baseLsn);
    await expectPages(node, model, model.lastLsn - 10n, model.lastLsn);
  });

  it('a newer writer replaces the inputs (backup switched on holds the log from its watermark)', async () => {
    const node = openSmallLogNode(tempDir());
    const model = new Model(23);
    await loadAndSettle(node, model, 100);
    hearPeers(node, model.lastLsn);
    await floors(node, model.lastLsn, 'none', 1n);
    await node.collectLog();
    const base = node.segments.get(0)!.baseLsn;
    await appendBatches(node, model, 50, 2);
    await node.coalesce();
    hearPeers(node, model.lastLsn);
    await floors(node, model.lastLsn, 0n, 2n);
    await node.collectLog();
    expect(node.segments.get(0)!.baseLsn).toBe(base);
    expect(node.logStatus().find((s) => s.pg === 0)!.retainedBy).toBe('archive');
    // A fenced writer's floor changes nothing.
    node.epoch = 2n;
    await floors(node, model.lastLsn, 'none', 1n);
    await node.collectLog();
    expect(node.segments.get(0)!.baseLsn).toBe(base);
  });

  it('rebuilds an empty full segment from page images past a peer’s collected log, then reads exactly', async () => {
    const source = openSmallLogNode(tempDir());
    const model = new Model(24);
    await loadAndSettle(source, model, 200);
    hearPeers(source, model.lastLsn);
    await floors(source, model.lastLsn - 20n, 'none');
    await source.collectLog();
    const sourceBase = source.segments.get(0)!.baseLsn;
    expect(sourceBase).toBeGreaterThan(0n);
    // n3 holds PG 0's full segment too; it starts empty and cannot get the records below the base.
    const target = openSmallLogNode(tempDir(), 'n3');
    const pulled = await request(source, {
      type: 'gossipPull',
      epoch: 1n,
      pg: 0,
      afterLsn: 0n,
      uptoLsn: model.lastLsn,
      maxBytes: 1 << 20,
    });
    if (pulled.type !== 'gossipRecords') throw new Error('expected gossip records');
    await target.acceptGossip(pulled);
    expect(target.segments.get(0)!.scl).toBe(0n); // nothing joins the chain: its start is gone
    // Page images as of the source's SCL, a few pages per reply, then the chain starts there.
    let atLsn = 0n;
    let fromPageNo = 0;
    for (;;) {
      const reply = await request(source, {
        type: 'pageImages',
        pg: 0,
        atLsn,
        fromPageNo,
        maxBytes: 2 * pageSize,
      });
      if (reply.type !== 'pageImagesReply') throw new Error('expected page images');
      expect(reply.pages.length).toBeLessThanOrEqual(2);
      atLsn = reply.atLsn;
      await target.storePageImages(0, reply.pages);
      if (reply.done) break;
      fromPageNo = reply.nextPageNo;
    }
    expect(atLsn).toBe(model.lastLsn);
    expect(await target.rebaseSegment(0, atLsn)).toBe(true);
    expect(target.segments.get(0)!.scl).toBe(atLsn);
    await expectPages(target, model, atLsn, atLsn);
    // Records above the images come by gossip as usual; reads above stay exact, below are refused.
    await appendBatches(source, model, 30, 2);
    const more = await request(source, {
      type: 'gossipPull',
      epoch: 1n,
      pg: 0,
      afterLsn: atLsn,
      uptoLsn: model.lastLsn,
      maxBytes: 1 << 20,
    });
    if (more.type !== 'gossipRecords') throw new Error('expected gossip records');
    await target.acceptGossip(more);
    expect(target.segments.get(0)!.scl).toBe(model.lastLsn);
    await target.coalesce();
    await expectPages(target, model, atLsn, model.lastLsn);
    expect(await expectPages(target, model, 1n, atLsn - 1n, { refusable: true })).toBeGreaterThan(0);
  });
});
