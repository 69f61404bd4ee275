// A reader under a steady update load sees a monotonic prefix of commits — never half a transaction —
// reports its lag, and catches up after it is killed and restarted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const updatesPerSecond = 1_000;

describe('reader under load', () => {
  const dir = makeTempDir('reader');
  let cluster: StorageCluster;
  let writer: InstanceInfo;
  let reader: InstanceInfo;
  let w: Sql;

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 4, pagesPerPg: 256 });
    writer = await startWriter(cluster);
    w = new Sql(writer);
    await w.exec('create table counter(id integer primary key, n integer not null)');
    await w.exec('create table history(n integer primary key)');
    // Each update bumps the counter and logs the new value in the same transaction.
    await w.exec(
      `create trigger log_n after update on counter begin insert into history(n) values (new.n); end`,
    );
    await w.exec('insert into counter values (1, 0)');
    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
  });
  afterAll(async () => {
    w?.close();
    await reader?.process.stop();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  /** Paced updates from several clients; returns a stopper that resolves with the last acknowledged n. */
  function updates(): { stop: () => Promise<number>; acked: () => number } {
    let running = true;
    let acked = 0;
    const clients = 16;
    const intervalMs = (1_000 * clients) / updatesPerSecond;
    const done = Promise.all(
      Array.from({ length: clients }, async (_, i) => {
        await new Promise((r) => setTimeout(r, (i * intervalMs) / clients));
        while (running) {
          const started = Date.now();
          const out = await w.rows('update counter set n = n + 1 where id = 1 returning n');
          acked = Math.max(acked, out[0]![0] as number);
          const wait = intervalMs - (Date.now() - started);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
      }),
    );
    return {
      acked: () => acked,
      stop: async () => {
        running = false;
        await done;
        return acked;
      },
    };
  }

  it('sees a monotonic, consistent prefix of commits and reports its lag; catches up after a restart', async () => {
    const load = updates();
    let r = new Sql(reader);
    let last = -1;
    const observe = async () => {
      // One statement, one read point: the counter and its history must agree exactly.
      const [[n, logged]] = (await r.rows(
        'select (select n from counter where id = 1), (select count(*) from history)',
      )) as [[number, number]];
      expect(logged).toBe(n);
      expect(n).toBeGreaterThanOrEqual(last);
      last = n;
    };
    const started = Date.now();
    while (Date.now() - started < 3_000) await observe();
    const health = (await (await fetch(`http://127.0.0.1:${reader.httpPort}/health`)).json()) as Record<
      string,
      string
    >;
    expect(health).toMatchObject({ role: 'reader', connectedToWriter: true });
    console.log(`reader lag at ~${updatesPerSecond} updates/s: ${health.lagMs} ms, ${health.lagLsn} LSNs`);
    expect(Number(health.lagLsn)).toBeGreaterThanOrEqual(0);
    const metrics = await (await fetch(`http://127.0.0.1:${reader.httpPort}/metrics`)).text();
    expect(metrics).toMatch(/borealis_reader_lag_seconds_count\{[^}]*\} [1-9]/);

    // Kill the reader, let the writer move on, bring it back: it catches up.
    r.close();
    await reader.process.kill();
    const ackedAtKill = load.acked();
    // The writer moves on while the reader is down: there is something to catch up on.
    await eventually(() => load.acked() > ackedAtKill + 100, 30_000, 'writer moves on');
    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
    r = new Sql(reader);
    last = -1;
    const acked = await load.stop();
    await eventually(
      async () => {
        await observe();
        return last >= acked;
      },
      20_000,
      'restarted reader catches up',
    );
    r.close();
  });
});
