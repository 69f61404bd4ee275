// Test helpers for the archiver and the function runner (never imported by production code): a
// synthetic durable log (page deltas and commits), cut into redo batches.
import { packRedoBatches, type RedoBatch } from '../../core/backup/redo-batch.ts';
import { pg0CommitRecord } from '../../core/backup/testing.ts';
import type { Lsn } from '../../core/lsn.ts';
import { RecordKind, type RedoRecord } from '../../core/record.ts';

export interface SyntheticLog {
  records: RedoRecord[];
  /** Commit LSN → commit time. */
  commits: Array<{ lsn: Lsn; commitTimeMs: number }>;
}

/**
 * `txns` transactions of `pagesPerTxn` page deltas and a commit each, LSNs from startLsn + 1 with
 * a jump of 100 every 7th transaction (LSNs need not be dense), commit times 1 ms apart.
 */
export function syntheticLog(
  txns: number,
  options: { startLsn?: Lsn; startTimeMs?: number; pagesPerTxn?: number; payloadBytes?: number } = {},
): SyntheticLog {
  let lsn = options.startLsn ?? 0n;
  let timeMs = options.startTimeMs ?? 1_700_000_000_000;
  const records: RedoRecord[] = [];
  const commits: SyntheticLog['commits'] = [];
  for (let t = 0; t < txns; t++) {
    if (t % 7 === 6) lsn += 100n;
    for (let p = 0; p < (options.pagesPerTxn ?? 2); p++) {
      lsn += 1n;
      records.push({
        lsn,
        pg: 0,
        pageNo: p + 1,
        prevLsnInPg: lsn - 1n,
        prevLsnOfPage: 0n,
        kind: RecordKind.PageDelta,
        flags: 0,
        payload: Buffer.alloc(options.payloadBytes ?? 16, t & 0xff),
      });
    }
    lsn += 1n;
    timeMs += 1;
    records.push(pg0CommitRecord(lsn, BigInt(t + 1), timeMs));
    commits.push({ lsn, commitTimeMs: timeMs });
  }
  return { records, commits };
}

/** The log cut into batches of at most `maxBytes`, chained from prevLsn 0. */
export function syntheticBatches(txns: number, maxBytes: number, epoch = 1n): RedoBatch[] {
  return packRedoBatches(epoch, 0n, syntheticLog(txns).records, maxBytes);
}
