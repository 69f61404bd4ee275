// `borealis binlog read` against the whole system as `npm start` runs it: a history of transactions
// (inserts, multi-row inserts, updates, a primary-key update, deletes, DDL) goes through the writer;
// the binlog stream, read directly with the Kinesis client, is the ground truth. Once the backup
// archive holds the whole history, a read from a time or a position in the middle prints exactly
// the suffix of what the stream carried (envelopes identical but for ts_ms), with the older events
// rebuilt from the archive; `--json` lines parse; a start before the binlog retention is one error
// line naming the earliest position, exit 1.
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient, s3Client } from '../../core/aws/clients.ts';
import { readWatermark } from '../../core/backup/s3-archive.ts';
import { comparePositions, formatPosition } from '../../core/binlog/position.ts';
import { readBinlog } from '../../core/binlog/replay.ts';
import { regionalResources } from '../../core/resources.ts';
import { emulatorEnv } from '../../embedded/emulators.ts';
import { readSystemState } from '../../embedded/state.ts';
import { BinlogConsumer, type ConsumedEvent } from '../harness/binlog-consumer.ts';
import { endpointClients, waitUntil } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const region = 'us-east-1';
const resources = regionalResources(region);
const transactions = 60;

const positionOf = (e: ConsumedEvent) => ({ file: e.source.file, pos: e.source.pos, row: e.source.row });
const positionText = (e: ConsumedEvent) => formatPosition(positionOf(e));
/** An envelope without ts_ms (when emitted: the one field a rebuilt event may differ in). */
function comparable(e: ConsumedEvent): unknown {
  const { ts_ms: _, ...rest } = e;
  return rest;
}

describe('binlog read: replay from the archive, then the stream', () => {
  const dir = makeTempDir('binlog-read');
  let system: TestSystem;
  let kinesis: KinesisClient;
  let s3: S3Client;
  let consumer: BinlogConsumer;
  let sql: Sql;
  /** What the binlog stream carried: every distinct event, in position order. */
  let stream: ConsumedEvent[] = [];

  beforeAll(async () => {
    system = await TestSystem.start(dir.path, ['--readers', '0']);
    const env = { ...process.env, ...emulatorEnv(readSystemState(dir.path)!.emulators) };
    kinesis = kinesisClient({ region, env });
    s3 = s3Client({ region, env });
    consumer = new BinlogConsumer(kinesis, resources.binlogStream.name);
    sql = endpointClients(await system.status()).writer;

    await sql.exec('create table t (id integer primary key, v text, n integer)');
    for (let i = 1; i <= transactions; i++) {
      if (i % 10 === 0) await sql.exec('update t set id = id + 1000 where id = :id', { id: i - 5 });
      else if (i % 7 === 0) await sql.exec('delete from t where id = :id', { id: i - 3 });
      else if (i % 3 === 0)
        await sql.exec('update t set v = :v, n = n + 1 where id <= :id', { v: `u${i}`, id: i });
      else
        await sql.exec('insert into t values (:id, :v, 0), (:id2, :v, 1)', {
          id: i,
          id2: i + 500,
          v: `v${i}`,
        });
    }
    await sql.exec('create index t_v on t (v)');
    await sql.exec("insert into t values (9999, 'last', 0)");
    // The stream holds the whole history once the last insert's event is on it.
    await waitUntil(
      async () => {
        await consumer.poll();
        return consumer.arrivals.some((a) => a.event.after?.id === 9999);
      },
      60_000,
      'the last event on the binlog stream',
    );
    stream = consumer
      .firstCopies()
      .map((a) => a.event)
      .sort((a, b) => comparePositions(positionOf(a), positionOf(b)));
    // And the archive holds it too, so the reads below rebuild the older events from S3.
    const lastCommitMs = Math.max(...stream.map((e) => e.source.ts_ms));
    await waitUntil(
      async () =>
        ((await readWatermark(s3, resources.backupBucket, 'borealis'))?.value.commitTimeMs ?? 0) >=
        lastCommitMs,
      60_000,
      'the archive watermark past the last commit',
    );
  }, 240_000);

  afterAll(async () => {
    consumer?.close();
    sql?.close();
    kinesis?.destroy();
    s3?.destroy();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  it('the history is what the test is about: DDL, a primary-key update, deletes, multi-row statements', () => {
    expect(stream.some((e) => e.ddl !== undefined)).toBe(true);
    expect(stream.some((e) => e.op === 'd' && e.source.row === 0 && e.after === null)).toBe(true);
    expect(stream.some((e) => e.op === 'c' && e.source.row === 1)).toBe(true);
    expect(stream.length).toBeGreaterThan(transactions);
  });

  it('--from-time in the middle: exactly the suffix the stream carried, the older part from the archive', async () => {
    const middle = stream[Math.floor(stream.length / 2)]!;
    const t = middle.source.ts_ms;
    const out = await system.cli('binlog', 'read', '--from-time', new Date(t).toISOString(), '--json');
    const lines = out.stdout.trimEnd().split('\n');
    const got = lines.map((l) => JSON.parse(l) as ConsumedEvent);
    const expected = stream.filter((e) => e.source.ts_ms >= t);
    expect(got.map(positionText)).toEqual(expected.map(positionText));
    expect(got.map(comparable)).toEqual(expected.map(comparable));

    // In-process, to see where the events came from: the archive rebuilt them (it holds them all).
    const summary = await readBinlog({
      s3,
      bucket: resources.backupBucket,
      cluster: 'borealis',
      kinesis,
      streamName: resources.binlogStream.name,
      start: { kind: 'time', timeMs: t },
      follow: false,
      onEvent: () => {},
    });
    expect(summary.archiveEvents).toBe(expected.length);
    expect(summary.streamEvents).toBe(0);
  }, 120_000);

  it('--from-position likewise (inclusive), and the readable form prints one line per event', async () => {
    const k = Math.floor(stream.length / 3);
    const from = positionText(stream[k]!);
    const json = await system.cli('binlog', 'read', '--from-position', from, '--json');
    const got = json.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as ConsumedEvent);
    expect(got.map(comparable)).toEqual(stream.slice(k).map(comparable));
    const text = await system.cli('binlog', 'read', '--from-position', from);
    expect(
      text.stdout
        .trimEnd()
        .split('\n')
        .map((l) => l.split('  ')[0]),
    ).toEqual(stream.slice(k).map(positionText));
  }, 120_000);

  it('a start before the retention: one line naming the earliest position, exit 1', async () => {
    expect(
      JSON.parse((await system.cli('binlog', 'retention', '--hours', '1', '--json')).stdout),
    ).toMatchObject({
      binlogRetentionHours: 1,
      isDefault: false,
    });
    const failure = (await system
      .cli('binlog', 'read', '--from-time', new Date(Date.now() - 2 * 3_600_000).toISOString())
      .catch((e: { code: number; stdout: string; stderr: string }) => e)) as {
      code: number;
      stdout: string;
      stderr: string;
    };
    expect(failure.code).toBe(1);
    expect(failure.stdout).toBe('');
    expect(failure.stderr.trimEnd().split('\n')).toHaveLength(1);
    // Everything happened within the hour: the earliest position is the history's first event.
    expect(failure.stderr).toContain(
      `the earliest position that can be read is ${positionText(stream[0]!)} (`,
    );
  }, 120_000);
});
