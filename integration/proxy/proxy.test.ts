// The proxy as a process between the real @aws-sdk/client-rds-data and real storage nodes, writers and
// readers, following a topology this test publishes (the control plane's contract, served by the test):
// both endpoints, reader spreading, bad input, hold expiry, and a writer failover during a write loop
// in which no acknowledged write is lost, open transactions are reported lost, and no write runs twice.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  RDSDataClient,
  RollbackTransactionCommand,
} from '@aws-sdk/client-rds-data';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Topology, TopologyReader } from '../../core/cluster/topology.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';
import { FakeControlPlane } from './fake-control-plane.ts';

const proxyEntry = fileURLToPath(new URL('../../services/proxy/main.ts', import.meta.url));

interface ProxyInfo {
  process: ManagedProcess;
  writer: string;
  reader: string;
  http: string;
  /** Its MySQL endpoints, as host:port. */
  mysql: { writer: string; reader: string };
}

async function startProxy(dir: string, name: string, controlPlane: string, args: string[] = []) {
  const process = await spawnProcess({
    name,
    entry: proxyEntry,
    args: ['--control-plane', controlPlane, ...args],
    logFile: join(dir, 'logs', `${name}.log`),
  });
  const ready = process.ready as Record<string, unknown>;
  return {
    process,
    writer: `http://127.0.0.1:${ready.writerPort}`,
    reader: `http://127.0.0.1:${ready.readerPort}`,
    http: `http://127.0.0.1:${ready.httpPort}`,
    mysql: { writer: `127.0.0.1:${ready.mysqlWriterPort}`, reader: `127.0.0.1:${ready.mysqlReaderPort}` },
  } satisfies ProxyInfo;
}

/** The sum of a metric's samples whose labels include `labels`. */
async function metric(proxy: ProxyInfo, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${proxy.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

function writerOf(instance: InstanceInfo, id: string, incarnation: number): Topology['writer'] {
  return { id, endpoint: instance.endpoint, redo: `127.0.0.1:${instance.redoPort}`, incarnation };
}

function readerOf(instance: InstanceInfo, id: string, healthy = true): TopologyReader {
  return { id, endpoint: instance.endpoint, incarnation: 1, healthy, lagMs: 0 };
}

/** The SDK as an application uses it: default retry strategy (maxAttempts 3), which must not replay. */
function sdkClient(endpoint: string): RDSDataClient {
  return new RDSDataClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
  });
}

describe('proxy (RDS Proxy)', () => {
  const dir = makeTempDir('proxy');
  let cluster: StorageCluster;
  let writer1: InstanceInfo;
  let writer2: InstanceInfo | undefined;
  let writer3: InstanceInfo | undefined;
  let readers: InstanceInfo[] = [];
  let plane: FakeControlPlane;
  let emptyPlane: FakeControlPlane;
  let proxy: ProxyInfo;
  let strictProxy: ProxyInfo;
  let viaWriter: Sql;
  let viaReader: Sql;
  let arns: { resourceArn: string; secretArn: string };
  const clients: RDSDataClient[] = [];

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 4, pagesPerPg: 256 });
    writer1 = await startWriter(cluster, { id: 'instance-1' });
    const redo = `127.0.0.1:${writer1.redoPort}`;
    readers = await Promise.all([
      startReader(cluster, redo, { id: 'instance-2' }),
      startReader(cluster, redo, { id: 'instance-3' }),
    ]);
    arns = { resourceArn: writer1.resourceArn, secretArn: writer1.secretArn };
    const topology: Topology = {
      version: 1,
      cluster: 'borealis',
      region: 'us-east-1',
      epoch: '1',
      writer: writerOf(writer1, 'instance-1', 1),
      readers: [readerOf(readers[0]!, 'instance-2'), readerOf(readers[1]!, 'instance-3')],
      failoverInProgress: false,
      ...arns,
      updatedAt: new Date().toISOString(),
    };
    plane = await FakeControlPlane.start(topology);
    // A second cluster view with no writer at all, for a proxy with a short hold and a tiny queue.
    emptyPlane = await FakeControlPlane.start({
      ...topology,
      writer: null,
      readers: [],
      failoverInProgress: true,
    });
    [proxy, strictProxy] = await Promise.all([
      startProxy(dir.path, 'proxy', plane.url),
      startProxy(dir.path, 'proxy-strict', emptyPlane.url, ['--hold-ms', '1500', '--queue-max', '1']),
    ]);
    viaWriter = new Sql({ ...writer1, endpoint: proxy.writer });
    viaReader = new Sql({ ...writer1, endpoint: proxy.reader });
  });

  afterAll(async () => {
    viaWriter?.close();
    viaReader?.close();
    for (const client of clients) client.destroy();
    await Promise.all([proxy?.process.stop(), strictProxy?.process.stop()]);
    await Promise.all([plane?.close(), emptyPlane?.close()]);
    // A stopped (SIGSTOP) instance cannot act on SIGTERM: kill is the one signal that always works.
    await Promise.all([writer1, writer2, writer3, ...readers].map((i) => i?.process.kill()));
    await cluster?.stopAll();
    dir.remove();
  });

  it('registers its endpoints with the control plane: Data API and MySQL, writer and reader', async () => {
    await eventually(() => plane.endpoints.length > 0, 10_000, 'endpoints registered');
    expect(plane.endpoints[0]).toEqual({ writer: proxy.writer, reader: proxy.reader, mysql: proxy.mysql });
  });

  it('runs reads, writes and transactions through the cluster endpoint and reads through the reader endpoint', async () => {
    await viaWriter.exec('create table kv(k integer primary key, v text)');
    await viaWriter.batch('insert into kv(k, v) values (:k, :v)', [
      { k: 1, v: 'one' },
      { k: 2, v: 'two' },
    ]);
    expect(await viaWriter.rows('select k, v from kv order by k')).toEqual([
      [1, 'one'],
      [2, 'two'],
    ]);
    await eventually(
      async () => (await viaReader.rows('select count(*) from kv'))[0]![0] === 2,
      10_000,
      'readers see the rows through the reader endpoint',
    );
    // The reader endpoint reaches readers: a write there gets the reader's own answer.
    await expect(viaReader.exec("insert into kv(k, v) values (3, 'x')")).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringMatching(/read-only/),
    });

    const committed = await viaWriter.begin();
    expect(committed).toMatch(/^bx1\.[A-Za-z0-9_-]+$/);
    expect(committed.length).toBeLessThanOrEqual(192);
    await viaWriter.exec("insert into kv(k, v) values (3, 'three')", {}, { transactionId: committed });
    expect(await viaWriter.rows('select count(*) from kv', {}, committed)).toEqual([[3]]);
    expect(await viaWriter.rows('select count(*) from kv')).toEqual([[2]]);
    expect((await viaWriter.commit(committed)).transactionStatus).toBe('Transaction Committed');
    const rolledBack = await viaWriter.begin();
    await viaWriter.exec('delete from kv', {}, { transactionId: rolledBack });
    expect((await viaWriter.rollback(rolledBack)).transactionStatus).toBe('Rollback Complete');
    expect(await viaWriter.rows('select count(*) from kv')).toEqual([[3]]);
    // Ids the proxy did not issue are unknown transactions, as an instance says of ids it did not issue.
    await expect(viaWriter.commit('no-such-transaction')).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(viaWriter.rows('select 1', {}, `bx1.${'A'.repeat(40)}`)).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
    });
  });

  it('spreads the reader endpoint across both readers', async () => {
    const before = await Promise.all(
      ['instance-2', 'instance-3'].map((id) =>
        metric(proxy, 'borealis_proxy_backend_requests_total', { instance: id }),
      ),
    );
    for (let round = 0; round < 5; round++) {
      await Promise.all([1, 2, 3, 4].map(() => viaReader.rows('select count(*) from kv')));
    }
    const after = await Promise.all(
      ['instance-2', 'instance-3'].map((id) =>
        metric(proxy, 'borealis_proxy_backend_requests_total', { instance: id }),
      ),
    );
    expect(after[0]! - before[0]!).toBeGreaterThanOrEqual(4);
    expect(after[1]! - before[1]!).toBeGreaterThanOrEqual(4);
    expect(after[0]! - before[0]! + after[1]! - before[1]!).toBe(20);
  });

  it('answers bad input with the error an instance gives, and forwards nothing', async () => {
    const sentBefore = await metric(proxy, 'borealis_proxy_backend_requests_total');
    const cases: { path: string; method?: string; body?: string | Buffer }[] = [
      { path: '/Execute', body: '{not json' },
      { path: '/Execute', body: '[1,2]' },
      { path: '/Execute', body: Buffer.alloc(5 * 1024 * 1024, 0x20) },
      { path: '/NoSuchOperation', body: '{}' },
      { path: '/Execute', method: 'GET' },
      { path: '/CommitTransaction', body: JSON.stringify({ ...arns }) },
      { path: '/Execute', body: JSON.stringify({ ...arns, sql: 'select 1', transactionId: 42 }) },
    ];
    const answer = async (base: string, c: (typeof cases)[number]) => {
      const response = await fetch(`${base}${c.path}`, {
        method: c.method ?? 'POST',
        headers: { 'content-type': 'application/json' },
        ...(c.body === undefined ? {} : { body: c.body }),
      });
      const body = (await response.json()) as { message: string };
      return {
        status: response.status,
        type: response.headers.get('x-amzn-errortype'),
        message: body.message,
      };
    };
    for (const c of cases) {
      const fromProxy = await answer(proxy.writer, c);
      expect(fromProxy, `${c.method ?? 'POST'} ${c.path}`).toEqual(await answer(writer1.endpoint, c));
      expect(fromProxy.status).toBeGreaterThanOrEqual(400);
    }
    expect(await metric(proxy, 'borealis_proxy_backend_requests_total')).toBe(sentBefore);
    expect(proxy.process.running).toBe(true);
  });

  it('holds a request while there is no writer, then answers DatabaseUnavailableException; refuses past its queue', async () => {
    const strict = new Sql({ ...writer1, endpoint: strictProxy.writer });
    try {
      const held = strict.exec("insert into kv(k, v) values (100, 'never')");
      held.catch(() => undefined);
      await eventually(async () => (await metric(strictProxy, 'borealis_proxy_held_requests')) === 1, 10_000);
      await expect(strict.exec("insert into kv(k, v) values (101, 'never')")).rejects.toMatchObject({
        name: 'ServiceUnavailableError',
        $metadata: { httpStatusCode: 503 },
      });
      await expect(held).rejects.toMatchObject({
        name: 'DatabaseUnavailableException',
        $metadata: { httpStatusCode: 504 },
        message: expect.stringMatching(/not sent to any instance/),
      });
    } finally {
      strict.close();
    }
  });

  it('fails over: held writes complete on the new writer, open transactions are lost, nothing runs twice', async () => {
    await viaWriter.exec('create table events(seq integer not null, src text)');
    // Open across the failover, and idle: a statement in it would take locks that stall the loop's writes.
    const open = await viaWriter.begin();

    const client = sdkClient(proxy.writer);
    clients.push(client);
    const acked = new Set<number>();
    const unknown = new Set<number>();
    const otherErrors: string[] = [];
    let stop = false;
    const loop = (async () => {
      for (let seq = 1; !stop; seq++) {
        try {
          await client.send(
            new ExecuteStatementCommand({
              ...arns,
              sql: "insert into events(seq, src) values (:seq, 'loop')",
              parameters: [{ name: 'seq', value: { longValue: seq } }],
            }),
          );
          acked.add(seq);
        } catch (error) {
          const e = error as Error & { $metadata?: { attempts?: number } };
          if (e.name === 'DatabaseErrorException' && /may or may not have committed/.test(e.message)) {
            unknown.add(seq);
          } else {
            otherErrors.push(`${seq}: ${e.name}: ${e.message}`);
          }
        }
      }
    })();

    try {
      await eventually(() => acked.size >= 10, 20_000, 'writes before the failover');
      await writer1.process.kill();
      const ackedAtKill = acked.size;
      plane.publish({ writer: null, failoverInProgress: true });
      await eventually(
        async () => (await metric(proxy, 'borealis_proxy_held_requests')) >= 1,
        10_000,
        'a held write',
      );
      // Without a replica to promote, a new writer opens the same volume (bumping the epoch).
      writer2 = await startWriter(cluster, { id: 'instance-4' });
      plane.publish({
        writer: writerOf(writer2, 'instance-4', 1),
        // The readers followed the dead writer's redo stream: out of rotation until they follow the new one.
        readers: readers.map((r, i) => readerOf(r, `instance-${i + 2}`, false)),
        failoverInProgress: false,
        epoch: '2',
      });
      await eventually(() => acked.size >= ackedAtKill + 10, 20_000, 'writes after the failover');
    } finally {
      stop = true;
      await loop;
    }

    expect(otherErrors).toEqual([]);
    expect(unknown.size).toBeLessThanOrEqual(1);
    expect(await metric(proxy, 'borealis_proxy_hold_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(await metric(proxy, 'borealis_proxy_failovers_seen_total')).toBe(1);

    // The transaction open on the failed writer is gone, and the proxy says so in words.
    await expect(viaWriter.rows('select count(*) from events', {}, open)).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
      message: expect.stringMatching(
        /open on writer instance-1, which failed over .*rolled back — begin a new transaction/,
      ),
    });
    await expect(viaWriter.commit(open)).rejects.toMatchObject({ name: 'TransactionNotFoundException' });
    expect((await viaWriter.rollback(open)).transactionStatus).toBe('Rollback Complete');

    // Every acknowledged write is there; only writes of unknown outcome may be there besides; none twice.
    const rows = (await viaWriter.rows('select seq from events order by seq')).map((r) => r[0] as number);
    const present = new Set(rows);
    expect(rows.length, 'no write ran twice').toBe(present.size);
    for (const seq of acked) expect(present.has(seq), `acknowledged write ${seq}`).toBe(true);
    for (const seq of present)
      expect(acked.has(seq) || unknown.has(seq), `unacknowledged write ${seq}`).toBe(true);
    // With no healthy reader, the reader endpoint falls back to the writer, as Aurora's does.
    expect(await viaReader.rows('select count(*) from events where seq = 1')).toEqual([[1]]);
  });

  it('never replays a write whose outcome is unknown, even with the SDK retrying', async () => {
    const client = sdkClient(proxy.writer);
    clients.push(client);
    // A write that runs for seconds: stopped mid-flight, its outcome is unknown to anyone outside.
    const slow = client.send(
      new ExecuteStatementCommand({
        ...arns,
        sql:
          "insert into events(seq, src) select 1000000, 'slow' from " +
          '(with recursive c(x) as (select 1 union all select x + 1 from c where x < 5000000) select max(x) from c)',
      }),
    );
    slow.catch(() => undefined);
    await eventually(
      async () => (await metric(proxy, 'borealis_proxy_backend_in_flight', { instance: 'instance-4' })) >= 1,
      10_000,
      'the slow write in flight',
    );
    // The writer hangs (SIGSTOP); the control plane replaces it; the proxy cuts what was in flight.
    process.kill(writer2!.process.pid, 'SIGSTOP');
    writer3 = await startWriter(cluster, { id: 'instance-5' });
    plane.publish({ writer: writerOf(writer3, 'instance-5', 1), epoch: '3' });
    const failure = await slow.then(
      () => undefined,
      (error: Error & { $metadata?: { attempts?: number; httpStatusCode?: number } }) => error,
    );
    expect(failure, 'the slow write must not succeed through a replay').toMatchObject({
      name: 'DatabaseErrorException',
      message: expect.stringMatching(
        /writer instance-4 failed while this statement ran; it may or may not have committed; it was not retried/,
      ),
      $metadata: { httpStatusCode: 400, attempts: 1 },
    });
    await writer2!.process.kill();
    expect(
      (await viaWriter.rows('select count(*) from events where seq = 1000000'))[0]![0],
    ).toBeLessThanOrEqual(1);
    await viaWriter.exec("insert into events(seq, src) values (2000000, 'after')");
    expect(await viaWriter.rows('select count(*) from events where seq = 2000000')).toEqual([[1]]);
  });

  it('keeps a transaction begun through the reader endpoint on its reader', async () => {
    plane.publish({ readers: readers.map((r, i) => readerOf(r, `instance-${i + 2}`, true)) });
    const client = sdkClient(proxy.reader);
    clients.push(client);
    const { transactionId } = await client.send(new BeginTransactionCommand(arns));
    const read = await client.send(
      new ExecuteStatementCommand({ ...arns, sql: 'select count(*) from kv', transactionId }),
    );
    expect(read.records?.[0]?.[0]?.longValue).toBeGreaterThanOrEqual(0);
    await client.send(new CommitTransactionCommand({ ...arns, transactionId }));
    await expect(
      client.send(new RollbackTransactionCommand({ ...arns, transactionId })),
    ).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
    });
  });
});
