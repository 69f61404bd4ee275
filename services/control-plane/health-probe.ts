// One GET /health to a process of the fleet, over a kept-alive connection per process. The control
// plane asks every process about once a second for as long as it runs: a new connection and fetch()'s
// machinery (streams, abort signals, a Response) per ask cost far more than the small answer, on the
// control plane and on the process asked.
import { Agent, get } from 'node:http';
import { hostPort } from '../../core/process/address-flags.ts';
import type { HealthDoc } from './fleet.ts';

/** A health document is a few hundred bytes; more is a broken or foreign server. */
export const healthDocBytesMax = 1024 * 1024;

export class HealthProber {
  // One socket per process, reused while it answers; closed when a probe times out (a hung process).
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1 });

  /** The process's health document; rejects on no answer within `timeoutMs` or a malformed one. */
  probe(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<HealthDoc> {
    const where = hostPort(host, port);
    return new Promise((resolve, reject) => {
      let settled = false;
      let timer: NodeJS.Timeout | undefined;
      const settle = (error: Error | undefined, doc?: HealthDoc) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error) reject(error);
        else resolve(doc!);
      };
      const request = get({ host, port, path: '/health', agent: this.#agent }, (response) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > healthDocBytesMax) {
            settle(new Error(`${where}/health: answer over ${healthDocBytesMax} bytes`));
            request.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => settle(error));
        response.on('end', () => {
          // A 503 carries the document too (healthy: false): the body, not the status, is the answer.
          try {
            settle(undefined, parseHealthDoc(Buffer.concat(chunks).toString('utf8')));
          } catch (error) {
            settle(new Error(`${where}/health: ${(error as Error).message}`));
          }
        });
      });
      request.on('error', (error) => settle(error));
      timer = setTimeout(() => {
        settle(new Error(`${where}/health: no answer within ${timeoutMs} ms`));
        request.destroy();
      }, timeoutMs);
    });
  }

  /** Closes the kept-alive connections (the control plane is stopping). */
  close(): void {
    this.#agent.destroy();
  }
}

/** Pure: a /health body as a HealthDoc (a JSON object with a boolean `healthy`). */
export function parseHealthDoc(text: string): HealthDoc {
  const doc = JSON.parse(text) as unknown;
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    throw new Error('the health document is not a JSON object');
  }
  if (typeof (doc as { healthy?: unknown }).healthy !== 'boolean') {
    throw new Error('the health document has no boolean "healthy"');
  }
  return doc as HealthDoc;
}
