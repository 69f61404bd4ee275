// A child process that runs write_only transactions on a SQLite file until it is SIGKILLed: the
// crash half of the SQLite recovery measurement. Prints "running" after its first commit.

import { seededRandom } from '../workloads/statements.ts';
import { writeOnly } from '../workloads/write-only.ts';
import { openSqlite, SqliteSession } from './sqlite-session.ts';

const [path, rows] = [process.argv[2]!, Number(process.argv[3])];
const session = new SqliteSession(openSqlite(path));
const context = { rows, random: seededRandom(99) };
for (let done = 1; ; done++) {
  await writeOnly.transaction(session, context);
  // Yield to the event loop now and then so that the IPC message goes out.
  if (done === 1) process.send?.('running');
  if (done % 64 === 1) await new Promise((resolve) => setImmediate(resolve));
}
