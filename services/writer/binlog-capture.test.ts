// The writer with binlog capture (binlog_format ROW) over six in-process storage nodes: each commit's
// MTR carries RowImages records between its page records and its commit record, in the commit's PG,
// named by the commit as that PG's tail; they decode to exactly what the client did, a change too
// big for one payload comes as consecutive fragments, and with capture OFF no RowImages is shipped.
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { TriggerCapture } from '../../core/binlog/capture.ts';
import {
  decodeRowImages,
  joinFragments,
  type RowImagesFragment,
  type RowImagesWhole,
  rowImagesPayloadBytesMax,
} from '../../core/binlog/row-images.ts';
import type { SqlValue } from '../../core/data-api/types.ts';
import { databaseName, loadRuntimeOver, vfsName } from '../../core/engine/instance.ts';
import { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SqlExecutor } from '../../core/engine/sql-executor.ts';
import { decodeCommitPayload, RecordKind, type RedoRecord } from '../../core/record.ts';
import { LogShipper } from './log-shipper.ts';
import { InProcessVolume } from './testing.ts';
import { WriterEngine } from './writer-engine.ts';

const opened: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const o of opened.splice(0).reverse()) await o.close();
});

async function writer(options: { capture: boolean }) {
  const volume = InProcessVolume.open({ pgCount: 2, pagesPerPg: 256 });
  const logger = pino({ level: 'silent' });
  const shipper = new LogShipper({
    volume: volume.volume,
    epoch: 1n,
    clients: volume.clients,
    nextLsn: 1n,
    retryIntervalMs: 3_600_000,
  });
  /** Every shipped MTR, in order. */
  const mtrs: RedoRecord[][] = [];
  const engine = new WriterEngine({
    volume: volume.volume,
    shipper,
    fetcher: new PageFetcher({ volume: volume.volume, clients: volume.clients }),
    logger,
    cacheCapacityPages: 4096,
    vdl: 0n,
    lastCommit: { lsn: 0n, pg: 0, commitTimeMs: 0 },
    nextTxnId: 1n,
    epoch: 7n,
    onShipped: (records) => mtrs.push(records),
  });
  const runtime = await loadRuntimeOver(engine);
  const executor = new SqlExecutor({
    runtime,
    databaseName,
    vfsName,
    readOnly: false,
    connectionInitSql: `PRAGMA page_size=${volume.volume.pageSizeBytes}; PRAGMA journal_mode=MEMORY; PRAGMA cache_size=-65536;`,
    logger,
    visibleLsn: () => engine.latestCommitLsn,
    waitDurable: (lsn) => shipper.waitForVdl(lsn),
    durableLsn: () => shipper.vdl,
    ...(options.capture && { capture: new TriggerCapture({ sink: engine }) }),
  });
  opened.push({
    close: async () => {
      await executor.close();
      shipper.close();
      await volume.close();
    },
  });
  const run = (sql: string, parameters: Record<string, SqlValue> = {}, transactionId?: string) =>
    executor.executeStatement({
      sql,
      parameters: new Map(Object.entries(parameters)),
      ...(transactionId === undefined ? {} : { transactionId }),
      includeResultMetadata: false,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: false,
    });
  return { engine, executor, run, mtrs };
}

/** The whole RowImages payloads of one MTR, fragments joined. */
function rowImagesOf(mtr: RedoRecord[]): RowImagesWhole[] {
  const out: RowImagesWhole[] = [];
  let fragments: RowImagesFragment[] = [];
  for (const record of mtr) {
    if (record.kind !== RecordKind.RowImages) continue;
    const payload = decodeRowImages(record.payload);
    if (payload.kind === 'whole') out.push(payload);
    else {
      fragments.push(payload);
      if (fragments.length === payload.count) {
        out.push(joinFragments(fragments));
        fragments = [];
      }
    }
  }
  expect(fragments).toEqual([]);
  return out;
}

describe('writer with binlog capture', () => {
  it('ships RowImages between the pages and the commit, in the commit PG, named as its tail', async () => {
    const { engine, executor, run, mtrs } = await writer({ capture: true });
    await run('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    const from = mtrs.length;
    const id = await executor.beginTransaction();
    await run("INSERT INTO t VALUES (1, 'one'), (2, 'two')", {}, id);
    await run("UPDATE t SET v = 'uno' WHERE k = 1", {}, id);
    await run('DELETE FROM t WHERE k = 2', {}, id);
    await executor.commitTransaction(id);
    expect(mtrs.length).toBe(from + 1);
    const mtr = mtrs[from]!;
    const kinds = mtr.map((r) => r.kind);
    const firstImage = kinds.indexOf(RecordKind.RowImages);
    expect(firstImage).toBeGreaterThan(0);
    expect(
      kinds.slice(0, firstImage).every((k) => k === RecordKind.PageDelta || k === RecordKind.PageImage),
    ).toBe(true);
    expect(kinds.slice(firstImage)).toEqual([RecordKind.RowImages, RecordKind.Commit]);
    const commit = mtr[mtr.length - 1]!;
    const images = mtr[firstImage]!;
    expect(images).toMatchObject({ pg: commit.pg, pageNo: 0, flags: 0, lsn: commit.lsn - 1n });
    const payload = decodeCommitPayload(commit.payload);
    expect(payload.pgTails.find((t) => t.pg === commit.pg)?.lastLsn).toBe(images.lsn);
    const [whole] = rowImagesOf(mtr);
    expect(whole).toMatchObject({
      txnId: payload.txnId,
      commitTimeMs: payload.commitTimeMs,
      epoch: 7n,
      firstOrdinal: 1,
    });
    expect(whole!.tables).toEqual([{ name: 't', columns: ['k', 'v'], primaryKey: [0] }]);
    expect(whole!.changes.map((c) => (c.kind === 'row' ? [c.op, c.rowid, c.before, c.after] : c))).toEqual([
      ['c', 1n, null, [1n, 'one']],
      ['c', 2n, null, [2n, 'two']],
      ['u', 1n, [1n, 'one'], [1n, 'uno']],
      ['d', 2n, [2n, 'two'], null],
    ]);
    expect(engine.binlogRowEvents).toBe(4);
    expect(engine.binlogBytes).toBe(
      mtrs
        .flat()
        .filter((r) => r.kind === RecordKind.RowImages)
        .reduce((n, r) => n + r.payload.length, 0),
    );
  });

  it('ships DDL text, nothing for a rollback, and a big change as consecutive fragments', async () => {
    const { executor, run, mtrs } = await writer({ capture: true });
    await run('CREATE TABLE b (k INTEGER PRIMARY KEY, v BLOB)');
    expect(rowImagesOf(mtrs.at(-1)!)[0]!.changes).toEqual([
      { kind: 'ddl', sql: 'CREATE TABLE b (k INTEGER PRIMARY KEY, v BLOB)', tableName: 'b', tableOrdinal: 1 },
    ]);
    const id = await executor.beginTransaction();
    await run("INSERT INTO b VALUES (1, x'01')", {}, id);
    const shippedBefore = mtrs.length;
    await executor.rollbackTransaction(id);
    expect(mtrs.length).toBe(shippedBefore);
    const blob = new Uint8Array(rowImagesPayloadBytesMax + 1000).map((_, i) => i % 251);
    await run('INSERT INTO b VALUES (2, :v)', { v: blob });
    const mtr = mtrs.at(-1)!;
    const images = mtr.filter((r) => r.kind === RecordKind.RowImages);
    expect(images.length).toBeGreaterThan(1);
    // Consecutive LSNs, right before the commit.
    expect(images.map((r) => r.lsn)).toEqual(
      images.map((_, i) => mtr.at(-1)!.lsn - BigInt(images.length - i)),
    );
    const [whole] = rowImagesOf(mtr);
    const change = whole!.changes[0]!;
    expect(change.kind === 'row' && change.after?.[0]).toBe(2n);
    expect(change.kind === 'row' && Buffer.compare(change.after![1] as Uint8Array, blob)).toBe(0);
  });

  it('ships no RowImages with binlog_format OFF', async () => {
    const { executor, run, mtrs, engine } = await writer({ capture: false });
    await run('CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)');
    await run("INSERT INTO t VALUES (1, 'one')");
    const id = await executor.beginTransaction();
    await run("UPDATE t SET v = 'uno'", {}, id);
    await executor.commitTransaction(id);
    expect(mtrs.length).toBe(3);
    expect(mtrs.flat().filter((r) => r.kind === RecordKind.RowImages)).toEqual([]);
    expect(engine.binlogRowEvents).toBe(0);
  });
});
