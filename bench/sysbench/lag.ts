// Replica lag from a heartbeat row, measured per heartbeat: the primary updates heartbeat(id=1) with
// a rising seq and its wall-clock time every 10 ms (autocommit); once a heartbeat is acknowledged, a
// poller reads the row on the replica/reader back to back until it shows that heartbeat (then waits
// for the next one). A heartbeat's lag is the time from its commit acknowledgement on the primary
// to the first poll that shows it (or a later one), taking the middle of that poll's round trip; 0
// when it was visible before the ack arrived. Heartbeats never seen by the end count as (end − ack),
// a lower bound. Per heartbeat there is no saw-tooth of up to one interval (pt-heartbeat's "now −
// timestamp seen"), and polling only while a heartbeat is outstanding keeps the poller's own load
// on the system small (a Data API poll costs the proxy and the reader far more than a MySQL one).
import { percentile } from '../lib/stats.ts';
import type { Session } from './types.ts';
import { errorLine, nowMs, sleep, within } from './util.ts';
import { sql } from './workloads/statements.ts';

export const heartbeatIntervalMs = 10;
/** Pause between two polls while a heartbeat is outstanding. */
const pollGapMs = 0.5;
/** The poller re-checks at least this often even without news from the heartbeat loop. */
const idleCheckMs = 50;

export interface LagResult {
  heartbeatsCommitted: number;
  heartbeatsSeen: number;
  heartbeatErrors: number;
  pollErrors: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  polls: number;
  errorSamples: string[];
}

export class LagMonitor {
  readonly #ackAt = new Map<number, number>();
  readonly #visibleAt = new Map<number, number>();
  #firstSeq = 0;
  /** The newest heartbeat acknowledged by the primary. */
  #lastAcked = 0;
  #highestSeen = 0;
  #stopping = false;
  #wakePoller: (() => void) | undefined;
  #heartbeatErrors = 0;
  #pollErrors = 0;
  #polls = 0;
  readonly #errors = new Set<string>();
  #loops: Promise<void>[] = [];

  private constructor(
    private readonly primary: Session,
    private readonly replica: Session,
  ) {}

  /** Starts heartbeats and polling on two sessions the monitor then owns (and closes). */
  static async start(primary: Session, replica: Session): Promise<LagMonitor> {
    const monitor = new LagMonitor(primary, replica);
    const rows = await primary.query(sql.heartbeatRead);
    monitor.#firstSeq = Number(rows[0]?.[0] ?? 0) + 1;
    monitor.#lastAcked = monitor.#firstSeq - 1;
    monitor.#highestSeen = monitor.#lastAcked;
    monitor.#loops = [monitor.#beat(), monitor.#poll()];
    return monitor;
  }

  async #beat(): Promise<void> {
    let next = performance.now();
    while (!this.#stopping) {
      const seq = this.#lastAcked + 1;
      try {
        await this.primary.query(sql.heartbeatWrite, { seq, ts: nowMs() });
        this.#ackAt.set(seq, nowMs());
        this.#lastAcked = seq;
        this.#wake();
      } catch (error) {
        this.#heartbeatErrors++;
        this.#note(error);
      }
      next += heartbeatIntervalMs;
      const wait = next - performance.now();
      if (wait > 0) await sleep(wait);
      else next = performance.now();
    }
  }

  #wake(): void {
    const wake = this.#wakePoller;
    this.#wakePoller = undefined;
    wake?.();
  }

  async #poll(): Promise<void> {
    while (!this.#stopping) {
      if (this.#highestSeen >= this.#lastAcked) {
        // Nothing outstanding: wait for the next acknowledged heartbeat.
        await within(
          new Promise<void>((resolve) => {
            this.#wakePoller = resolve;
          }),
          idleCheckMs,
          undefined,
        );
        continue;
      }
      const sent = nowMs();
      try {
        const rows = await this.replica.query(sql.heartbeatRead);
        const received = nowMs();
        this.#polls++;
        const seq = Number(rows[0]?.[0] ?? 0);
        const at = (sent + received) / 2;
        for (let s = Math.max(this.#highestSeen + 1, this.#firstSeq); s <= seq; s++)
          this.#visibleAt.set(s, at);
        if (seq > this.#highestSeen) this.#highestSeen = seq;
      } catch (error) {
        this.#pollErrors++;
        this.#note(error);
        await sleep(10);
      }
      await sleep(pollGapMs);
    }
  }

  #note(error: unknown): void {
    if (this.#errors.size < 5) this.#errors.add(errorLine(error));
  }

  async stop(): Promise<LagResult> {
    this.#stopping = true;
    this.#wake();
    await within(Promise.all(this.#loops), 15_000, []);
    const end = nowMs();
    const lags: number[] = [];
    for (const [seq, ack] of this.#ackAt) {
      const visible = this.#visibleAt.get(seq);
      lags.push(visible === undefined ? end - ack : Math.max(0, visible - ack));
    }
    lags.sort((a, b) => a - b);
    await Promise.all([this.primary.close(), this.replica.close()].map((p) => p.catch(() => undefined)));
    return {
      heartbeatsCommitted: this.#ackAt.size,
      heartbeatsSeen: [...this.#ackAt.keys()].filter((s) => this.#visibleAt.has(s)).length,
      heartbeatErrors: this.#heartbeatErrors,
      pollErrors: this.#pollErrors,
      lagP50Ms: percentile(lags, 50),
      lagP99Ms: percentile(lags, 99),
      lagMaxMs: lags[lags.length - 1] ?? Number.NaN,
      polls: this.#polls,
      errorSamples: [...this.#errors],
    };
  }
}
