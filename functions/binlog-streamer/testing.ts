// Test and benchmark helpers for the binlog streamer (never imported by production code): a durable
// log of RowImages records and commits built from captured transactions, Lambda-shaped events of its
// redo batches, and a reader of every record on a binlog stream.
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import type { KinesisStreamEvent } from 'aws-lambda';
import { encodeRedoBatch, type RedoBatch } from '../../core/backup/redo-batch.ts';
import { pg0CommitRecord } from '../../core/backup/testing.ts';
import { type CapturedTransaction, encodeRowImages } from '../../core/binlog/row-images.ts';
import { RecordKind, type RedoRecord } from '../../core/record.ts';
import { toKinesisEventRecord } from '../../embedded/function-runner.ts';

export interface TestTxn {
  txnId: bigint;
  commitTimeMs: number;
  captured: CapturedTransaction;
}

/**
 * The records of these transactions from startLsn + 1 on: each transaction's RowImages records
 * (payloads of at most payloadBytesMax), then its commit — what the writer ships.
 */
export function rowImagesLog(txns: TestTxn[], startLsn = 0n, payloadBytesMax?: number): RedoRecord[] {
  const records: RedoRecord[] = [];
  let lsn = startLsn;
  for (const t of txns) {
    for (const payload of encodeRowImages(t, t.captured, payloadBytesMax)) {
      lsn += 1n;
      records.push({
        lsn,
        pg: 0,
        pageNo: 0,
        prevLsnInPg: lsn - 1n,
        prevLsnOfPage: 0n,
        kind: RecordKind.RowImages,
        flags: 0,
        payload,
      });
    }
    lsn += 1n;
    records.push(pg0CommitRecord(lsn, t.txnId, t.commitTimeMs));
  }
  return records;
}

let sequence = 49_700_000_000_000_000_000n;

/** A Lambda Kinesis event of these redo batches (or raw bytes), as the mapping builds it. */
export function redoEvent(batches: Array<RedoBatch | Uint8Array>, streamName = 'c-redo'): KinesisStreamEvent {
  return {
    Records: batches.map((b) => {
      sequence += 1n;
      return toKinesisEventRecord(
        {
          data: b instanceof Uint8Array ? b : encodeRedoBatch(b),
          sequenceNumber: sequence.toString(),
          partitionKey: 'cluster',
          arrivalMs: Date.now(),
        },
        { region: 'us-east-1', streamName, shardId: 'shardId-000000000000', functionName: 'binlog-streamer' },
      );
    }),
  };
}

export async function createStream(kinesis: KinesisClient, name: string, shardCount = 1): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
  for (let i = 0; i < 400; i++) {
    const s = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (s.StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`stream ${name} did not become ACTIVE`);
}

export interface StreamRecord {
  shardId: string;
  partitionKey: string;
  sequenceNumber: string;
  data: Buffer;
  /** The JSON envelope. */
  json: Record<string, unknown>;
}

/** Every record on the stream, shard by shard, each shard in order. */
export async function readStream(kinesis: KinesisClient, name: string): Promise<StreamRecord[]> {
  const shards = (await kinesis.send(new ListShardsCommand({ StreamName: name }))).Shards ?? [];
  const out: StreamRecord[] = [];
  for (const shard of shards) {
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({
          StreamName: name,
          ShardId: shard.ShardId,
          ShardIteratorType: 'TRIM_HORIZON',
        }),
      )
    ).ShardIterator;
    while (iterator) {
      const got = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }));
      for (const r of got.Records ?? []) {
        const data = Buffer.from(r.Data!);
        out.push({
          shardId: shard.ShardId!,
          partitionKey: r.PartitionKey!,
          sequenceNumber: r.SequenceNumber!,
          data,
          json: JSON.parse(data.toString('utf8')) as Record<string, unknown>,
        });
      }
      if ((got.Records ?? []).length === 0) break;
      iterator = got.NextShardIterator;
    }
  }
  return out;
}
