// SQLite through better-sqlite3 (native), WAL + synchronous=FULL on local disk, inside the benchmark
// process: the single-node ceiling, no replica. Each client is a worker thread with its own
// connection (better-sqlite3 is synchronous); the workers live for the whole benchmark. Recovery: a
// child process writes until SIGKILL, then this process opens the file (WAL recovery) and commits.
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker } from 'node:worker_threads';
import { compileForWorkers, startWorker, workerBuildDir } from '../../lib/ts-worker.ts';
import { removeOnExit, signal, trackPid } from '../processes.ts';
import type {
  ClientsResult,
  RecoveryResult,
  Session,
  SystemDriver,
  SystemProcesses,
  Workload,
} from '../types.ts';
import { deadline, nowMs } from '../util.ts';
import { sbtestRow, seededRandom } from '../workloads/statements.ts';
import { writeOnly } from '../workloads/write-only.ts';
import { openSqlite, SqliteSession } from './sqlite-session.ts';
import type { RunMessage, RunReply } from './sqlite-worker.ts';

export class SqliteDriver implements SystemDriver {
  readonly id = 'sqlite';
  readonly label = 'SQLite (better-sqlite3, WAL, FULL)';
  readonly hasReplica = false;
  readonly #dir = mkdtempSync(join(tmpdir(), 'borealis-bench-sqlite-'));
  readonly #path = join(this.#dir, 'sbtest.db');
  readonly #workers: Worker[] = [];
  #build?: { path: string; remove: () => void; entry: string };
  #rows = 0;

  async start(): Promise<void> {
    removeOnExit(this.#dir);
    openSqlite(this.#path).close();
  }

  async load(rows: number): Promise<void> {
    this.#rows = rows;
    const db = openSqlite(this.#path);
    try {
      db.exec(
        "CREATE TABLE sbtest (id INTEGER PRIMARY KEY, k INTEGER NOT NULL DEFAULT 0, c TEXT NOT NULL DEFAULT '', " +
          "pad TEXT NOT NULL DEFAULT '')",
      );
      db.exec('CREATE INDEX k_1 ON sbtest (k)');
      db.exec('CREATE TABLE heartbeat (id INTEGER PRIMARY KEY, seq INTEGER NOT NULL, ts REAL NOT NULL)');
      db.exec('INSERT INTO heartbeat VALUES (1, 0, 0)');
      const insert = db.prepare('INSERT INTO sbtest (id, k, c, pad) VALUES (:id, :k, :c, :pad)');
      const context = { rows, random: seededRandom(1) };
      db.transaction(() => {
        for (let id = 1; id <= rows; id++) insert.run(sbtestRow(context, id));
      })();
    } finally {
      db.close();
    }
  }

  async connect(): Promise<Session> {
    return new SqliteSession(openSqlite(this.#path));
  }

  /** The worker's code as plain JS (compiled once). */
  #compiled(): string {
    if (!this.#build) {
      const dir = workerBuildDir('sqlite');
      removeOnExit(dir.path);
      this.#build = {
        ...dir,
        entry: compileForWorkers(new URL('./sqlite-worker.ts', import.meta.url), dir.path),
      };
    }
    return this.#build.entry;
  }

  /** The first `size` workers, starting the missing ones (in parallel). */
  async #pool(size: number): Promise<Worker[]> {
    const missing = Math.max(0, size - this.#workers.length);
    const started = await Promise.all(
      Array.from({ length: missing }, async () => {
        const worker = startWorker(this.#compiled(), { path: this.#path });
        try {
          await deadline(
            new Promise<void>((resolve, reject) => {
              worker.once('message', () => resolve());
              worker.once('error', reject);
            }),
            120_000,
            'SQLite worker start',
          );
        } catch (error) {
          await worker.terminate();
          throw error;
        }
        return worker;
      }),
    );
    this.#workers.push(...started);
    return this.#workers.slice(0, size);
  }

  async runClients(
    workload: Workload,
    clients: number,
    durationMs: number,
    rows: number,
  ): Promise<ClientsResult> {
    const workers = await this.#pool(clients);
    const replies = await Promise.all(
      workers.map(
        (worker, i) =>
          new Promise<RunReply>((resolve, reject) => {
            const onError = (error: Error) => reject(error);
            worker.once('error', onError);
            worker.once('message', (reply: RunReply) => {
              worker.off('error', onError);
              resolve(reply);
            });
            const message: RunMessage = {
              workload: workload.name,
              durationMs,
              rows,
              seed: clients * 1000 + i + 1,
            };
            worker.postMessage(message);
          }),
      ),
    );
    const samples = new Set(replies.flatMap((r) => r.errorSamples));
    return {
      latenciesMs: replies.flatMap((r) => Array.from(r.latenciesMs)),
      errors: replies.reduce((sum, r) => sum + r.errors, 0),
      errorSamples: [...samples].slice(0, 5),
      elapsedMs: durationMs,
    };
  }

  async processes(): Promise<SystemProcesses> {
    return { all: [process.pid], roles: new Map([[process.pid, 'benchmark process (SQLite in process)']]) };
  }

  async #closeWorkers(): Promise<void> {
    await Promise.all(
      this.#workers.splice(0).map(async (worker) => {
        worker.postMessage('close');
        await Promise.race([
          new Promise((resolve) => worker.once('exit', resolve)),
          new Promise((resolve) => setTimeout(resolve, 2_000)),
        ]);
        await worker.terminate();
      }),
    );
  }

  async measureRecovery(rows: number, _loadClients: number, warmupMs: number): Promise<RecoveryResult> {
    // Nobody else may hold the file open: a restarted process finds the WAL as the crash left it.
    await this.#closeWorkers();
    const child = fork(
      fileURLToPath(new URL('./sqlite-crash-child.ts', import.meta.url)),
      [this.#path, String(rows)],
      {
        stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      },
    );
    const untrack = trackPid(child.pid!);
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await deadline(
        new Promise<void>((resolve, reject) => {
          child.once('message', () => resolve());
          child.once('exit', (code) => reject(new Error(`crash child exited early (${code})`)));
        }),
        60_000,
        'SQLite crash child',
      );
      await new Promise((resolve) => setTimeout(resolve, warmupMs));
      const killedAt = nowMs();
      signal(child.pid!, 'SIGKILL');
      await exited;
      const session = new SqliteSession(openSqlite(this.#path));
      try {
        await writeOnly.transaction(session, { rows: this.#rows || rows, random: seededRandom(5) });
        return { recoveryMs: nowMs() - killedAt, notes: 'open + WAL recovery + first commit, in process' };
      } finally {
        await session.close();
      }
    } finally {
      if (child.exitCode === null && child.signalCode === null) signal(child.pid!, 'SIGKILL');
      untrack();
    }
  }

  async stop(): Promise<void> {
    await this.#closeWorkers().catch(() => undefined);
    this.#build?.remove();
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
