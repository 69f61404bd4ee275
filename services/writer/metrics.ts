// Prometheus metrics of the writer, in Aurora's vocabulary (VDL, VCL, epoch).
import { Counter, Gauge, type Registry } from 'prom-client';
import type { RedoPublisherStats } from './redo-publisher.ts';

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
    /** Binlog row events and RowImages bytes shipped since open (0 with --binlog-format OFF). */
    binlogRowEvents?: () => number;
    binlogBytes?: () => number;
    /** The Kinesis redo publisher, when it runs. */
    redoPublisher?: (() => RedoPublisherStats) | undefined;
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
  // Counters over the engine's own tallies, read at scrape time.
  const tally = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  const binlogRowEvents = live.binlogRowEvents;
  const binlogBytes = live.binlogBytes;
  if (binlogRowEvents && binlogBytes) {
    tally(
      'borealis_binlog_row_events_total',
      'Row changes captured for the binlog and shipped in RowImages records',
      binlogRowEvents,
    );
    tally('borealis_binlog_bytes_total', 'Bytes of RowImages payloads shipped in the redo', binlogBytes);
  }
  const redo = live.redoPublisher;
  if (redo) {
    // Counters read from the publisher's own tallies at scrape time.
    const counter = (name: string, help: string, read: (s: RedoPublisherStats) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset();
          this.inc(read(redo()));
        },
      });
    counter(
      'borealis_writer_redo_publish_batches_total',
      'Redo batches put to the Kinesis redo stream',
      (s) => s.batchesPublished,
    );
    counter(
      'borealis_writer_redo_publish_bytes_total',
      'Bytes of redo batches put to the redo stream',
      (s) => s.bytesPublished,
    );
    counter(
      'borealis_writer_redo_publish_records_total',
      'Redo records put to the redo stream',
      (s) => s.recordsPublished,
    );
    counter(
      'borealis_writer_redo_republished_records_total',
      'Redo records read back from storage and put (failover, restart, buffer overflow)',
      (s) => s.recordsRepublished,
    );
    counter(
      'borealis_writer_redo_publish_requests_total',
      'PutRecords requests (attempts)',
      (s) => s.requests,
    );
    counter(
      'borealis_writer_redo_publish_errors_total',
      'Failed or partly failed PutRecords and watermark reads',
      (s) => s.errors,
    );
    counter(
      'borealis_writer_redo_publish_overflows_total',
      'Times the publish buffer was full (records re-read from storage)',
      (s) => s.overflows,
    );
    counter(
      'borealis_writer_redo_archive_stalls_total',
      'Times the archive watermark stalled below what was published and the range was republished',
      (s) => s.archiveStalls,
    );
    gauge(
      'borealis_writer_redo_archive_watermark_lsn',
      'Archive watermark as the redo publisher last read it',
      () => redo().watermarkLsn ?? 0n,
    );
    gauge(
      'borealis_writer_redo_published_lsn',
      'Last redo record put to the redo stream',
      () => redo().publishedLsn,
    );
    gauge(
      'borealis_writer_redo_publish_lag_lsn',
      'VDL minus the last LSN covered on the redo stream',
      () => redo().lagLsn,
    );
    gauge(
      'borealis_writer_redo_publish_lag_ms',
      'Commit time of VDL minus that of the last commit put to the redo stream',
      () => redo().lagMs,
    );
    gauge(
      'borealis_writer_redo_publish_buffer_bytes',
      'Shipped records waiting to be published',
      () => redo().bufferBytes,
    );
  }
  return {
    statements: new Counter({
      name: 'borealis_writer_statements_total',
      help: 'Data API statements',
      registers,
    }),
  };
}
