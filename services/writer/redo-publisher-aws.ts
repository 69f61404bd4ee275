// The redo publisher's AWS side: the Kinesis sink (PutRecords to the region's redo stream, partition
// key = cluster name so one shard keeps the order) and the archive watermark read from the backup
// bucket. Clients come from core/aws/clients.ts (HTTP/1.1 for the emulators, path-style S3).
import { type KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import type { S3Client } from '@aws-sdk/client-s3';
import { readWatermark as readArchiveWatermark } from '../../core/backup/s3-archive.ts';
import type { Lsn } from '../../core/lsn.ts';
import { firstFailedEntry, type PutOutcome, type RedoSink } from './redo-publisher.ts';

export class KinesisRedoSink implements RedoSink {
  readonly entryOverheadBytes: number;

  constructor(
    private readonly kinesis: KinesisClient,
    private readonly streamName: string,
    private readonly partitionKey: string,
  ) {
    this.entryOverheadBytes = Buffer.byteLength(partitionKey);
  }

  async putRecords(entries: Buffer[]): Promise<PutOutcome> {
    const out = await this.kinesis.send(
      new PutRecordsCommand({
        StreamName: this.streamName,
        Records: entries.map((Data) => ({ Data, PartitionKey: this.partitionKey })),
      }),
    );
    const results = out.Records ?? [];
    const firstFailed =
      (out.FailedRecordCount ?? 0) === 0 && results.length === entries.length
        ? undefined
        : firstFailedEntry(results, entries.length);
    const errorCodes = results.filter((r) => r.ErrorCode).map((r) => r.ErrorCode!);
    return { firstFailed, errorCodes: [...new Set(errorCodes)] };
  }
}

/** The archive watermark's LSN and commit time; 0 and 0 when the archiver has written none yet. */
export async function readWatermark(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<{ lsn: Lsn; commitTimeMs: number }> {
  const stored = await readArchiveWatermark(s3, bucket, cluster);
  return stored
    ? { lsn: BigInt(stored.value.lsn), commitTimeMs: stored.value.commitTimeMs }
    : { lsn: 0n, commitTimeMs: 0 };
}
