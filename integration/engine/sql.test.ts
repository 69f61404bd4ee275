// Real SQL on the quorum volume through the real @aws-sdk/client-rds-data: the writer and a reader,
// typed values, parameters, transactions, and bad input that changes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

describe('SQL over the RDS Data API', () => {
  const dir = makeTempDir('sql');
  let cluster: StorageCluster;
  let writer: InstanceInfo;
  let reader: InstanceInfo;
  let w: Sql;
  let r: Sql;

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 4, pagesPerPg: 256 });
    writer = await startWriter(cluster, {
      args: ['--statement-timeout-ms', '1000', '--idle-transaction-timeout-ms', '1500'],
    });
    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
    w = new Sql(writer);
    r = new Sql(reader);
  });
  afterAll(async () => {
    w?.close();
    r?.close();
    await reader?.process.stop();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('runs DDL, inserts and typed selects on the writer and the reader', async () => {
    await w.exec(
      'create table items(id integer primary key, name text, price real, big integer, data blob, note text)',
    );
    const inserted = await w.exec(
      'insert into items(name, price, big, data, note) values (:name, :price, :big, :data, :note)',
      {
        name: 'widget',
        price: 2.5,
        big: 9_007_199_254_740_000n,
        data: new Uint8Array([0, 1, 254, 255]),
        note: null,
      },
    );
    expect(inserted.numberOfRecordsUpdated).toBe(1);
    expect(inserted.generatedFields).toEqual([{ longValue: 1 }]);
    const select = await w.exec(
      'select id, name, price, big, data, note from items',
      {},
      { includeResultMetadata: true },
    );
    expect(select.columnMetadata?.map((c) => c.name)).toEqual(['id', 'name', 'price', 'big', 'data', 'note']);
    const [row] = select.records!;
    expect(row![0]).toEqual({ longValue: 1 });
    expect(row![1]).toEqual({ stringValue: 'widget' });
    expect(row![2]).toEqual({ doubleValue: 2.5 });
    expect(row![3]).toEqual({ longValue: 9_007_199_254_740_000 });
    expect(Buffer.from(row![4]!.blobValue!)).toEqual(Buffer.from([0, 1, 254, 255]));
    expect(row![5]).toEqual({ isNull: true });
    // The reader sees the same, once the redo stream has brought it there.
    await eventually(
      async () => (await r.rows('select count(*) from items'))[0]![0] === 1,
      10_000,
      'reader sees the row',
    );
    expect(await r.rows('select name, price from items where id = :id', { id: 1 })).toEqual([
      ['widget', 2.5],
    ]);
  });

  it('batch-executes and commits or rolls back explicit transactions', async () => {
    await w.exec('create table accounts(id integer primary key, balance integer not null)');
    const batch = await w.batch('insert into accounts(id, balance) values (:id, :balance)', [
      { id: 1, balance: 100 },
      { id: 2, balance: 100 },
      { id: 3, balance: 100 },
    ]);
    expect(batch.updateResults).toHaveLength(3);

    const committed = await w.begin();
    await w.exec('update accounts set balance = balance - 30 where id = 1', {}, { transactionId: committed });
    await w.exec('update accounts set balance = balance + 30 where id = 2', {}, { transactionId: committed });
    // Inside the transaction its own changes are visible; outside, not yet.
    expect(await w.rows('select balance from accounts where id = 1', {}, committed)).toEqual([[70]]);
    expect(await w.rows('select balance from accounts where id = 1')).toEqual([[100]]);
    await w.commit(committed);
    expect(await w.rows('select id, balance from accounts order by id')).toEqual([
      [1, 70],
      [2, 130],
      [3, 100],
    ]);

    const rolledBack = await w.begin();
    await w.exec('delete from accounts', {}, { transactionId: rolledBack });
    await w.rollback(rolledBack);
    expect(await w.rows('select sum(balance) from accounts')).toEqual([[300]]);
  });

  it('answers bad input with the Data API error and changes nothing', async () => {
    const before = await w.rows('select count(*), sum(balance) from accounts');
    await expect(w.exec('selec nonsense from nowhere')).rejects.toMatchObject({
      name: 'BadRequestException',
      $metadata: { httpStatusCode: 400 },
    });
    await expect(w.exec('insert into accounts(id, balance) values (1, 5)')).rejects.toMatchObject({
      name: 'BadRequestException',
    });
    await expect(
      w.exec('insert into accounts(id, balance) values (:id, :b)', { id: 9 }),
    ).rejects.toMatchObject({
      name: 'BadRequestException',
    });
    await expect(
      w.exec('insert into accounts(id, balance) values (99, :b)', { b: 'x'.repeat(5 * 1024 * 1024) }),
    ).rejects.toMatchObject({ name: 'BadRequestException' });
    await expect(w.commit('no-such-transaction')).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
      $metadata: { httpStatusCode: 404 },
    });
    await expect(w.exec('select 1', {}, { transactionId: 'no-such-transaction' })).rejects.toMatchObject({
      name: 'TransactionNotFoundException',
    });
    await expect(r.exec('insert into accounts(id, balance) values (50, 1)')).rejects.toMatchObject({
      name: 'BadRequestException',
      message: expect.stringMatching(/read-only/),
    });
    await expect(
      w.client.send(
        new (await import('@aws-sdk/client-rds-data')).ExecuteStatementCommand({
          resourceArn: w.arns.resourceArn,
          secretArn: 'arn:aws:secretsmanager:us-east-1:000000000000:secret:wrong',
          sql: 'select 1',
        }),
      ),
    ).rejects.toMatchObject({ name: 'ForbiddenException' });
    expect(await w.rows('select count(*), sum(balance) from accounts')).toEqual(before);
    expect(writer.process.running && reader.process.running).toBe(true);
  });

  it('runs concurrent read-modify-write transactions without a spurious deadlock, losing no update', async () => {
    await w.exec('create table counters(id integer primary key, n integer not null)');
    await w.exec('insert into counters(id, n) values (1, 0), (2, 0)');
    // Each transaction reads, then writes what it read plus one; autocommit writes land in between.
    // With snapshots taken before the write lock, every transaction that read before another
    // committed would fail; under the lock none does, and no increment is lost.
    const increment = async (): Promise<void> => {
      const txn = await w.begin();
      const [[n]] = (await w.rows('select n from counters where id = 1', {}, txn)) as [[number]];
      await w.exec('update counters set n = :n where id = 1', { n: n + 1 }, { transactionId: txn });
      await w.commit(txn);
    };
    const clients = Array.from({ length: 8 }, async () => {
      for (let k = 0; k < 5; k++) {
        await increment();
        await w.exec('update counters set n = n + 1 where id = 2');
      }
    });
    await Promise.all(clients);
    expect(await w.rows('select id, n from counters order by id')).toEqual([
      [1, 40],
      [2, 40],
    ]);
    // The reader serves transactions without taking any lock.
    await eventually(
      async () => JSON.stringify(await r.rows('select n from counters where id = 1')) === '[[40]]',
      20_000,
      'the reader sees every increment',
    );
    const readTxn = await r.begin();
    expect(await r.rows('select n from counters where id = 2', {}, readTxn)).toEqual([[40]]);
    await w.exec('update counters set n = n + 1 where id = 2');
    await r.commit(readTxn);
  });

  it('commits a transaction implicitly at DDL, times out long statements, and rolls back idle transactions', async () => {
    const txn = await w.begin();
    await w.exec('insert into accounts(id, balance) values (10, 0)', {}, { transactionId: txn });
    await w.exec('create table audit(id integer primary key)', {}, { transactionId: txn });
    await w.exec('insert into accounts(id, balance) values (11, 0)', {}, { transactionId: txn });
    await w.rollback(txn);
    // The insert before the DDL was committed with it; the one after it was rolled back.
    expect(await w.rows('select id from accounts where id >= 10 order by id')).toEqual([[10]]);
    await w.exec('delete from accounts where id = 10');

    await expect(
      w.exec('with recursive n(i) as (select 1 union all select i + 1 from n) select count(*) from n'),
    ).rejects.toMatchObject({ name: 'StatementTimeoutException' });
    expect(await w.rows('select 1')).toEqual([[1]]);

    const idle = await w.begin();
    await w.exec('update accounts set balance = 0 where id = 1', {}, { transactionId: idle });
    await new Promise((r) => setTimeout(r, 2_500));
    await expect(w.commit(idle)).rejects.toMatchObject({ name: 'TransactionNotFoundException' });
    // Rolled back, and its write lock released: others write again.
    expect(await w.rows('select balance from accounts where id = 1')).toEqual([[70]]);
    await w.exec('update accounts set balance = balance where id = 1');
  });
});
