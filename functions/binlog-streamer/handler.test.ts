// The binlog streamer against real kinesalite and s3rver processes (started here on free ports): row
// and schema-change events on the binlog stream in order with their positions and partition keys,
// the PK-update split, redelivery, envelopes over 1 MiB referenced from S3, fragments across
// invocations, poison records reported with nothing put, the PutRecords limits, and partial
// PutRecords failures resent in per-key order.
import { join } from 'node:path';
import type { KinesisClient, PutRecordsCommandInput, PutRecordsCommandOutput } from '@aws-sdk/client-kinesis';
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { packRedoBatches, type RedoBatch } from '../../core/backup/redo-batch.ts';
import { archiveMarkers } from '../../core/backup/s3-archive.ts';
import {
  type BacktrackEnvelope,
  type BinlogEvent,
  envelopeJson,
  eventsOfRecord,
  MemoryFragmentStore,
  type RowEnvelope,
} from '../../core/binlog/events.ts';
import { positionOf as positionOfLsn } from '../../core/binlog/position.ts';
import { fragmentsPrefix, largeEnvelopesPrefix } from '../../core/binlog/retention.ts';
import type { BinlogChange, BinlogTable, BinlogValue } from '../../core/binlog/row-images.ts';
import { RecordKind } from '../../core/record.ts';
import { regionalResources } from '../../core/resources.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { provisionRegion } from '../../embedded/provision.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { largeEnvelopeKey, type StreamerDeps, streamBinlog } from './handler.ts';
import { fragmentPrefix } from './s3-fragments.ts';
import { createStream, readStream, redoEvent, rowImagesLog, type TestTxn } from './testing.ts';

const region = 'us-east-1';
const resources = regionalResources(region, 'streamer');
const dir = makeTempDir('binlog-streamer');
const logger = pino({ level: 'silent' });
const nowMs = 1_800_000_000_000;
let emulators: Emulators;
let kinesis: KinesisClient;
let s3: S3Client;
let streams = 0;

beforeAll(async () => {
  emulators = await Emulators.start({ regions: [region], dataDir: join(dir.path, 'aws') });
  await provisionRegion(resources, emulators.env());
  kinesis = kinesisClient({ region, env: emulators.env() });
  s3 = s3Client({ region, env: emulators.env() });
});
afterAll(async () => {
  kinesis?.destroy();
  s3?.destroy();
  await emulators?.stop();
  dir.remove();
});

/** A fresh binlog stream and cluster prefix per test. */
async function newDeps(overrides: Partial<StreamerDeps> = {}, shards = 1): Promise<StreamerDeps> {
  streams++;
  const binlogStream = `binlog-${streams}`;
  await createStream(kinesis, binlogStream, shards);
  return {
    kinesis,
    s3,
    bucket: resources.backupBucket,
    cluster: `c${streams}`,
    binlogStream,
    now: () => nowMs,
    logger,
    sleep: async () => {},
    ...overrides,
  };
}

const users: BinlogTable = { name: 'users', columns: ['id', 'name', 'blob'], primaryKey: [0] };
const notes: BinlogTable = { name: 'notes', columns: ['body'], primaryKey: [] };

function row(
  table: number,
  op: 'c' | 'u' | 'd',
  before: BinlogValue[] | null,
  after: BinlogValue[] | null,
  tableOrdinal: number,
  rowid = 0n,
): BinlogChange {
  return { kind: 'row', table, op, rowid, before, after, tableOrdinal };
}

/** Transactions of `perTxn` inserts each into users, ids from `firstId`. */
function insertTxns(count: number, perTxn: number, firstId = 1, nameBytes = 10): TestTxn[] {
  let id = firstId;
  return Array.from({ length: count }, (_, t) => ({
    txnId: BigInt(t + 1),
    commitTimeMs: 1_700_000_000_000 + t,
    captured: {
      tables: [users],
      changes: Array.from({ length: perTxn }, (_, i) => {
        const n = BigInt(id++);
        return row(0, 'c', null, [n, `n${n}`.padEnd(nameBytes, '.'), null], i + 1, n);
      }),
    },
  }));
}

/** What the streamer should put: the events of every record, in order (fragments joined in memory). */
async function expectedEvents(batches: RedoBatch[], cluster: string): Promise<BinlogEvent[]> {
  const store = new MemoryFragmentStore();
  const out: BinlogEvent[] = [];
  for (const b of batches) {
    const ctx = { cluster, serverId: Number(b.epoch), nowMs: () => nowMs };
    for (const r of b.records) out.push(...(await eventsOfRecord(r, ctx, store)));
  }
  return out;
}

async function listKeys(prefix: string): Promise<string[]> {
  const out = await s3.send(new ListObjectsV2Command({ Bucket: resources.backupBucket, Prefix: prefix }));
  return (out.Contents ?? []).map((o) => o.Key!);
}

/** Counts the PutRecords requests a client sends, with their entry counts and bytes. */
function countPuts(client: KinesisClient): Array<{ entries: number; bytes: number }> {
  const puts: Array<{ entries: number; bytes: number }> = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'PutRecordsCommand') {
        const input = args.input as PutRecordsCommandInput;
        puts.push({
          entries: input.Records!.length,
          bytes: input.Records!.reduce((n, r) => n + r.Data!.length + Buffer.byteLength(r.PartitionKey!), 0),
        });
      }
      return next(args);
    },
    { step: 'initialize' },
  );
  return puts;
}

describe('binlog streamer', () => {
  it('puts every event of the batches on the binlog stream in order, keyed by table and primary key', async () => {
    const deps = await newDeps();
    const txns: TestTxn[] = [
      {
        txnId: 7n,
        commitTimeMs: 1_700_000_000_001,
        captured: {
          tables: [users, notes],
          changes: [
            {
              kind: 'ddl',
              sql: 'create table users(id integer primary key, name, blob)',
              tableName: 'users',
              tableOrdinal: 1,
            },
            row(0, 'c', null, [1n, 'ann', Uint8Array.of(1, 2)], 2, 1n),
            row(1, 'c', null, ['hello'], 1, 4n),
            row(0, 'u', [1n, 'ann', Uint8Array.of(1, 2)], [1n, 'anne', null], 3, 1n),
          ],
        },
      },
      {
        txnId: 8n,
        commitTimeMs: 1_700_000_000_002,
        captured: {
          tables: [users, notes],
          // A primary-key update: a delete of id 1 and a create of id 2.
          changes: [
            row(0, 'u', [1n, 'anne', null], [2n, 'anne', null], 1, 2n),
            row(1, 'd', ['hello'], null, 1, 4n),
          ],
        },
      },
    ];
    const batches = packRedoBatches(3n, 0n, rowImagesLog(txns), 700);
    expect(batches.length).toBeGreaterThan(1);
    const result = await streamBinlog(redoEvent(batches), deps);
    expect(result.batchItemFailures).toEqual([]);
    const onStream = await readStream(kinesis, deps.binlogStream);
    const expected = await expectedEvents(batches, deps.cluster);
    expect(onStream.map((r) => r.data.toString())).toEqual(expected.map((e) => envelopeJson(e.envelope)));
    expect(onStream.map((r) => r.partitionKey)).toEqual([
      'users',
      'users:[1]',
      'notes:[4]',
      'users:[1]',
      'users:[1]',
      'users:[2]',
      'notes:[4]',
    ]);
    expect(onStream.map((r) => (r.json as { op?: string }).op ?? 'ddl')).toEqual([
      'ddl',
      'c',
      'c',
      'u',
      'd',
      'c',
      'd',
    ]);
    const sources = onStream.map((r) => (r.json as unknown as RowEnvelope).source);
    expect(sources.every((s) => s.name === deps.cluster && s.server_id === 3)).toBe(true);
    expect(sources.map((s) => s.txId)).toEqual(['7', '7', '7', '7', '8', '8', '8']);
    expect(result.summary).toMatchObject({ inputRecords: batches.length, events: 7, largeEnvelopes: 0 });
  });

  it('spreads the events over the shards by key, each key’s events in order on one shard', async () => {
    const deps = await newDeps({}, 4);
    // 50 rows, each inserted then updated three times, across 40 transactions.
    const txns: TestTxn[] = Array.from({ length: 40 }, (_, t) => ({
      txnId: BigInt(t + 1),
      commitTimeMs: 1_700_000_000_000 + t,
      captured: {
        tables: [users],
        changes: Array.from({ length: 5 }, (_, i) => {
          const id = BigInt(((t * 5 + i) % 50) + 1);
          const round = Math.floor((t * 5 + i) / 50);
          return round === 0
            ? row(0, 'c', null, [id, 'r0', null], i + 1, id)
            : row(0, 'u', [id, `r${round - 1}`, null], [id, `r${round}`, null], i + 1, id);
        }),
      },
    }));
    const batches = packRedoBatches(1n, 0n, rowImagesLog(txns), 2_000);
    expect((await streamBinlog(redoEvent(batches), deps)).batchItemFailures).toEqual([]);
    const onStream = await readStream(kinesis, deps.binlogStream);
    expect(onStream).toHaveLength(200);
    const shardsOfKey = new Map<string, Set<string>>();
    const namesOfKey = new Map<string, string[]>();
    for (const r of onStream) {
      shardsOfKey.set(r.partitionKey, (shardsOfKey.get(r.partitionKey) ?? new Set()).add(r.shardId));
      namesOfKey.set(r.partitionKey, [
        ...(namesOfKey.get(r.partitionKey) ?? []),
        String((r.json as unknown as RowEnvelope).after!.name),
      ]);
    }
    expect(new Set(onStream.map((r) => r.shardId)).size).toBeGreaterThan(1);
    for (const [key, shards] of shardsOfKey) expect(shards.size, key).toBe(1);
    for (const [key, names] of namesOfKey) expect(names, key).toEqual(['r0', 'r1', 'r2', 'r3']);
  });

  it('puts the same events at the same positions when a batch is redelivered', async () => {
    const deps = await newDeps();
    const batches = packRedoBatches(1n, 0n, rowImagesLog(insertTxns(20, 5)), 2_000);
    const event = redoEvent(batches);
    await streamBinlog(event, deps);
    // Lambda retries from the middle (a later invocation failed, say): the same records again.
    await streamBinlog({ Records: event.Records.slice(2) }, { ...deps, now: () => nowMs + 5 });
    const onStream = await readStream(kinesis, deps.binlogStream);
    const positionOf = (r: (typeof onStream)[number]) => {
      const s = (r.json as unknown as RowEnvelope).source;
      return `${s.file}:${s.pos}:${s.row}`;
    };
    const first = new Map<string, string>();
    let duplicates = 0;
    for (const r of onStream) {
      const p = positionOf(r);
      const envelope = { ...(r.json as object), ts_ms: 0 };
      if (first.has(p)) {
        duplicates++;
        expect(JSON.stringify(envelope)).toBe(first.get(p));
      } else first.set(p, JSON.stringify(envelope));
    }
    expect(first.size).toBe(100);
    expect(duplicates).toBe(onStream.length - 100);
    expect(duplicates).toBeGreaterThan(50);
  });

  it('puts a backtrack control event before the first event of a new timeline, at the same position when redelivered', async () => {
    const deps = await newDeps();
    const old = packRedoBatches(1n, 0n, rowImagesLog(insertTxns(4, 2)), 2_000);
    const end = old.at(-1)!.records.at(-1)!.lsn;
    const kept = old.flatMap((b) => b.records).filter((r) => r.kind === RecordKind.Commit)[1]!;
    const marker = {
      seq: 1,
      epoch: 2n,
      appliedAtMs: nowMs - 1_000,
      targetLsn: kept.lsn,
      targetTimeMs: nowMs - 2_000,
      fromLsn: end + 5n,
    };
    // The new writer's first batch follows the archive where it was (a voided LSN), tagged timeline 1.
    const next = packRedoBatches(2n, end, rowImagesLog(insertTxns(3, 2, 100), end + 5n), 300, 1);
    expect(next.length).toBeGreaterThan(1);
    // Its marker is not archived yet: the batch is reported, nothing of it is put.
    const early = await streamBinlog(redoEvent(next), deps);
    expect(early.batchItemFailures).toHaveLength(1);
    expect(await readStream(kinesis, deps.binlogStream)).toEqual([]);

    await archiveMarkers(s3, deps.bucket, deps.cluster, [marker]);
    await streamBinlog(redoEvent([...old, ...next]), deps);
    await streamBinlog(redoEvent(next.slice(0, 1)), deps); // redelivered
    const onStream = (await readStream(kinesis, deps.binlogStream)).map(
      (r) => r.json as Record<string, unknown>,
    );
    const controls = onStream.flatMap((j, i) => ('backtrack' in j ? [i] : []));
    const oldEvents = 8;
    expect(controls).toHaveLength(2);
    expect(controls[0]).toBe(oldEvents);
    const control = onStream[oldEvents] as unknown as BacktrackEnvelope;
    expect({ ...onStream[controls[1]!], ts_ms: 0 }).toEqual({ ...control, ts_ms: 0 });
    expect(control.backtrack).toEqual({
      seq: 1,
      backtrackTo: new Date(marker.targetTimeMs).toISOString(),
      appliedAt: new Date(marker.appliedAtMs).toISOString(),
      targetLsn: kept.lsn.toString(),
      resumesAboveLsn: marker.fromLsn.toString(),
    });
    expect(control.source).toMatchObject({ ...positionOfLsn(marker.fromLsn, 0), table: null, server_id: 2 });
    // Every event of the new timeline comes after it, every one of the old before it.
    const ids = onStream.map((j) => (j as { after?: { id: number } }).after?.id ?? null);
    expect(ids.slice(0, oldEvents).every((id) => id !== null && id <= 8)).toBe(true);
    expect(ids.slice(oldEvents + 1, oldEvents + 7)).toEqual([100, 101, 102, 103, 104, 105]);
  });

  it('stores an envelope over 1 MiB in S3 and puts a reference to it on the stream, never dropping it', async () => {
    const deps = await newDeps();
    const big = new Uint8Array(900_000).fill(0x5a); // ~1.2 MB as base64
    const txns: TestTxn[] = [
      {
        txnId: 1n,
        commitTimeMs: 1_700_000_000_000,
        captured: {
          tables: [users],
          changes: [
            row(0, 'c', null, [1n, 'big', big], 1, 1n),
            row(0, 'c', null, [2n, 'small', null], 2, 2n),
          ],
        },
      },
    ];
    const batches = packRedoBatches(1n, 0n, rowImagesLog(txns));
    const expected = await expectedEvents(batches, deps.cluster);
    for (let attempt = 0; attempt < 2; attempt++) {
      expect((await streamBinlog(redoEvent(batches), deps)).batchItemFailures).toEqual([]);
    }
    const onStream = await readStream(kinesis, deps.binlogStream);
    expect(onStream).toHaveLength(4);
    const reference = onStream[0]!.json as unknown as RowEnvelope;
    const key = largeEnvelopeKey(deps.cluster, expected[0]!.position);
    expect(reference).toMatchObject({
      op: 'c',
      before: null,
      after: null,
      key: { id: 1 },
      source: (expected[0]!.envelope as RowEnvelope).source,
      transaction: expected[0]!.envelope.transaction,
      external: { bucket: resources.backupBucket, key },
    });
    expect(onStream[0]!.partitionKey).toBe('users:[1]');
    const stored = await s3.send(new GetObjectCommand({ Bucket: resources.backupBucket, Key: key }));
    const body = await stored.Body!.transformToString();
    expect(body).toBe(envelopeJson(expected[0]!.envelope));
    expect(reference.external!.bytes).toBe(Buffer.byteLength(body));
    expect((JSON.parse(body) as RowEnvelope).after!.blob).toBe(Buffer.from(big).toString('base64'));
    // The redelivery wrote the same object again: one object per position.
    expect(await listKeys(largeEnvelopesPrefix(deps.cluster))).toEqual([key]);
    expect(onStream[1]!.data.toString()).toBe(envelopeJson(expected[1]!.envelope));
  });

  it('joins a change fragmented across two invocations through S3, then deletes its fragments', async () => {
    const deps = await newDeps();
    const txns: TestTxn[] = [
      {
        txnId: 1n,
        commitTimeMs: 1_700_000_000_000,
        captured: { tables: [users], changes: [row(0, 'c', null, [1n, 'x'.repeat(30_000), null], 1, 1n)] },
      },
      ...insertTxns(1, 2, 10).map((t) => ({ ...t, txnId: 2n })),
    ];
    const records = rowImagesLog(txns, 0n, 4096);
    const batches = packRedoBatches(1n, 0n, records, 9_000);
    expect(batches.length).toBeGreaterThanOrEqual(3);
    const lsn0 = records[0]!.lsn;
    // First invocation: the first batch, whose fragments are not the change's last.
    expect((await streamBinlog(redoEvent(batches.slice(0, 1)), deps)).batchItemFailures).toEqual([]);
    expect(await readStream(kinesis, deps.binlogStream)).toEqual([]);
    const stored = await listKeys(fragmentPrefix(deps.cluster, lsn0));
    expect(stored.length).toBe(batches[0]!.records.length);
    // Second: the rest. The change comes out whole, at lsn0, then the next transaction's rows.
    expect((await streamBinlog(redoEvent(batches.slice(1)), deps)).batchItemFailures).toEqual([]);
    const onStream = await readStream(kinesis, deps.binlogStream);
    const expected = await expectedEvents(batches, deps.cluster);
    expect(onStream.map((r) => r.data.toString())).toEqual(expected.map((e) => envelopeJson(e.envelope)));
    expect(onStream).toHaveLength(3);
    expect((onStream[0]!.json as unknown as RowEnvelope).source.lsn).toBe(lsn0.toString());
    expect(await listKeys(fragmentsPrefix(deps.cluster))).toEqual([]);
  });

  it('reports a malformed or truncated batch as the batch item failure, puts nothing of it, and stops there', async () => {
    const deps = await newDeps();
    const batches = packRedoBatches(1n, 0n, rowImagesLog(insertTxns(6, 3)), 600);
    expect(batches.length).toBeGreaterThanOrEqual(4);
    const good = redoEvent(batches);
    const truncated = Buffer.from(good.Records[1]!.kinesis.data, 'base64').subarray(0, 150);
    const event = redoEvent([batches[0]!, truncated, batches[2]!, batches[3]!]);
    const result = await streamBinlog(event, deps);
    expect(result.batchItemFailures).toEqual([{ itemIdentifier: event.Records[1]!.kinesis.sequenceNumber }]);
    const onStream = await readStream(kinesis, deps.binlogStream);
    // Only the events of the record before it: the retry starts at the failed record.
    expect(onStream.map((r) => r.data.toString())).toEqual(
      (await expectedEvents(batches.slice(0, 1), deps.cluster)).map((e) => envelopeJson(e.envelope)),
    );
    // Garbage alone: reported, nothing put.
    const deps2 = await newDeps();
    const garbage = redoEvent([Buffer.from('not a redo batch')]);
    expect((await streamBinlog(garbage, deps2)).batchItemFailures).toEqual([
      { itemIdentifier: garbage.Records[0]!.kinesis.sequenceNumber },
    ]);
    expect(await readStream(kinesis, deps2.binlogStream)).toEqual([]);
  });

  it('reports a CRC-valid batch holding a malformed RowImages payload, with none of its events put', async () => {
    const deps = await newDeps();
    const records = rowImagesLog(insertTxns(3, 2));
    // The second transaction's RowImages payload is cut short (a broken producer: the CRCs are fine).
    const second = records.filter((r) => r.kind === RecordKind.RowImages)[1]!;
    const broken = records.map((r) =>
      r === second ? { ...r, payload: r.payload.subarray(0, r.payload.length - 3) } : r,
    );
    const batch: RedoBatch = { epoch: 1n, prevLsn: 0n, records: broken };
    const event = redoEvent([batch]);
    expect((await streamBinlog(event, deps)).batchItemFailures).toEqual([
      { itemIdentifier: event.Records[0]!.kinesis.sequenceNumber },
    ]);
    expect(await readStream(kinesis, deps.binlogStream)).toEqual([]);
  });

  it('keeps PutRecords within 500 entries and 5 MiB, and every event arrives in order', async () => {
    const client = kinesisClient({ region, env: emulators.env() });
    const puts = countPuts(client);
    try {
      const deps = await newDeps({ kinesis: client });
      // 1,200 small events (three requests at least) and 60 of ~200 KB (more than 5 MiB in all).
      const small = insertTxns(40, 30);
      const large = insertTxns(6, 10, 5_000, 150_000).map((t, i) => ({ ...t, txnId: BigInt(100 + i) }));
      const batches = packRedoBatches(1n, 0n, rowImagesLog([...small, ...large]));
      const result = await streamBinlog(redoEvent(batches), deps);
      expect(result.batchItemFailures).toEqual([]);
      expect(result.summary.events).toBe(1_260);
      const onStream = await readStream(kinesis, deps.binlogStream);
      expect(onStream.map((r) => r.data.toString())).toEqual(
        (await expectedEvents(batches, deps.cluster)).map((e) => envelopeJson(e.envelope)),
      );
      expect(puts.length).toBeGreaterThanOrEqual(4);
      for (const p of puts) {
        expect(p.entries).toBeLessThanOrEqual(500);
        expect(p.bytes).toBeLessThanOrEqual(5 * 1024 * 1024);
      }
      expect(Math.max(...puts.map((p) => p.entries))).toBe(500);
      expect(Math.max(...puts.map((p) => p.bytes))).toBeGreaterThan(4 * 1024 * 1024);
    } finally {
      client.destroy();
    }
  });

  it('sends a schema change alone, between the events before and after it, each key in order', async () => {
    const client = kinesisClient({ region, env: emulators.env() });
    const requests: string[][] = [];
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'PutRecordsCommand')
          requests.push((args.input as PutRecordsCommandInput).Records!.map((r) => r.PartitionKey!));
        return next(args);
      },
      { step: 'initialize' },
    );
    try {
      const deps = await newDeps({ kinesis: client });
      // Row 1 updated 30 times among inserts of other rows, then a DDL, then more inserts.
      const changes: BinlogChange[] = [];
      for (let i = 0; i < 30; i++) {
        changes.push(row(0, 'u', [1n, `v${i}`, null], [1n, `v${i + 1}`, null], changes.length + 1, 1n));
        changes.push(row(0, 'c', null, [BigInt(100 + i), 'x', null], changes.length + 1, BigInt(100 + i)));
      }
      changes.push({
        kind: 'ddl',
        sql: 'alter table users add column z',
        tableName: 'users',
        tableOrdinal: 61,
      });
      changes.push(row(0, 'c', null, [7n, 'after', null], 62, 7n));
      const batches = packRedoBatches(
        1n,
        0n,
        rowImagesLog([{ txnId: 1n, commitTimeMs: 1, captured: { tables: [users], changes } }]),
      );
      expect((await streamBinlog(redoEvent(batches), deps)).batchItemFailures).toEqual([]);
      const ddlRequest = requests.findIndex((keys) => keys.includes('users'));
      expect(requests[ddlRequest]).toEqual(['users']);
      expect(requests.slice(ddlRequest + 1).flat()).toEqual(['users:[7]']);
      const onStream = await readStream(kinesis, deps.binlogStream);
      // Row 1's updates in order (one shard: the stream order is the put order).
      const names = onStream
        .filter((r) => r.partitionKey === 'users:[1]')
        .map((r) => (r.json as unknown as RowEnvelope).after!.name);
      expect(names).toEqual(Array.from({ length: 30 }, (_, i) => `v${i + 1}`));
      expect(onStream).toHaveLength(62);
    } finally {
      client.destroy();
    }
  });

  it('resends from the first entry PutRecords failed, before anything later; reports the input of one that keeps failing', async () => {
    const client = kinesisClient({ region, env: emulators.env() });
    /** Partition keys to fail, with how many times each. */
    const failures = new Map<string, number>();
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName !== 'PutRecordsCommand') return next(args);
        const input = args.input as PutRecordsCommandInput;
        const all = input.Records!;
        const failing = all.map((r) => {
          const left = failures.get(r.PartitionKey!) ?? 0;
          if (left > 0) failures.set(r.PartitionKey!, left - 1);
          return left > 0;
        });
        const sent = all.filter((_, i) => !failing[i]);
        const result = (
          sent.length > 0
            ? await next({ ...args, input: { ...input, Records: sent } })
            : { output: { Records: [] } }
        ) as { output: PutRecordsCommandOutput };
        const results = [...(result.output.Records ?? [])];
        const merged = failing.map((f) =>
          f
            ? { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'injected' }
            : results.shift()!,
        );
        return {
          ...result,
          output: { ...result.output, Records: merged, FailedRecordCount: failing.filter(Boolean).length },
        } as never;
      },
      { step: 'initialize' },
    );
    try {
      const deps = await newDeps({ kinesis: client });
      const txns = insertTxns(10, 10);
      txns.push({
        txnId: 11n,
        commitTimeMs: 1,
        captured: { tables: [users], changes: [row(0, 'u', [5n, 'n5', null], [5n, 'updated', null], 1, 5n)] },
      });
      const batches = packRedoBatches(1n, 0n, rowImagesLog(txns), 1_500);
      const event = redoEvent(batches);
      // Transient: row 5's insert fails once (its update later in the same request goes out at once),
      // row 50's insert fails twice; then they go through.
      failures.set('users:[5]', 1);
      failures.set('users:[50]', 2);
      const result = await streamBinlog(event, deps);
      expect(result.batchItemFailures).toEqual([]);
      expect(result.summary.resentEntries).toBeGreaterThan(4);
      const onStream = await readStream(kinesis, deps.binlogStream);
      const expected = await expectedEvents(batches, deps.cluster);
      const positionOf = (json: unknown) => {
        const s = (json as RowEnvelope).source;
        return `${s.file}:${s.pos}:${s.row}`;
      };
      expect(new Set(onStream.map((r) => positionOf(r.json))).size).toBe(expected.length);
      // The last copy of every event is in event order: a consumer that keeps each key's highest
      // applied position applies every key's events in order.
      const lastCopy = new Map<string, number>();
      onStream.forEach((r, i) => {
        lastCopy.set(positionOf(r.json), i);
      });
      const byLastCopy = [...lastCopy.entries()].sort((a, b) => a[1] - b[1]).map(([p]) => p);
      expect(byLastCopy).toEqual(expected.map((e) => positionOf(e.envelope)));
      const applied = new Map<unknown, { position: string; after: unknown }>();
      for (const r of onStream) {
        const e = r.json as unknown as RowEnvelope;
        const p = positionOf(e);
        const last = applied.get(e.key.id);
        const index = (x: string) => expected.findIndex((ex) => positionOf(ex.envelope) === x);
        if (last === undefined || index(p) > index(last.position))
          applied.set(e.key.id, { position: p, after: e.after });
      }
      // The update of row 5 went out before its insert, then again after it.
      const ops5 = onStream
        .filter((r) => r.partitionKey === 'users:[5]')
        .map((r) => (r.json as unknown as RowEnvelope).op);
      expect([ops5[0], ops5[1], ops5.at(-1)]).toEqual(['u', 'c', 'u']);
      expect(applied.get(5)?.after).toMatchObject({ name: 'updated' });

      // Persistent: key 50 fails every attempt. The input holding it is reported; the events of the
      // inputs before it are all out, nothing after that request is sent.
      const deps2 = await newDeps({ kinesis: client, limits: { entriesMax: 20 } });
      failures.clear();
      failures.set('users:[50]', 1_000);
      const result2 = await streamBinlog(event, deps2);
      const failedInput = event.Records.findIndex(
        (r) => r.kinesis.sequenceNumber === result2.batchItemFailures[0]?.itemIdentifier,
      );
      const expected2 = await expectedEvents(batches, deps2.cluster);
      const inputOf = (e: BinlogEvent) => batches.findIndex((b) => b.records.some((r) => r.lsn === e.lsn));
      const firstFailed = expected2.find((e) => e.partitionKey === 'users:[50]')!;
      expect(result2.batchItemFailures).toHaveLength(1);
      expect(failedInput).toBe(inputOf(firstFailed));
      const ids2 = new Set(
        (await readStream(kinesis, deps2.binlogStream)).map((r) => (r.json as unknown as RowEnvelope).key.id),
      );
      // Requests of 20 distinct keys: ids 1-20, 21-40, 41-60 (where 50 kept failing), then nothing.
      for (const e of expected2.filter((x) => inputOf(x) < failedInput)) {
        expect(ids2.has((e.envelope as RowEnvelope).key.id!)).toBe(true);
      }
      expect(ids2.has(50)).toBe(false);
      expect(Math.max(...[...ids2].map(Number))).toBe(60);
      expect(ids2.size).toBe(59);
    } finally {
      client.destroy();
    }
  });
});
