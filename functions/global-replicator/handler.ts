// The global replicator (Lambda, Kinesis trigger on the primary region's redo stream): carries each
// durable redo batch, in order, to the replica applier of the Global Database's secondary cluster
// (services/replica-applier), which acknowledges it only once it is on a write quorum of the
// secondary volume. Pure logic on the event and injected dependencies; index.ts wraps it in middy.
//
// Decisions:
// - Order: the shard's records go one at a time, in sequence order. At the first batch not
//   acknowledged durable, it and everything after it are reported in batchItemFailures (Lambda
//   checkpoints the ones before and retries from it), so the secondary volume is always a prefix of
//   the primary's: the applier refuses a batch that does not continue its log.
// - Idempotence: a redelivered batch is acknowledged by the applier without shipping it again
//   (batches chain by prevLsn, core/backup/redo-batch.ts), so retries and restarts never duplicate.
// - A record that is not a redo batch cannot be skipped without a hole in the secondary: it is
//   reported like any failure (the trigger retries without limit, core/functions.ts) and logged at
//   error level for an operator.
// - Where the secondary is: its control plane's published topology (the secondary region's SSM
//   parameter, or the embedded topology dir): the writer slot of a secondary cluster is its
//   replica applier, and its endpoint takes POST /apply. No secondary configured: nothing to do.
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { decodeRedoBatchHeader } from '../../core/backup/redo-batch.ts';
import type { Logger } from '../../core/log.ts';

export interface ApplyAnswer {
  ok: boolean;
  status: number;
  body: string;
}

export interface ReplicatorDeps {
  /** The secondary's apply URL, or undefined when this region has no Global Database secondary. */
  applierUrl: () => Promise<string | undefined>;
  /** POSTs one encoded redo batch; resolves with the applier's answer (rejects when unreachable). */
  post: (url: string, body: Uint8Array) => Promise<ApplyAnswer>;
  logger: Logger;
}

export interface ReplicationReport extends KinesisStreamBatchResponse {
  batchesApplied: number;
  bytesSent: number;
}

export async function replicateRedoBatches(
  event: KinesisStreamEvent,
  deps: ReplicatorDeps,
): Promise<ReplicationReport> {
  const records = event.Records;
  if (records.length === 0) return { batchItemFailures: [], batchesApplied: 0, bytesSent: 0 };
  const failFrom = (index: number) =>
    records.slice(index).map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber }));
  let url: string | undefined;
  try {
    url = await deps.applierUrl();
  } catch (error) {
    deps.logger.warn({ err: (error as Error).message }, 'cannot find the secondary cluster: retrying');
    return { batchItemFailures: failFrom(0), batchesApplied: 0, bytesSent: 0 };
  }
  if (url === undefined) return { batchItemFailures: [], batchesApplied: 0, bytesSent: 0 };
  let bytesSent = 0;
  for (let i = 0; i < records.length; i++) {
    const record = records[i]!;
    const data = Buffer.from(record.kinesis.data, 'base64');
    try {
      decodeRedoBatchHeader(data);
    } catch (error) {
      deps.logger.error(
        { err: (error as Error).message, sequenceNumber: record.kinesis.sequenceNumber },
        'not a redo batch: replication is blocked here until an operator sets it aside',
      );
      return { batchItemFailures: failFrom(i), batchesApplied: i, bytesSent };
    }
    let answer: ApplyAnswer;
    try {
      answer = await deps.post(url, data);
    } catch (error) {
      deps.logger.warn({ err: (error as Error).message, url }, 'the secondary did not answer: retrying');
      return { batchItemFailures: failFrom(i), batchesApplied: i, bytesSent };
    }
    if (!answer.ok) {
      deps.logger.warn(
        {
          status: answer.status,
          answer: answer.body.slice(0, 500),
          sequenceNumber: record.kinesis.sequenceNumber,
        },
        'the secondary did not acknowledge a redo batch: retrying from it',
      );
      return { batchItemFailures: failFrom(i), batchesApplied: i, bytesSent };
    }
    bytesSent += data.length;
  }
  return { batchItemFailures: [], batchesApplied: records.length, bytesSent };
}
