import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { type ChunkInfo, planLogChain } from '../../core/backup/archive.ts';
import { decodeRedoBatch, type RedoBatchHeader } from '../../core/backup/redo-batch.ts';
import type { Lsn } from '../../core/lsn.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import type { GossipPullMessage, GossipRecordsMessage, StorageMessage } from '../../core/wire/messages.ts';
import {
  ArchiveWatch,
  firstFailedEntry,
  type PutOutcome,
  RedoPublisher,
  type RedoSink,
  redoStreamHealth,
  TokenBucket,
} from './redo-publisher.ts';
import {
  acceptPulled,
  type DurableLogReader,
  type DurableRangeRequest,
  mergeReady,
  SegmentLogReader,
} from './redo-publisher-storage.ts';

const logger = pino({ level: 'silent' });

/** A volume's log: transactions of `pagesPerTxn` page records then a commit, PGs round-robin. */
function makeLog(
  txns: number,
  options: { firstLsn?: Lsn; pgs?: number; payloadBytes?: number } = {},
): RedoRecord[] {
  const pgs = options.pgs ?? 3;
  const tails = new Map<number, Lsn>();
  const out: RedoRecord[] = [];
  let lsn = options.firstLsn ?? 1n;
  let prevCommit = 0n;
  for (let t = 0; t < txns; t++) {
    for (let i = 0; i < 2; i++) {
      const pg = (t + i) % pgs;
      out.push({
        lsn,
        pg,
        pageNo: 1 + pg * 100 + i,
        prevLsnInPg: tails.get(pg) ?? 0n,
        prevLsnOfPage: 0n,
        kind: RecordKind.PageDelta,
        flags: 0,
        payload: Buffer.alloc(options.payloadBytes ?? 16, t),
      });
      tails.set(pg, lsn++);
    }
    const pg = (t + 1) % pgs;
    out.push({
      lsn,
      pg,
      pageNo: 0,
      prevLsnInPg: tails.get(pg) ?? 0n,
      prevLsnOfPage: 0n,
      kind: RecordKind.Commit,
      flags: RecordFlags.Cpl,
      payload: encodeCommitPayload({
        txnId: BigInt(t + 1),
        commitTimeMs: 1_000 + t,
        pgTails: [],
        vdlHint: 0n,
        prevCommitLsn: prevCommit,
        prevCommitPg: 0,
      }),
    });
    prevCommit = lsn;
    tails.set(pg, lsn++);
  }
  return out;
}

function tailsOf(records: readonly RedoRecord[], upto: Lsn): Map<number, Lsn> {
  const tails = new Map<number, Lsn>();
  for (const r of records) if (r.lsn <= upto) tails.set(r.pg, r.lsn);
  return tails;
}

class FakeSink implements RedoSink {
  readonly entryOverheadBytes = 8;
  readonly stream: Buffer[] = [];
  /** Scripted outcomes, consumed per call: 'throw', a first failed index, or undefined (all in). */
  script: ('throw' | number | undefined)[] = [];
  down = false;
  calls = 0;
  /** Each request: when, how many entries, how many bytes (data + key). */
  readonly requests: { at: number; entries: number; bytes: number }[] = [];

  async putRecords(entries: Buffer[]): Promise<PutOutcome> {
    this.calls++;
    this.requests.push({
      at: Date.now(),
      entries: entries.length,
      bytes: entries.reduce((n, e) => n + e.length + this.entryOverheadBytes, 0),
    });
    await new Promise((r) => setImmediate(r));
    if (this.down) throw new Error('stream unavailable');
    const step = this.script.shift();
    if (step === 'throw') throw new Error('ProvisionedThroughputExceededException');
    if (step === undefined) {
      this.stream.push(...entries);
      return { firstFailed: undefined, errorCodes: [] };
    }
    // Entries other than the failed one land (as AWS does), so the stream gets them out of order.
    entries.forEach((e, i) => {
      if (i !== step) this.stream.push(e);
    });
    return { firstFailed: step, errorCodes: ['InternalFailure'] };
  }

  headers(): RedoBatchHeader[] {
    return this.stream.map((b) => decodeRedoBatch(b).header);
  }

  records(): RedoRecord[] {
    return this.stream.flatMap((b) => decodeRedoBatch(b).records);
  }
}

class FakeStorage implements DurableLogReader {
  readonly requests: DurableRangeRequest[] = [];
  constructor(private readonly log: RedoRecord[]) {}

  async *read(request: DurableRangeRequest): AsyncGenerator<RedoRecord[]> {
    this.requests.push(request);
    const range = this.log.filter((r) => r.lsn > request.afterLsn && r.lsn <= request.uptoLsn);
    for (let i = 0; i < range.length; i += 7) yield range.slice(i, i + 7);
  }
}

function chunkInfos(headers: RedoBatchHeader[]): ChunkInfo[] {
  return headers.map((h, i) => ({ key: String(i), ...h }));
}

async function until(check: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

function publisherOver(
  sink: FakeSink,
  storage: DurableLogReader,
  options: {
    watermark?: Lsn;
    vdl?: Lsn;
    pgTails?: Map<number, Lsn>;
    bufferBytesMax?: number;
    flushWindowMs?: number;
  } = {},
) {
  return new RedoPublisher({
    epoch: 2n,
    sink,
    storage,
    readWatermark: async () => ({ lsn: options.watermark ?? 0n, commitTimeMs: 0 }),
    logger,
    vdl: options.vdl ?? 0n,
    vdlCommitTimeMs: 0,
    pgTails: options.pgTails ?? new Map(),
    flushWindowMs: options.flushWindowMs ?? 0,
    random: () => 0,
    ...(options.bufferBytesMax === undefined ? {} : { bufferBytesMax: options.bufferBytesMax }),
  });
}

describe('firstFailedEntry (the resend plan of a partial PutRecords failure)', () => {
  it('is undefined when every entry landed, else the first failed index', () => {
    expect(firstFailedEntry([{}, { ErrorCode: '' }, {}], 3)).toBeUndefined();
    expect(
      firstFailedEntry(
        [{}, { ErrorCode: 'ProvisionedThroughputExceededException' }, {}, { ErrorCode: 'X' }],
        4,
      ),
    ).toBe(1);
    expect(firstFailedEntry([{ ErrorCode: 'InternalFailure' }], 1)).toBe(0);
  });

  it('resends everything when the answer does not match the request', () => {
    expect(firstFailedEntry([{}], 2)).toBe(0);
  });
});

describe('TokenBucket (per-shard limits)', () => {
  it('lets a second of budget through, then paces at the rate', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, () => now);
    expect(bucket.waitMs(1000)).toBe(0);
    bucket.take(1000);
    expect(bucket.waitMs(500)).toBe(500);
    now += 250;
    expect(bucket.waitMs(500)).toBe(250);
    now += 250;
    expect(bucket.waitMs(500)).toBe(0);
    expect(() => bucket.waitMs(1001)).toThrow(/exceeds the bucket/);
  });
});

describe('acceptPulled (one segment’s answer, verified by backlinks)', () => {
  const log = makeLog(6).filter((r) => r.pg === 1);
  const reply = (
    records: RedoRecord[],
    peerScl: Lsn,
    truncations: GossipRecordsMessage['truncations'] = [],
  ) => ({ type: 'gossipRecords', pg: 1, peerScl, epoch: 2n, truncations, records }) as GossipRecordsMessage;
  const last = log[log.length - 1]!.lsn;

  it('takes the PG chain after afterLsn up to the proof record, keeping only records <= uptoLsn', () => {
    const after = log[1]!.lsn;
    const upto = log[5]!.lsn;
    const v = acceptPulled(
      { pg: 1, afterLsn: after, uptoLsn: upto, proofLsn: upto, lastLsn: undefined },
      reply(log, last),
    );
    expect(v).toEqual({ kind: 'ok', records: log.slice(2, 6), lastLsn: upto, done: true });
  });

  it('is not done before the proof record; asks another segment when SCL is short of it', () => {
    const v = acceptPulled(
      { pg: 1, afterLsn: 0n, uptoLsn: last, proofLsn: last, lastLsn: undefined },
      reply(log.slice(0, 3), last),
    );
    expect(v).toMatchObject({ kind: 'ok', done: false, lastLsn: log[2]!.lsn });
    const short = acceptPulled(
      { pg: 1, afterLsn: 0n, uptoLsn: last, proofLsn: last, lastLsn: undefined },
      reply(log, last - 1n),
    );
    expect(short.kind).toBe('switch');
  });

  it('stops at a missing record (broken backlink), keeping the verified prefix', () => {
    const holey = [...log.slice(0, 3), ...log.slice(4)];
    const v = acceptPulled(
      { pg: 1, afterLsn: 0n, uptoLsn: last, proofLsn: last, lastLsn: undefined },
      reply(holey, last),
    );
    expect(v).toMatchObject({ kind: 'ok', done: false, records: log.slice(0, 3) });
    const again = acceptPulled(
      { pg: 1, afterLsn: 0n, uptoLsn: last, proofLsn: last, lastLsn: log[2]!.lsn },
      reply(log.slice(4), last),
    );
    expect(again.kind).toBe('switch');
    // The first record after afterLsn must backlink to afterLsn or below.
    const first = acceptPulled(
      { pg: 1, afterLsn: 0n, uptoLsn: last, proofLsn: last, lastLsn: undefined },
      reply(log.slice(1), last),
    );
    expect(first.kind).toBe('switch');
  });

  it('drops records inside truncation ranges (never durable)', () => {
    // A stale record of an older epoch between two durable ones that the segment still reports.
    const i = log.findIndex((r, k) => k + 1 < log.length && log[k + 1]!.lsn - r.lsn > 1n);
    const staleLsn = log[i]!.lsn + 1n;
    const stale: RedoRecord = { ...log[i]!, lsn: staleLsn, prevLsnInPg: log[i]!.lsn };
    const records = [...log.slice(0, i + 1), stale, ...log.slice(i + 1)];
    const truncations = [{ epoch: 2n, aboveLsn: log[i]!.lsn, uptoLsn: staleLsn }];
    const v = acceptPulled(
      { pg: 1, afterLsn: 0n, uptoLsn: last, proofLsn: last, lastLsn: undefined },
      reply(records, last, truncations),
    );
    expect(v).toMatchObject({ kind: 'ok', done: true });
    expect((v as { records: RedoRecord[] }).records.map((r) => r.lsn)).toEqual(log.map((r) => r.lsn));
  });
});

describe('mergeReady (PGs merged by LSN)', () => {
  it('emits up to the lowest point every unfinished PG has reached', () => {
    const r = (lsn: bigint) => ({ lsn }) as RedoRecord;
    const cursors = [
      { buffer: [r(1n), r(8n)], done: false },
      { buffer: [r(2n), r(3n)], done: true },
      { buffer: [r(5n), r(7n), r(12n)], done: false },
    ];
    expect(mergeReady(cursors).map((x) => x.lsn)).toEqual([1n, 2n, 3n, 5n, 7n, 8n]);
    expect(cursors.map((c) => c.buffer.length)).toEqual([0, 0, 1]);
    expect(mergeReady(cursors)).toEqual([]); // the first PG may still hold the next record
    cursors[0]!.done = true;
    expect(mergeReady(cursors).map((x) => x.lsn)).toEqual([12n]);
  });
});

describe('SegmentLogReader (durable history from segments, PGs merged)', () => {
  const pgs = 3;
  const nodes = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
  const volume = {
    placement: Array.from({ length: pgs }, (_, pg) => ({
      pg,
      segments: nodes.map((nodeId, i) => ({ nodeId, kind: i % 2 === 0 ? 'full' : 'tail' })),
    })),
  } as unknown as VolumeConfig;
  // The durable log, plus a truncated range (a previous writer's records that never became durable).
  const durable = [...makeLog(10), ...makeLog(10, { firstLsn: 1000n })].map((r) => ({ ...r }));
  // Relink the second run to the first (a new writer backlinks to each PG's tail at VDL).
  const tails = tailsOf(durable.slice(0, 30), 30n);
  for (const r of durable.slice(30)) {
    if (r.prevLsnInPg === 0n) r.prevLsnInPg = tails.get(r.pg) ?? 0n;
  }
  const stale: RedoRecord[] = [31n, 32n, 33n].map((lsn) => ({
    ...durable[0]!,
    lsn,
    pg: Number(lsn % 3n),
    prevLsnInPg: tails.get(Number(lsn % 3n))!,
  }));
  const truncations = [{ epoch: 2n, aboveLsn: 30n, uptoLsn: 999n }];

  /** Node behaviours: 'good'; 'behind' (SCL below everything); 'holey' (misses one record); 'down'. */
  function clients(behaviour: Record<string, 'good' | 'behind' | 'holey' | 'stale' | 'down'>) {
    const pulls: string[] = [];
    const map = new Map(
      nodes.map((nodeId) => [
        nodeId,
        {
          request: async (m: StorageMessage): Promise<StorageMessage> => {
            const pull = m as GossipPullMessage;
            pulls.push(`${nodeId}:${pull.pg}`);
            const how = behaviour[nodeId] ?? 'good';
            if (how === 'down') throw new Error(`${nodeId}: cannot connect`);
            let held = durable.filter((r) => r.pg === pull.pg);
            if (how === 'holey') held = held.filter((_, i) => i !== 2);
            // A segment still holding records of a truncated range (it reports the truncation).
            if (how === 'stale') held = [...held, ...stale.filter((r) => r.pg === pull.pg)];
            held.sort((a, b) => (a.lsn < b.lsn ? -1 : 1));
            const records = held.filter((r) => r.lsn > pull.afterLsn && r.lsn <= pull.uptoLsn).slice(0, 4);
            const scl = how === 'behind' ? 1n : (held.at(-1)?.lsn ?? 0n);
            return { type: 'gossipRecords', pg: pull.pg, peerScl: scl, epoch: 2n, truncations, records };
          },
        } as unknown as StorageClient,
      ]),
    );
    return { map, pulls };
  }

  async function readAll(reader: SegmentLogReader, afterLsn: Lsn, uptoLsn: Lsn): Promise<Lsn[]> {
    const proofLsns = new Map(
      [...tailsOf(durable, uptoLsn)].map(([pg, t]) => [pg, t < uptoLsn ? t : uptoLsn]),
    );
    const out: Lsn[] = [];
    for await (const chunk of reader.read({ afterLsn, uptoLsn, proofLsns }, new AbortController().signal)) {
      out.push(...chunk.map((r) => r.lsn));
    }
    return out;
  }

  it('reads every durable record in (after, upto], in LSN order, skipping truncated ranges', async () => {
    const { map } = clients({ n1: 'stale', n2: 'stale', n3: 'stale', n4: 'stale', n5: 'stale', n6: 'stale' });
    const reader = new SegmentLogReader(volume, map, logger, 1024);
    const upto = durable.at(-4)!.lsn;
    expect(await readAll(reader, 7n, upto)).toEqual(
      durable.filter((r) => r.lsn > 7n && r.lsn <= upto).map((r) => r.lsn),
    );
  });

  it('moves on from segments that are down, behind (SCL) or missing a record', async () => {
    const { map, pulls } = clients({ n1: 'down', n2: 'behind', n3: 'holey', n4: 'down', n5: 'holey' });
    const reader = new SegmentLogReader(volume, map, logger, 1024);
    const upto = durable.at(-1)!.lsn;
    expect(await readAll(reader, 0n, upto)).toEqual(durable.map((r) => r.lsn));
    // Every PG ended on n6, the only good segment.
    for (let pg = 0; pg < pgs; pg++)
      expect(pulls.filter((p) => p.endsWith(`:${pg}`)).at(-1)).toBe(`n6:${pg}`);
  });
});

describe('RedoPublisher', () => {
  it('publishes only durable records, in LSN order, chained from the watermark', async () => {
    const log = makeLog(20);
    const sink = new FakeSink();
    const storage = new FakeStorage([]);
    const p = publisherOver(sink, storage);
    p.start();
    for (let t = 0; t < 20; t++) p.shipped(log.slice(t * 3, t * 3 + 3));
    const vdl = log[10 * 3 + 2]!.lsn;
    p.vdlAdvanced(vdl);
    await until(() => p.snapshot().publishedLsn === vdl, 'published to VDL');
    expect(sink.records().map((r) => r.lsn)).toEqual(log.filter((r) => r.lsn <= vdl).map((r) => r.lsn));
    p.vdlAdvanced(log.at(-1)!.lsn);
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published all');
    const chain = planLogChain(chunkInfos(sink.headers()), 0n);
    expect(chain.endLsn).toBe(log.at(-1)!.lsn);
    expect(sink.records().map((r) => r.lsn)).toEqual(log.map((r) => r.lsn));
    expect(p.snapshot()).toMatchObject({ lagLsn: 0n, lagMs: 0, mode: 'live' });
    await p.close();
  });

  it('aggregates: the commits of one window go in one request, sent when the window closes', async () => {
    const log = makeLog(20);
    const sink = new FakeSink();
    const p = publisherOver(sink, new FakeStorage([]), { flushWindowMs: 300 });
    p.start();
    await until(() => p.snapshot().mode === 'live', 'live');
    const firstDurableAt = Date.now();
    for (let t = 0; t < 20; t++) {
      p.shipped(log.slice(t * 3, t * 3 + 3));
      p.vdlAdvanced(log[t * 3 + 2]!.lsn);
      await new Promise((r) => setTimeout(r, 2));
    }
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published');
    // One request for all 20 commits (the loop is not even woken per commit), not before the window.
    expect(sink.requests).toHaveLength(1);
    expect(sink.requests[0]!.at - firstDurableAt).toBeGreaterThanOrEqual(290);
    expect(sink.headers()).toHaveLength(1);
    expect(sink.records().map((r) => r.lsn)).toEqual(log.map((r) => r.lsn));
    await p.close();
  });

  it('drain: every durable record goes at once, not after the window; false while the stream is down', async () => {
    const log = makeLog(10);
    const sink = new FakeSink();
    const p = publisherOver(sink, new FakeStorage([]), { flushWindowMs: 60_000 });
    p.start();
    await until(() => p.snapshot().mode === 'live', 'live');
    p.shipped(log.slice(0, 15));
    p.vdlAdvanced(log[14]!.lsn);
    sink.down = true;
    expect(await p.drain(200)).toBe(false);
    sink.down = false;
    const started = Date.now();
    expect(await p.drain(5_000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(5_000); // not the 60 s window
    expect(sink.records().map((r) => r.lsn)).toEqual(log.slice(0, 15).map((r) => r.lsn));
    await p.close();
  });

  it('aggregates: flushBytes of durable records go at once, without waiting out the window', async () => {
    const log = makeLog(40, { payloadBytes: 500 }); // ~40 KB
    const sink = new FakeSink();
    const p = new RedoPublisher({
      epoch: 2n,
      sink,
      storage: new FakeStorage([]),
      readWatermark: async () => ({ lsn: 0n, commitTimeMs: 0 }),
      logger,
      vdl: 0n,
      vdlCommitTimeMs: 0,
      pgTails: new Map(),
      flushWindowMs: 60_000,
      flushBytes: 10_000,
    });
    p.start();
    await until(() => p.snapshot().mode === 'live', 'live');
    // Under flushBytes: the window holds it.
    p.shipped(log.slice(0, 3));
    p.vdlAdvanced(log[2]!.lsn);
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.requests).toHaveLength(0);
    // Past flushBytes: sent now, well before the minute is up.
    p.shipped(log.slice(3));
    p.vdlAdvanced(log.at(-1)!.lsn);
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published', 2_000);
    expect(sink.requests).toHaveLength(1);
    expect(planLogChain(chunkInfos(sink.headers()), 0n).endLsn).toBe(log.at(-1)!.lsn);
    await p.close();
  });

  it('republishes (watermark, recovered VDL] from storage before live records', async () => {
    const history = makeLog(30);
    const vdl = history.at(-1)!.lsn;
    const live = makeLog(5, { firstLsn: vdl + 1000n }); // the truncated range (vdl, vdl + 999] is skipped
    const watermark = history[20]!.lsn; // mid-transaction: batches may cut a big one
    const sink = new FakeSink();
    const storage = new FakeStorage(history);
    const p = publisherOver(sink, storage, { watermark, vdl, pgTails: tailsOf(history, vdl) });
    p.shipped(live); // shipped before the loop even starts: must wait behind the republish
    p.vdlAdvanced(live.at(-1)!.lsn);
    p.start();
    await until(() => p.snapshot().publishedLsn === live.at(-1)!.lsn, 'published');
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]).toMatchObject({ afterLsn: watermark, uptoLsn: vdl });
    expect([...storage.requests[0]!.proofLsns]).toEqual([...tailsOf(history, vdl)]);
    expect(sink.headers()[0]!.prevLsn).toBe(watermark);
    expect(sink.records().map((r) => r.lsn)).toEqual(
      [...history.filter((r) => r.lsn > watermark), ...live].map((r) => r.lsn),
    );
    expect(planLogChain(chunkInfos(sink.headers()), watermark).endLsn).toBe(live.at(-1)!.lsn);
    expect(p.snapshot().recordsRepublished).toBe(history.length - 21);
    await p.close();
  });

  it('resends from the first failed entry on after a partial failure, and retries a throttled request', async () => {
    const log = makeLog(40, { payloadBytes: 3000 });
    const sink = new FakeSink();
    // Small batches so that a request holds several entries.
    const p = new RedoPublisher({
      epoch: 2n,
      sink,
      storage: new FakeStorage([]),
      readWatermark: async () => ({ lsn: 0n, commitTimeMs: 0 }),
      logger,
      vdl: 0n,
      vdlCommitTimeMs: 0,
      pgTails: new Map(),
      batchBytesMax: 20_000,
      shardBytesPerSecond: 300_000,
      flushWindowMs: 0,
      random: () => 0,
    });
    sink.script = ['throw', 1];
    p.shipped(log);
    p.vdlAdvanced(log.at(-1)!.lsn);
    p.start();
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published');
    const headers = sink.headers();
    // The stream holds batch 2 (landed) before batch 1 (resent), then 1, 2, … again in order.
    const first = sink.stream.length;
    expect(first).toBeGreaterThan(3);
    // Entry 1 of the second request failed: entries 2… landed before it, then 1, 2… were resent.
    const failedBatch = headers.findIndex((h, k) => k > 0 && h.prevLsn > headers[k - 1]!.lastLsn);
    expect(failedBatch).toBeGreaterThan(0);
    expect(planLogChain(chunkInfos(headers), 0n).endLsn).toBe(log.at(-1)!.lsn);
    const seen = new Set(sink.records().map((r) => r.lsn));
    expect(log.every((r) => seen.has(r.lsn))).toBe(true);
    expect(p.snapshot().errors).toBe(2);
    await p.close();
  });

  it('keeps within the per-shard byte budget: requests of at most a second of it, paced', async () => {
    const log = makeLog(100, { payloadBytes: 1500 }); // ~300 KB
    const sink = new FakeSink();
    const p = new RedoPublisher({
      epoch: 2n,
      sink,
      storage: new FakeStorage([]),
      readWatermark: async () => ({ lsn: 0n, commitTimeMs: 0 }),
      logger,
      vdl: 0n,
      vdlCommitTimeMs: 0,
      pgTails: new Map(),
      batchBytesMax: 20_000,
      shardBytesPerSecond: 100_000,
      flushWindowMs: 0,
    });
    p.shipped(log);
    p.vdlAdvanced(log.at(-1)!.lsn);
    const started = Date.now();
    p.start();
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published', 10_000);
    const total = sink.requests.reduce((n, r) => n + r.bytes, 0);
    expect(sink.requests.every((r) => r.bytes <= 100_000)).toBe(true);
    // The first second's budget goes at once; the rest at 100 KB/s.
    expect(Date.now() - started).toBeGreaterThanOrEqual(((total - 100_000) / 100_000) * 1000 - 50);
    await p.close();
  });

  it('keeps its buffer bounded while the stream is down, then fills the gap from storage', async () => {
    const log = makeLog(300, { payloadBytes: 200 });
    const sink = new FakeSink();
    const storage = new FakeStorage(log);
    const p = publisherOver(sink, storage, { bufferBytesMax: 20_000 });
    sink.down = true;
    p.start();
    for (let t = 0; t < 300; t++) {
      p.shipped(log.slice(t * 3, t * 3 + 3));
      p.vdlAdvanced(log[t * 3 + 2]!.lsn);
      expect(p.snapshot().bufferBytes).toBeLessThanOrEqual(20_000);
    }
    expect(p.snapshot().overflows).toBeGreaterThan(0);
    sink.down = false;
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published', 20_000);
    expect(storage.requests.length).toBeGreaterThan(0);
    expect(planLogChain(chunkInfos(sink.headers()), 0n).endLsn).toBe(log.at(-1)!.lsn);
    const seen = new Set(sink.records().map((r) => r.lsn));
    expect(log.every((r) => seen.has(r.lsn))).toBe(true);
    await p.close();
  }, 30_000);
});

describe('ArchiveWatch (the archive watchdog’s verdicts)', () => {
  it('calls a stall only on an LSN published stallMs ago that a watermark stuck as long has not passed', () => {
    const watch = new ArchiveWatch(60_000);
    expect(watch.verdict(0, 50n)).toBeUndefined(); // first read: the watermark is 50 since 0
    watch.sample(0, 100n);
    watch.sample(10_000, 200n);
    expect(watch.verdict(59_999, 50n)).toBeUndefined();
    expect(watch.verdict(60_000, 50n)).toEqual({ watermarkLsn: 50n, publishedLsn: 100n, publishedAtMs: 0 });
    // The watermark passed 100 (at 60 s): the verdict would be on 200, but the archive is moving.
    expect(watch.verdict(60_000, 100n)).toBeUndefined();
    expect(watch.verdict(70_000, 150n)).toBeUndefined();
    expect(watch.verdict(129_999, 150n)).toBeUndefined();
    expect(watch.verdict(130_000, 150n)).toMatchObject({ publishedLsn: 200n, watermarkLsn: 150n });
    expect(watch.verdict(130_000, 200n)).toBeUndefined();
  });

  it('leaves a slow archive that keeps moving alone, however far behind', () => {
    const watch = new ArchiveWatch(60_000);
    // Published 10 LSNs a second; the archive takes 5 a second: moving, but five minutes behind in the end.
    for (let t = 0; t <= 600_000; t += 10_000) {
      watch.sample(t, BigInt(t / 100));
      expect(watch.verdict(t, BigInt(t / 200))).toBeUndefined();
    }
  });

  it('after a heal waits stallMs, and longer after each heal the archive did not follow', () => {
    const watch = new ArchiveWatch(60_000);
    watch.verdict(0, 50n);
    watch.sample(0, 100n);
    expect(watch.verdict(60_000, 50n)).toBeDefined();
    watch.healed(60_000, 50n);
    watch.sample(60_000, 100n);
    expect(watch.verdict(119_999, 50n)).toBeUndefined();
    expect(watch.verdict(120_000, 50n)).toBeDefined();
    watch.healed(120_000, 50n); // not followed: the next wait doubles
    watch.sample(120_000, 100n);
    expect(watch.verdict(180_000, 50n)).toBeUndefined();
    expect(watch.verdict(240_000, 50n)).toBeDefined();
    // The archive moved past the heal's watermark (then stuck again): back to one stallMs.
    watch.healed(240_000, 50n);
    watch.sample(240_000, 300n);
    expect(watch.verdict(240_000, 100n)).toBeUndefined();
    expect(watch.verdict(299_999, 100n)).toBeUndefined();
    expect(watch.verdict(300_000, 100n)).toBeDefined();
  });

  it('keeps its samples bounded however often the published LSN moves', () => {
    const watch = new ArchiveWatch(60_000);
    watch.verdict(0, 0n);
    for (let i = 1; i <= 10_000; i++) watch.sample(i, BigInt(i));
    expect(watch.samples).toBeLessThanOrEqual(64);
    // Never a false stall: the newest sample only moved later.
    expect(watch.verdict(60_000, 9_999n)).toBeUndefined();
    expect(watch.verdict(130_000, 9_999n)).toMatchObject({ publishedLsn: 10_000n });
  });
});

describe('RedoPublisher: archive watchdog', () => {
  /** A publisher on a clock the test moves, checking every 5 ms of real time, over a scripted archive. */
  function watched(log: RedoRecord[], sink: FakeSink) {
    const clock = { now: 1_000_000 };
    const archive = { watermark: 0n, reads: 0 };
    const storage = new FakeStorage(log);
    const p = new RedoPublisher({
      epoch: 2n,
      sink,
      storage,
      readWatermark: async () => {
        archive.reads++;
        return { lsn: archive.watermark, commitTimeMs: 0 };
      },
      logger,
      vdl: 0n,
      vdlCommitTimeMs: 0,
      pgTails: new Map(),
      flushWindowMs: 0,
      batchBytesMax: 600,
      archiveCheckIntervalMs: 5,
      archiveStallMs: 60_000,
      clock: () => clock.now,
      random: () => 0,
    });
    /** Until the watchdog has read the watermark `n` more times. */
    const checks = (n: number) => {
      const target = archive.reads + n;
      return until(() => archive.reads >= target, `${n} watermark reads`);
    };
    return { p, clock, archive, storage, checks };
  }

  it('republishes (watermark, covered] from storage when the watermark stalls, chained at the watermark', async () => {
    const log = makeLog(30);
    const sink = new FakeSink();
    const { p, clock, archive, storage, checks } = watched(log, sink);
    p.start();
    p.shipped(log);
    p.vdlAdvanced(log.at(-1)!.lsn);
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'published');
    const firstRun = sink.stream.length;
    expect(firstRun).toBeGreaterThan(4);
    // The archive took the first three batches; the fourth went to the on-failure queue.
    const watermark = sink.headers()[2]!.lastLsn;
    archive.watermark = watermark;
    await checks(1);
    clock.now += 30_000; // within the stall time: nothing happens
    await checks(3);
    expect(p.snapshot().archiveStalls).toBe(0);
    expect(sink.stream.length).toBe(firstRun);
    clock.now += 31_000;
    await until(() => p.snapshot().archiveStalls === 1, 'a stall');
    await until(
      () => sink.stream.length > firstRun && p.snapshot().publishedLsn === log.at(-1)!.lsn,
      'healed',
    );
    expect(p.snapshot().lastArchiveStall).toMatchObject({
      watermarkLsn: watermark,
      publishedLsn: log.at(-1)!.lsn,
    });
    expect(storage.requests).toEqual([
      expect.objectContaining({ afterLsn: watermark, uptoLsn: log.at(-1)!.lsn }),
    ]);
    // The stream carries the lost range again, from the watermark: the archive can plan from it.
    const healed = sink.headers().slice(firstRun);
    expect(healed[0]!.prevLsn).toBe(watermark);
    expect(planLogChain(chunkInfos(healed), watermark).endLsn).toBe(log.at(-1)!.lsn);
    expect(
      sink
        .records()
        .slice(sink.records().length - healed.reduce((n, h) => n + h.recordCount, 0))
        .map((r) => r.lsn),
    ).toEqual(log.filter((r) => r.lsn > watermark).map((r) => r.lsn));
    expect(p.snapshot().recordsRepublished).toBe(log.filter((r) => r.lsn > watermark).length);
    expect(redoStreamHealth('s', p.snapshot())).toMatchObject({
      archiveStalls: 1,
      lastArchiveStall: { watermarkLsn: watermark.toString() },
    });
    // The archive follows: no second verdict, even long after.
    archive.watermark = log.at(-1)!.lsn;
    clock.now += 600_000;
    await checks(1);
    await new Promise((r) => setTimeout(r, 30));
    expect(p.snapshot().archiveStalls).toBe(1);
    // Live records after the heal continue the chain.
    const more = makeLog(3, { firstLsn: log.at(-1)!.lsn + 1n });
    p.shipped(more);
    p.vdlAdvanced(more.at(-1)!.lsn);
    await until(() => p.snapshot().publishedLsn === more.at(-1)!.lsn, 'live again');
    expect(planLogChain(chunkInfos(sink.headers().slice(firstRun)), watermark).endLsn).toBe(more.at(-1)!.lsn);
    await p.close();
  });

  it('never calls a stall while the archive trails by less than the stall time', async () => {
    const log = makeLog(40);
    const sink = new FakeSink();
    const { p, clock, archive, checks } = watched(log, sink);
    p.start();
    const published: Lsn[] = [];
    for (let t = 0; t < 40; t++) {
      p.shipped(log.slice(t * 3, t * 3 + 3));
      p.vdlAdvanced(log[t * 3 + 2]!.lsn);
      await until(() => p.snapshot().publishedLsn === log[t * 3 + 2]!.lsn, 'published');
      published.push(log[t * 3 + 2]!.lsn);
      // Five seconds a commit; the archive is eleven commits (55 s) behind.
      clock.now += 5_000;
      archive.watermark = published.at(-12) ?? 0n;
      await checks(1);
    }
    expect(clock.now - 1_000_000).toBe(200_000);
    expect(p.snapshot().archiveStalls).toBe(0);
    expect(sink.records().map((r) => r.lsn)).toEqual(log.map((r) => r.lsn));
    await p.close();
  });

  it('clears the verdict when the archive moves on, and reads nothing while all is archived', async () => {
    const log = makeLog(20);
    const sink = new FakeSink();
    const { p, clock, archive, checks } = watched(log, sink);
    p.start();
    p.shipped(log.slice(0, 30));
    p.vdlAdvanced(log[29]!.lsn);
    await until(() => p.snapshot().publishedLsn === log[29]!.lsn, 'first half');
    await checks(1);
    // Behind for 50 s, then the archive catches up.
    clock.now += 50_000;
    await checks(1);
    archive.watermark = log[29]!.lsn;
    await checks(1);
    // Nothing above the watermark: no reads at all.
    const reads = archive.reads;
    await new Promise((r) => setTimeout(r, 40));
    expect(archive.reads).toBe(reads);
    // More is published; a minute after the first half, but only 30 s after this: no stall.
    p.shipped(log.slice(30));
    p.vdlAdvanced(log.at(-1)!.lsn);
    await until(() => p.snapshot().publishedLsn === log.at(-1)!.lsn, 'second half');
    await checks(1);
    clock.now += 30_000;
    await checks(2);
    expect(p.snapshot().archiveStalls).toBe(0);
    // Stuck for a full stall time after that: now it is one.
    clock.now += 31_000;
    await until(() => p.snapshot().archiveStalls === 1, 'a stall');
    expect(p.snapshot().lastArchiveStall).toMatchObject({ watermarkLsn: log[29]!.lsn });
    await p.close();
  });
});
