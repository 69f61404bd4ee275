// Recovery time under load: clients run write_only transactions on the primary, the primary is
// SIGKILLed (and restarted, or failed over, by whoever does that for the system), and the clients
// keep retrying. Recovery = kill → first successful commit of a transaction that began after the
// kill. Then, where there is a replica: kill → a row committed after recovery is visible on it.
import type { RecoveryResult, Session } from './types.ts';
import { errorLine, nowMs, sleep, within } from './util.ts';
import { seededRandom, sql } from './workloads/statements.ts';
import { writeOnly } from './workloads/write-only.ts';

/** Pause between reconnect attempts of a client whose connection broke. */
const reconnectPauseMs = 10;

export interface RecoveryPlan {
  connectPrimary(): Promise<Session>;
  isBroken?(session: Session, error: unknown): boolean;
  connectReplica?(): Promise<Session>;
  /** SIGKILLs the primary (and restarts it if the system does not); resolves with the kill time (nowMs). */
  crash(): Promise<number>;
  rows: number;
  loadClients: number;
  warmupMs: number;
  /** Give up waiting for the first commit after this long. */
  timeoutMs: number;
  /** Give up waiting for the replica after this long (after recovery). */
  replicaTimeoutMs: number;
}

export async function recoveryUnderLoad(plan: RecoveryPlan): Promise<RecoveryResult> {
  const commits: { begun: number; done: number }[] = [];
  const errors = new Set<string>();
  let stopping = false;
  const client = async (index: number) => {
    const context = { rows: plan.rows, random: seededRandom(7_000 + index) };
    let session: Session | undefined;
    while (!stopping) {
      try {
        session ??= await plan.connectPrimary();
        const begun = nowMs();
        await writeOnly.transaction(session, context);
        commits.push({ begun, done: nowMs() });
      } catch (error) {
        if (errors.size < 5) errors.add(errorLine(error));
        if (session) {
          await within(session.rollback(), 2_000, undefined);
          if (plan.isBroken?.(session, error)) {
            await within(session.close(), 2_000, undefined);
            session = undefined;
          }
        }
        await sleep(reconnectPauseMs);
      }
    }
    if (session) await within(session.close(), 2_000, undefined);
  };
  const load = Promise.all(Array.from({ length: plan.loadClients }, (_, i) => client(i)));
  try {
    await sleep(plan.warmupMs);
    if (commits.length === 0) throw new Error(`no commits before the kill (${[...errors].join('; ')})`);
    const killedAt = await plan.crash();
    const end = performance.now() + plan.timeoutMs;
    let first: number | undefined;
    while (first === undefined && performance.now() < end) {
      for (const c of commits)
        if (c.begun >= killedAt && (first === undefined || c.done < first)) first = c.done;
      if (first === undefined) await sleep(5);
    }
    stopping = true;
    await within(load, 20_000, []);
    if (first === undefined)
      throw new Error(`no commit within ${plan.timeoutMs / 1000} s of the kill (${[...errors].join('; ')})`);
    const result: RecoveryResult = { recoveryMs: first - killedAt };
    if (plan.connectReplica) {
      const back = await replicaBack(plan, killedAt);
      if (back === undefined) result.notes = `replica not back within ${plan.replicaTimeoutMs / 1000} s`;
      else result.replicaBackMs = back;
    }
    return result;
  } finally {
    stopping = true;
    await within(load, 20_000, []);
  }
}

/** Commits a heartbeat on the recovered primary and waits until the replica shows it. */
async function replicaBack(plan: RecoveryPlan, killedAt: number): Promise<number | undefined> {
  const primary = await plan.connectPrimary();
  let replica = await plan.connectReplica!();
  try {
    const seq = Number((await primary.query(sql.heartbeatRead))[0]?.[0] ?? 0) + 1;
    await primary.query(sql.heartbeatWrite, { seq, ts: nowMs() });
    const end = performance.now() + plan.replicaTimeoutMs;
    while (performance.now() < end) {
      try {
        const seen = Number((await replica.query(sql.heartbeatRead))[0]?.[0] ?? 0);
        if (seen >= seq) return nowMs() - killedAt;
      } catch (error) {
        if (plan.isBroken?.(replica, error)) {
          await within(replica.close(), 2_000, undefined);
          replica = await plan.connectReplica!();
        }
      }
      await sleep(5);
    }
    return undefined;
  } finally {
    await within(
      Promise.all([primary.close(), replica.close()].map((p) => p.catch(() => undefined))),
      5_000,
      [],
    );
  }
}
