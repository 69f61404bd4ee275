// Invariants 1 and 2 with the real engine: SIGKILL the writer in the middle of a 16-client write
// load and restart it — every acknowledged commit is there, nothing beyond VDL is, each client's
// commits are a prefix, and money is conserved. Then storage faults under load: an AZ down (writes
// go on), a third node down (commits wait), a node back (they complete) — nothing acknowledged lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../core/prng.ts';
import { type InstanceInfo, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const accounts = 50;
const initialBalance = 1_000;
const seed = Number(process.env.BOREALIS_TEST_SEED ?? Date.now() % 1_000_000);

async function schema(sql: Sql): Promise<void> {
  await sql.exec('create table accounts(id integer primary key, balance integer not null)');
  await sql.exec(
    'create table transfers(client integer, seq integer, src integer, dst integer, amount integer, primary key(client, seq))',
  );
  // One autocommit INSERT moves the money: the transfer and both balances commit together or not at all.
  await sql.exec(`create trigger move after insert on transfers begin
      update accounts set balance = balance - new.amount where id = new.src;
      update accounts set balance = balance + new.amount where id = new.dst;
    end`);
  await sql.batch(
    'insert into accounts(id, balance) values (:id, :balance)',
    Array.from({ length: accounts }, (_, i) => ({ id: i + 1, balance: initialBalance })),
  );
}

interface ClientLog {
  client: number;
  acked: number;
  attempted: number;
}

/** Runs transfers from `clients` concurrent clients until stop() (explicit transactions for some). */
function load(sql: () => Sql, clients: number, random: () => number, firstClient: number) {
  const logs: ClientLog[] = Array.from({ length: clients }, (_, i) => ({
    client: firstClient + i,
    acked: 0,
    attempted: 0,
  }));
  const errors = new Map<string, number>();
  let running = true;
  const done = Promise.all(
    logs.map(async (log) => {
      const client = log.client;
      while (running) {
        const seq = log.acked + 1;
        const src = 1 + Math.floor(random() * accounts);
        const dst = 1 + ((src + Math.floor(random() * (accounts - 1))) % accounts);
        const values = { client, seq, src, dst, amount: 1 + Math.floor(random() * 20) };
        log.attempted = seq;
        try {
          const s = sql();
          if (client % 4 === 0) {
            const txn = await s.begin();
            await s.exec('insert into transfers values (:client, :seq, :src, :dst, :amount)', values, {
              transactionId: txn,
            });
            await s.commit(txn);
          } else {
            await s.exec('insert into transfers values (:client, :seq, :src, :dst, :amount)', values);
          }
          log.acked = seq;
        } catch (error) {
          errors.set((error as Error).message, (errors.get((error as Error).message) ?? 0) + 1);
          // Writer gone or commit outcome unknown: retry the same seq after a pause (it may exist).
          await new Promise((r) => setTimeout(r, 100));
          if (!running) break;
          const s = sql();
          const present = await s
            .rows('select count(*) from transfers where client = :c and seq = :s', { c: client, s: seq })
            .catch(() => undefined);
          if (present?.[0]?.[0] === 1) log.acked = seq;
        }
      }
    }),
  );
  return {
    logs,
    errors,
    stop: async () => {
      running = false;
      await done;
    },
  };
}

/** The writer's VDL from its /metrics. */
async function writerVdl(writer: InstanceInfo): Promise<string> {
  const text = await (
    await fetch(`http://127.0.0.1:${writer.httpPort}/metrics`, { signal: AbortSignal.timeout(2_000) })
  ).text();
  return /^borealis_writer_vdl (\S+)$/m.exec(text)?.[1] ?? 'not in /metrics';
}

async function checkInvariants(sql: Sql, logs: ClientLog[]): Promise<void> {
  const [[total, count]] = (await sql.rows('select sum(balance), count(*) from accounts')) as [
    [number, number],
  ];
  expect(total).toBe(accounts * initialBalance);
  expect(count).toBe(accounts);
  const rows = (await sql.rows(
    'select client, count(*), max(seq) from transfers group by client',
  )) as number[][];
  const byClient = new Map(rows.map(([client, n, max]) => [client!, { n: n!, max: max! }]));
  logs.forEach(({ client, ...log }) => {
    const seen = byClient.get(client) ?? { n: 0, max: 0 };
    // Every acknowledged commit is there; at most the one in flight beyond it; no gaps.
    expect(seen.max, `client ${client}`).toBeGreaterThanOrEqual(log.acked);
    expect(seen.max, `client ${client}`).toBeLessThanOrEqual(log.attempted);
    expect(seen.n, `client ${client} has a gap`).toBe(seen.max);
  });
}

describe('writer crash and storage faults under load', () => {
  const dir = makeTempDir('crash');
  let cluster: StorageCluster;
  let writer: InstanceInfo;
  let sql: Sql;

  beforeAll(async () => {
    console.log(`crash seed ${seed}`);
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 4, pagesPerPg: 128 });
    writer = await startWriter(cluster);
    sql = new Sql(writer);
    await schema(sql);
  });
  afterAll(async () => {
    sql?.close();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('keeps every acknowledged commit across kill -9 of the writer mid-load', async () => {
    const random = prng(seed);
    const running = load(() => sql, 16, random, 0);
    await eventually(
      () => running.logs.reduce((n, l) => n + l.acked, 0) >= 200,
      60_000,
      '200 commits before the kill',
    );
    await writer.process.kill();
    const ackedAtKill = running.logs.reduce((n, l) => n + l.acked, 0);
    writer = await startWriter(cluster);
    const reopenedMs = writer.process.ready.openMs as number;
    console.log(
      `killed after ${ackedAtKill} acknowledged commits; writer open in ${reopenedMs.toFixed(0)} ms`,
    );
    sql.close();
    sql = new Sql(writer);
    await new Promise((r) => setTimeout(r, 1_500));
    await running.stop();
    await checkInvariants(sql, running.logs);
  });

  it('writes go on with an AZ down, wait with a third node down, and resume when one returns', async () => {
    const random = prng(seed + 1);
    const running = load(() => sql, 8, random, 100);
    const acked = () => running.logs.reduce((n, l) => n + l.acked, 0);
    // A stall says where the clients are: what they were last refused with, and the writer's VDL.
    const progressed = (target: number) => async () => {
      if (acked() > target) return true;
      const vdl = await writerVdl(writer).catch((error: Error) => `unknown (${error.message})`);
      throw new Error(
        `${acked()} acknowledged, waiting for more than ${target}; writer VDL ${vdl}; client errors ${JSON.stringify([...running.errors])}`,
      );
    };
    await Promise.all([cluster.kill('n1'), cluster.kill('n2')]);
    const before = acked();
    // Any steady progress proves it; the bound is generous for a loaded 2-core machine.
    await eventually(progressed(before + 20), 60_000, 'commits with an AZ down');

    await cluster.kill('n3');
    // Commits already durable may still be acknowledged; after that, nothing can be.
    await new Promise((r) => setTimeout(r, 1_000));
    const stalledAt = acked();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(acked()).toBe(stalledAt);

    await cluster.start('n3');
    await eventually(progressed(stalledAt), 30_000, 'commits resume once a node returns');
    await Promise.all([cluster.start('n1'), cluster.start('n2')]);
    await running.stop();
    await checkInvariants(sql, running.logs);
  }, 180_000);
});
