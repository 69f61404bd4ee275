// Backtrack exactness under load (issue 17): 8 clients insert through the proxy while backtracks go
// back and forth to random past times; after each, the table equals a model of "what the cluster
// showed at T" built only from what the clients saw: every insert acknowledged at or before T (and
// on the timeline then) is there, and no insert acknowledged before the backtrack that was not
// visible at T is. Meanwhile a ninth client moves money between accounts spread over many pages
// (each transfer one statement: two rows, usually two pages) and the reader endpoint sums them
// without pause: every answer must be the constant total — a reader serving pages of two timelines
// at once would show another sum. BOREALIS_BACKTRACK_RUNS sets the number of backtracks (default 20, as the issue
// asks).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prng } from '../../core/prng.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { controlPlanePost, endpointClients, startTestCluster } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { settled } from './settle.ts';

const runs = Number(process.env.BOREALIS_BACKTRACK_RUNS ?? '20');
const clients = 8;
/** Accounts of ~1 KB each (four to a page), so that a transfer usually touches two pages. */
const accounts = 64;
const balance = 1_000;
const seed = Number(process.env.BOREALIS_SEED ?? Date.now() % 1_000_000);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Insert {
  id: number;
  sentMs: number;
  /** When the client got its acknowledgement (undefined: failed or unknown — it may have committed). */
  ackMs?: number;
}
interface Backtrack {
  toMs: number;
  requestMs: number;
  completedMs: number;
}

/**
 * The model: inserts certainly and possibly visible at T (T outside every backtrack's request →
 * completion interval). Before any backtrack: acknowledged by T / sent by T. After backtrack b
 * (the last one completed by T): what was visible at b's target, plus inserts on the new timeline —
 * certainly those sent after b completed and acknowledged by T, possibly any sent by T and not
 * acknowledged before b was requested (the old writer served those, and b voided them).
 */
function visibleAt(
  t: number,
  inserts: Insert[],
  backtracks: Backtrack[],
): { certain: Set<number>; possible: Set<number> } {
  const b = backtracks.filter((x) => x.completedMs <= t).at(-1);
  if (!b) {
    return {
      certain: new Set(inserts.filter((i) => i.ackMs !== undefined && i.ackMs <= t).map((i) => i.id)),
      possible: new Set(inserts.filter((i) => i.sentMs <= t).map((i) => i.id)),
    };
  }
  const before = visibleAt(
    b.toMs,
    inserts,
    backtracks.filter((x) => x.completedMs <= b.toMs),
  );
  for (const i of inserts) {
    if (i.sentMs >= b.completedMs && i.ackMs !== undefined && i.ackMs <= t) before.certain.add(i.id);
    if (i.sentMs <= t && (i.ackMs === undefined || i.ackMs > b.requestMs)) before.possible.add(i.id);
  }
  return before;
}

describe('backtrack exactness under load', () => {
  const dir = makeTempDir('backtrack-load');
  let cluster: LocalCluster;
  let writer: Sql;
  let reader: Sql;

  beforeAll(async () => {
    cluster = await startTestCluster({
      dir: dir.path,
      readers: 1,
      controlPlaneArgs: ['--backtrack-window-s', '3600', '--binlog-format', 'OFF'],
    });
    ({ writer, reader } = endpointClients(await cluster.status()));
  }, 180_000);

  afterAll(async () => {
    await settled(cluster);
    await cluster?.stop();
    dir.remove();
  }, 60_000);

  it(`${clients} clients insert while ${runs} backtracks go back and forth: each leaves exactly what the cluster showed at T, and the reader endpoint never shows two timelines at once`, async () => {
    console.log(`backtrack exactness seed ${seed}`);
    const random = prng(seed);
    await writer.exec('CREATE TABLE w (id INTEGER PRIMARY KEY, client INTEGER)');
    await writer.exec('CREATE TABLE acct (id INTEGER PRIMARY KEY, bal INTEGER, pad BLOB)');
    await writer.batch(
      'INSERT INTO acct VALUES (:id, :bal, zeroblob(1000))',
      Array.from({ length: accounts }, (_, id) => ({ id, bal: balance })),
    );
    const total = accounts * balance;
    const startMs = Date.now();
    const inserts: Insert[] = [];
    const backtracks: Backtrack[] = [];
    let stop = false;
    const loops = Array.from({ length: clients }, async (_, c) => {
      for (let seq = 0; !stop; seq++) {
        const insert: Insert = { id: c * 1_000_000 + seq, sentMs: Date.now() };
        inserts.push(insert);
        try {
          await writer.exec('INSERT INTO w VALUES (:id, :c)', { id: insert.id, c });
          insert.ackMs = Date.now();
        } catch {
          await sleep(50); // held too long, or ended by the switch: unknown outcome
        }
      }
    });
    let transfers = 0;
    const transferLoop = (async () => {
      while (!stop) {
        const a = Math.floor(random() * accounts);
        const b = (a + 1 + Math.floor(random() * (accounts - 1))) % accounts;
        await writer
          .exec('UPDATE acct SET bal = bal + CASE id WHEN :a THEN -:x ELSE :x END WHERE id IN (:a, :b)', {
            a,
            b,
            x: 1 + Math.floor(random() * 50),
          })
          .then(
            () => transfers++,
            () => sleep(50),
          );
      }
    })();
    const sums: { ok: number; failed: number; wrong: string[] } = { ok: 0, failed: 0, wrong: [] };
    const readerLoop = (async () => {
      while (!stop) {
        try {
          const [[sum, count]] = (await reader.rows('SELECT SUM(bal), COUNT(*) FROM acct')) as [
            [number, number],
          ];
          if (Number(sum) === total && Number(count) === accounts) sums.ok++;
          else sums.wrong.push(`sum ${sum} of ${count} accounts at ${new Date().toISOString()}`);
        } catch {
          sums.failed++; // a reader restarting on the new timeline: no answer is fine, a wrong one is not
          await sleep(50);
        }
      }
    })();
    const durations: number[] = [];
    try {
      await sleep(1_500);
      for (let run = 0; run < runs; run++) {
        // A random past time, not inside a backtrack (there the timeline is switching).
        let toMs: number;
        do toMs = Math.floor(startMs + random() * (Date.now() - 200 - startMs));
        while (backtracks.some((b) => toMs >= b.requestMs - 20 && toMs <= b.completedMs + 20));
        const requestMs = Date.now();
        const result = await controlPlanePost<{ Status: string; StatusReason?: string }>(
          cluster,
          '/backtrack',
          {
            to: new Date(toMs).toISOString(),
          },
        );
        const completedMs = Date.now();
        expect(result.Status, result.StatusReason).toBe('completed');
        backtracks.push({ toMs, requestMs, completedMs });
        durations.push(completedMs - requestMs);
        const rows = await retrying(() => writer.rows('SELECT id FROM w'));
        const ids = new Set(rows.map((r) => Number(r[0])));
        const model = visibleAt(toMs, inserts, backtracks.slice(0, -1));
        const lost = [...model.certain].filter((id) => !ids.has(id));
        const acknowledgedBefore = new Set(
          inserts.filter((i) => i.ackMs !== undefined && i.ackMs < requestMs).map((i) => i.id),
        );
        const extra = [...ids].filter((id) => acknowledgedBefore.has(id) && !model.possible.has(id));
        expect({ run, lost, extra }).toEqual({ run, lost: [], extra: [] });
        await sleep(300 + random() * 700);
      }
    } finally {
      stop = true;
      await Promise.all([...loops, transferLoop, readerLoop]);
    }
    const acked = inserts.filter((i) => i.ackMs !== undefined).length;
    console.log(
      `${runs} backtracks under ${clients} writers (${acked} inserts acknowledged): ms ${durations.join(', ')}`,
    );
    console.log(`reader endpoint: ${JSON.stringify(sums)}, ${transfers} transfers acknowledged`);
    expect(sums.wrong).toEqual([]);
    expect(sums.ok).toBeGreaterThan(runs);
    expect(transfers).toBeGreaterThan(runs);
    expect(acked).toBeGreaterThan(runs * clients);
  }, 600_000);
});

async function retrying<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= 100) throw error;
      await sleep(100);
    }
  }
}
