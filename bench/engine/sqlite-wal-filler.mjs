// Child of bench/engine: writes update transactions into a WAL with checkpoints off until the WAL
// holds the target bytes, then kills itself with SIGKILL — the crash the open time is measured after.
import { statSync } from 'node:fs';
import Database from 'better-sqlite3';

const [path, targetText] = process.argv.slice(2);
const target = Number(targetText);
const db = new Database(path);
db.pragma('journal_mode = WAL');
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
const update = db.prepare('update sbtest set c = ? where id = ?');
const many = db.transaction((start) => {
  for (let i = 0; i < 200; i++)
    update.run(`c-${start + i}-${Math.random()}`.padEnd(120, 'z'), 1 + ((start + i) % 10000));
});
for (let n = 0; statSync(`${path}-wal`).size < target; n += 200) many(n);
process.kill(process.pid, 'SIGKILL');
