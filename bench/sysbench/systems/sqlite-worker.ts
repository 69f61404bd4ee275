// One SQLite client in a worker thread: its own connection, and on each 'run' message the workload
// until the deadline; posts back latencies, errors and error samples.
import { parentPort, workerData } from 'node:worker_threads';
import type { WorkloadName } from '../types.ts';
import { errorLine } from '../util.ts';
import { workloads } from '../workloads/index.ts';
import { seededRandom } from '../workloads/statements.ts';
import { openSqlite, SqliteSession } from './sqlite-session.ts';

export interface RunMessage {
  workload: WorkloadName;
  durationMs: number;
  rows: number;
  seed: number;
}

export interface RunReply {
  latenciesMs: Float64Array;
  errors: number;
  errorSamples: string[];
}

const { path } = workerData.data as { path: string };
const session = new SqliteSession(openSqlite(path));

parentPort!.on('message', async (message: RunMessage | 'close') => {
  if (message === 'close') {
    await session.close();
    parentPort!.close();
    return;
  }
  const workload = workloads[message.workload];
  const context = { rows: message.rows, random: seededRandom(message.seed) };
  const latencies: number[] = [];
  const samples = new Set<string>();
  let errors = 0;
  const end = performance.now() + message.durationMs;
  while (performance.now() < end) {
    const begun = performance.now();
    try {
      await workload.transaction(session, context);
      const done = performance.now();
      if (done <= end) latencies.push(done - begun);
    } catch (error) {
      errors++;
      if (samples.size < 5) samples.add(errorLine(error));
      await session.rollback();
    }
  }
  const reply: RunReply = { latenciesMs: Float64Array.from(latencies), errors, errorSamples: [...samples] };
  parentPort!.postMessage(reply, [reply.latenciesMs.buffer as ArrayBuffer]);
});
parentPort!.postMessage('ready');
