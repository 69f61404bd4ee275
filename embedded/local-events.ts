// The embedded EventBridge in the state dir (the format: core/events/file-bus.ts). The CLI puts an
// event in a region's `inbox/`; that region's function runner delivers it to the function whose rule
// matches (core/functions.ts); what functions emit goes to `emitted/`, where the CLI waits for the
// answer. Each region has its own bus, as EventBridge does: the primary region's is `events/`,
// another region's `regions/<R>/events/`; an event goes to the bus of the region it names.
import { join } from 'node:path';
import {
  type BusEvent,
  type EventBox,
  listFileEvents,
  makeEvent,
  markFileEventDelivered,
  putFileEvent,
} from '../core/events/file-bus.ts';
import { primaryRegion } from '../core/resources.ts';
import { stateDirPath } from './state.ts';

export type LocalEvent = BusEvent;
export type { EventBox };
export { makeEvent };

/** The bus dir of a region: the primary region's `events/`, another's `regions/<R>/events/`. */
export function regionBusDir(stateDir: string, region: string): string {
  const root = stateDirPath(stateDir);
  return region === primaryRegion ? join(root, 'events') : join(root, 'regions', region, 'events');
}

/** Puts an event in a box of its region's bus. */
export function putLocalEvent(stateDir: string, box: EventBox, event: LocalEvent): string {
  return putFileEvent(regionBusDir(stateDir, event.region), box, event);
}

export function listLocalEvents(
  stateDir: string,
  box: EventBox,
  region: string = primaryRegion,
): { name: string; event: LocalEvent }[] {
  return listFileEvents(regionBusDir(stateDir, region), box);
}

/** Moves a delivered event out of the inbox. */
export function markDelivered(stateDir: string, name: string, region: string = primaryRegion): void {
  markFileEventDelivered(regionBusDir(stateDir, region), name);
}
