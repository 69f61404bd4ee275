// The embedded EventBridge's delivery: events put in the state dir's inbox (by the CLI) go, one at a
// time in order, to the function whose rule matches their source and detail-type — the same handler
// an EventBridge rule invokes on AWS — and what functions emit lands in `emitted/`.
import type { Logger } from '../core/log.ts';
import { type LocalEvent, listLocalEvents, markDelivered, putLocalEvent } from './local-events.ts';

export interface EventRoute {
  name: string;
  source: string;
  detailType: string;
  handler: (event: LocalEvent) => Promise<unknown>;
}

export class EventRunner {
  #timer: NodeJS.Timeout | undefined;
  #busy = false;
  delivered = 0;

  constructor(
    private readonly options: {
      stateDir: string;
      /** The region whose bus this runner serves. */
      region: string;
      routes: EventRoute[];
      logger: Logger;
      pollMs?: number;
    },
  ) {}

  start(): void {
    this.#timer = setInterval(() => void this.#tick(), this.options.pollMs ?? 200);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** What a function emits (PutEvents on AWS). */
  emit(event: LocalEvent): void {
    putLocalEvent(this.options.stateDir, 'emitted', event);
  }

  async #tick(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (const { name, event } of listLocalEvents(this.options.stateDir, 'inbox', this.options.region)) {
        const route = this.options.routes.find(
          (r) => r.source === event.source && r.detailType === event['detail-type'],
        );
        // Delivered (or dropped, as EventBridge does with an event no rule matches) exactly once here.
        markDelivered(this.options.stateDir, name, this.options.region);
        if (!route) {
          this.options.logger.warn(
            { detailType: event['detail-type'], source: event.source },
            'no rule matches the event',
          );
          continue;
        }
        this.options.logger.info({ function: route.name, id: event.id }, 'delivering event');
        // Invocations run side by side, as Lambda runs them: a long restore does not hold a snapshot.
        route.handler(event).then(
          () => {
            this.delivered++;
          },
          (error: Error) =>
            this.options.logger.error(
              { function: route.name, id: event.id, err: error.message },
              'function failed',
            ),
        );
      }
    } finally {
      this.#busy = false;
    }
  }
}
