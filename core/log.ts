// Structured logs for every service (pino, JSON lines on stdout). The launcher redirects each
// process's stdout to a file under the state dir, so nothing here knows about files.
import { type Logger, pino } from 'pino';

export type { Logger };

export function createLogger(component: string, bindings: Record<string, unknown> = {}): Logger {
  return pino({
    name: component,
    level: process.env.BOREALIS_LOG_LEVEL ?? 'info',
    base: { pid: process.pid, ...bindings },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
