// Prometheus metrics of the writer, in Aurora's vocabulary (VDL, VCL, epoch).
import { Counter, Gauge, type Registry } from 'prom-client';

export function writerMetrics(
  registry: Registry,
  live: {
    vdl: () => bigint;
    vcl: () => bigint;
    epoch: () => bigint;
    commits: () => number;
    bytesShipped: () => number;
    cacheHits: () => number;
    cacheMisses: () => number;
    cachePages: () => number;
    openTransactions: () => number;
    writeLockQueue: () => number;
    readers: () => number;
  },
): { statements: Counter } {
  const registers = [registry];
  const gauge = (name: string, help: string, read: () => number | bigint) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(Number(read()));
      },
    });
  gauge('borealis_writer_vdl', 'Volume durable LSN', live.vdl);
  gauge('borealis_writer_vcl', 'Volume complete LSN', live.vcl);
  gauge('borealis_writer_epoch', 'Volume epoch this writer holds', live.epoch);
  gauge('borealis_writer_commits_shipped', 'Transactions shipped to storage since open', live.commits);
  gauge('borealis_writer_redo_bytes_shipped', 'Redo bytes sent per segment since open', live.bytesShipped);
  gauge('borealis_writer_cache_hits', 'Buffer cache hits', live.cacheHits);
  gauge('borealis_writer_cache_misses', 'Buffer cache misses (page reads from storage)', live.cacheMisses);
  gauge('borealis_writer_cache_pages', 'Pages in the buffer cache', live.cachePages);
  gauge('borealis_writer_open_transactions', 'Open Data API transactions', live.openTransactions);
  gauge('borealis_writer_write_lock_queue', 'Statements waiting for the write lock', live.writeLockQueue);
  gauge('borealis_writer_readers', 'Readers subscribed to the redo stream', live.readers);
  return {
    statements: new Counter({
      name: 'borealis_writer_statements_total',
      help: 'Data API statements',
      registers,
    }),
  };
}
