// Data API clients people pair with Aurora MySQL, unmodified, against the proxy's Data API cluster
// endpoint of a whole cluster: kysely with kysely-data-api in `mysql` mode (the schema builder with
// autoIncrement, insert / select / update / delete, joins, transactions committed and rolled back)
// and data-api-client (queries with named parameters, insertId, a transaction, an error).
import { createRequire } from 'node:module';
import { RDSData } from '@aws-sdk/client-rds-data';
import { type Generated, Kysely } from 'kysely';
import { DataApiDialect } from 'kysely-data-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { startTestCluster, waitForStatus } from '../harness/cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE = '1';

interface Database {
  authors: { id: Generated<number>; name: string };
  books: { id: Generated<number>; author_id: number; title: string; pages: number };
}

/** data-api-client 1.x is CommonJS over aws-sdk v2 (its only published line). */
type DataApiClient = {
  query(
    sql: string,
    params?: Record<string, unknown>,
  ): Promise<{
    records?: Record<string, unknown>[];
    insertId?: number;
    numberOfRecordsUpdated?: number;
  }>;
  transaction(): {
    query(sql: string, params?: Record<string, unknown>): ReturnType<DataApiClient['transaction']>;
    rollback(handler: (error: unknown, status: unknown) => void): ReturnType<DataApiClient['transaction']>;
    commit(): Promise<unknown[]>;
  };
};
const require = createRequire(import.meta.url);
const dataApiClientFactory = require('data-api-client') as (config: Record<string, unknown>) => DataApiClient;

const credentials = { accessKeyId: 'borealis', secretAccessKey: 'borealis' };

describe('Data API clients against the proxy: kysely-data-api (mysql) and data-api-client', () => {
  const dir = makeTempDir('mysql-data-api-clients');
  let cluster: LocalCluster;
  let status: ClusterStatus;
  let db: Kysely<Database>;

  beforeAll(async () => {
    cluster = await startTestCluster({ dir: dir.path, readers: 1 });
    status = await waitForStatus(
      cluster,
      (s) => s.writer !== null && s.instances.every((i) => i.healthy),
      60_000,
      'a healthy cluster',
    );
    db = new Kysely<Database>({
      dialect: new DataApiDialect({
        mode: 'mysql',
        driver: {
          client: new RDSData({
            endpoint: status.endpoints.writer!,
            region: status.region,
            credentials,
            maxAttempts: 1,
          }),
          database: status.mysql?.database ?? 'borealis',
          resourceArn: status.resourceArn,
          secretArn: status.secretArn,
        },
      }),
    });
  }, 240_000);
  afterAll(async () => {
    await db?.destroy();
    await cluster?.stop();
    dir.remove();
  });

  it('kysely + kysely-data-api (mysql): schema with autoIncrement, insert/select/update/delete, a join, transactions', async () => {
    await db.schema
      .createTable('authors')
      .addColumn('id', 'integer', (c) => c.autoIncrement().primaryKey())
      .addColumn('name', 'varchar(100)', (c) => c.notNull())
      .execute();
    await db.schema
      .createTable('books')
      .addColumn('id', 'integer', (c) => c.autoIncrement().primaryKey())
      .addColumn('author_id', 'integer', (c) => c.notNull().references('authors.id'))
      .addColumn('title', 'varchar(200)', (c) => c.notNull())
      .addColumn('pages', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
    const ursula = await db.insertInto('authors').values({ name: 'Ursula' }).executeTakeFirstOrThrow();
    expect(Number(ursula.insertId)).toBe(1);
    const terry = await db.insertInto('authors').values({ name: 'Terry' }).executeTakeFirstOrThrow();
    expect(Number(terry.insertId)).toBe(2);
    await db
      .insertInto('books')
      .values([
        { author_id: 1, title: 'The Dispossessed', pages: 387 },
        { author_id: 1, title: 'The Lathe of Heaven', pages: 184 },
        { author_id: 2, title: 'Mort', pages: 272 },
      ])
      .execute();
    const joined = await db
      .selectFrom('books')
      .innerJoin('authors', 'authors.id', 'books.author_id')
      .select(['authors.name', 'books.title', 'books.pages'])
      .where('books.pages', '>', 200)
      .orderBy('books.title')
      .execute();
    expect(joined).toEqual([
      { name: 'Terry', title: 'Mort', pages: 272 },
      { name: 'Ursula', title: 'The Dispossessed', pages: 387 },
    ]);
    const updated = await db
      .updateTable('books')
      .set({ pages: 190 })
      .where('title', '=', 'The Lathe of Heaven')
      .executeTakeFirst();
    expect(Number(updated.numUpdatedRows)).toBe(1);
    const deleted = await db.deleteFrom('books').where('author_id', '=', 2).executeTakeFirst();
    expect(Number(deleted.numDeletedRows)).toBe(1);
    // A transaction committed, and one rolled back by an error thrown inside it.
    await db.transaction().execute(async (trx) => {
      await trx.insertInto('authors').values({ name: 'Iain' }).execute();
      await trx.updateTable('books').set({ pages: 400 }).where('title', '=', 'The Dispossessed').execute();
    });
    await expect(
      db.transaction().execute(async (trx) => {
        await trx.insertInto('authors').values({ name: 'Never' }).execute();
        await trx.deleteFrom('books').execute();
        throw new Error('roll it back');
      }),
    ).rejects.toThrow('roll it back');
    const authors = await db.selectFrom('authors').select(['id', 'name']).orderBy('id').execute();
    expect(authors).toEqual([
      { id: 1, name: 'Ursula' },
      { id: 2, name: 'Terry' },
      { id: 3, name: 'Iain' },
    ]);
    const books = await db.selectFrom('books').select(['title', 'pages']).orderBy('title').execute();
    expect(books).toEqual([
      { title: 'The Dispossessed', pages: 400 },
      { title: 'The Lathe of Heaven', pages: 190 },
    ]);
  });

  it('data-api-client: named parameters, insertId, a committed transaction, a rolled-back one, an error', async () => {
    const data = dataApiClientFactory({
      secretArn: status.secretArn,
      resourceArn: status.resourceArn,
      database: status.mysql?.database ?? 'borealis',
      region: status.region,
      options: { endpoint: status.endpoints.writer!, ...credentials, maxRetries: 0 },
    });
    await data.query(
      'CREATE TABLE notes (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, body VARCHAR(200), stars INT) ENGINE=InnoDB',
    );
    const first = await data.query('INSERT INTO notes (body, stars) VALUES (:body, :stars)', {
      body: 'hello',
      stars: 3,
    });
    expect(first.insertId).toBe(1);
    await data.query('INSERT INTO notes (body, stars) VALUES (:body, :stars)', {
      body: 'world',
      stars: null,
    });
    const selected = await data.query('SELECT id, body, stars FROM notes WHERE id >= :min ORDER BY id', {
      min: 1,
    });
    expect(selected.records).toEqual([
      { id: 1, body: 'hello', stars: 3 },
      { id: 2, body: 'world', stars: null },
    ]);
    const committed = await data
      .transaction()
      .query('INSERT INTO notes (body, stars) VALUES (:body, :stars)', { body: 'in a transaction', stars: 5 })
      .query('UPDATE notes SET stars = :stars WHERE id = :id', { stars: 4, id: 1 })
      .rollback(() => undefined)
      .commit();
    expect(committed.length).toBeGreaterThan(0);
    let rolledBack = false;
    const failed = await data
      .transaction()
      .query('INSERT INTO notes (body, stars) VALUES (:body, :stars)', { body: 'never', stars: 1 })
      .query('INSERT INTO no_such_table (x) VALUES (:x)', { x: 1 })
      .rollback(() => {
        rolledBack = true;
      })
      .commit()
      .catch((error: unknown) => error);
    expect(rolledBack).toBe(true);
    expect(String((failed as Error).message)).toMatch(/no such table|doesn't exist/);
    const all = await data.query('SELECT body, stars FROM notes ORDER BY id');
    expect(all.records).toEqual([
      { body: 'hello', stars: 4 },
      { body: 'world', stars: null },
      { body: 'in a transaction', stars: 5 },
    ]);
    await expect(data.query('SELEC 1')).rejects.toThrow(/syntax/i);
  });
});
