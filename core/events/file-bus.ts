// A file-backed EventBridge bus (the embedded mode's, ADR 009's shape kept): events as JSON files in
// the real EventBridge event shape, under a bus dir with three boxes — `inbox/` (put by the CLI and
// the RDS API, delivered by the local function runner to the function whose rule matches), `done/`
// (delivered), `emitted/` (what functions emit; the callers wait there for their answer) and
// `service/` (what the region's AWS services put — the RDS API's `aws.rds` events: no function's
// rule takes them, so the runner never reads this box; tools and tests do). File names sort by time,
// so a box is read in order. On LocalStack/AWS the same events go to EventBridge.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBridgeEvent } from 'aws-lambda';

export type BusEvent = EventBridgeEvent<string, unknown>;
export type EventBox = 'inbox' | 'done' | 'emitted' | 'service';

export function makeEvent(source: string, detailType: string, detail: unknown, region: string): BusEvent {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': detailType,
    source,
    account: '000000000000',
    time: new Date().toISOString(),
    region,
    resources: [],
    detail,
  };
}

export function putFileEvent(busDir: string, box: EventBox, event: BusEvent): string {
  const dir = join(busDir, box);
  mkdirSync(dir, { recursive: true });
  const name = `${Date.now().toString().padStart(15, '0')}-${event.id}.json`;
  writeFileSync(join(dir, `.${name}.tmp`), JSON.stringify(event));
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  return name;
}

export function listFileEvents(busDir: string, box: EventBox): { name: string; event: BusEvent }[] {
  const dir = join(busDir, box);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return [];
  }
  return names.sort().flatMap((name) => {
    try {
      return [{ name, event: JSON.parse(readFileSync(join(dir, name), 'utf8')) as BusEvent }];
    } catch {
      return []; // half-written or foreign: skipped
    }
  });
}

/** Moves a delivered event out of the inbox. */
export function markFileEventDelivered(busDir: string, name: string): void {
  mkdirSync(join(busDir, 'done'), { recursive: true });
  renameSync(join(busDir, 'inbox', name), join(busDir, 'done', name));
}
