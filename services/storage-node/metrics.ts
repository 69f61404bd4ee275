// Prometheus metrics of one storage node, named with Aurora's vocabulary (SCL per PG, epoch), and
// where its log stands (bytes, index entries, oldest retained LSN and the input that retains it).
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { SegmentLogStatus } from './storage-node.ts';

export interface StorageMetrics {
  recordsAppended: Counter;
  bytesAppended: Counter;
  fsyncs: Counter;
  fsyncSeconds: Histogram;
  appendBatches: Counter;
  gossipFills: Counter;
  scrubRepairs: Counter<'what'>;
  scrubChecked: Counter<'what'>;
  versionsCoalesced: Counter;
  versionsCollected: Counter;
  rejected: Counter<'code'>;
  tailCutBytes: Gauge;
  logRecordsCollected: Counter;
  logFilesRemoved: Counter;
}

export function storageMetrics(
  registry: Registry,
  live: {
    scl: () => { pg: number; kind: string; scl: bigint }[];
    epoch: () => bigint;
    versionsRetained: () => number;
    logBytes?: () => number;
    logFiles?: () => number;
    pageStoreBytes?: () => number;
    logStatus?: () => SegmentLogStatus[];
  },
): StorageMetrics {
  const registers = [registry];
  new Gauge({
    name: 'borealis_storage_scl',
    help: 'Segment complete LSN per PG hosted on this node',
    labelNames: ['pg', 'kind'],
    registers,
    collect() {
      for (const s of live.scl()) this.set({ pg: String(s.pg), kind: s.kind }, Number(s.scl));
    },
  });
  new Gauge({
    name: 'borealis_storage_epoch',
    help: 'Volume epoch this node enforces',
    registers,
    collect() {
      this.set(Number(live.epoch()));
    },
  });
  new Gauge({
    name: 'borealis_storage_page_versions_retained',
    help: 'Page versions held in the page store',
    registers,
    collect() {
      this.set(live.versionsRetained());
    },
  });
  if (live.logBytes && live.logFiles && live.pageStoreBytes && live.logStatus) {
    const { logBytes, logFiles, pageStoreBytes, logStatus } = live;
    new Gauge({
      name: 'borealis_storage_log_bytes',
      help: 'Bytes of the log files on disk (every segment of the node shares them)',
      registers,
      collect() {
        this.set(logBytes());
      },
    });
    new Gauge({
      name: 'borealis_storage_log_files',
      help: 'Log files on disk',
      registers,
      collect() {
        this.set(logFiles());
      },
    });
    new Gauge({
      name: 'borealis_storage_page_store_bytes',
      help: 'Bytes of the page store file in use (LMDB reuses freed pages)',
      registers,
      collect() {
        this.set(pageStoreBytes());
      },
    });
    new Gauge({
      name: 'borealis_storage_index_entries',
      help: 'Records in the in-memory log index, per PG',
      labelNames: ['pg', 'kind'],
      registers,
      collect() {
        for (const s of logStatus()) this.set({ pg: String(s.pg), kind: s.kind }, s.indexEntries);
      },
    });
    new Gauge({
      name: 'borealis_storage_log_base_lsn',
      help: 'Per PG: records at or below this LSN are collected',
      labelNames: ['pg', 'kind'],
      registers,
      collect() {
        for (const s of logStatus()) this.set({ pg: String(s.pg), kind: s.kind }, Number(s.baseLsn));
      },
    });
    new Gauge({
      name: 'borealis_storage_oldest_retained_lsn',
      help: 'Per PG: the lowest LSN still in the log, labelled with the collection input that retains it',
      labelNames: ['pg', 'kind', 'retained_by'],
      registers,
      collect() {
        this.reset();
        for (const s of logStatus()) {
          this.set(
            { pg: String(s.pg), kind: s.kind, retained_by: s.retainedBy },
            Number(s.oldestRetainedLsn),
          );
        }
      },
    });
  }
  return {
    logRecordsCollected: new Counter({
      name: 'borealis_storage_log_records_collected_total',
      help: 'Records let go of by log collection (index entries; their bytes go with whole files)',
      registers,
    }),
    logFilesRemoved: new Counter({
      name: 'borealis_storage_log_files_removed_total',
      help: 'Log files deleted by log collection',
      registers,
    }),
    recordsAppended: new Counter({
      name: 'borealis_storage_records_appended_total',
      help: 'Redo records made durable (from the writer and from gossip)',
      registers,
    }),
    bytesAppended: new Counter({
      name: 'borealis_storage_bytes_appended_total',
      help: 'Bytes written to the log',
      registers,
    }),
    fsyncs: new Counter({ name: 'borealis_storage_fsyncs_total', help: 'Log fdatasync calls', registers }),
    fsyncSeconds: new Histogram({
      name: 'borealis_storage_fsync_duration_seconds',
      help: 'Log fdatasync latency',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    }),
    appendBatches: new Counter({
      name: 'borealis_storage_append_batches_total',
      help: 'Append requests acknowledged',
      registers,
    }),
    gossipFills: new Counter({
      name: 'borealis_storage_gossip_fills_total',
      help: 'Records fetched from peer segments to fill gaps',
      registers,
    }),
    scrubRepairs: new Counter({
      name: 'borealis_storage_scrub_repairs_total',
      help: 'Corrupt records or page versions repaired from a peer',
      labelNames: ['what'],
      registers,
    }),
    scrubChecked: new Counter({
      name: 'borealis_storage_scrub_checked_total',
      help: 'Records or page versions whose CRC the scrub re-checked',
      labelNames: ['what'],
      registers,
    }),
    versionsCoalesced: new Counter({
      name: 'borealis_storage_page_versions_coalesced_total',
      help: 'Page versions materialised from records',
      registers,
    }),
    versionsCollected: new Counter({
      name: 'borealis_storage_page_versions_collected_total',
      help: 'Old page versions garbage-collected',
      registers,
    }),
    rejected: new Counter({
      name: 'borealis_storage_requests_rejected_total',
      help: 'Requests answered with an error frame',
      labelNames: ['code'],
      registers,
    }),
    tailCutBytes: new Gauge({
      name: 'borealis_storage_log_tail_cut_bytes',
      help: 'Bytes of torn or corrupt log tail cut at the last start',
      registers,
    }),
  };
}
