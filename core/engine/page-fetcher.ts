// Reads a page from storage at a read point — no quorum read: one full segment whose SCL has reached
// the read point is enough. Tries the PG's full segments in turn (NOT_COMPLETE, down, slow), and
// hedges: a segment that has not answered within hedgeAfterMs gets company from the next one.
import { BorealisError, ErrorCode, isBorealisError } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import { pgOfPage, type VolumeConfig } from '../volume.ts';
import { expectReply, type StorageClient } from '../wire/client.ts';
import type { PageVersion } from './page-cache.ts';

export interface PageFetcherOptions {
  volume: VolumeConfig;
  clients: ReadonlyMap<string, StorageClient>;
  /** Give up after this long (all segments behind or down). */
  timeoutMs?: number;
  hedgeAfterMs?: number;
}

export class PageFetcher {
  readonly #fullNodesOfPg = new Map<number, string[]>();
  #turn = 0;
  fetches = 0;

  constructor(private readonly options: PageFetcherOptions) {
    for (const p of options.volume.placement) {
      this.#fullNodesOfPg.set(
        p.pg,
        p.segments.filter((s) => s.kind === 'full').map((s) => s.nodeId),
      );
    }
  }

  async fetch(pageNo: number, readPoint: Lsn): Promise<PageVersion> {
    this.fetches++;
    const pg = pgOfPage(this.options.volume, pageNo);
    const nodes = this.#fullNodesOfPg.get(pg)!;
    const deadline = Date.now() + (this.options.timeoutMs ?? 10_000);
    let lastError: unknown;
    for (let round = 0; Date.now() < deadline; round++) {
      // Start at a different segment each time, so page reads spread over the full segments.
      const start = this.#turn++ % nodes.length;
      const order = nodes.map((_, i) => nodes[(start + i) % nodes.length]!);
      try {
        return await this.#hedged(order, pg, pageNo, readPoint);
      } catch (error) {
        lastError = error;
        if (isBorealisError(error) && !error.retryable && error.code !== ErrorCode.NOT_COMPLETE) throw error;
      }
      await new Promise((r) => setTimeout(r, Math.min(200, 10 * 2 ** round)));
    }
    throw new BorealisError(
      ErrorCode.QUORUM_LOST,
      `no full segment of pg ${pg} could serve page ${pageNo} at read point ${readPoint}`,
      { context: { pg, pageNo, readPoint: readPoint.toString() }, cause: lastError, retryable: true },
    );
  }

  #hedged(order: string[], pg: number, pageNo: number, readPoint: Lsn): Promise<PageVersion> {
    const hedgeAfterMs = this.options.hedgeAfterMs ?? 250;
    return new Promise((resolve, reject) => {
      let pending = 0;
      let next = 0;
      let settled = false;
      let lastError: unknown;
      const launch = () => {
        if (settled || next >= order.length) return;
        const nodeId = order[next++]!;
        pending++;
        const timer = setTimeout(launch, hedgeAfterMs);
        this.options.clients
          .get(nodeId)!
          .request({ type: 'getPage', pg, pageNo, readPoint })
          .then(
            (reply) => {
              clearTimeout(timer);
              if (settled) return;
              settled = true;
              const page = expectReply(reply, 'page');
              resolve({ lsn: page.versionLsn, bytes: Buffer.from(page.page) });
            },
            (error: unknown) => {
              clearTimeout(timer);
              pending--;
              lastError = error;
              if (next < order.length) launch();
              else if (pending === 0 && !settled) {
                settled = true;
                reject(lastError);
              }
            },
          );
      };
      launch();
    });
  }
}
