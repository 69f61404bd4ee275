// The MySQL front end with the real mysql2 client, over an in-memory executor: handshake and auth,
// text and binary result sets, every parameter type, transactions, session statements, errors and
// bad input on raw sockets.
import { connect, type Socket } from 'node:net';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { badRequest } from '../data-api/errors.ts';
import { nativePasswordToken } from './handshake.ts';
import { framePayload, type Packet, PacketReader, PayloadWriter } from './protocol.ts';
import { type MysqlServer, numberPlaceholders, startMysqlServer } from './server.ts';
import { MemoryExecutor } from './testing.ts';

const account = { user: 'admin', password: 's3cret', database: 'borealis' };

describe('MySQL protocol server (mysql2 client)', () => {
  let executor: MemoryExecutor;
  let server: MysqlServer;
  let readerServer: MysqlServer;
  const connections: mysql.Connection[] = [];

  async function open(
    options: Partial<mysql.ConnectionOptions> = {},
    port = server.port,
  ): Promise<mysql.Connection> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port, ...account, ...options });
    connections.push(c);
    return c;
  }

  beforeAll(async () => {
    executor = new MemoryExecutor();
    server = await startMysqlServer({
      port: 0,
      executor,
      ...account,
      readOnly: false,
      maxAllowedPacket: 64 * 1024,
    });
    readerServer = await startMysqlServer({
      port: 0,
      executor: new MemoryExecutor(true),
      ...account,
      readOnly: true,
    });
  });
  afterAll(async () => {
    for (const c of connections) c.destroy();
    await server?.close();
    await readerServer?.close();
  });

  it('authenticates with mysql_native_password and refuses a wrong password with 1045', async () => {
    const c = await open();
    const [rows] = await c.query('SELECT 1 AS one');
    expect(rows).toEqual([{ one: 1 }]);
    await expect(open({ password: 'wrong' })).rejects.toMatchObject({ errno: 1045, sqlState: '28000' });
    await expect(open({ user: 'root' })).rejects.toMatchObject({ errno: 1045 });
    await expect(open({ database: 'other' })).rejects.toMatchObject({ errno: 1049 });
  });

  it('answers the session statements connectors send', async () => {
    const c = await open();
    await c.query('SET NAMES utf8mb4');
    await c.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED');
    const [rows] = await c.query(
      'SELECT @@version AS v, @@version_comment, @@session.transaction_isolation AS iso, @@max_allowed_packet AS m, DATABASE() AS db',
    );
    expect(rows).toEqual([
      {
        v: '8.0.36-borealis',
        '@@version_comment': expect.stringContaining('Borealis'),
        iso: 'READ-COMMITTED',
        m: 65536,
        db: 'borealis',
      },
    ]);
    const [[limited]] = (await c.query('select @@version_comment limit 1')) as unknown as [unknown[]];
    expect(limited).toBeDefined();
    await c.query('USE borealis');
    await expect(c.query('USE nope')).rejects.toMatchObject({ errno: 1049 });
    await expect(c.query('SELECT @@no_such_variable')).rejects.toMatchObject({ errno: 1193 });
    const [dbs] = await c.query('SHOW DATABASES');
    expect(dbs).toEqual([{ Database: 'borealis' }]);
    const [warnings] = await c.query('SHOW WARNINGS');
    expect(warnings).toEqual([]);
  });

  it('runs MySQL DDL and DML; SHOW TABLES / COLUMNS / CREATE TABLE describe the result', async () => {
    const c = await open();
    await c.query(
      'CREATE TABLE `people` (`id` int(11) unsigned NOT NULL AUTO_INCREMENT, `name` varchar(40) NOT NULL, KEY `people_name` (`name`), PRIMARY KEY (`id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4',
    );
    const [insert] = (await c.query("INSERT INTO people (name) VALUES ('ann'), ('bob')")) as unknown as [
      mysql.ResultSetHeader,
    ];
    expect(insert.affectedRows).toBe(2);
    expect(insert.insertId).toBe(2);
    const [tables] = await c.query('SHOW TABLES');
    expect(tables).toContainEqual({ Tables_in_borealis: 'people' });
    const [columns] = await c.query('SHOW COLUMNS FROM people');
    expect(columns).toEqual([
      { Field: 'id', Type: 'INTEGER', Null: 'NO', Key: 'PRI', Default: null, Extra: 'auto_increment' },
      { Field: 'name', Type: 'varchar(40)', Null: 'NO', Key: '', Default: null, Extra: '' },
    ]);
    const [[create]] = (await c.query('SHOW CREATE TABLE people')) as unknown as [Record<string, string>[]];
    expect(create!['Create Table']).toContain('CREATE TABLE');
    await expect(c.query('SHOW COLUMNS FROM nope')).rejects.toMatchObject({ errno: 1146, sqlState: '42S02' });
    const [upsert] = (await c.query(
      "INSERT INTO people (id, name) VALUES (1, 'ann2') ON DUPLICATE KEY UPDATE name = VALUES(name)",
    )) as unknown as [mysql.ResultSetHeader];
    expect(upsert.affectedRows).toBe(1);
    const [rows] = await c.query('SELECT id, name FROM people ORDER BY id LIMIT 0, 1');
    expect(rows).toEqual([{ id: 1, name: 'ann2' }]);
  });

  it('prepared statements: every parameter type round-trips through the binary protocol', async () => {
    const c = await open({ supportBigNumbers: true, dateStrings: true });
    await c.query(
      'CREATE TABLE types (i INT, big BIGINT, d DOUBLE, dec_v DECIMAL(10,2), s VARCHAR(20), t TEXT, b BLOB, dt DATETIME, flag BOOLEAN, n INT)',
    );
    const blob = Buffer.from([0, 1, 2, 250, 255]);
    const when = new Date(Date.UTC(2026, 0, 2, 3, 4, 5));
    const [header] = (await c.execute('INSERT INTO types VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)', [
      -42,
      9_223_372_036_854_775_807n,
      1.25,
      '12.50',
      "it's",
      'ünïcødé ✓ 𝄞',
      blob,
      when,
      true,
      null,
    ])) as unknown as [mysql.ResultSetHeader];
    expect(header.affectedRows).toBe(1);
    const expected = {
      i: -42,
      big: '9223372036854775807',
      d: 1.25,
      dec_v: 12.5,
      s: "it's",
      t: 'ünïcødé ✓ 𝄞',
      b: blob,
      flag: 1,
      n: null,
    };
    const [binary] = (await c.execute('SELECT * FROM types WHERE i = ?', [-42])) as unknown as [
      Record<string, unknown>[],
    ];
    expect(binary).toHaveLength(1);
    expect(binary[0]).toMatchObject(expected);
    expect(String(binary[0]!.dt)).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/);
    const [text] = (await c.query('SELECT * FROM types WHERE i = -42')) as unknown as [
      Record<string, unknown>[],
    ];
    expect(text[0]).toMatchObject(expected);
    expect(text[0]!.dt).toBe(binary[0]!.dt);
    // The same statement again, with the types already bound.
    const [again] = (await c.execute('SELECT s FROM types WHERE i = ?', [-42])) as unknown as [unknown[]];
    expect(again).toEqual([{ s: "it's" }]);
  });

  it('transactions: BEGIN / COMMIT / ROLLBACK and autocommit=0 hold an executor transaction', async () => {
    const c = await open();
    await c.query('CREATE TABLE ledger (id INT PRIMARY KEY, v INT)');
    await c.beginTransaction();
    await c.execute('INSERT INTO ledger VALUES (?, ?)', [1, 10]);
    await c.rollback();
    await c.query('START TRANSACTION');
    await c.execute('INSERT INTO ledger VALUES (?, ?)', [2, 20]);
    await c.commit();
    await c.query('SET autocommit = 0');
    await c.query('INSERT INTO ledger VALUES (3, 30)');
    const [[status]] = (await c.query('SELECT @@autocommit AS a')) as unknown as [{ a: number }[]];
    expect(status!.a).toBe(0);
    await c.query('ROLLBACK');
    await c.query('INSERT INTO ledger VALUES (4, 40)');
    await c.query('SET autocommit = 1');
    const [rows] = await c.query('SELECT id FROM ledger ORDER BY id');
    expect(rows).toEqual([{ id: 2 }, { id: 4 }]);
  });

  it('errors carry MySQL codes: 1062, 1146, 1054, 1064, 1235, 1290 on a reader', async () => {
    const c = await open();
    await c.query('CREATE TABLE uniq (id INT PRIMARY KEY)');
    await c.query('INSERT INTO uniq VALUES (1)');
    await expect(c.query('INSERT INTO uniq VALUES (1)')).rejects.toMatchObject({
      errno: 1062,
      sqlState: '23000',
    });
    await expect(c.query('SELECT * FROM missing')).rejects.toMatchObject({ errno: 1146, sqlState: '42S02' });
    await expect(c.query('SELECT nope FROM uniq')).rejects.toMatchObject({ errno: 1054, sqlState: '42S22' });
    await expect(c.query('SELEKT 1')).rejects.toMatchObject({ errno: 1064, sqlState: '42000' });
    await expect(c.query('CREATE TABLE ft (a TEXT, FULLTEXT KEY (a))')).rejects.toMatchObject({
      errno: 1235,
    });
    await expect(c.execute('SELECT * FROM missing WHERE id = ?', [1])).rejects.toMatchObject({ errno: 1146 });
    const r = await open({}, readerServer.port);
    await expect(r.query('CREATE TABLE x (a INT)')).rejects.toMatchObject({ errno: 1290, sqlState: 'HY000' });
    const [one] = await r.query('SELECT @@read_only AS ro');
    expect(one).toEqual([{ ro: 1 }]);
  });

  it('a command over max_allowed_packet gets 1153 and its connection closes; others carry on', async () => {
    const other = await open();
    const c = await open();
    await expect(c.query(`SELECT '${'x'.repeat(70 * 1024)}'`)).rejects.toMatchObject({ errno: 1153 });
    const [rows] = await other.query('SELECT 2 AS two');
    expect(rows).toEqual([{ two: 2 }]);
  });
});

describe('MySQL protocol server: a client gone mid-transaction', () => {
  /** Statements mentioning slow_marker take 300 ms, long enough to hang up during one. */
  /** Like SqlExecutor, it refuses to end a transaction while one of its statements runs. */
  class SlowExecutor extends MemoryExecutor {
    #busy = false;
    override async executeStatement(req: Parameters<MemoryExecutor['executeStatement']>[0]) {
      this.#busy = req.transactionId !== undefined;
      try {
        if (req.sql.includes('slow_marker')) await new Promise((r) => setTimeout(r, 300));
        return await super.executeStatement(req);
      } finally {
        this.#busy = false;
      }
    }
    override async rollbackTransaction(id: string) {
      if (this.#busy) throw badRequest('The transaction is running another statement');
      return super.rollbackTransaction(id);
    }
  }
  let server: MysqlServer;
  beforeAll(async () => {
    server = await startMysqlServer({ port: 0, executor: new SlowExecutor(), ...account, readOnly: false });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('hanging up while a statement runs in a transaction rolls the transaction back once it returns', async () => {
    const a = await mysql.createConnection({ host: '127.0.0.1', port: server.port, ...account });
    await a.query('CREATE TABLE gone (id INT PRIMARY KEY)');
    await a.beginTransaction();
    await a.query('INSERT INTO gone VALUES (1)');
    // mysql2 never settles a query whose connection it destroyed: not awaited.
    void a.query("SELECT 'slow_marker'").catch(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    a.destroy();
    // The executor of this test runs one transaction at a time: B can begin only once A's has ended.
    const b = await mysql.createConnection({ host: '127.0.0.1', port: server.port, ...account });
    await new Promise((r) => setTimeout(r, 400));
    await b.beginTransaction();
    const [rows] = await b.query('SELECT id FROM gone');
    expect(rows).toEqual([]);
    await b.commit();
    b.destroy();
  });
});

describe('MySQL protocol server: wait_timeout', () => {
  it('closes a connection idle past wait_timeout, and reports the setting in seconds', async () => {
    const server = await startMysqlServer({
      port: 0,
      executor: new MemoryExecutor(),
      ...account,
      readOnly: false,
      waitTimeoutMs: 300,
    });
    try {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: server.port, ...account });
      const stream = (c as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream;
      const closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
      // Taken before the last command is sent: the idle time the server counts starts after it, so
      // however slow the machine, the close comes at least wait_timeout later.
      const started = Date.now();
      const [rows] = await c.query('SELECT @@wait_timeout AS w');
      expect(rows).toEqual([{ w: 1 }]);
      await closed;
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      // The server forgets the connection on its own side's close, which may follow the client's.
      for (let i = 0; i < 100 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(server.connections).toBe(0);
      c.destroy();
    } finally {
      await server.close();
    }
  });
});

describe('MySQL protocol server: bad input on raw sockets', () => {
  let server: MysqlServer;
  beforeAll(async () => {
    server = await startMysqlServer({ port: 0, executor: new MemoryExecutor(), ...account, readOnly: false });
  });
  afterAll(async () => {
    await server?.close();
  });

  /** A raw connection that reads whole packets; `authenticate` does the handshake by hand. */
  class RawClient {
    readonly socket: Socket;
    readonly #reader = new PacketReader(1 << 30);
    readonly #packets: Packet[] = [];
    #waiters: (() => void)[] = [];
    closed = false;
    constructor(port: number) {
      this.socket = connect(port, '127.0.0.1');
      this.socket.on('data', (chunk) => {
        this.#packets.push(...this.#reader.push(chunk));
        for (const w of this.#waiters.splice(0)) w();
      });
      this.socket.on('close', () => {
        this.closed = true;
        for (const w of this.#waiters.splice(0)) w();
      });
      this.socket.on('error', () => undefined);
    }
    async next(): Promise<Packet | undefined> {
      for (;;) {
        const p = this.#packets.shift();
        if (p !== undefined) return p;
        if (this.closed) return undefined;
        await new Promise<void>((r) => this.#waiters.push(r));
      }
    }
    send(payload: Buffer, seq: number): void {
      this.socket.write(Buffer.concat(framePayload(payload, seq).buffers));
    }
    async authenticate(): Promise<void> {
      const hello = (await this.next())!.payload;
      const versionEnd = hello.indexOf(0, 1);
      const part1 = hello.subarray(versionEnd + 5, versionEnd + 13);
      const part2 = hello.subarray(
        versionEnd + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10,
        versionEnd + 13 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 12,
      );
      const token = nativePasswordToken(account.password, Buffer.concat([part1, part2]));
      const response = new PayloadWriter()
        .u32(0x200 | 0x8000 | 0x80000)
        .u32(1 << 24)
        .u8(45)
        .zeros(23)
        .nulString(account.user)
        .u8(token.length)
        .push(token)
        .nulString('mysql_native_password')
        .build();
      this.send(response, 1);
      const ok = await this.next();
      expect(ok?.payload[0]).toBe(0x00);
    }
    close(): void {
      this.socket.destroy();
    }
  }

  async function stillServes(): Promise<void> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: server.port, ...account });
    const [rows] = await c.query('SELECT 3 AS three');
    expect(rows).toEqual([{ three: 3 }]);
    c.destroy();
  }

  it('garbage bytes instead of a handshake response: an error packet, then the connection closes', async () => {
    const raw = new RawClient(server.port);
    await raw.next();
    raw.socket.write(Buffer.from([5, 0, 0, 1, 0xde, 0xad, 0xbe, 0xef, 0x00]));
    const err = await raw.next();
    expect(err?.payload[0]).toBe(0xff);
    expect(err?.payload.readUInt16LE(1)).toBe(1835);
    expect(await raw.next()).toBeUndefined();
    await stillServes();
  });

  it('an unknown command gets 1047 and the connection stays usable; a malformed execute gets 1835', async () => {
    const raw = new RawClient(server.port);
    await raw.authenticate();
    raw.send(Buffer.from([0x42, 1, 2, 3]), 0);
    const err = await raw.next();
    expect(err?.payload[0]).toBe(0xff);
    expect(err?.payload.readUInt16LE(1)).toBe(1047);
    raw.send(Buffer.from([0x0e]), 0);
    expect((await raw.next())?.payload[0]).toBe(0x00);
    // COM_STMT_PREPARE then a COM_STMT_EXECUTE cut short in its parameters.
    raw.send(Buffer.concat([Buffer.from([0x16]), Buffer.from('SELECT ?')]), 0);
    const prepared = await raw.next();
    expect(prepared?.payload[0]).toBe(0x00);
    const statementId = prepared!.payload.readUInt32LE(1);
    expect(prepared!.payload.readUInt16LE(5)).toBe(1); // one result column
    expect(prepared!.payload.readUInt16LE(7)).toBe(1); // one parameter
    await raw.next(); // the parameter definition
    await raw.next(); // its EOF (this client did not ask for DEPRECATE_EOF)
    await raw.next(); // the column definition
    await raw.next(); // its EOF
    const execute = Buffer.alloc(1 + 4 + 1 + 4 + 1 + 1 + 2);
    execute[0] = 0x17;
    execute.writeUInt32LE(statementId, 1);
    execute.writeUInt32LE(1, 6);
    execute[11] = 1; // new params bound
    execute[12] = 0x08; // LONGLONG, but no 8 value bytes follow
    raw.send(execute, 0);
    const malformed = await raw.next();
    expect(malformed?.payload.readUInt16LE(1)).toBe(1835);
    raw.send(Buffer.from([0x0e]), 0);
    expect((await raw.next())?.payload[0]).toBe(0x00);
    raw.close();
    await stillServes();
  });

  it('before authentication a packet over 64 KiB is refused (1153) and the connection closed', async () => {
    const raw = new RawClient(server.port);
    await raw.next();
    raw.socket.write(Buffer.from([0x00, 0x00, 0x02, 0x01])); // a 128 KiB handshake response
    const err = await raw.next();
    expect(err?.payload.readUInt16LE(1)).toBe(1153);
    expect(await raw.next()).toBeUndefined();
    await stillServes();
  });

  it('COM_FIELD_LIST answers the column definitions of a table, then EOF', async () => {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: server.port, ...account });
    await c.query('CREATE TABLE fl (id INT PRIMARY KEY, name TEXT)');
    c.destroy();
    const raw = new RawClient(server.port);
    await raw.authenticate();
    raw.send(Buffer.concat([Buffer.from([0x04]), Buffer.from('fl\0')]), 0);
    const names: string[] = [];
    for (;;) {
      const packet = (await raw.next())!;
      if (packet.payload[0] === 0xfe && packet.payload.length < 9) break;
      expect(packet.payload[0]).not.toBe(0xff);
      // Column definition: def, schema, table, org_table, name … (length-encoded strings).
      let offset = 0;
      const strings: string[] = [];
      for (let k = 0; k < 5; k++) {
        const length = packet.payload[offset]!;
        strings.push(packet.payload.toString('utf8', offset + 1, offset + 1 + length));
        offset += 1 + length;
      }
      expect(strings[2]).toBe('fl');
      names.push(strings[4]!);
    }
    expect(names).toEqual(['id', 'name']);
    raw.close();
  });

  it('a truncated packet and a hang-up: a clean close, the server carries on', async () => {
    const raw = new RawClient(server.port);
    await raw.authenticate();
    raw.socket.write(Buffer.from([100, 0, 0, 0, 0x03, 0x53, 0x45]));
    raw.socket.end();
    await stillServes();
    // Every connection, the truncated one included, is closed and forgotten.
    for (let i = 0; i < 100 && server.connections > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(server.connections).toBe(0);
  });

  it('a packet header claiming more than max_allowed_packet: 1153 and a close, before the bytes arrive', async () => {
    const raw = new RawClient(server.port);
    await raw.authenticate();
    // Five 16 MiB - 1 parts would exceed 64 MiB: the server refuses from the headers it has read.
    const part = Buffer.alloc(0xffffff + 4);
    part.writeUIntLE(0xffffff, 0, 3);
    for (let i = 0; i < 5; i++) {
      part[3] = i;
      raw.socket.write(part);
    }
    let packet = await raw.next();
    expect(packet?.payload[0]).toBe(0xff);
    expect(packet?.payload.readUInt16LE(1)).toBe(1153);
    packet = await raw.next();
    expect(packet).toBeUndefined();
    await stillServes();
  });
});

describe('numberPlaceholders', () => {
  it('numbers ? outside strings, quoted names and comments', () => {
    expect(numberPlaceholders("SELECT ?, '?', `a?`, \"?\" -- ?\n, ? /* ? */, 'it\\'s ?', ?")).toEqual({
      sql: "SELECT :1, '?', `a?`, \"?\" -- ?\n, :2 /* ? */, 'it\\'s ?', :3",
      count: 3,
    });
  });
});
