// The RDS event publisher: each event put once (across rounds, and across a restart on the file bus),
// a publisher on a bus it cannot read back starting from "now", the ids it remembers bounded by the
// window and a cap, a backlog spread over rounds, failed puts retried and refused ones not, nothing
// thrown out of a round; the file bus sink (its `service/` box) and the EventBridge sink (stubbed at
// the client) as they write.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { eventBridgeEvent, eventBridgeEventId, type RdsEvent } from '../../core/rds/events.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import {
  eventBridgeRdsEventSink,
  fileRdsEventSink,
  type PutResult,
  type RdsBusEvent,
  RdsEventPublisher,
  type RdsEventSink,
} from './event-publisher.ts';

const t0 = Date.parse('2026-12-03T12:00:00.000Z');
const minute = 60_000;
const silent = pino({ level: 'silent' });

function event(atMs: number, message = `event at ${atMs}`): RdsEvent {
  return {
    sourceIdentifier: 'borealis',
    sourceType: 'db-cluster',
    sourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:borealis',
    message,
    categories: ['backup'],
    date: new Date(atMs),
  };
}

/** A bus in memory: what was put, optionally a durable record to read back, answers to script. */
class FakeSink implements RdsEventSink {
  put_: RdsBusEvent[] = [];
  calls = 0;
  answer: (e: RdsBusEvent) => PutResult = () => 'put';
  throwing: Error | undefined;
  constructor(private readonly durable: boolean) {}
  async putSince(sinceMs: number): Promise<ReadonlySet<string> | undefined> {
    if (!this.durable) return undefined;
    return new Set(this.put_.filter((e) => e.time.getTime() >= sinceMs).map((e) => e.id));
  }
  async put(events: readonly RdsBusEvent[]): Promise<{ results: PutResult[]; error?: string }> {
    this.calls++;
    if (this.throwing) throw this.throwing;
    const results = events.map((e) => this.answer(e));
    events.forEach((e, i) => {
      if (results[i] === 'put') this.put_.push(e);
    });
    return { results, ...(results.includes('retry') ? { error: 'scripted' } : {}) };
  }
}

function publisher(options: {
  sink: RdsEventSink;
  events: () => RdsEvent[];
  clock: { now: number };
  idsMax?: number;
  perRoundMax?: number;
  results?: string[];
  warnings?: unknown[];
}): RdsEventPublisher {
  return new RdsEventPublisher({
    region: 'us-east-1',
    derive: async () => options.events(),
    sink: options.sink,
    logger: {
      ...silent,
      warn: (fields: unknown) => options.warnings?.push(fields),
      error: () => undefined,
    } as unknown as typeof silent,
    clock: () => options.clock.now,
    windowMs: 60 * minute,
    ...(options.idsMax === undefined ? {} : { idsMax: options.idsMax }),
    ...(options.perRoundMax === undefined ? {} : { perRoundMax: options.perRoundMax }),
    onResult: (detailType, result) => options.results?.push(`${detailType} ${result}`),
  });
}

describe('RdsEventPublisher', () => {
  it('puts each new event once as RDS puts it; the same events derived again are not put again', async () => {
    const sink = new FakeSink(true);
    const clock = { now: t0 };
    let events = [event(t0 - 5 * minute), event(t0 - minute)];
    const results: string[] = [];
    const p = publisher({ sink, events: () => events, clock, results });
    expect(await p.round()).toEqual({ put: 2, failed: 0, refused: 0 });
    expect(sink.put_.map((e) => e.detail.Message)).toEqual([
      `event at ${t0 - 5 * minute}`,
      `event at ${t0 - minute}`,
    ]);
    expect(sink.put_[0]).toMatchObject({
      id: eventBridgeEventId(events[0]!),
      source: 'aws.rds',
      detailType: 'RDS DB Cluster Event',
      region: 'us-east-1',
      account: '000000000000',
      detail: { SourceType: 'CLUSTER', SourceIdentifier: 'borealis', EventCategories: ['backup'] },
    });
    clock.now += 5_000;
    expect(await p.round()).toEqual({ put: 0, failed: 0, refused: 0 });
    events = [...events, event(t0 + 1_000)];
    expect(await p.round()).toEqual({ put: 1, failed: 0, refused: 0 });
    expect(sink.put_).toHaveLength(3);
    expect(results).toEqual(Array(3).fill('RDS DB Cluster Event put'));
  });

  it('on a bus it cannot read back (EventBridge) it starts from now: events dated before it started are not put, later ones are', async () => {
    const sink = new FakeSink(false);
    const clock = { now: t0 };
    let events = [event(t0 - 10 * minute), event(t0 - 1)];
    const p = publisher({ sink, events: () => events, clock });
    expect(await p.round()).toEqual({ put: 0, failed: 0, refused: 0 });
    clock.now += 5_000;
    events = [...events, event(t0 + 2_000)];
    expect(await p.round()).toEqual({ put: 1, failed: 0, refused: 0 });
    expect(sink.put_.map((e) => e.time.getTime())).toEqual([t0 + 2_000]);
  });

  it('restarted on a bus that keeps a record (the file bus): nothing put before goes again, what the downtime added does', async () => {
    const sink = new FakeSink(true);
    const clock = { now: t0 };
    const before = [event(t0 - 30 * minute), event(t0 - 2 * minute)];
    await publisher({ sink, events: () => before, clock }).round();
    expect(sink.put_).toHaveLength(2);
    // Down for a minute; a snapshot completed meanwhile.
    clock.now += minute;
    const after = [...before, event(t0 + 30_000)];
    const restarted = publisher({ sink, events: () => after, clock });
    expect(await restarted.round()).toEqual({ put: 1, failed: 0, refused: 0 });
    expect(sink.put_.map((e) => e.time.getTime())).toEqual([t0 - 30 * minute, t0 - 2 * minute, t0 + 30_000]);
  });

  it('events older than the window are never put, and the ids remembered leave with the window', async () => {
    const sink = new FakeSink(true);
    const clock = { now: t0 };
    const events = [event(t0 - 61 * minute), event(t0 - 59 * minute), event(t0 - minute)];
    const p = publisher({ sink, events: () => events, clock });
    expect(await p.round()).toEqual({ put: 2, failed: 0, refused: 0 });
    expect(p.remembered).toBe(2);
    clock.now += 2 * minute;
    expect(await p.round()).toEqual({ put: 0, failed: 0, refused: 0 });
    expect(p.remembered).toBe(1);
    clock.now += 60 * minute;
    await p.round();
    expect(p.remembered).toBe(0);
    expect(sink.put_).toHaveLength(2);
  });

  it('the ids remembered are capped: the oldest go first, and are not put again', async () => {
    const sink = new FakeSink(true);
    const clock = { now: t0 };
    const events = Array.from({ length: 8 }, (_, i) => event(t0 - 8_000 + i * 1_000));
    const p = publisher({ sink, events: () => events, clock, idsMax: 5, perRoundMax: 5 });
    expect(await p.round()).toMatchObject({ put: 5 });
    expect(await p.round()).toMatchObject({ put: 3 });
    expect(p.remembered).toBe(5);
    expect(await p.round()).toMatchObject({ put: 0 });
    expect(new Set(sink.put_.map((e) => e.id)).size).toBe(8);
    // A newer event still goes out.
    events.push(event(t0 + 1_000));
    expect(await p.round()).toMatchObject({ put: 1 });
  });

  it('refuses settings that could not work: a window no longer than a round, a cap below a round', () => {
    const base = { region: 'us-east-1', derive: async () => [], sink: new FakeSink(true), logger: silent };
    expect(() => new RdsEventPublisher({ ...base, intervalMs: 5_000, windowMs: 5_000 })).toThrow(/window/);
    expect(() => new RdsEventPublisher({ ...base, idsMax: 10, perRoundMax: 11 })).toThrow(/one round/);
  });

  it('a backlog goes out over rounds, oldest first, at most perRoundMax a round', async () => {
    const sink = new FakeSink(true);
    const clock = { now: t0 };
    const events = Array.from({ length: 7 }, (_, i) => event(t0 - i * 1_000));
    const p = publisher({ sink, events: () => events, clock, perRoundMax: 3 });
    expect((await p.round()).put).toBe(3);
    expect((await p.round()).put).toBe(3);
    expect((await p.round()).put).toBe(1);
    expect((await p.round()).put).toBe(0);
    const times = sink.put_.map((e) => e.time.getTime());
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(new Set(sink.put_.map((e) => e.id)).size).toBe(7);
  });

  it('a failed put is retried the next round; a refused one is not; neither a failing bus nor a failing derivation throws', async () => {
    const sink = new FakeSink(true);
    const clock = { now: t0 };
    const ok = event(t0 - 3_000, 'ok');
    const flaky = event(t0 - 2_000, 'flaky');
    const refused = event(t0 - 1_000, 'refused');
    let failing = true;
    sink.answer = (e) =>
      e.detail.Message === 'refused' ? 'refused' : e.detail.Message === 'flaky' && failing ? 'retry' : 'put';
    let deriveFails = false;
    const results: string[] = [];
    const warnings: unknown[] = [];
    const p = new RdsEventPublisher({
      region: 'us-east-1',
      derive: async () => {
        if (deriveFails) throw new Error('S3 is down');
        return [ok, flaky, refused];
      },
      sink,
      logger: {
        ...silent,
        warn: (fields: unknown) => warnings.push(fields),
        error: () => undefined,
      } as unknown as typeof silent,
      clock: () => clock.now,
      onResult: (_, result) => results.push(result),
    });
    expect(await p.round()).toEqual({ put: 1, failed: 1, refused: 1 });
    expect(warnings).toHaveLength(1);
    failing = false;
    clock.now += 5_000;
    expect(await p.round()).toEqual({ put: 1, failed: 0, refused: 0 });
    expect(sink.put_.map((e) => e.detail.Message)).toEqual(['ok', 'flaky']);
    expect(results).toEqual(['put', 'failed', 'refused', 'put']);

    sink.throwing = new Error('bus unreachable');
    const later = event(t0 + 10_000, 'later');
    const p2 = publisher({ sink, events: () => [later], clock, warnings });
    clock.now += 20_000;
    await expect(p2.round()).resolves.toEqual({ put: 0, failed: 1, refused: 0 });
    sink.throwing = undefined;
    await expect(p2.round()).resolves.toEqual({ put: 1, failed: 0, refused: 0 });

    deriveFails = true;
    await expect(p.round()).resolves.toEqual({ put: 0, failed: 1, refused: 0 });
  });

  it('failures are logged at most once a minute', async () => {
    const sink = new FakeSink(true);
    sink.throwing = new Error('bus unreachable');
    const clock = { now: t0 };
    const warnings: unknown[] = [];
    const p = publisher({ sink, events: () => [event(t0 - 1_000)], clock, warnings });
    for (let i = 0; i < 12; i++) {
      await p.round();
      clock.now += 5_000;
    }
    expect(warnings).toHaveLength(1);
    await p.round();
    expect(warnings).toHaveLength(2);
    expect(warnings[1]).toMatchObject({ failedRounds: 13 - 1 });
  });

  it('start runs a round at once and then on its interval, one at a time; stop waits for the round in flight', async () => {
    const sink = new FakeSink(true);
    let derivations = 0;
    const p = new RdsEventPublisher({
      region: 'us-east-1',
      derive: async () => {
        derivations++;
        return [event(Date.now() - 1_000, `e${derivations}`)];
      },
      sink,
      logger: silent,
      intervalMs: 20,
    });
    p.start();
    const deadline = Date.now() + 10_000;
    while (sink.put_.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await p.stop();
    const stopped = sink.put_.length;
    expect(stopped).toBeGreaterThanOrEqual(3);
    await new Promise((r) => setTimeout(r, 100));
    expect(sink.put_.length).toBe(stopped);
  });
});

describe('the sinks', () => {
  const dirs: ReturnType<typeof makeTempDir>[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) d.remove();
  });

  it('the file bus keeps the service box bounded: a put removes the files put before the window', async () => {
    const dir = makeTempDir('rds-events-bus-collect');
    dirs.push(dir);
    const sink = fileRdsEventSink(dir.path, 60_000);
    const box = join(dir.path, 'service');
    mkdirSync(box, { recursive: true });
    const old = `${String(Date.now() - 120_000).padStart(15, '0')}-old.json`;
    const recent = `${String(Date.now() - 30_000).padStart(15, '0')}-recent.json`;
    writeFileSync(join(box, old), '{}');
    writeFileSync(join(box, recent), '{}');
    const now = Date.now();
    expect(
      await sink.put([
        { ...eventBridgeEvent(event(now, 'x')), region: 'us-east-1', account: '000000000000' },
      ]),
    ).toEqual({
      results: ['put'],
    });
    const names = readdirSync(box).sort();
    expect(names).toHaveLength(2);
    expect(names).toContain(recent);
    expect(names).not.toContain(old);
  });

  it('the file bus: each event a file in the service box (never the inbox the function runner reads), named by its id; a restarted publisher reads them back', async () => {
    const dir = makeTempDir('rds-events-bus');
    dirs.push(dir);
    const sink = fileRdsEventSink(dir.path);
    expect(await sink.putSince(0)).toBeUndefined();
    const clock = { now: Date.now() };
    const events = [event(clock.now - 2_000, 'a'), event(clock.now - 1_000, 'b')];
    const first = publisher({ sink, events: () => events, clock });
    // No box yet: it starts from now, so only events dated from now on go out.
    expect(await first.round()).toMatchObject({ put: 0 });
    events.push(event(clock.now + 1, 'c'));
    clock.now += 5_000;
    expect(await first.round()).toMatchObject({ put: 1 });
    const names = readdirSync(join(dir.path, 'service'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(new RegExp(`^\\d{15}-${eventBridgeEventId(events[2]!)}\\.json$`));
    expect(JSON.parse(readFileSync(join(dir.path, 'service', names[0]!), 'utf8'))).toEqual({
      version: '0',
      id: eventBridgeEventId(events[2]!),
      'detail-type': 'RDS DB Cluster Event',
      source: 'aws.rds',
      account: '000000000000',
      time: new Date(events[2]!.date).toISOString(),
      region: 'us-east-1',
      resources: ['arn:aws:rds:us-east-1:000000000000:cluster:borealis'],
      detail: {
        EventCategories: ['backup'],
        SourceType: 'CLUSTER',
        SourceArn: 'arn:aws:rds:us-east-1:000000000000:cluster:borealis',
        Date: new Date(events[2]!.date).toISOString(),
        Message: 'c',
        SourceIdentifier: 'borealis',
      },
    });
    expect(existsSync(join(dir.path, 'inbox'))).toBe(false);
    // Restarted with the box there: 'c' is known, 'd' (the downtime's) goes out, 'a' and 'b' too now —
    // never put, and inside the window.
    events.push(event(clock.now + 1_000, 'd'));
    clock.now += 5_000;
    const second = publisher({ sink, events: () => events, clock });
    expect(await second.round()).toMatchObject({ put: 3 });
    expect(await second.round()).toMatchObject({ put: 0 });
    expect(readdirSync(join(dir.path, 'service'))).toHaveLength(4);
  });

  it('EventBridge: PutEvents in batches of 10 as RDS puts them; an entry refused for its aws.* source is refused, other entry errors and a failed batch retried', async () => {
    const sent: PutEventsCommand['input'][] = [];
    let call = 0;
    const client = {
      send: async (command: PutEventsCommand) => {
        sent.push(command.input);
        call++;
        if (call === 3) throw Object.assign(new Error('throttled'), { name: 'ThrottlingException' });
        return {
          FailedEntryCount: call === 1 ? 2 : 0,
          Entries: command.input.Entries!.map((_, i) =>
            call === 1 && i === 0
              ? {
                  ErrorCode: 'NotAuthorizedForSourceException',
                  ErrorMessage: 'Not authorized for the source',
                }
              : call === 1 && i === 1
                ? { ErrorCode: 'InternalFailure', ErrorMessage: 'try again' }
                : { EventId: `e${i}` },
          ),
        };
      },
    } as unknown as EventBridgeClient;
    const clock = { now: t0 };
    const sink = new FakeSink(true);
    const collected = publisher({
      sink,
      events: () => Array.from({ length: 25 }, (_, i) => event(t0 - 60_000 + i * 1_000)),
      clock,
    });
    await collected.round();
    const { results, error } = await eventBridgeRdsEventSink(client).put(sink.put_);
    expect(sent.map((s) => s.Entries!.length)).toEqual([10, 10, 5]);
    expect(sent[0]!.Entries![0]).toEqual({
      Source: 'aws.rds',
      DetailType: 'RDS DB Cluster Event',
      Detail: JSON.stringify(sink.put_[0]!.detail),
      Resources: ['arn:aws:rds:us-east-1:000000000000:cluster:borealis'],
      Time: sink.put_[0]!.time,
    });
    expect(results).toEqual([
      'refused',
      'retry',
      ...Array(8).fill('put'),
      ...Array(10).fill('put'),
      ...Array(5).fill('retry'),
    ]);
    expect(error).toBe('PutEvents: ThrottlingException: throttled');
    expect(await eventBridgeRdsEventSink(client).putSince(0)).toBeUndefined();
  });
});
