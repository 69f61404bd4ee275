// The MySQL protocol on a real writer and reader (storage cluster, wa-sqlite engine, redo stream),
// with unmodified clients: mysql2 (a pool of 16, prepared statements, transactions, every column
// type, error codes) and the mariadb command-line client. The Data API on the same instance runs the
// same executor: a row written over MySQL reads the same over the Data API, MySQL DDL included, and
// a Data API call may name its parameters 0, 1, … (AWS accepts them).
import { spawnSync } from 'node:child_process';
import { connect } from 'node:net';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type InstanceInfo, startReader, startWriter } from '../harness/instances.ts';
import { Sql } from '../harness/sql.ts';
import { eventually, StorageCluster } from '../harness/storage-cluster.ts';
import { makeTempDir } from '../harness/temp.ts';

const account = { user: 'admin', password: 'borealis', database: 'borealis' };
const maxAllowedPacket = 1024 * 1024;
const hasMariadbCli = spawnSync('mariadb', ['--version']).status === 0;
const hasSysbench = spawnSync('sysbench', ['--version']).status === 0;

function mysqlPortOf(instance: InstanceInfo): number {
  const port = (instance.process.ready as Record<string, unknown>).mysqlPort;
  expect(typeof port).toBe('number');
  return port as number;
}

describe('MySQL protocol on a writer and a reader', () => {
  const dir = makeTempDir('mysql-instance');
  let cluster: StorageCluster;
  let writer: InstanceInfo;
  let reader: InstanceInfo;
  let pool: mysql.Pool;
  const opened: mysql.Connection[] = [];

  const connectTo = async (instance: InstanceInfo, options: Partial<mysql.ConnectionOptions> = {}) => {
    const c = await mysql.createConnection({
      host: '127.0.0.1',
      port: mysqlPortOf(instance),
      ...account,
      ...options,
    });
    opened.push(c);
    return c;
  };

  beforeAll(async () => {
    cluster = await StorageCluster.start({ dir: dir.path, pgCount: 4, pagesPerPg: 256 });
    // Binlog capture on, as the control plane starts writers by default (ROW).
    writer = await startWriter(cluster, {
      args: ['--mysql-max-allowed-packet', String(maxAllowedPacket), '--binlog-format', 'ROW'],
    });
    reader = await startReader(cluster, `127.0.0.1:${writer.redoPort}`);
    pool = mysql.createPool({
      host: '127.0.0.1',
      port: mysqlPortOf(writer),
      ...account,
      connectionLimit: 16,
      supportBigNumbers: true,
      dateStrings: true,
    });
  });
  afterAll(async () => {
    for (const c of opened) c.destroy();
    await pool?.end();
    await reader?.process.stop();
    await writer?.process.stop();
    await cluster?.stopAll();
    dir.remove();
  });

  it('announces its MySQL port in the ready line, on the writer and on the reader', () => {
    expect(mysqlPortOf(writer)).toBeGreaterThan(0);
    expect(mysqlPortOf(reader)).toBeGreaterThan(0);
  });

  it('a pool of 16: MySQL DDL, prepared statements and transactions, every commit counted once', async () => {
    await pool.query(
      'CREATE TABLE accounts (id INT(11) NOT NULL AUTO_INCREMENT, owner VARCHAR(40) NOT NULL, balance BIGINT NOT NULL DEFAULT 0, PRIMARY KEY (id), KEY accounts_owner (owner)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
    );
    const workers = 16;
    const transactionsEach = 10;
    await Promise.all(
      Array.from({ length: workers }, async (_, w) => {
        const c = await pool.getConnection();
        try {
          for (let t = 0; t < transactionsEach; t++) {
            await c.beginTransaction();
            const [header] = (await c.execute('INSERT INTO accounts (owner, balance) VALUES (?, ?)', [
              `w${w}`,
              t,
            ])) as unknown as [mysql.ResultSetHeader];
            await c.execute('UPDATE accounts SET balance = balance + ? WHERE id = ?', [100, header.insertId]);
            // Every third transaction is rolled back: none of its changes may survive.
            if (t % 3 === 2) await c.rollback();
            else await c.commit();
          }
        } finally {
          c.release();
        }
      }),
    );
    const committedEach = Array.from({ length: transactionsEach }, (_, t) => t).filter((t) => t % 3 !== 2);
    const [rows] = (await pool.execute(
      'SELECT owner, COUNT(*) AS n, SUM(balance) AS total FROM accounts GROUP BY owner ORDER BY owner',
    )) as unknown as [{ owner: string; n: number; total: number }[]];
    expect(rows).toHaveLength(workers);
    for (const row of rows) {
      expect(row.n).toBe(committedEach.length);
      expect(Number(row.total)).toBe(committedEach.reduce((sum, t) => sum + t + 100, 0));
    }
  });

  it('every column type round-trips, over both the binary and the text protocol', async () => {
    await pool.query(
      'CREATE TABLE types (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, i INT, u INT UNSIGNED, big BIGINT, d DOUBLE, f FLOAT, dec_v DECIMAL(10,2), c CHAR(10), s VARCHAR(40), t TEXT, b BLOB, dt DATETIME, day DATE, flag TINYINT(1), j JSON, n INT)',
    );
    const blob = Buffer.from([0, 1, 2, 0x7f, 0x80, 0xfe, 0xff]);
    const values = [
      -2_147_483_648,
      4_294_967_295,
      -9_223_372_036_854_775_808n,
      -1.5e300,
      0.5,
      '12.50',
      'fixed',
      "quote ' and \\ backslash",
      'ünïcødé ✓ 𝄞',
      blob,
      '2026-01-02 03:04:05',
      '2026-01-02',
      true,
      '{"a":[1,2]}',
      null,
    ];
    const [header] = (await pool.execute(
      'INSERT INTO types (i, u, big, d, f, dec_v, c, s, t, b, dt, day, flag, j, n) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      values,
    )) as unknown as [mysql.ResultSetHeader];
    const expected = {
      i: -2_147_483_648,
      u: 4_294_967_295,
      big: '-9223372036854775808',
      d: -1.5e300,
      f: 0.5,
      dec_v: 12.5,
      c: 'fixed',
      s: "quote ' and \\ backslash",
      t: 'ünïcødé ✓ 𝄞',
      b: blob,
      dt: '2026-01-02 03:04:05',
      day: '2026-01-02',
      flag: 1,
      j: '{"a":[1,2]}',
      n: null,
    };
    const [binary] = (await pool.execute('SELECT * FROM types WHERE id = ?', [
      header.insertId,
    ])) as unknown as [Record<string, unknown>[]];
    expect(binary[0]).toEqual({ id: header.insertId, ...expected });
    const [text] = (await pool.query(`SELECT * FROM types WHERE id = ${header.insertId}`)) as unknown as [
      Record<string, unknown>[],
    ];
    expect(text[0]).toEqual({ id: header.insertId, ...expected });
    // A string literal with MySQL backslash escapes, as client-side escaping (query with values) sends it.
    await pool.query('UPDATE types SET s = ? WHERE id = ?', ["it's \\ \n", header.insertId]);
    const [[escaped]] = (await pool.query('SELECT s FROM types WHERE id = ?', [
      header.insertId,
    ])) as unknown as [{ s: string }[]];
    expect(escaped!.s).toBe("it's \\ \n");
  });

  it('the Data API on the same executor: the same rows, MySQL DDL, parameters named 0, 1, …', async () => {
    const api = new Sql(writer);
    try {
      const out = await api.rows('SELECT owner FROM accounts WHERE id = :0 AND owner <> :1', {
        0: 1,
        1: 'nobody',
      });
      const [viaMysql] = (await pool.execute('SELECT owner FROM accounts WHERE id = ?', [1])) as unknown as [
        { owner: string }[],
      ];
      expect(out).toEqual([[viaMysql[0]!.owner]]);
      await api.exec(
        'CREATE TABLE api_made (id INT NOT NULL AUTO_INCREMENT, v VARCHAR(10), PRIMARY KEY (id)) ENGINE=InnoDB',
      );
      await api.exec('INSERT INTO api_made (v) VALUES (:0)', { 0: 'x' });
      const [rows] = await pool.query('SELECT id, v FROM api_made');
      expect(rows).toEqual([{ id: 1, v: 'x' }]);
    } finally {
      api.close();
    }
  });

  it('errors carry the MySQL codes: 1062, 1146, 1054, 1064, 1290 on the reader, 1045', async () => {
    await pool.query('CREATE TABLE uniq (id INT PRIMARY KEY, v INT)');
    await pool.execute('INSERT INTO uniq VALUES (?, ?)', [1, 1]);
    await expect(pool.execute('INSERT INTO uniq VALUES (?, ?)', [1, 2])).rejects.toMatchObject({
      errno: 1062,
      sqlState: '23000',
    });
    await expect(pool.query('SELECT * FROM no_such_table')).rejects.toMatchObject({
      errno: 1146,
      sqlState: '42S02',
    });
    await expect(pool.query('SELECT no_such_column FROM uniq')).rejects.toMatchObject({ errno: 1054 });
    await expect(pool.query('SELEC 1')).rejects.toMatchObject({ errno: 1064, sqlState: '42000' });
    const r = await connectTo(reader);
    await eventually(async () => {
      const [rows] = (await r.query('SELECT v FROM uniq WHERE id = 1')) as unknown as [{ v: number }[]];
      return rows[0]?.v === 1;
    }, 10_000);
    await expect(r.query('INSERT INTO uniq VALUES (2, 2)')).rejects.toMatchObject({
      errno: 1290,
      sqlState: 'HY000',
    });
    await expect(r.execute('UPDATE uniq SET v = ? WHERE id = ?', [5, 1])).rejects.toMatchObject({
      errno: 1290,
    });
    await expect(connectTo(writer, { password: 'wrong' })).rejects.toMatchObject({
      errno: 1045,
      sqlState: '28000',
    });
    await expect(connectTo(reader, { password: 'wrong' })).rejects.toMatchObject({ errno: 1045 });
  });

  it('bad input — garbage, a truncated packet, an oversize packet, an unknown command — leaves others unaffected', async () => {
    const bystander = await connectTo(writer);
    const port = mysqlPortOf(writer);
    // Garbage instead of a handshake response: an error packet, then the server closes.
    const garbage = await rawExchange(port, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    expect(garbage.closed).toBe(true);
    expect(garbage.bytes.includes(0xff)).toBe(true);
    // A truncated packet, then a hang-up.
    await rawExchange(port, Buffer.from([200, 0, 0, 1, 1, 2, 3]), { hangUp: true });
    // Oversize: over the 1 MiB max_allowed_packet this writer was started with.
    const big = await connectTo(writer);
    await expect(big.query(`SELECT '${'x'.repeat(maxAllowedPacket + 10)}'`)).rejects.toMatchObject({
      errno: 1153,
    });
    // An unknown command (mysql2 has no API for one: a raw packet on an authenticated connection).
    const c = await connectTo(writer);
    const answer = await new Promise<Buffer>((resolve) => {
      const stream = (c as unknown as { connection: { stream: NodeJS.ReadWriteStream } }).connection.stream;
      stream.once('data', (chunk: Buffer) => resolve(chunk));
      stream.write(Buffer.from([1, 0, 0, 0, 0x42]));
    });
    expect(answer[4]).toBe(0xff);
    expect(answer.readUInt16LE(5)).toBe(1047);
    const [rows] = await bystander.query('SELECT COUNT(*) AS n FROM uniq');
    expect(rows).toEqual([{ n: 1 }]);
    const [pooled] = await pool.query('SELECT 1 AS one');
    expect(pooled).toEqual([{ one: 1 }]);
  });

  it.skipIf(!hasMariadbCli)(
    'the mariadb command-line client: connect, create, insert, select, an error; writer and reader',
    async () => {
      const run = (instance: InstanceInfo, sql: string) =>
        spawnSync(
          'mariadb',
          [
            '-h',
            '127.0.0.1',
            '-P',
            String(mysqlPortOf(instance)),
            '-u',
            account.user,
            `-p${account.password}`,
            '--skip-ssl',
            '-A',
            account.database,
            '-e',
            sql,
          ],
          { encoding: 'utf8', timeout: 20_000 },
        );
      const created = run(
        writer,
        "CREATE TABLE cli_t (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20)) ENGINE=InnoDB; INSERT INTO cli_t (name) VALUES ('alpha'), ('beta'); SELECT id, name FROM cli_t ORDER BY id;",
      );
      expect(created.stderr).toBe('');
      expect(created.status).toBe(0);
      expect(created.stdout).toBe('id\tname\n1\talpha\n2\tbeta\n');
      const failed = run(writer, 'SELECT * FROM cli_missing');
      expect(failed.status).toBe(1);
      expect(failed.stderr).toMatch(/ERROR 1146 \(42S02\)/);
      await eventually(async () => {
        const read = run(reader, 'SELECT name FROM cli_t WHERE id = 2');
        return read.stdout === 'name\nbeta\n';
      }, 10_000);
      const refused = run(reader, "INSERT INTO cli_t (name) VALUES ('gamma')");
      expect(refused.status).toBe(1);
      expect(refused.stderr).toMatch(/ERROR 1290 \(HY000\)/);
      const version = run(writer, 'SELECT @@version, DATABASE()');
      expect(version.stdout).toContain('8.0.36-borealis\tborealis');
    },
  );

  it.skipIf(!hasSysbench)(
    'sysbench oltp_read_write, unmodified: prepare, a short run with 4 threads and 0 errors, cleanup',
    () => {
      const sysbench = (...args: string[]) =>
        spawnSync(
          'sysbench',
          [
            'oltp_read_write',
            '--db-driver=mysql',
            '--mysql-host=127.0.0.1',
            `--mysql-port=${mysqlPortOf(writer)}`,
            `--mysql-user=${account.user}`,
            `--mysql-password=${account.password}`,
            `--mysql-db=${account.database}`,
            '--mysql-ssl=off',
            '--tables=2',
            '--table-size=200',
            ...args,
          ],
          { encoding: 'utf8', timeout: 60_000 },
        );
      const prepared = sysbench('prepare');
      expect(prepared.status, prepared.stderr + prepared.stdout).toBe(0);
      const ran = sysbench('--threads=4', '--time=3', 'run');
      expect(ran.status, ran.stderr + ran.stdout).toBe(0);
      expect(ran.stdout).toMatch(/ignored errors:\s+0 /);
      expect(Number(/transactions:\s+(\d+)/.exec(ran.stdout)?.[1])).toBeGreaterThan(0);
      const cleaned = sysbench('cleanup');
      expect(cleaned.status, cleaned.stderr).toBe(0);
    },
  );
});

/** Connects, reads the greeting, sends `bytes`, and collects what comes back until a close or 1 s. */
async function rawExchange(
  port: number,
  bytes: Buffer,
  options: { hangUp?: boolean } = {},
): Promise<{ bytes: Buffer; closed: boolean }> {
  const socket = connect(port, '127.0.0.1');
  const chunks: Buffer[] = [];
  let greeted = false;
  return new Promise((resolve) => {
    const finish = (closed: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ bytes: Buffer.concat(chunks), closed });
    };
    const timer = setTimeout(() => finish(false), 1_000);
    socket.on('error', () => undefined);
    socket.on('close', () => finish(true));
    socket.on('data', (chunk) => {
      if (!greeted) {
        greeted = true;
        socket.write(bytes);
        if (options.hangUp) socket.end();
        return;
      }
      chunks.push(chunk);
    });
  });
}
