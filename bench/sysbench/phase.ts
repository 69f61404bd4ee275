// One timed phase of N concurrent clients on async sessions (Borealis, MariaDB): each client owns a
// session and runs workload transactions back to back until the deadline; a failed transaction is
// rolled back, counted, and the client carries on (on a new session if the old one broke).
import type { ClientsResult, Session, Workload } from './types.ts';
import { errorLine, sleep, within } from './util.ts';
import { seededRandom } from './workloads/statements.ts';

/** How long clients may take to finish their last transaction after the deadline. */
const graceMs = 15_000;
/** Distinct error messages kept per phase. */
const errorSamplesMax = 5;

export interface SessionFactory {
  connect(): Promise<Session>;
  /** Does this error mean the session is unusable (connection lost)? */
  isBroken?(session: Session, error: unknown): boolean;
}

export async function runSessions(
  factory: SessionFactory,
  workload: Workload,
  clients: number,
  durationMs: number,
  rows: number,
  seed: number,
): Promise<ClientsResult> {
  const sessions = await Promise.all(Array.from({ length: clients }, () => factory.connect()));
  const latenciesMs: number[] = [];
  const errorSamples = new Set<string>();
  let errors = 0;
  const started = performance.now();
  const end = started + durationMs;
  const client = async (index: number) => {
    const context = { rows, random: seededRandom(seed * 1000 + index + 1) };
    while (performance.now() < end) {
      const begun = performance.now();
      try {
        await workload.transaction(sessions[index]!, context);
        const done = performance.now();
        if (done <= end) latenciesMs.push(done - begun);
      } catch (error) {
        errors++;
        if (errorSamples.size < errorSamplesMax) errorSamples.add(errorLine(error));
        const session = sessions[index]!;
        await session.rollback();
        if (factory.isBroken?.(session, error)) {
          await within(session.close(), 2_000, undefined);
          await sleep(50);
          try {
            sessions[index] = await factory.connect();
          } catch (reconnect) {
            if (errorSamples.size < errorSamplesMax) errorSamples.add(errorLine(reconnect));
            await sleep(200);
          }
        }
      }
    }
  };
  const finished = await within(
    Promise.all(sessions.map((_, i) => client(i))).then(() => true),
    durationMs + graceMs,
    false,
  );
  if (!finished) errorSamples.add(`clients still busy ${graceMs / 1000} s after the deadline (abandoned)`);
  await within(Promise.all(sessions.map((s) => s.close().catch(() => undefined))), 5_000, undefined);
  return { latenciesMs, errors, errorSamples: [...errorSamples], elapsedMs: durationMs };
}
