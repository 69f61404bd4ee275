// RDS's event delivery: every few seconds the region's events are derived (events.ts) and the ones
// not put before go on the bus as RDS puts them — source `aws.rds`, detail-type `RDS DB Cluster
// Event` and the like (core/rds/events.ts eventBridgeEvent) — on EventBridge in deployed mode, on the
// region's file bus (its `service/` box) in embedded mode. RDS delivers best effort, and so does this:
//
// - What was put is remembered by event id (a hash of the event, stable across derivations) for the
//   derivation window; older events are never derived as new, so they drop out. A cap holds too: over
//   it the oldest ids go, and nothing dated up to them is put any more.
// - A restart does not put the window's events again: the file bus is its own durable record (the
//   ids are in its file names), so exactly the events never put go out, those of the downtime
//   included; EventBridge cannot be read back, so a publisher on it starts from "now" — events dated
//   before it started are taken as put (at most the downtime's are lost, never a flood of old ones).
// - A failed put is logged (at most once a minute) and retried the next round; an event the bus
//   refuses for good (AWS keeps `aws.*` sources to its services: NotAuthorizedForSourceException) is
//   counted, logged and not retried. Nothing here throws out of a round.
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { assert } from '../../core/assert.ts';
import { putFileEvent } from '../../core/events/file-bus.ts';
import type { Logger } from '../../core/log.ts';
import { accountOf, eventBridgeEvent, type RdsEvent } from '../../core/rds/events.ts';

/** How often the events are derived and the new ones put. */
export const publishIntervalMs = 5_000;
/** Events dated earlier than this before now are not put (DescribeEvents' default window). */
export const publishWindowMs = 60 * 60_000;
/** Event ids remembered at most (far above what a region emits in the window). */
export const publishedIdsMax = 10_000;
/** Events put per round at most: a backlog goes out over several rounds. */
export const putsPerRoundMax = 100;
/** EventBridge's PutEvents takes at most 10 entries. */
export const putEventsEntriesMax = 10;
const failureLogIntervalMs = 60_000;

export type PutResult = 'put' | 'retry' | 'refused';

/** An RDS event as it goes on a bus. */
export type RdsBusEvent = ReturnType<typeof eventBridgeEvent> & { region: string; account: string };

/** Where the events go. */
export interface RdsEventSink {
  /** Ids of the events put since `sinceMs`, when the sink keeps a durable record; undefined: it keeps none. */
  putSince(sinceMs: number): Promise<ReadonlySet<string> | undefined>;
  /** Puts the events: one result per event, in order, and why some were not put (if any were not). */
  put(events: readonly RdsBusEvent[]): Promise<{ results: PutResult[]; error?: string }>;
}

/**
 * The file bus's box of service events, named `<put time ms>-<event id>.json` (core/events/file-bus.ts).
 * Bounded: each put removes the files put more than `keepMs` ago (a restart reads back only the
 * window's, so older ones serve nothing).
 */
export function fileRdsEventSink(busDir: string, keepMs: number = publishWindowMs): RdsEventSink {
  const box = join(busDir, 'service');
  const collect = () => {
    if (!existsSync(box)) return;
    const oldestMs = Date.now() - keepMs;
    for (const name of readdirSync(box)) {
      const m = /^(\d{15})-.+\.json$/.exec(name);
      if (m && Number(m[1]) < oldestMs) rmSync(join(box, name), { force: true });
    }
  };
  return {
    putSince: async (sinceMs) => {
      // No box yet: nothing was ever put here, and nothing says what the window held — start from now.
      if (!existsSync(box)) return undefined;
      const ids = new Set<string>();
      for (const name of readdirSync(box)) {
        const m = /^(\d{15})-(.+)\.json$/.exec(name);
        if (m && Number(m[1]) >= sinceMs) ids.add(m[2]!);
      }
      return ids;
    },
    put: async (events) => {
      collect();
      // Each event is its own file: one that cannot be written (a full disk) is retried, and so are
      // the rest, but those already written count as put — never written twice.
      const results: PutResult[] = [];
      let error: string | undefined;
      for (const e of events) {
        if (error !== undefined) {
          results.push('retry');
          continue;
        }
        try {
          putFileEvent(busDir, 'service', {
            version: '0',
            id: e.id,
            'detail-type': e.detailType,
            source: e.source,
            account: e.account,
            time: e.time.toISOString(),
            region: e.region,
            resources: e.resources,
            detail: e.detail,
          });
          results.push('put');
        } catch (failure) {
          error = `${box}: ${(failure as Error).message}`;
          results.push('retry');
        }
      }
      return error === undefined ? { results } : { results, error };
    },
  };
}

export function eventBridgeRdsEventSink(client: EventBridgeClient): RdsEventSink {
  return {
    putSince: async () => undefined,
    put: async (events) => {
      const results: PutResult[] = [];
      let error: string | undefined;
      for (let i = 0; i < events.length; i += putEventsEntriesMax) {
        const batch = events.slice(i, i + putEventsEntriesMax);
        // A batch that fails is retried next round; the batches before it stay put (no duplicates).
        const out = await client
          .send(
            new PutEventsCommand({
              Entries: batch.map((e) => ({
                Source: e.source,
                DetailType: e.detailType,
                Detail: JSON.stringify(e.detail),
                Resources: e.resources,
                Time: e.time,
              })),
            }),
          )
          .catch((e: Error) => {
            error = `PutEvents: ${e.name}: ${e.message}`;
            return undefined;
          });
        batch.forEach((_, j) => {
          const entry = out?.Entries?.[j];
          const code = out === undefined ? 'Failed' : entry?.ErrorCode;
          if (code !== undefined && out !== undefined)
            error = `PutEvents: ${code}: ${entry?.ErrorMessage ?? ''}`;
          results.push(
            code === undefined ? 'put' : code === 'NotAuthorizedForSourceException' ? 'refused' : 'retry',
          );
        });
      }
      return error === undefined ? { results } : { results, error };
    },
  };
}

export interface RdsEventPublisherOptions {
  region: string;
  /** The region's events now (events.ts RegionEvents over the running clusters). */
  derive: () => Promise<RdsEvent[]>;
  sink: RdsEventSink;
  logger: Logger;
  /** Each event put, failed or refused (the Prometheus counter). */
  onResult?: (detailType: string, result: 'put' | 'failed' | 'refused') => void;
  clock?: () => number;
  intervalMs?: number;
  windowMs?: number;
  idsMax?: number;
  perRoundMax?: number;
}

export class RdsEventPublisher {
  readonly #options: RdsEventPublisherOptions;
  readonly #clock: () => number;
  /** Event id → its date (ms): put (or refused for good) within the window. */
  readonly #done = new Map<string, number>();
  /**
   * Events dated earlier count as put: the publisher's start when the sink keeps no record, raised
   * past the ids the cap made it forget.
   */
  #notBeforeMs: number | undefined;
  #loaded = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> | undefined;
  #lastFailureLogMs = Number.NEGATIVE_INFINITY;
  #failuresUnlogged = 0;

  constructor(options: RdsEventPublisherOptions) {
    const intervalMs = options.intervalMs ?? publishIntervalMs;
    const windowMs = options.windowMs ?? publishWindowMs;
    // A window shorter than a round would forget events before they could be seen as put.
    assert(
      intervalMs > 0 && windowMs > intervalMs,
      `publisher: window ${windowMs} ms, interval ${intervalMs} ms`,
    );
    assert(
      (options.idsMax ?? publishedIdsMax) >= (options.perRoundMax ?? putsPerRoundMax),
      'publisher: the ids remembered must hold at least one round',
    );
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  /** Event ids remembered now (bounded by the window and idsMax). */
  get remembered(): number {
    return this.#done.size;
  }

  start(): void {
    const tick = () => {
      // One round at a time: a slow bus delays the next round rather than stacking them.
      this.#running ??= this.round().finally(() => {
        this.#running = undefined;
      });
    };
    tick();
    this.#timer = setInterval(tick, this.#options.intervalMs ?? publishIntervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#running;
  }

  /** One round: derive, put what is new (at most perRoundMax), forget what left the window. */
  async round(): Promise<{ put: number; failed: number; refused: number }> {
    const counts = { put: 0, failed: 0, refused: 0 };
    const nowMs = this.#clock();
    const windowMs = this.#options.windowMs ?? publishWindowMs;
    try {
      if (!this.#loaded) {
        const known = await this.#options.sink.putSince(nowMs - windowMs);
        if (known === undefined) this.#notBeforeMs = nowMs;
        else for (const id of known) this.#done.set(id, nowMs);
        this.#loaded = true;
      }
      const fresh = (await this.#options.derive())
        .filter((e) => {
          const t = e.date.getTime();
          return t >= nowMs - windowMs && (this.#notBeforeMs === undefined || t >= this.#notBeforeMs);
        })
        .map((e) => ({
          ...eventBridgeEvent(e),
          region: this.#options.region,
          account: accountOf({ resourceArn: e.sourceArn }),
        }))
        .filter((e) => !this.#done.has(e.id))
        .sort((a, b) => a.time.getTime() - b.time.getTime());
      // The same event derived twice in one round (two sources) goes once.
      const batch = [...new Map(fresh.map((e) => [e.id, e])).values()].slice(
        0,
        this.#options.perRoundMax ?? putsPerRoundMax,
      );
      if (batch.length > 0) {
        const { results, error } = await this.#options.sink.put(batch);
        if (results.length !== batch.length)
          throw new Error(`the sink answered ${results.length} results for ${batch.length} events`);
        batch.forEach((e, i) => {
          const result = results[i]!;
          if (result !== 'retry') this.#done.set(e.id, e.time.getTime());
          counts[result === 'retry' ? 'failed' : result]++;
          this.#options.onResult?.(e.detailType, result === 'retry' ? 'failed' : result);
          if (result === 'refused') {
            this.#options.logger.error(
              { id: e.id, detailType: e.detailType, message: e.detail.Message },
              'RDS event refused by the bus for good (not retried)',
            );
          }
        });
        if (counts.failed > 0)
          this.#failed(
            nowMs,
            `${counts.failed} of ${batch.length} events not put: ${error ?? 'no reason given'}`,
          );
      }
    } catch (error) {
      this.#failed(nowMs, (error as Error).message);
      counts.failed++;
    }
    this.#collect(nowMs - windowMs);
    return counts;
  }

  #collect(oldestMs: number): void {
    for (const [id, dateMs] of this.#done) if (dateMs < oldestMs) this.#done.delete(id);
    const max = this.#options.idsMax ?? publishedIdsMax;
    if (this.#done.size <= max) return;
    // Over the cap (a burst far above any region's): the oldest go, and nothing dated up to them is put
    // from now on — forgetting them must not put them again every round.
    const evicted = [...this.#done].sort((a, b) => a[1] - b[1]).slice(0, this.#done.size - max);
    for (const [id] of evicted) this.#done.delete(id);
    this.#notBeforeMs = Math.max(this.#notBeforeMs ?? Number.NEGATIVE_INFINITY, evicted.at(-1)![1] + 1);
  }

  #failed(nowMs: number, message: string): void {
    this.#failuresUnlogged++;
    if (nowMs - this.#lastFailureLogMs < failureLogIntervalMs) return;
    this.#options.logger.warn(
      { err: message, failedRounds: this.#failuresUnlogged },
      'RDS events not put this round: retried the next',
    );
    this.#lastFailureLogMs = nowMs;
    this.#failuresUnlogged = 0;
  }
}
