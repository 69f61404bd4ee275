// `npm run bench:binlog`: what the binlog costs and how far behind it runs, with the whole system as
// `npm start` runs it. The same write_only-style load (sysbench's write_only transaction: two
// updates, a delete and an insert of one row, in one transaction) runs twice through the proxy:
// once on a cluster with binlog_format OFF (the baseline), once with ROW. Reported per run:
// transactions/s, writer CPU per transaction, and for ROW the CDC lag — from the commit's
// acknowledgement to its insert's event being readable on the binlog stream (GetRecords polled
// every 20 ms, so the figure includes up to 20 ms of polling).
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../../core/aws/clients.ts';
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { regionalResources } from '../../core/resources.ts';
import { emulatorEnv } from '../../embedded/emulators.ts';
import { readSystemState } from '../../embedded/state.ts';
import { endpointClients } from '../../integration/harness/cluster.ts';
import type { Sql } from '../../integration/harness/sql.ts';
import { TestSystem } from '../../integration/harness/system.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { sampleProcess } from '../lib/proc-io.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';

const usage = `usage: npm run bench:binlog [-- options]

The same write_only-style load through the proxy on a cluster with binlog_format OFF, then ROW:
transactions/s, writer CPU per transaction, and (ROW) the CDC lag from a commit's acknowledgement
to its event on the binlog stream.

options:
  --seconds S    length of each load (default 30)
  --clients N    concurrent clients (default 4)
  --rows N       rows in the table before the load (default 10000)
  --help         this text`;

const { values } = parseFlags('bench:binlog', {
  seconds: { type: 'string', default: '30' },
  clients: { type: 'string', default: '4' },
  rows: { type: 'string', default: '10000' },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = Math.max(1, nonNegativeIntFlag('bench:binlog', 'seconds', values.seconds));
const clients = Math.max(1, nonNegativeIntFlag('bench:binlog', 'clients', values.clients));
const tableRows = Math.max(100, nonNegativeIntFlag('bench:binlog', 'rows', values.rows));

interface RunResult {
  format: 'OFF' | 'ROW';
  transactions: number;
  transactionsPerSecond: number;
  writerCpuMsPerTransaction: number;
  lagMs?: { p50: number; p99: number; max: number; samples: number };
  events?: number;
}

async function run(format: 'OFF' | 'ROW'): Promise<RunResult> {
  const dir = makeTempDir(`bench-binlog-${format}`);
  const system = await TestSystem.start(dir.path, ['--readers', '0', '--binlog-format', format]);
  let sql: Sql | undefined;
  let kinesis: KinesisClient | undefined;
  try {
    const status = await system.status();
    sql = endpointClients(status).writer;
    const writerPid = status.instances.find((i) => i.role === 'writer')!.pid!;
    await sql.exec(
      'create table sbtest (id integer primary key, k integer not null, c text not null, pad text not null)',
    );
    for (let start = 1; start <= tableRows; start += 500) {
      const ids = Array.from({ length: Math.min(500, tableRows - start + 1) }, (_, i) => start + i);
      await sql.exec(
        `insert into sbtest values ${ids.map((id) => `(${id}, ${id % 1000}, 'c${id}', 'pad')`).join(', ')}`,
      );
    }
    kinesis = kinesisClient({
      region: 'us-east-1',
      env: { ...process.env, ...emulatorEnv(readSystemState(dir.path)!.emulators) },
    });
    const watcher = format === 'ROW' ? new EventWatcher(kinesis) : undefined;
    await watcher?.start();

    const acked = new Map<number, number>();
    let nextId = tableRows + 1;
    let transactions = 0;
    const cpuBefore = sampleProcess(writerPid)!.cpuMs;
    const end = Date.now() + seconds * 1000;
    const client = async (s: Sql) => {
      while (Date.now() < end) {
        const id = nextId++;
        const t = await s.begin();
        const k = Math.floor(Math.random() * tableRows) + 1;
        await s.exec('update sbtest set k = k + 1 where id = :id', { id: k }, { transactionId: t });
        await s.exec(
          "update sbtest set c = 'u' || :n where id = :id",
          { n: id, id: (k * 7) % tableRows },
          { transactionId: t },
        );
        await s.exec('delete from sbtest where id = :id', { id: id - tableRows }, { transactionId: t });
        await s.exec("insert into sbtest values (:id, :k, 'new', 'pad')", { id, k }, { transactionId: t });
        await s.commit(t);
        acked.set(id, Date.now());
        transactions++;
      }
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: clients }, () => client(sql!)));
    const elapsedS = (Date.now() - started) / 1000;
    const cpuMs = sampleProcess(writerPid)!.cpuMs - cpuBefore;
    const result: RunResult = {
      format,
      transactions,
      transactionsPerSecond: transactions / elapsedS,
      writerCpuMsPerTransaction: cpuMs / transactions,
    };
    if (watcher) {
      const lags = await watcher.lagsFor(acked, 30_000);
      lags.sort((a, b) => a - b);
      result.lagMs = {
        p50: percentile(lags, 50),
        p99: percentile(lags, 99),
        max: lags.at(-1) ?? Number.NaN,
        samples: lags.length,
      };
      result.events = watcher.events;
      watcher.stop();
    }
    return result;
  } finally {
    sql?.close();
    kinesis?.destroy();
    await system.stop();
    dir.remove();
  }
}

/** Polls every shard of the binlog stream and notes when each inserted sbtest id first appears. */
class EventWatcher {
  readonly seen = new Map<number, number>();
  events = 0;
  #timer: NodeJS.Timeout | undefined;
  #iterators: string[] = [];
  #busy = false;

  constructor(readonly kinesis: KinesisClient) {}

  async start(): Promise<void> {
    const name = regionalResources('us-east-1').binlogStream.name;
    const shards = await this.kinesis.send(new DescribeStreamCommand({ StreamName: name }));
    for (const shard of shards.StreamDescription?.Shards ?? []) {
      const it = await this.kinesis.send(
        new GetShardIteratorCommand({
          StreamName: name,
          ShardId: shard.ShardId!,
          ShardIteratorType: 'LATEST',
        }),
      );
      this.#iterators.push(it.ShardIterator!);
    }
    this.#timer = setInterval(() => void this.#poll(), 20);
  }

  async #poll(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (const [i, iterator] of this.#iterators.entries()) {
        const out = await this.kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }),
        );
        this.#iterators[i] = out.NextShardIterator!;
        const now = Date.now();
        for (const r of out.Records ?? []) {
          this.events++;
          const e = JSON.parse(Buffer.from(r.Data!).toString()) as { op?: string; after?: { id?: number } };
          const id = e.op === 'c' ? e.after?.id : undefined;
          if (typeof id === 'number' && !this.seen.has(id)) this.seen.set(id, now);
        }
      }
    } finally {
      this.#busy = false;
    }
  }

  async lagsFor(acked: Map<number, number>, waitMs: number): Promise<number[]> {
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && [...acked.keys()].some((id) => !this.seen.has(id))) {
      await new Promise((r) => setTimeout(r, 50));
    }
    const missing = [...acked.keys()].filter((id) => !this.seen.has(id));
    if (missing.length > 0)
      throw new Error(`${missing.length} acknowledged inserts never reached the binlog stream`);
    return [...acked].map(([id, at]) => Math.max(0, this.seen.get(id)! - at));
  }

  stop(): void {
    clearInterval(this.#timer);
  }
}

console.log(`bench/binlog: ${clients} clients, ${seconds} s per run, ${tableRows} rows`);
try {
  const off = await run('OFF');
  const row = await run('ROW');
  console.log(`\nbench/binlog — ${new Date().toISOString().slice(0, 10)}, ${JSON.stringify(machine())}\n`);
  console.log(
    table(
      ['binlog_format', 'txn/s', 'writer CPU ms/txn', 'CDC lag p50 ms', 'p99 ms', 'max ms', 'events'],
      [off, row].map((r) => [
        r.format,
        r.transactionsPerSecond,
        r.writerCpuMsPerTransaction,
        r.lagMs?.p50 ?? '-',
        r.lagMs?.p99 ?? '-',
        r.lagMs?.max ?? '-',
        r.events ?? '-',
      ]),
    ),
  );
  console.log(
    `\nROW vs OFF: ${((row.transactionsPerSecond / off.transactionsPerSecond) * 100).toFixed(0)} % of the throughput, ` +
      `${(row.writerCpuMsPerTransaction - off.writerCpuMsPerTransaction).toFixed(3)} ms more writer CPU per transaction`,
  );
  const file = writeResult('binlog', {
    date: new Date().toISOString(),
    machine: machine(),
    seconds,
    clients,
    off,
    row,
  });
  console.log(`\nresults: ${file}`);
  process.exit(0);
} catch (error) {
  console.error(`bench/binlog failed: ${(error as Error).stack ?? error}`);
  process.exit(1);
}
