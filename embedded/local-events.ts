// The embedded EventBridge: events as JSON files in the state dir, in the real EventBridge event
// shape. The CLI puts an event in `events/inbox/`; the local function runner delivers it to the
// function whose rule matches (core/functions.ts) and moves it to `events/done/`; what functions
// emit goes to `events/emitted/`, where the CLI waits for the answer. On LocalStack/AWS the same
// handlers get the same events from EventBridge. Each region has its own bus (as EventBridge does): the
// primary region's boxes are `events/`, another region's `regions/<R>/events/`; an event goes to the
// bus of the region it names.
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EventBridgeEvent } from 'aws-lambda';
import { primaryRegion } from '../core/resources.ts';
import { stateDirPath } from './state.ts';

export type LocalEvent = EventBridgeEvent<string, unknown>;
export type EventBox = 'inbox' | 'done' | 'emitted';

function boxDir(stateDir: string, box: EventBox, region: string): string {
  const root = stateDirPath(stateDir);
  return region === primaryRegion ? join(root, 'events', box) : join(root, 'regions', region, 'events', box);
}

export function makeEvent(source: string, detailType: string, detail: unknown, region: string): LocalEvent {
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

/** Puts an event in a box of its region's bus; names sort by time so a box is read in order. */
export function putLocalEvent(stateDir: string, box: EventBox, event: LocalEvent): string {
  const dir = boxDir(stateDir, box, event.region);
  mkdirSync(dir, { recursive: true });
  const name = `${Date.now().toString().padStart(15, '0')}-${event.id}.json`;
  writeFileSync(join(dir, `.${name}.tmp`), JSON.stringify(event));
  renameSync(join(dir, `.${name}.tmp`), join(dir, name));
  return name;
}

export function listLocalEvents(
  stateDir: string,
  box: EventBox,
  region: string = primaryRegion,
): { name: string; event: LocalEvent }[] {
  const dir = boxDir(stateDir, box, region);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json') && !n.startsWith('.'));
  } catch {
    return [];
  }
  return names.sort().flatMap((name) => {
    try {
      return [{ name, event: JSON.parse(readFileSync(join(dir, name), 'utf8')) as LocalEvent }];
    } catch {
      return []; // half-written or foreign: skipped
    }
  });
}

/** Moves a delivered event out of the inbox. */
export function markDelivered(stateDir: string, name: string, region: string = primaryRegion): void {
  mkdirSync(boxDir(stateDir, 'done', region), { recursive: true });
  renameSync(join(boxDir(stateDir, 'inbox', region), name), join(boxDir(stateDir, 'done', region), name));
}
