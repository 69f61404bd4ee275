// `borealis binlog read` over real emulators (s3rver, kinesalite), no cluster: a log of RowImages
// transactions — inserts, updates, a primary-key update (two events of one record), deletes, DDL and
// a change cut into fragments — is archived in S3 as the archiver stores it, and its newer events
// are on the binlog stream as the streamer puts them (overlapping the archive). A read from a time
// or a position in the middle must print exactly the suffix of the whole log's events, the archive
// and the stream joined without a gap or a duplicate, also across two shards; reads before the
// retention or before the archive's first complete transaction fail naming the earliest position;
// and the CLI prints the same, --follow picks up new events and Ctrl-C ends it with status 0.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { archiveRecords } from '../../core/backup/testing.ts';
import {
  type BinlogEnvelope,
  type BinlogEvent,
  envelopeJson,
  eventsOfRecord,
  kinesisPartitionKey,
  MemoryFragmentStore,
  type StreamEnvelope,
} from '../../core/binlog/events.ts';
import { formatPosition } from '../../core/binlog/position.ts';
import { readBinlog } from '../../core/binlog/replay.ts';
import type { BinlogReadStart, ReadEvent } from '../../core/binlog/replay-plan.ts';
import { writeBinlogRetention } from '../../core/binlog/retention-store.ts';
import type { CapturedTransaction } from '../../core/binlog/row-images.ts';
import { RecordKind, type RedoRecord } from '../../core/record.ts';
import { regionalResources } from '../../core/resources.ts';
import { Emulators } from '../../embedded/emulators.ts';
import { rowImagesLog } from '../../functions/binlog-streamer/testing.ts';
import { waitUntil } from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const region = 'us-east-1';
const minuteMs = 60_000;
const table = { name: 't', columns: ['id', 'v'], primaryKey: [0] };

interface Txn {
  commitTimeMs: number;
  captured: CapturedTransaction;
}

/** Transaction i: insert row i, update row i-1, every 4th moves row i-2 to a new key, every 5th deletes. */
function workload(count: number, timeOf: (i: number) => number): Txn[] {
  const txns: Txn[] = [];
  for (let i = 0; i < count; i++) {
    const changes: CapturedTransaction['changes'] = [];
    let n = 0;
    const row = (op: 'c' | 'u' | 'd', before: unknown[] | null, after: unknown[] | null, rowid: number) =>
      changes.push({
        kind: 'row',
        table: 0,
        op,
        rowid: BigInt(rowid),
        before: before as never,
        after: after as never,
        tableOrdinal: ++n,
      });
    if (i === 0)
      changes.push({
        kind: 'ddl',
        sql: 'create table t (id integer primary key, v text)',
        tableName: 't',
        tableOrdinal: ++n,
      });
    // Transaction 7 carries a value too large for one payload: its change is cut into fragments.
    row('c', null, [BigInt(i), i === 7 ? 'x'.repeat(3_000) : `v${i}`], i);
    if (i > 0) row('u', [BigInt(i - 1), `v${i - 1}`], [BigInt(i - 1), `w${i - 1}`], i - 1);
    if (i % 4 === 3) row('u', [BigInt(i - 2), `w${i - 2}`], [BigInt(i + 1000), `w${i - 2}`], i + 1000);
    if (i % 5 === 4) row('d', [BigInt(i - 1), `w${i - 1}`], null, i - 1);
    txns.push({ commitTimeMs: timeOf(i), captured: { tables: [table], changes } });
  }
  return txns;
}

/** The redo of the transactions (txn ids 1, 2, …): RowImages records of at most 1 KiB, then the commit. */
function redoOf(txns: Txn[], afterLsn = 0n): RedoRecord[] {
  return rowImagesLog(
    txns.map((t, i) => ({ txnId: BigInt(i + 1), ...t })),
    afterLsn,
    1024,
  );
}

/** Every event of the records, as the streamer makes them (epoch 1: what archiveRecords stores). */
async function eventsOf(cluster: string, records: RedoRecord[]): Promise<BinlogEvent[]> {
  const fragments = new MemoryFragmentStore();
  const out: BinlogEvent[] = [];
  for (const r of records)
    out.push(...(await eventsOfRecord(r, { cluster, serverId: 1, nowMs: Date.now }, fragments)));
  return out;
}

/** The transaction id of a change event (no backtrack happens here: there are no control events). */
function txnOf(envelope: StreamEnvelope): string {
  if ('backtrack' in envelope) throw new Error('unexpected backtrack control event');
  return envelope.transaction.id;
}

/** An envelope without ts_ms (when emitted: the one field a rebuilt event may differ in). */
function comparable(envelope: StreamEnvelope): unknown {
  const { ts_ms: _, ...rest } = envelope;
  return rest;
}

describe('binlog read over the archive and the stream', () => {
  const dir = makeTempDir('binlog-replay');
  let emulators: Emulators;
  let s3: S3Client;
  let kinesis: KinesisClient;
  const now = Date.now();
  // Ten transactions two hours ago, thirty in the last twenty minutes.
  const txns = workload(40, (i) =>
    i < 10 ? now - 120 * minuteMs + i * 1000 : now - 20 * minuteMs + i * 1000,
  );
  const records = redoOf(txns);
  let all: BinlogEvent[] = [];
  const archivedTxns = 30;
  let archivedChunks = 0;
  let lastSummary: Awaited<ReturnType<typeof readBinlog>> | undefined;

  async function setUpCluster(cluster: string, shards: number): Promise<void> {
    const resources = regionalResources(region, cluster);
    await s3.send(new CreateBucketCommand({ Bucket: resources.backupBucket }));
    await kinesis.send(
      new CreateStreamCommand({ StreamName: resources.binlogStream.name, ShardCount: shards }),
    );
    await waitUntil(
      async () =>
        (await kinesis
          .send(new DescribeStreamSummaryCommand({ StreamName: resources.binlogStream.name }))
          .then((s) => s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE')) === true,
      10_000,
      'the stream active',
    );
    // The archive: the first 30 transactions' records (up to and including the 30th commit).
    let commits = 0;
    const cut = records.findIndex((r) => r.kind === RecordKind.Commit && ++commits === archivedTxns);
    archivedChunks = (
      await archiveRecords({ s3, bucket: resources.backupBucket, cluster }, 0n, records.slice(0, cut + 1), {
        maxBytes: 4096,
      })
    ).length;
    // The stream: the events of transactions 25 onwards (the archive and the stream overlap).
    const events = (await eventsOf(cluster, records)).filter((e) => Number(txnOf(e.envelope)) > 25);
    await putEvents(cluster, events);
  }

  async function putEvents(cluster: string, events: BinlogEvent[]): Promise<void> {
    const streamName = regionalResources(region, cluster).binlogStream.name;
    for (let i = 0; i < events.length; i += 500) {
      const out = await kinesis.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: events.slice(i, i + 500).map((e) => ({
            Data: Buffer.from(envelopeJson(e.envelope)),
            PartitionKey: kinesisPartitionKey(e.partitionKey),
          })),
        }),
      );
      expect(out.FailedRecordCount ?? 0).toBe(0);
    }
  }

  async function read(cluster: string, start: BinlogReadStart): Promise<ReadEvent[]> {
    const resources = regionalResources(region, cluster);
    const out: ReadEvent[] = [];
    lastSummary = await readBinlog({
      s3,
      bucket: resources.backupBucket,
      cluster,
      kinesis,
      streamName: resources.binlogStream.name,
      start,
      follow: false,
      onEvent: (e) => {
        out.push(e);
      },
    });
    return out;
  }

  beforeAll(async () => {
    emulators = await Emulators.start({ regions: [region], dataDir: dir.path });
    const env = { ...process.env, ...emulators.env() };
    s3 = s3Client({ region, env });
    kinesis = kinesisClient({ region, env });
    all = await eventsOf('borealis', records);
    await setUpCluster('borealis', 1);
  }, 60_000);

  afterAll(async () => {
    s3?.destroy();
    kinesis?.destroy();
    await emulators?.stop();
    dir.remove();
  }, 30_000);

  it('the log holds what the test is about: a PK update (two events of one record) and a fragmented change', () => {
    expect(all.some((e) => e.position.row === 1 && 'op' in e.envelope && e.envelope.op === 'd')).toBe(true);
    const t7 = all.find((e) => txnOf(e.envelope) === '8' && e.envelope.transaction.total_order === 1)!;
    expect((t7.envelope as unknown as { after: { v: string } }).after.v).toHaveLength(3_000);
  });

  it('--from-time in the middle: exactly the suffix of the events, archive then stream, identical but for ts_ms', async () => {
    const t = txns[15]!.commitTimeMs;
    const got = await read('borealis', { kind: 'time', timeMs: t });
    const expected = all.filter((e) => e.commitTimeMs >= t);
    expect(got.map((e) => formatPosition(e.position))).toEqual(
      expected.map((e) => formatPosition(e.position)),
    );
    expect(got.map((e) => comparable(e.envelope))).toEqual(expected.map((e) => comparable(e.envelope)));
    // Both sources were used: transactions 31-40 exist only on the stream, 16-25 only in the archive.
    expect(got.some((e) => txnOf(e.envelope) === '40')).toBe(true);
    expect(got.some((e) => txnOf(e.envelope) === '16')).toBe(true);
    expect(lastSummary!.archiveEvents).toBe(expected.filter((e) => Number(txnOf(e.envelope)) <= 30).length);
    // The chunks before the start were not downloaded.
    expect(lastSummary!.archiveChunksRead).toBeGreaterThan(0);
    expect(lastSummary!.archiveChunksRead).toBeLessThan(archivedChunks);
  });

  it('--from-position (inclusive), also at the second event of a record', async () => {
    const middle = all.findIndex((e, i) => i > all.length / 3 && e.position.row === 1);
    const got = await read('borealis', { kind: 'position', position: all[middle]!.position });
    expect(got.map((e) => formatPosition(e.position))).toEqual(
      all.slice(middle).map((e) => formatPosition(e.position)),
    );
    expect(got.map((e) => comparable(e.envelope))).toEqual(
      all.slice(middle).map((e) => comparable(e.envelope)),
    );
  });

  it('a start before the retention: one error naming the earliest position that can be read', async () => {
    await writeBinlogRetention(s3, regionalResources(region).backupBucket, 'borealis', 1);
    try {
      const earliest = all.find((e) => e.commitTimeMs >= now - 60 * minuteMs)!;
      for (const start of [
        { kind: 'time', timeMs: now - 90 * minuteMs },
        { kind: 'position', position: all[0]!.position },
      ] as const) {
        await expect(read('borealis', start)).rejects.toThrow(
          new RegExp(
            `is before the binlog retention \\(1 h: events committed since .*\\); the earliest position that can be read is ${formatPosition(earliest.position).replaceAll('.', '\\.')} \\(committed ${new Date(earliest.commitTimeMs).toISOString()}\\)$`,
          ),
        );
      }
      // Inside the retention, the same read works.
      expect((await read('borealis', { kind: 'position', position: earliest.position })).length).toBe(
        all.length - all.indexOf(earliest),
      );
    } finally {
      await writeBinlogRetention(s3, regionalResources(region).backupBucket, 'borealis', 24);
    }
  });

  it('two shards: merged back into position order', async () => {
    await setUpCluster('two', 2);
    const two = await eventsOf('two', records);
    const t = txns[20]!.commitTimeMs;
    const got = await read('two', { kind: 'time', timeMs: t });
    const expected = two.filter((e) => e.commitTimeMs >= t);
    expect(got.map((e) => formatPosition(e.position))).toEqual(
      expected.map((e) => formatPosition(e.position)),
    );
    // Both shards carried events (else this would be a one-shard read).
    const streamName = regionalResources(region, 'two').binlogStream.name;
    const shards = (await kinesis.send(new ListShardsCommand({ StreamName: streamName }))).Shards ?? [];
    expect(shards).toHaveLength(2);
    for (const shard of shards) {
      const iterator = await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      );
      const records = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator.ShardIterator! }));
      expect(records.Records?.length ?? 0).toBeGreaterThan(0);
    }
  });

  it('an archive whose head was expired: reads start after its first complete transaction', async () => {
    const cluster = 'floor';
    const resources = regionalResources(region, cluster);
    await s3.send(new CreateBucketCommand({ Bucket: resources.backupBucket }));
    await kinesis.send(new CreateStreamCommand({ StreamName: resources.binlogStream.name, ShardCount: 1 }));
    // The archive starts inside transaction 12 (in the middle of its RowImages records).
    const commitOf = (n: number) => records.filter((r) => r.kind === RecordKind.Commit)[n - 1]!;
    const from = records.findIndex((r) => r.lsn > commitOf(11).lsn + 1n);
    await archiveRecords(
      { s3, bucket: resources.backupBucket, cluster },
      records[from - 1]!.lsn,
      records.slice(from),
      {
        maxBytes: 4096,
      },
    );
    const events = await eventsOf(cluster, records);
    const firstReadable = events.find((e) => e.lsn > commitOf(12).lsn)!;
    await expect(read(cluster, { kind: 'time', timeMs: txns[11]!.commitTimeMs })).rejects.toThrow(
      `is before the oldest archived transaction (committed ${new Date(txns[11]!.commitTimeMs).toISOString()}); the earliest position that can be read is ${formatPosition(firstReadable.position)}`,
    );
    await expect(read(cluster, { kind: 'position', position: events[0]!.position })).rejects.toThrow(
      /before the oldest archived transaction/,
    );
    const got = await read(cluster, { kind: 'position', position: firstReadable.position });
    expect(got.map((e) => formatPosition(e.position))).toEqual(
      events.slice(events.indexOf(firstReadable)).map((e) => formatPosition(e.position)),
    );
  });

  describe('the CLI', () => {
    const cliEnv = () => ({
      ...process.env,
      AWS_ENDPOINT_URL_S3: emulators.endpoints(region).s3,
      AWS_ENDPOINT_URL_KINESIS: emulators.endpoints(region).kinesis,
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
    });
    const stateDir = () => `${dir.path}/no-system`;

    function cli(args: string[]): ChildProcess {
      return spawn(process.execPath, ['bin/borealis.js', ...args, '--state-dir', stateDir()], {
        env: cliEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    }

    async function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
      const child = cli(args);
      let stdout = '';
      let stderr = '';
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const [code] = (await once(child, 'exit')) as [number | null];
      return { code, stdout, stderr };
    }

    it('--json prints one parseable envelope per line: the suffix; the readable form one line per event', async () => {
      const t = txns[20]!.commitTimeMs;
      const expected = all.filter((e) => e.commitTimeMs >= t);
      const json = await run(['binlog', 'read', '--from-time', new Date(t).toISOString(), '--json']);
      expect(json.stderr).toBe('');
      expect(json.code).toBe(0);
      const lines = json.stdout.trimEnd().split('\n');
      expect(lines.map((l) => comparable(JSON.parse(l) as BinlogEnvelope))).toEqual(
        expected.map((e) => comparable(e.envelope)),
      );
      const text = await run(['binlog', 'read', '--from-time', new Date(t).toISOString()]);
      expect(text.code).toBe(0);
      expect(
        text.stdout
          .trimEnd()
          .split('\n')
          .map((l) => l.split('  ')[0]),
      ).toEqual(expected.map((e) => formatPosition(e.position)));
    }, 60_000);

    it('retention: set, printed, bad values refused with exit 2; before it a one-line error, exit 1', async () => {
      expect((await run(['binlog', 'retention', '--hours', '0'])).code).toBe(2);
      const set = await run(['binlog', 'retention', '--hours', '1', '--json']);
      expect(set.code).toBe(0);
      expect(JSON.parse(set.stdout)).toMatchObject({
        cluster: 'borealis',
        binlogRetentionHours: 1,
        isDefault: false,
      });
      try {
        expect(JSON.parse((await run(['binlog', 'retention', '--json'])).stdout).binlogRetentionHours).toBe(
          1,
        );
        const early = await run([
          'binlog',
          'read',
          '--from-time',
          new Date(now - 90 * minuteMs).toISOString(),
        ]);
        expect(early.code).toBe(1);
        expect(early.stdout).toBe('');
        expect(early.stderr.trimEnd().split('\n')).toHaveLength(1);
        expect(early.stderr).toMatch(
          /^borealis: binlog time .* is before the binlog retention \(1 h.*the earliest position that can be read is mysql-bin-changelog\.000001:\d+:\d+ /,
        );
      } finally {
        expect((await run(['binlog', 'retention', '--hours', '24'])).code).toBe(0);
      }
    }, 60_000);

    it('--follow prints new events as they reach the stream; Ctrl-C ends it with status 0', async () => {
      const lastPosition = formatPosition(all.at(-1)!.position);
      const child = cli(['binlog', 'read', '--from-position', lastPosition, '--follow', '--json']);
      let stdout = '';
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      try {
        await waitUntil(() => stdout.includes('\n'), 30_000, 'the last event printed');
        // Two new transactions reach the stream.
        const more = workload(42, (i) => now + i).slice(40);
        const newRecords = redoOf(more, records.at(-1)!.lsn);
        const fresh = await eventsOf('borealis', newRecords);
        await putEvents('borealis', fresh);
        await waitUntil(
          () => stdout.trimEnd().split('\n').length === 1 + fresh.length,
          30_000,
          'the new events printed',
        );
        const lines = stdout
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as BinlogEnvelope);
        expect(lines.map((e) => `${e.source.file}:${e.source.pos}:${e.source.row}`)).toEqual([
          lastPosition,
          ...fresh.map((e) => formatPosition(e.position)),
        ]);
        child.kill('SIGINT');
        const [code] = (await once(child, 'exit')) as [number | null];
        expect(code).toBe(0);
      } finally {
        if (child.exitCode === null) child.kill('SIGKILL');
      }
    }, 90_000);
  });
});
