// A seeded fault schedule against a bank, in the spirit of TigerBeetle's VOPR: a cluster (six storage
// nodes, a writer, a reader, the control plane and the proxy, all real processes) serves transfers
// between accounts through the proxy while a schedule drawn from one seed — printed first, so a
// failure can be replayed with BOREALIS_VOPR_SEED — kills storage nodes (SIGKILL, started again
// later), pauses them (SIGSTOP … SIGCONT: alive, every message late), kills and pauses the writer,
// and, where network namespaces can be made (root, iproute2), partitions: every storage node and
// instance runs in a namespace of its own (the control plane's --placement), and the schedule cuts
// a node off from everyone, cuts the writer off from one AZ, or cuts the writer off entirely (the
// cluster fails over; the old writer comes back to a newer epoch and must be fenced). Never more
// than two storage nodes at once, so a write quorum always exists somewhere. After
// BOREALIS_VOPR_SECONDS (default 300) everything is healed and the bank is audited: money is
// conserved, every acknowledged transfer is there, and every balance is exactly what the recorded
// transfers make it.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { prng } from '../../core/prng.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { controlPlanePost, endpointClients, startTestCluster, waitForStatus } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { NetworkLab, namespacesUnavailable } from '../network/lab.ts';

const seconds = Number(process.env.BOREALIS_VOPR_SECONDS ?? 300);
const seed = Number(process.env.BOREALIS_VOPR_SEED ?? Math.floor(Math.random() * 2 ** 31));
const accounts = 20;
const opening = 1_000;
const clients = 3;
/** Storage nodes faulted at the same time, at most: 4 of 6 stay up (the write quorum). */
const storageFaultsMax = 2;

const nodeIds = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const instanceIds = ['instance-1', 'instance-2'];
const unavailable = namespacesUnavailable();
console.log(
  `VOPR bank: seed ${seed} (replay with BOREALIS_VOPR_SEED=${seed}), ${seconds} s, ` +
    (unavailable === undefined
      ? 'partitions in network namespaces'
      : `no partitions (${unavailable}): kills and pauses only`),
);

describe('VOPR: a bank under a seeded schedule of kills and pauses', () => {
  const dir = makeTempDir('vopr');
  let cluster: LocalCluster;
  let sql: Sql;
  let lab: NetworkLab | undefined;
  const onExit = () => lab?.destroy();

  beforeAll(async () => {
    const controlPlaneArgs: string[] = [];
    if (unavailable === undefined) {
      process.once('exit', onExit);
      lab = NetworkLab.create([...nodeIds, ...instanceIds]);
      lab.connectHost();
      const place = (id: string) => ({ launcher: lab!.launcher(id), host: lab!.address(id) });
      const file = join(dir.path, 'placement.json');
      writeFileSync(
        file,
        JSON.stringify({
          storage: Object.fromEntries(nodeIds.map((id) => [id, place(id)])),
          instances: Object.fromEntries(instanceIds.map((id) => [id, place(id)])),
        }),
      );
      controlPlaneArgs.push('--placement', file);
    }
    cluster = await startTestCluster({ dir: dir.path, readers: 1, controlPlaneArgs });
    sql = endpointClients(await cluster.status()).writer;
  }, 180_000);

  afterAll(async () => {
    sql?.close();
    await cluster?.stop();
    const failures = lab?.destroy() ?? [];
    const leftovers = lab?.leftovers() ?? [];
    process.off('exit', onExit);
    dir.remove();
    expect({ failures, leftovers }).toEqual({ failures: [], leftovers: [] });
  }, 120_000);

  it(
    `conserves money and keeps every acknowledged transfer (${seconds} s of faults)`,
    async () => {
      await sql.exec('create table acct (id integer primary key, balance integer not null)');
      await sql.exec(
        'create table transfer (id integer primary key, src integer not null, dst integer not null, amount integer not null)',
      );
      await sql.exec(
        `insert into acct values ${Array.from({ length: accounts }, (_, i) => `(${i + 1}, ${opening})`).join(', ')}`,
      );

      const random = prng(seed);
      const between = (lo: number, hi: number) => lo + Math.floor(random() * (hi - lo + 1));
      const end = Date.now() + seconds * 1000;
      const faults: string[] = [];
      const acknowledged: number[] = [];
      let unknown = 0;
      let nextTransfer = 1;

      // The clients draw from their own generator: the fault schedule stays the same whatever the timing.
      const clientRandom = prng(seed ^ 0x5bd1e995);
      const client = async () => {
        while (Date.now() < end) {
          const id = nextTransfer++;
          const src = 1 + Math.floor(clientRandom() * accounts);
          const dst = 1 + ((src + Math.floor(clientRandom() * (accounts - 1))) % accounts);
          const amount = 1 + Math.floor(clientRandom() * 50);
          try {
            const t = await sql.begin();
            const [[balance]] = (await sql.rows(
              'select balance from acct where id = :id',
              { id: src },
              t,
            )) as [[number]];
            if (balance >= amount) {
              await sql.exec(
                'update acct set balance = balance - :a where id = :id',
                { a: amount, id: src },
                { transactionId: t },
              );
              await sql.exec(
                'update acct set balance = balance + :a where id = :id',
                { a: amount, id: dst },
                { transactionId: t },
              );
              await sql.exec(
                'insert into transfer values (:id, :s, :d, :a)',
                { id, s: src, d: dst, a: amount },
                { transactionId: t },
              );
            }
            await sql.commit(t);
            if (balance >= amount) acknowledged.push(id);
          } catch {
            // Failed over, fenced, or cut off mid-transaction: its outcome is what the audit finds.
            unknown++;
            await new Promise((r) => setTimeout(r, 50));
          }
        }
      };

      const faulted = new Set<string>();
      const pending: Promise<void>[] = [];
      const later = (ms: number, heal: () => Promise<void>) =>
        pending.push(new Promise((r) => setTimeout(r, ms)).then(heal).catch(() => undefined));
      const log = (text: string) => {
        faults.push(`${Math.round((Date.now() - (end - seconds * 1000)) / 1000)} s ${text}`);
        console.log(`VOPR ${faults.at(-1)}`);
      };

      const schedule = async () => {
        while (Date.now() < end - 15_000) {
          await new Promise((r) => setTimeout(r, between(3_000, 10_000)));
          const status: ClusterStatus = await cluster.status();
          const kinds = ['node-kill', 'node-pause', 'writer-kill', 'writer-pause'];
          if (lab) kinds.push('node-cut', 'node-cut', 'writer-az-cut', 'writer-az-cut', 'writer-cut');
          const kind = kinds[between(0, kinds.length - 1)]!;
          const storageFaulted = [...faulted].filter((f) => f !== 'writer').length;
          if (kind.startsWith('node')) {
            const candidates = status.storageNodes.filter((n) => n.pid !== null && !faulted.has(n.id));
            if (storageFaulted >= storageFaultsMax || candidates.length === 0) continue;
            const node = candidates[between(0, candidates.length - 1)]!;
            const ms = between(2_000, 10_000);
            faulted.add(node.id);
            if (kind === 'node-kill') {
              log(`SIGKILL storage ${node.id}, start again in ${ms} ms`);
              process.kill(node.pid!, 'SIGKILL');
              later(ms, async () => {
                await controlPlanePost(cluster, '/start', { node: node.id }).catch(() => undefined);
                faulted.delete(node.id);
              });
            } else if (kind === 'node-pause') {
              log(`SIGSTOP storage ${node.id} for ${ms} ms`);
              process.kill(node.pid!, 'SIGSTOP');
              later(ms, async () => {
                resume(node.pid!);
                faulted.delete(node.id);
              });
            } else {
              log(`cut storage ${node.id} off from everyone for ${ms} ms`);
              lab!.cut(node.id);
              later(ms, async () => {
                lab!.heal(node.id);
                faulted.delete(node.id);
              });
            }
            continue;
          }
          const writer = status.instances.find((i) => i.role === 'writer' && i.pid !== null);
          if (!writer || status.failoverInProgress || faulted.has('writer')) continue;
          if (kind === 'writer-kill') {
            faulted.add('writer');
            log(`SIGKILL writer ${writer.id} (failover)`);
            process.kill(writer.pid!, 'SIGKILL');
            later(5_000, async () => void faulted.delete('writer'));
          } else if (kind === 'writer-pause') {
            faulted.add('writer');
            const ms = between(1_000, 6_000);
            log(`SIGSTOP writer ${writer.id} for ${ms} ms`);
            process.kill(writer.pid!, 'SIGSTOP');
            later(ms, async () => {
              resume(writer.pid!);
              faulted.delete('writer');
            });
          } else if (kind === 'writer-cut') {
            faulted.add('writer');
            const ms = between(2_000, 8_000);
            log(`cut writer ${writer.id} off from everyone for ${ms} ms`);
            lab!.cut(writer.id);
            later(ms, async () => {
              lab!.heal(writer.id);
              faulted.delete('writer');
            });
          } else {
            // The writer loses one AZ (both its nodes), which still holds data and serves others.
            const az = ['a', 'b', 'c'][between(0, 2)]!;
            const pair = status.storageNodes.filter((n) => n.az.endsWith(az)).map((n) => n.id);
            if (storageFaulted + 2 > storageFaultsMax || pair.some((id) => faulted.has(id))) continue;
            const ms = between(2_000, 10_000);
            faulted.add('writer');
            for (const id of pair) faulted.add(id);
            log(`cut writer ${writer.id} off from AZ ${az} (${pair.join(', ')}) for ${ms} ms`);
            for (const id of pair) lab!.partition(writer.id, id);
            later(ms, async () => {
              for (const id of pair) lab!.rejoin(writer.id, id);
              faulted.delete('writer');
              for (const id of pair) faulted.delete(id);
            });
          }
        }
      };

      await Promise.all([schedule(), ...Array.from({ length: clients }, client)]);
      await Promise.all(pending);

      // Heal: every storage node up, a writer and the reader healthy.
      for (const node of (await cluster.status()).storageNodes.filter((n) => n.pid === null)) {
        await controlPlanePost(cluster, '/start', { node: node.id }).catch(() => undefined);
      }
      await waitForStatus(
        cluster,
        (s) =>
          !s.failoverInProgress &&
          s.writer !== null &&
          s.storageNodes.every((n) => n.healthy) &&
          s.instances.every((i) => i.healthy),
        120_000,
        'the cluster healed after the schedule',
      );

      // The audit.
      const [[total]] = (await sql.rows('select sum(balance) from acct')) as [[number]];
      expect(total, 'money conserved').toBe(accounts * opening);
      // Read in pages: a whole run's transfers exceed the Data API's 1 MB result limit (a fast run
      // records tens of thousands).
      const transfers: number[][] = [];
      for (;;) {
        const page = (await sql.rows(
          'select id, src, dst, amount from transfer where id > :after order by id limit 2000',
          { after: transfers.at(-1)?.[0] ?? -1 },
        )) as number[][];
        transfers.push(...page);
        if (page.length < 2000) break;
      }
      const present = new Set(transfers.map((t) => t[0]));
      expect(
        acknowledged.filter((id) => !present.has(id)),
        'acknowledged transfers missing',
      ).toEqual([]);
      const expected = new Map(Array.from({ length: accounts }, (_, i) => [i + 1, opening]));
      for (const [, src, dst, amount] of transfers) {
        expected.set(src!, expected.get(src!)! - amount!);
        expected.set(dst!, expected.get(dst!)! + amount!);
      }
      const balances = (await sql.rows('select id, balance from acct order by id')) as number[][];
      expect(balances).toEqual([...expected].map(([id, balance]) => [id, balance]));
      const failovers = (await cluster.status()).failovers.length;
      console.log(
        `VOPR seed ${seed}: ${faults.length} faults, ${failovers} failovers, ${acknowledged.length} transfers acknowledged, ` +
          `${transfers.length} recorded, ${unknown} with an unknown outcome`,
      );
      expect(faults.length, 'the schedule injected faults').toBeGreaterThan((seconds - 15) / 15);
      expect(acknowledged.length, 'the bank kept serving between faults').toBeGreaterThan(seconds);
    },
    (seconds + 420) * 1000,
  );
});

function resume(pid: number): void {
  try {
    process.kill(pid, 'SIGCONT');
  } catch {
    // Gone meanwhile (the control plane replaced it): nothing to resume.
  }
}
