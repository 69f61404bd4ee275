// The single-node ceiling for bench/engine: the same single-row update transactions on better-sqlite3
// (native SQLite) with WAL + synchronous=FULL on local disk, in this process or in worker threads.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import Database from 'better-sqlite3';

export const benchRows = 10_000;

export function createSbtest(path: string): void {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec(
    'create table if not exists sbtest(id integer primary key, k integer not null, c text not null, pad text not null)',
  );
  const insert = db.prepare('insert into sbtest(id, k, c, pad) values (?, ?, ?, ?)');
  db.transaction(() => {
    for (let id = 1; id <= benchRows; id++)
      insert.run(id, id, `c-${id}`.padEnd(120, 'x'), 'pad'.padEnd(60, 'y'));
  })();
  db.close();
}

/** Runs update transactions for `seconds` on `clients` threads; returns latencies (ms) of each. */
export async function runSqliteUpdates(path: string, clients: number, seconds: number): Promise<number[]> {
  const workerFile = fileURLToPath(new URL('./baseline-sqlite-worker.mjs', import.meta.url));
  const results = await Promise.all(
    Array.from(
      { length: clients },
      (_, i) =>
        new Promise<number[]>((resolve, reject) => {
          const worker = new Worker(workerFile, {
            workerData: { path, seconds, seed: i + 1, rows: benchRows },
          });
          worker.once('message', (latencies: number[]) => resolve(latencies));
          worker.once('error', reject);
        }),
    ),
  );
  return results.flat();
}

/** Disk bytes this process has written so far (all threads), from /proc. */
export function processWriteBytes(pid: number | 'self' = 'self'): number {
  try {
    const io = readFileSync(join('/proc', String(pid), 'io'), 'utf8');
    return Number(/write_bytes: (\d+)/.exec(io)?.[1] ?? 0);
  } catch {
    return Number.NaN;
  }
}
