// Hydrating a new cluster's volume from a restore: the materialized pages are written through the
// same path as every write — a writer engine on the volume ships them as page-image redo records in
// transactions with commit records, acknowledged once durable on a write quorum — so the restored
// volume is an ordinary volume: the cluster's writer then opens it like any other (no replay).
import { assert } from '../../core/assert.ts';
import { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { SQLite } from '../../core/engine/runtime.ts';
import type { Logger } from '../../core/log.ts';
import type { Lsn } from '../../core/lsn.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import { LogShipper } from '../writer/log-shipper.ts';
import { recoverVolume } from '../writer/recovery.ts';
import { WriterEngine } from '../writer/writer-engine.ts';

/** Pages per loading transaction (~1 MiB of 4 KiB pages) and transactions in flight. */
const pagesPerTransaction = 256;
const transactionsInFlight = 8;

export async function loadVolume(options: {
  volume: VolumeConfig;
  clients: ReadonlyMap<string, StorageClient>;
  logger: Logger;
  pages: ReadonlyMap<number, Uint8Array>;
  onProgress?: (loaded: number, total: number) => void;
}): Promise<{ commitLsn: Lsn; pages: number; bytes: number }> {
  const { volume, clients, logger, pages } = options;
  const recovered = await recoverVolume({ volume, clients, logger });
  let fenced: Error | undefined;
  const shipper = new LogShipper({
    volume,
    epoch: recovered.epoch,
    clients,
    nextLsn: recovered.nextLsn,
    pgTails: recovered.pgTails,
    onFenced: (error) => {
      fenced = error;
    },
  });
  const engine = new WriterEngine({
    volume,
    shipper,
    fetcher: new PageFetcher({ volume, clients }),
    logger,
    cacheCapacityPages: pagesPerTransaction * (transactionsInFlight + 2),
    vdl: recovered.vdl,
    lastCommit: recovered.lastCommit,
    nextTxnId: recovered.nextTxnId,
  });
  try {
    const pageNos = [...pages.keys()].sort((a, b) => a - b);
    const inFlight: Lsn[] = [];
    let commitLsn = recovered.vdl;
    let bytes = 0;
    for (let i = 0; i < pageNos.length; i += pagesPerTransaction) {
      if (fenced) throw fenced;
      const batch = new Map<number, Uint8Array>();
      for (const pageNo of pageNos.slice(i, i + pagesPerTransaction)) {
        const image = pages.get(pageNo)!;
        assert(image.length === volume.pageSizeBytes, () => `page ${pageNo} is ${image.length} bytes`);
        batch.set(pageNo, image);
        bytes += image.length;
        // Written as a whole image whatever the volume held: no read of the old page is needed.
        engine.cache.load(pageNo, { lsn: 0n, bytes: new Uint8Array(0) });
      }
      const result = await engine.commitPages(batch, engine.latestCommitLsn);
      if (result.rc !== SQLite.SQLITE_OK) throw new Error(`loading pages failed (SQLite code ${result.rc})`);
      if (result.commitLsn !== undefined) {
        commitLsn = result.commitLsn;
        inFlight.push(commitLsn);
      }
      if (inFlight.length >= transactionsInFlight) await shipper.waitForVdl(inFlight.shift()!);
      options.onProgress?.(Math.min(i + pagesPerTransaction, pageNos.length), pageNos.length);
    }
    await shipper.waitForVdl(commitLsn);
    return { commitLsn, pages: pageNos.length, bytes };
  } finally {
    shipper.close();
  }
}
