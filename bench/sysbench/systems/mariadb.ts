// MariaDB 10.11, the baseline: a primary and one binlog replica on this machine, each its own
// mariadbd with its own datadir, port and socket under a temp dir, started here as root with durable
// settings (innodb_flush_log_at_trx_commit=1, sync_binlog=1, ROW binlog). Clients use mysql2 over
// TCP on 127.0.0.1 with server-side prepared statements, as sysbench does. Recovery: SIGKILL the
// primary and start mariadbd again on the same datadir at once (what RDS does for you).
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { freePorts } from '../../../core/process/ports.ts';
import { runSessions } from '../phase.ts';
import { removeOnExit, runCommand, type Started, signal, startProcess, stopProcess } from '../processes.ts';
import { recoveryUnderLoad } from '../recovery.ts';
import type {
  ClientsResult,
  MysqlEndpoint,
  Params,
  RecoveryResult,
  Row,
  Session,
  SystemDriver,
  SystemProcesses,
  Workload,
} from '../types.ts';
import { errorLine, nowMs, waitFor } from '../util.ts';
import { sbtestRow, seededRandom } from '../workloads/statements.ts';

/** InnoDB buffer pool per instance: small enough for two instances beside everything else. */
const bufferPoolBytes = 256 * 2 ** 20;
const user = 'bench';
const password = 'bench';
const database = 'sbtest';
/** Rows per multi-row INSERT while loading. */
const loadBatchRows = 500;
const startTimeoutMs = 60_000;

interface Instance {
  name: 'primary' | 'replica';
  dir: string;
  port: number;
  socket: string;
  args: string[];
  process?: Started;
}

export class MariaDbDriver implements SystemDriver {
  readonly id = 'mariadb';
  readonly label = 'MariaDB 10.11 + binlog replica';
  readonly hasReplica = true;
  readonly #root = join(tmpdir(), `borealis-bench-mariadb-${process.pid}-${Date.now()}`);
  #primary?: Instance;
  #replica?: Instance;
  version = '';
  #binaries: Binaries = { server: 'mariadbd', installer: 'mariadb-install-db' };

  constructor(private readonly log: (line: string) => void) {}

  /** Where a MySQL client (Debian's sysbench, `--driver sysbench`) reaches the primary. */
  mysqlEndpoint(): MysqlEndpoint {
    if (!this.#primary) throw new Error('mariadb: not started');
    return { host: '127.0.0.1', port: this.#primary.port, user, password, database };
  }

  async start(): Promise<void> {
    this.#binaries = await ensureInstalled(this.log);
    mkdirSync(this.#root, { recursive: true });
    removeOnExit(this.#root);
    const [primaryPort, replicaPort] = await freePorts(2);
    this.#primary = this.#instance('primary', primaryPort!, 1, [
      `--log-bin=${join(this.#root, 'primary', 'binlog')}`,
      '--binlog-format=ROW',
      '--sync-binlog=1',
    ]);
    this.#replica = this.#instance('replica', replicaPort!, 2, [
      `--relay-log=${join(this.#root, 'replica', 'relay')}`,
      '--read-only=1',
      '--skip-slave-start',
    ]);
    // One after the other: two bootstraps at once have been seen to fail on a busy machine.
    for (const instance of [this.#primary, this.#replica]) await this.#installDatadir(instance);
    await Promise.all([this.#primary, this.#replica].map((i) => this.#launch(i)));
    const [primaryRoot, replicaRoot] = await Promise.all([
      this.#rootConnection(this.#primary),
      this.#rootConnection(this.#replica),
    ]);
    try {
      this.version = String(((await primaryRoot.query('SELECT VERSION()')) as unknown as [Row[]])[0][0]);
      for (const [conn, isPrimary] of [
        [primaryRoot, true],
        [replicaRoot, false],
      ] as const) {
        if (isPrimary) await conn.query('SET sql_log_bin = 0');
        await conn.query(`CREATE USER '${user}'@'127.0.0.1' IDENTIFIED BY '${password}'`);
        await conn.query(`GRANT ALL PRIVILEGES ON *.* TO '${user}'@'127.0.0.1'`);
        if (isPrimary) await conn.query('SET sql_log_bin = 1');
      }
      const [status] = (await primaryRoot.query('SHOW MASTER STATUS')) as unknown as [
        Record<string, unknown>[],
      ];
      const file = String(status[0]?.File);
      const position = Number(status[0]?.Position);
      await replicaRoot.query(
        `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${this.#primary.port}, MASTER_USER='${user}', ` +
          `MASTER_PASSWORD='${password}', MASTER_LOG_FILE='${file}', MASTER_LOG_POS=${position}, ` +
          // Reconnect after a primary restart within 1 s instead of the default 60 s.
          'MASTER_CONNECT_RETRY=1',
      );
      await replicaRoot.query('START SLAVE');
      await primaryRoot.query(`CREATE DATABASE ${database}`);
    } finally {
      await Promise.all([primaryRoot.end(), replicaRoot.end()]);
    }
  }

  #instance(name: Instance['name'], port: number, serverId: number, extra: string[]): Instance {
    const dir = join(this.#root, name);
    const socket = join(dir, 'mysqld.sock');
    const args = [
      '--no-defaults',
      '--user=root',
      `--datadir=${join(dir, 'data')}`,
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mysqld.pid')}`,
      `--port=${port}`,
      '--bind-address=127.0.0.1',
      '--skip-name-resolve',
      `--log-error=${join(dir, 'error.log')}`,
      `--tmpdir=${dir}`,
      `--server-id=${serverId}`,
      `--innodb-buffer-pool-size=${bufferPoolBytes}`,
      '--innodb-flush-log-at-trx-commit=1',
      '--max-connections=300',
      ...extra,
    ];
    return { name, dir, port, socket, args };
  }

  async #installDatadir(instance: Instance): Promise<void> {
    mkdirSync(instance.dir, { recursive: true });
    const installer = this.#binaries.installer;
    const result = await runCommand(
      installer,
      [
        '--no-defaults',
        '--user=root',
        `--datadir=${join(instance.dir, 'data')}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        // Passed on to the bootstrap mariadbd: its temp files stay in this instance's folder.
        `--tmpdir=${instance.dir}`,
      ],
      120_000,
    );
    if (result.code !== 0) {
      const lines = `${result.stdout}\n${result.stderr}`.split('\n');
      const errors = lines.filter((l) => /\[ERROR\]|ERROR|FATAL/i.test(l));
      const why = (errors.length > 0 ? errors.slice(0, 2) : lines.filter(Boolean).slice(-2)).join(' | ');
      throw new Error(`${installer} (${instance.name}) exited ${result.code}: ${why.slice(0, 300)}`);
    }
  }

  async #launch(instance: Instance): Promise<void> {
    instance.process = startProcess(this.#binaries.server, instance.args, join(instance.dir, 'mariadbd.out'));
    await waitFor(`mariadbd ${instance.name} accepting connections`, startTimeoutMs, async () => {
      if (!instance.process?.running())
        throw new Error(`mariadbd ${instance.name} exited; see ${instance.dir}`);
      const conn = await mysql.createConnection({ socketPath: instance.socket, user: 'root' });
      await conn.end();
      return true;
    });
  }

  #rootConnection(instance: Instance) {
    return mysql.createConnection({ socketPath: instance.socket, user: 'root' });
  }

  async load(rows: number): Promise<void> {
    const conn = await this.#open(this.#primary!);
    try {
      await conn.query(
        "CREATE TABLE sbtest (id INT NOT NULL, k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', " +
          "pad CHAR(60) NOT NULL DEFAULT '', PRIMARY KEY (id), KEY k_1 (k)) ENGINE=InnoDB",
      );
      await conn.query(
        'CREATE TABLE heartbeat (id INT PRIMARY KEY, seq BIGINT NOT NULL, ts DOUBLE NOT NULL) ENGINE=InnoDB',
      );
      await conn.query('INSERT INTO heartbeat VALUES (1, 0, 0)');
      const context = { rows, random: seededRandom(1) };
      for (let first = 1; first <= rows; first += loadBatchRows) {
        const batch: unknown[][] = [];
        for (let id = first; id < Math.min(rows + 1, first + loadBatchRows); id++) {
          const row = sbtestRow(context, id);
          batch.push([row.id, row.k, row.c, row.pad]);
        }
        await conn.query('INSERT INTO sbtest (id, k, c, pad) VALUES ?', [batch]);
      }
    } finally {
      await conn.end();
    }
    // The replica has the database only once it has replayed CREATE DATABASE: connect inside the wait.
    await waitFor('replica has every row', 120_000, async () => {
      const replica = await this.#open(this.#replica!);
      try {
        const [result] = (await replica.query('SELECT COUNT(*) FROM sbtest')) as unknown as [
          Record<string, unknown>[],
        ];
        return Number(Object.values(result[0] ?? {})[0]) === rows ? true : undefined;
      } finally {
        await replica.end();
      }
    });
  }

  #open(instance: Instance) {
    return mysql.createConnection({
      host: '127.0.0.1',
      port: instance.port,
      user,
      password,
      database,
      namedPlaceholders: true,
      connectTimeout: 2_000,
    });
  }

  async connect(target: 'primary' | 'replica'): Promise<Session> {
    return new MysqlSession(await this.#open(target === 'primary' ? this.#primary! : this.#replica!));
  }

  isBroken(session: Session): boolean {
    return (session as MysqlSession).broken;
  }

  runClients(workload: Workload, clients: number, durationMs: number, rows: number): Promise<ClientsResult> {
    return runSessions(
      { connect: () => this.connect('primary'), isBroken: (s) => this.isBroken(s) },
      workload,
      clients,
      durationMs,
      rows,
      clients,
    );
  }

  async processes(): Promise<SystemProcesses> {
    const roles = new Map<number, string>();
    for (const instance of [this.#primary, this.#replica]) {
      if (instance?.process?.running()) roles.set(instance.process.pid, instance.name);
    }
    return { all: [...roles.keys()], roles };
  }

  measureRecovery(rows: number, loadClients: number, warmupMs: number): Promise<RecoveryResult> {
    return recoveryUnderLoad({
      connectPrimary: () => this.connect('primary'),
      connectReplica: () => this.connect('replica'),
      isBroken: (s) => this.isBroken(s),
      crash: async () => {
        const primary = this.#primary!;
        const old = primary.process!;
        const killedAt = nowMs();
        signal(old.pid, 'SIGKILL');
        await old.exited;
        primary.process = startProcess(
          this.#binaries.server,
          primary.args,
          join(primary.dir, 'mariadbd.out'),
        );
        return killedAt;
      },
      rows,
      loadClients,
      warmupMs,
      timeoutMs: 120_000,
      replicaTimeoutMs: 90_000,
    });
  }

  async stop(): Promise<void> {
    await Promise.all(
      [this.#primary, this.#replica].map(async (instance) => {
        if (instance?.process) await stopProcess(instance.process, 30_000);
      }),
    );
    try {
      rmSync(this.#root, { recursive: true, force: true });
    } catch (error) {
      this.log(`could not remove ${this.#root}: ${errorLine(error)}`);
    }
  }
}

class MysqlSession implements Session {
  broken = false;

  constructor(private readonly conn: mysql.Connection) {
    conn.on('error', () => {
      this.broken = true;
    });
  }

  async #run<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if ((error as { fatal?: boolean }).fatal) this.broken = true;
      throw error;
    }
  }

  query(sql: string, params: Params = {}): Promise<Row[]> {
    return this.#run(async () => {
      const [rows] = await this.conn.execute({ sql, rowsAsArray: true }, params);
      return Array.isArray(rows) ? (rows as Row[]) : [];
    });
  }

  async begin(): Promise<void> {
    await this.#run(() => this.conn.query('BEGIN'));
  }

  async commit(): Promise<void> {
    await this.#run(() => this.conn.query('COMMIT'));
  }

  async rollback(): Promise<void> {
    if (this.broken) return;
    try {
      await this.conn.query('ROLLBACK');
    } catch {
      this.broken = true;
    }
  }

  async close(): Promise<void> {
    try {
      if (this.broken) this.conn.destroy();
      else await this.conn.end();
    } catch {
      this.conn.destroy();
    }
  }
}

/** Prints the server's path, then the datadir installer's; fails when either is missing. */
const findBinaries =
  'PATH="$PATH:/usr/sbin:/usr/local/sbin"; s=$(command -v mariadbd || command -v mysqld) && ' +
  'i=$(command -v mariadb-install-db || command -v mysql_install_db) && echo "$s" && echo "$i"';

interface Binaries {
  server: string;
  installer: string;
}

async function findInstalled(): Promise<Binaries | undefined> {
  const found = await runCommand('sh', ['-c', findBinaries], 10_000);
  const [server, installer] = found.stdout.trim().split('\n');
  return found.code === 0 && server && installer ? { server, installer } : undefined;
}

/**
 * The mariadbd and mariadb-install-db binaries; apt-get installs mariadb-server first when either is
 * missing (root only, Debian/Ubuntu). Where no policy-rc.d blocks it, the package starts its own
 * service on port 3306 as any install does; the benchmark never uses that one.
 */
async function ensureInstalled(log: (line: string) => void): Promise<Binaries> {
  const found = await findInstalled();
  if (found) return found;
  if (process.getuid?.() !== 0) throw new Error('mariadbd is missing and installing it needs root');
  log('mariadbd not found: apt-get update && apt-get install -y mariadb-server (one time)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const update = await runCommand('apt-get', ['update'], 300_000, { env });
  if (update.code !== 0) throw new Error(`apt-get update failed: ${update.stderr.slice(-300)}`);
  const install = await runCommand('apt-get', ['install', '-y', 'mariadb-server'], 900_000, { env });
  if (install.code !== 0)
    throw new Error(`apt-get install mariadb-server failed: ${install.stderr.slice(-300)}`);
  const after = await findInstalled();
  if (!after) throw new Error('mariadbd or mariadb-install-db still missing after apt-get install');
  return after;
}
