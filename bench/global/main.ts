// `npm run bench:global`: the Global Database under a write load, with the whole system as
// `npm start -- --global` runs it. N clients commit sysbench write_only-style transactions (two
// updates, a delete and an insert, in one transaction) through the global writer endpoint's Data API.
// Measured in the same run:
// - replication lag: a heartbeat row updated every 20 ms on the primary; for each heartbeat, from its
//   commit acknowledgement to the first read that shows it on a reader in us-west-2 (cross-region)
//   and, as the baseline, on the reader in us-east-1 (in-region);
// - bytes replicated per transaction (the applier's AuroraGlobalDBDataTransferBytes / commits);
// - an unplanned global failover under that load: `borealis kill --region us-east-1`, `global
//   failover --to us-west-2 --allow-data-loss`, and the first write acknowledged through the same
//   endpoint (RTO); then `global rejoin --region us-east-1` names the lost transactions (RPO).
import { nonNegativeIntFlag, parseFlags } from '../../core/process/flags.ts';
import { readGlobalState } from '../../embedded/global.ts';
import { endpointClients } from '../../integration/harness/cluster.ts';
import { Sql } from '../../integration/harness/sql.ts';
import { TestSystem } from '../../integration/harness/system.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { machine, percentile, table, writeResult } from '../lib/stats.ts';

const usage = `usage: npm run bench:global [-- options]

A write_only-style load through the global writer endpoint of \`npm start -- --global\`: replication
lag to us-west-2 (beside the in-region reader's), bytes replicated per transaction, then an unplanned
global failover under the load (RTO, and the lost transactions: RPO).

options:
  --seconds S    length of the load before the failover (default 30)
  --clients N    concurrent clients (default 4)
  --rows N       rows in the table before the load (default 10000)
  --help         this text`;

const { values } = parseFlags('bench:global', {
  seconds: { type: 'string', default: '30' },
  clients: { type: 'string', default: '4' },
  rows: { type: 'string', default: '10000' },
  help: { type: 'boolean', default: false },
});
if (values.help) {
  console.log(usage);
  process.exit(0);
}
const seconds = Math.max(1, nonNegativeIntFlag('bench:global', 'seconds', values.seconds));
const clients = Math.max(1, nonNegativeIntFlag('bench:global', 'clients', values.clients));
const tableRows = Math.max(100, nonNegativeIntFlag('bench:global', 'rows', values.rows));
const heartbeatIntervalMs = 20;

/** Heartbeat acknowledgements and when each became visible on a reader. */
class HeartbeatLag {
  readonly lags: number[] = [];
  #stopping = false;
  #loop: Promise<void> | undefined;

  constructor(
    readonly acked: Map<number, number>,
    private readonly reader: Sql,
  ) {}

  start(): void {
    this.#loop = (async () => {
      let seen = 0;
      while (!this.#stopping) {
        const before = Date.now();
        try {
          const rows = await this.reader.rows('select seq from heartbeat where id = 1');
          const at = (before + Date.now()) / 2;
          const seq = Number(rows[0]?.[0] ?? 0);
          for (let s = seen + 1; s <= seq; s++) {
            const ackAt = this.acked.get(s);
            if (ackAt !== undefined) this.lags.push(Math.max(0, at - ackAt));
          }
          if (seq > seen) seen = seq;
        } catch {
          // A reader restarting: the next poll tells.
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
  }

  async stop(): Promise<{ p50: number; p99: number; max: number; samples: number }> {
    this.#stopping = true;
    await this.#loop;
    const sorted = [...this.lags].sort((a, b) => a - b);
    return {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? Number.NaN,
      samples: sorted.length,
    };
  }
}

async function applierBytes(controlPlaneUrl: string): Promise<number> {
  const status = (await (await fetch(`${controlPlaneUrl}/status`)).json()) as {
    instances: Array<{ role: string; state: string; endpoint: string | null; httpPort: number | null }>;
  };
  const slot = status.instances.find((i) => i.role === 'writer' && i.state === 'running')!;
  const health = (await (
    await fetch(`http://${new URL(slot.endpoint!).hostname}:${slot.httpPort}/health`)
  ).json()) as { dataTransferBytes: number };
  return health.dataTransferBytes;
}

const dir = makeTempDir('bench-global');
const system = await TestSystem.start(dir.path, ['--readers', '1', '--global', '--secondary-readers', '1']);
const closers: Array<() => void> = [];
try {
  const state = readGlobalState(dir.path)!;
  const east = await system.status();
  const app = new Sql({
    endpoint: state.globalWriter!.dataApi,
    resourceArn: east.resourceArn,
    secretArn: east.secretArn,
  });
  closers.push(() => app.close());
  await app.exec(
    'create table sbtest (id integer primary key, k integer not null, c text not null, pad text not null)',
  );
  await app.exec('create table heartbeat (id integer primary key, seq integer not null)');
  await app.exec('insert into heartbeat values (1, 0)');
  for (let start = 1; start <= tableRows; start += 500) {
    const ids = Array.from({ length: Math.min(500, tableRows - start + 1) }, (_, i) => start + i);
    await app.exec(
      `insert into sbtest values ${ids.map((id) => `(${id}, ${id % 1000}, 'c${id}', 'pad')`).join(', ')}`,
    );
  }
  const west = state.secondaries[0]!;
  const westStatus = (await (await fetch(`${west.controlPlaneUrl}/status`)).json()) as typeof east;
  const westReader = endpointClients(westStatus).reader;
  const eastReader = endpointClients(east).reader;
  closers.push(
    () => westReader.close(),
    () => eastReader.close(),
  );
  for (const reader of [westReader, eastReader]) {
    for (let i = 0; ; i++) {
      try {
        if (Number((await reader.rows('select count(*) from sbtest'))[0]![0]) === tableRows) break;
      } catch {}
      if (i > 600) throw new Error('the table did not reach a reader in 60 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  console.log(`bench:global: ${tableRows} rows loaded and replicated; ${clients} clients for ${seconds} s`);

  // The load, and the heartbeat.
  const acked = new Map<number, number>();
  let heartbeatSeq = 0;
  let transactions = 0;
  let errors = 0;
  let stopLoad = false;
  let nextId = tableRows + 1;
  const heartbeat = (async () => {
    while (!stopLoad) {
      const seq = ++heartbeatSeq;
      try {
        await app.exec('update heartbeat set seq = :seq where id = 1', { seq });
        acked.set(seq, Date.now());
      } catch {
        errors++;
      }
      await new Promise((r) => setTimeout(r, heartbeatIntervalMs));
    }
  })();
  const client = async () => {
    while (!stopLoad) {
      const id = nextId++;
      const k = Math.floor(Math.random() * tableRows) + 1;
      try {
        const t = await app.begin();
        await app.exec('update sbtest set k = k + 1 where id = :id', { id: k }, { transactionId: t });
        await app.exec(
          "update sbtest set c = 'u' || :n where id = :id",
          { n: id, id: (k * 7) % tableRows },
          { transactionId: t },
        );
        await app.exec('delete from sbtest where id = :id', { id: id - tableRows }, { transactionId: t });
        await app.exec("insert into sbtest values (:id, :k, 'new', 'pad')", { id, k }, { transactionId: t });
        await app.commit(t);
        transactions++;
      } catch {
        errors++;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  const crossRegion = new HeartbeatLag(acked, westReader);
  const inRegion = new HeartbeatLag(acked, eastReader);
  const bytesBefore = await applierBytes(west.controlPlaneUrl);
  crossRegion.start();
  inRegion.start();
  const started = Date.now();
  const load = Promise.all(Array.from({ length: clients }, () => client()));
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const elapsedS = (Date.now() - started) / 1000;
  const transactionsInWindow = transactions;
  const heartbeatsInWindow = acked.size;
  // Let the last heartbeats arrive before the lag is read, then measure the bytes.
  await new Promise((r) => setTimeout(r, 1_000));
  const bytes = (await applierBytes(west.controlPlaneUrl)) - bytesBefore;
  const cross = await crossRegion.stop();
  const local = await inRegion.stop();

  // The region outage under the load, and the failover.
  const killStarted = Date.now();
  await system.cli('kill', '--region', 'us-east-1', '--json');
  const killReturned = Date.now();
  const failover = JSON.parse(
    (await system.cli('global', 'failover', '--to', 'us-west-2', '--allow-data-loss', '--json')).stdout,
  ) as { durationMs: number; promotedVdl: string; promotedCommitTime: string | null };
  const failoverReturned = Date.now();
  let firstAck = 0;
  while (firstAck === 0) {
    try {
      await app.exec('update heartbeat set seq = seq + 1 where id = 1');
      firstAck = Date.now();
    } catch {
      if (Date.now() - failoverReturned > 120_000) throw new Error('no write acknowledged in us-west-2');
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  stopLoad = true;
  await Promise.all([load, heartbeat]);
  const rejoinStarted = Date.now();
  const rejoin = JSON.parse(
    (await system.cli('global', 'rejoin', '--region', 'us-east-1', '--json')).stdout,
  ) as {
    discarded?: { lost: { transactions: number; lastCommitTime: string | null } };
  };
  const rejoinMs = Date.now() - rejoinStarted;
  const lost = rejoin.discarded?.lost;
  const rpoMs =
    lost?.lastCommitTime && failover.promotedCommitTime
      ? Date.parse(lost.lastCommitTime) - Date.parse(failover.promotedCommitTime)
      : 0;

  const commits = transactionsInWindow + heartbeatsInWindow;
  const result = {
    machine: machine(),
    seconds,
    clients,
    rows: tableRows,
    transactions: transactionsInWindow,
    transactionsPerSecond: transactionsInWindow / elapsedS,
    heartbeats: heartbeatsInWindow,
    errorsDuringLoad: errors,
    replicationLagMs: cross,
    inRegionReaderLagMs: local,
    bytesReplicated: bytes,
    bytesPerCommit: bytes / commits,
    failover: {
      rtoFromKillMs: firstAck - killStarted,
      rtoFromKillReturnedMs: firstAck - killReturned,
      globalFailoverCommandMs: failoverReturned - killReturned,
      promoteMs: failover.durationMs,
      lostTransactions: lost?.transactions ?? null,
      rpoMs,
      rejoinMs,
    },
  };
  console.log(
    `\nbench:global — ${clients} clients, ${seconds} s, ${result.transactionsPerSecond.toFixed(1)} txn/s\n`,
  );
  console.log(
    table(
      ['measure', 'p50', 'p99', 'max', 'samples'],
      [
        ['replication lag to us-west-2 (ms)', cross.p50, cross.p99, cross.max, cross.samples],
        ['baseline: in-region reader lag (ms)', local.p50, local.p99, local.max, local.samples],
      ],
    ),
  );
  console.log(
    `\n${table(
      ['measure', 'value'],
      [
        ['bytes replicated per commit', result.bytesPerCommit],
        ['RTO: kill --region → first write acknowledged in us-west-2 (ms)', result.failover.rtoFromKillMs],
        ['  of which `global failover` (ms)', result.failover.globalFailoverCommandMs],
        ['RPO: transactions lost', result.failover.lostTransactions ?? '—'],
        ['RPO: commit time lost (ms)', rpoMs],
        ['rejoin of us-east-1 (ms)', rejoinMs],
      ],
    )}`,
  );
  console.log(`\nresults: ${writeResult('global', result)}`);
} finally {
  for (const close of closers) close();
  await system.stop();
  dir.remove();
}
