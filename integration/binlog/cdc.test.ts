// The binlog end to end, as `npm start` runs it: a seeded random workload through the proxy (inserts,
// updates, deletes, primary-key updates, UPSERT, REPLACE, multi-row statements, multi-statement and
// rolled-back transactions, DDL) on three tables — an INTEGER PRIMARY KEY table, a WITHOUT ROWID
// table with a composite key and a rowid table without a key — for 60 s, with the writer SIGKILLed
// half-way. A consumer reads the binlog stream and applies it to a plain better-sqlite3 database,
// which must end equal to the cluster's tables; the stream must hold nothing of a rolled-back
// transaction, keep each key's events in position order, hold every transaction's events whole
// (total_order 1..n), and redelivered redo must change nothing for the deduplicating consumer;
// `borealis binlog read --from-time` in the middle of it prints exactly the suffix the stream carried.
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kinesisClient } from '../../core/aws/clients.ts';
import { prng } from '../../core/prng.ts';
import { regionalResources } from '../../core/resources.ts';
import { emulatorEnv } from '../../embedded/emulators.ts';
import { readSystemState } from '../../embedded/state.ts';
import { type Arrival, BinlogConsumer, positionKey } from '../harness/binlog-consumer.ts';
import { endpointClients, waitUntil } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { TestSystem } from '../harness/system.ts';
import { makeTempDir } from '../harness/temp.ts';

const resources = regionalResources('us-east-1');
const loadMs = Number(process.env.BOREALIS_CDC_LOAD_MS ?? 60_000);
const rolledBackMarker = 'ROLLED-BACK';

/** The tables and how to read each one whole, in key order (rowid included where it is the key). */
const tables = {
  acct: 'select * from acct order by id',
  kv: 'select * from kv order by k1, k2',
  log: 'select rowid, * from log order by rowid',
} as const;

describe('binlog: change data capture to the binlog stream', () => {
  const dir = makeTempDir('cdc');
  let system: TestSystem;
  let kinesis: KinesisClient;
  let consumer: BinlogConsumer;
  let sql: Sql;

  beforeAll(async () => {
    system = await TestSystem.start(dir.path, ['--readers', '0']);
    kinesis = kinesisClient({
      region: 'us-east-1',
      env: { ...process.env, ...emulatorEnv(readSystemState(dir.path)!.emulators) },
    });
    consumer = new BinlogConsumer(kinesis, resources.binlogStream.name);
    sql = endpointClients(await system.status()).writer;
  }, 180_000);

  afterAll(async () => {
    consumer?.close();
    sql?.close();
    kinesis?.destroy();
    if (system) expect(await system.stop()).toBe(0);
    dir.remove();
  }, 120_000);

  /** Polls the stream until the copy equals the cluster (or the deadline). */
  async function caughtUp(what: string): Promise<void> {
    await waitUntil(
      async () => {
        await consumer.poll();
        return await copyEqualsCluster();
      },
      60_000,
      what,
    ).catch(async (error) => {
      // Show the difference, not just "not within".
      for (const [name, query] of Object.entries(tables)) {
        expect(copyRows(name, query), `table ${name}`).toEqual(await clusterRows(query));
      }
      throw error;
    });
  }

  async function clusterRows(query: string): Promise<unknown[][]> {
    return (await sql.rows(query)).map((r) => r.map((v) => (typeof v === 'bigint' ? Number(v) : v)));
  }

  function copyRows(name: string, query: string): unknown[][] {
    const exists = consumer.db
      .prepare("select 1 from sqlite_schema where type = 'table' and name = ?")
      .get(name);
    if (!exists) return [];
    return consumer.db
      .prepare(query)
      .raw()
      .all()
      .map((r) => r as unknown[]);
  }

  async function copyEqualsCluster(): Promise<boolean> {
    for (const [name, query] of Object.entries(tables)) {
      if (JSON.stringify(copyRows(name, query)) !== JSON.stringify(await clusterRows(query))) return false;
    }
    return true;
  }

  it('a consumer of the stream ends with exactly the cluster’s tables, across a writer kill -9', async () => {
    await sql.exec(
      'create table acct (id integer primary key, owner text not null, balance integer not null, note text)',
    );
    await sql.exec(
      'create table kv (k1 text not null, k2 integer not null, v real, primary key (k1, k2)) without rowid',
    );
    await sql.exec('create table log (msg text, n integer)');

    const random = prng(14);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const int = (n: number) => Math.floor(random() * n);
    let nextId = 1;
    const ops: Array<() => Promise<unknown>> = [
      () =>
        sql.exec('insert into acct (id, owner, balance) values (:id, :o, :b)', {
          id: nextId++,
          o: `o${int(50)}`,
          b: int(1000),
        }),
      () =>
        sql.exec('insert into acct (id, owner, balance) values (:a, :o, 1), (:b, :o, 2), (:c, :o, 3)', {
          a: nextId++,
          b: nextId++,
          c: nextId++,
          o: `multi${int(9)}`,
        }),
      () =>
        sql.exec('update acct set balance = balance + :d, note = :n where id = :id', {
          d: int(10),
          n: `n${int(99)}`,
          id: int(nextId),
        }),
      () => sql.exec('update acct set balance = balance - 1 where id % 13 = :r', { r: int(13) }),
      () => sql.exec('delete from acct where id = :id', { id: int(nextId) }),
      // A primary-key update: a delete of the old key and a create of the new one on the stream.
      () => sql.exec('update acct set id = :to where id = :from', { to: nextId++, from: int(nextId) }),
      () =>
        sql.exec('replace into acct (id, owner, balance) values (:id, :o, :b)', {
          id: int(nextId),
          o: 'replaced',
          b: int(5),
        }),
      () =>
        sql.exec('insert into kv values (:k1, :k2, :v) on conflict (k1, k2) do update set v = excluded.v', {
          k1: pick(['a', 'b', "o'brien", 'δ']),
          k2: int(40),
          v: random() * 1e6,
        }),
      () => sql.exec('delete from kv where k2 = :k2', { k2: int(40) }),
      () =>
        sql.exec('insert into log (msg, n) values (:m, :n), (:m, :n2)', {
          m: `line ${int(1e6)}\nnext`,
          n: int(100),
          n2: int(100),
        }),
      () => sql.exec('update log set n = n + 1 where n % 17 = :r', { r: int(17) }),
      () => sql.exec('delete from log where n % 23 = :r', { r: int(23) }),
      async () => {
        const t = await sql.begin();
        await sql.exec(
          'insert into acct (id, owner, balance, note) values (:id, :o, 0, :n)',
          { id: nextId++, o: 'txn', n: 'in-txn' },
          { transactionId: t },
        );
        await sql.exec(
          'update kv set v = v + 1 where k1 = :k',
          { k: pick(['a', 'b']) },
          { transactionId: t },
        );
        await sql.exec('insert into log (msg, n) values (:m, 1)', { m: 'txn' }, { transactionId: t });
        await sql.commit(t);
      },
      async () => {
        const t = await sql.begin();
        await sql.exec(
          'insert into acct (id, owner, balance, note) values (:id, :o, 0, :n)',
          { id: nextId++, o: 'rb', n: rolledBackMarker },
          { transactionId: t },
        );
        await sql.exec(
          'update log set msg = :m where n = :n',
          { m: rolledBackMarker, n: int(100) },
          { transactionId: t },
        );
        await sql.rollback(t);
      },
    ];
    const ddl: Array<{ atFraction: number; sql: string }> = [
      { atFraction: 0.2, sql: 'alter table acct add column tag text' },
      { atFraction: 0.35, sql: 'create index log_n on log (n)' },
      { atFraction: 0.6, sql: 'alter table kv add column w integer not null default 7' },
    ];

    const start = Date.now();
    let killed = false;
    let failures = 0;
    let statements = 0;
    while (Date.now() - start < loadMs) {
      const fraction = (Date.now() - start) / loadMs;
      const due = ddl.find((d) => d.atFraction <= fraction);
      if (due) {
        ddl.splice(ddl.indexOf(due), 1);
        await sql.exec(due.sql);
      }
      if (!killed && fraction >= 0.5) {
        killed = true;
        const writer = (await system.status()).instances.find((i) => i.role === 'writer')!;
        process.kill(writer.pid!, 'SIGKILL');
      }
      statements++;
      try {
        await pick(ops)();
      } catch {
        // A statement in flight at the kill: its outcome is what the cluster says, not the client.
        failures++;
      }
      if (statements % 200 === 0) await consumer.poll();
    }
    expect(ddl, 'every DDL ran').toEqual([]);
    expect(failures, 'statements failed only around the kill').toBeLessThan(statements / 10);

    await caughtUp('the copy catching up with the cluster');

    const firsts = consumer.firstCopies();
    // Nothing of a rolled-back transaction.
    expect(consumer.arrivals.filter((a) => a.text.includes(rolledBackMarker))).toEqual([]);
    // Duplicates (republished redo after the failover) are the same event, byte for byte but ts_ms.
    expectDuplicatesIdentical(consumer.arrivals);
    // Per key, first copies arrive in position order.
    const lastByKey = new Map<string, bigint>();
    for (const a of firsts) {
      const at = (BigInt(a.event.source.lsn) << 16n) | BigInt(a.event.source.row);
      const before = lastByKey.get(a.partitionKey);
      if (before !== undefined) expect(at, `key ${a.partitionKey} in order`).toBeGreaterThan(before);
      lastByKey.set(a.partitionKey, at);
    }
    // Every transaction's events whole: total_order runs 1..n.
    const orders = new Map<string, number[]>();
    for (const a of firsts)
      orders.set(a.event.transaction.id, [
        ...(orders.get(a.event.transaction.id) ?? []),
        a.event.transaction.total_order,
      ]);
    for (const [txn, seen] of orders) expect(seen, `transaction ${txn}`).toEqual(seen.map((_, i) => i + 1));
    // The events span the kill: commits before and after it, and the DDL on the stream.
    expect(firsts.filter((a) => a.event.ddl !== undefined).map((a) => a.event.ddl)).toHaveLength(6);
    console.log(
      `binlog: ${statements} statements (${failures} failed around the kill), ${firsts.length} events, ${consumer.duplicates} duplicates, ${orders.size} transactions`,
    );
  }, 600_000);

  it('binlog read --from-time in the middle of that history prints exactly the suffix the stream carried', async () => {
    const firsts = consumer.firstCopies();
    // A commit time from the middle, on the far side of the writer kill.
    const t = firsts[Math.floor(firsts.length * 0.7)]!.event.source.ts_ms;
    const expected = firsts.filter((a) => a.event.source.ts_ms >= t).map((a) => withoutEmitTime(a.text));
    const out = await system.cli('binlog', 'read', '--from-time', new Date(t).toISOString(), '--json');
    const printed = out.stdout.trim().split('\n').map(withoutEmitTime);
    expect(printed.length).toBeGreaterThan(100);
    expect(printed).toEqual(expected);
  }, 120_000);

  it('redelivered redo batches change nothing for a deduplicating consumer', async () => {
    const before = consumer.arrivals.length;
    const redo = await readStream(kinesis, resources.redoStream.name);
    const again = redo.slice(Math.floor(redo.length / 3), Math.floor(redo.length / 3) + 20);
    expect(again.length).toBeGreaterThan(0);
    await kinesis.send(
      new PutRecordsCommand({
        StreamName: resources.redoStream.name,
        Records: again.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
      }),
    );
    await waitUntil(
      async () => {
        await consumer.poll();
        return consumer.arrivals.length > before;
      },
      30_000,
      'the streamer re-emitting the redelivered batches',
    );
    // Let every redelivered batch through, then compare.
    await new Promise((r) => setTimeout(r, 2_000));
    await consumer.poll();
    const redelivered = consumer.arrivals.slice(before);
    const firstsBefore = new Set(consumer.arrivals.slice(0, before).map((a) => positionKey(a.event)));
    expect(redelivered.filter((a) => !firstsBefore.has(positionKey(a.event)))).toEqual([]);
    expectDuplicatesIdentical(consumer.arrivals);
    expect(await copyEqualsCluster()).toBe(true);
  }, 120_000);
});

/** An envelope's JSON without its emit time (the one field a re-emitted event may change). */
function withoutEmitTime(text: string): string {
  const { ts_ms: _, ...rest } = JSON.parse(text) as Record<string, unknown>;
  return JSON.stringify(rest);
}

function expectDuplicatesIdentical(arrivals: Arrival[]): void {
  const first = new Map<string, string>();
  for (const a of arrivals) {
    const { ts_ms: _, ...rest } = a.event;
    const text = JSON.stringify(rest);
    const seen = first.get(positionKey(a.event));
    if (seen === undefined) first.set(positionKey(a.event), text);
    else expect(text, `duplicate of ${positionKey(a.event)}`).toBe(seen);
  }
}

async function readStream(
  kinesis: KinesisClient,
  streamName: string,
): Promise<{ data: Uint8Array; partitionKey: string }[]> {
  let iterator = (
    await kinesis.send(
      new GetShardIteratorCommand({
        StreamName: streamName,
        ShardId: 'shardId-000000000000',
        ShardIteratorType: 'TRIM_HORIZON',
      }),
    )
  ).ShardIterator;
  const out: { data: Uint8Array; partitionKey: string }[] = [];
  while (iterator) {
    const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
    for (const r of got.Records ?? []) out.push({ data: r.Data!, partitionKey: r.PartitionKey! });
    if ((got.Records ?? []).length === 0) break;
    iterator = got.NextShardIterator;
  }
  return out;
}
