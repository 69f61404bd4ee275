// One client of the SQLite baseline: its own connection, single-row update transactions until the
// deadline; posts its latencies (ms). Plain JS so that worker threads need no loader.
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

const { path, seconds, seed, rows } = workerData;
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = FULL');
db.pragma('busy_timeout = 10000');
const update = db.prepare('update sbtest set k = k + 1 where id = ?');
let x = seed * 7919;
const latencies = [];
const deadline = performance.now() + seconds * 1000;
while (performance.now() < deadline) {
  x = (x * 1103515245 + 12345) % 2147483648;
  const started = performance.now();
  update.run(1 + (x % rows));
  latencies.push(performance.now() - started);
}
db.close();
parentPort.postMessage(latencies);
