// A binlog consumer as docs/binlog.md tells users to write one: reads every shard of the binlog
// stream with the Kinesis SDK and applies the events in stream order to a plain better-sqlite3
// database — DDL texts as they are, rows matched by their key — applying an event only when its
// position is above the last one applied for its partition key (so a redelivered copy, or an older
// copy resent after a partial PutRecords failure, changes nothing; an update is applied as the row's
// full after image). Tests then compare that copy with the cluster, and check the stream itself:
// duplicates identical, positions increasing per key, each transaction's events complete.
import {
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import Database from 'better-sqlite3';

type Json = null | number | string | boolean;

/** The parts of a binlog envelope the consumer reads (core/binlog/events.ts has the whole shape). */
export interface ConsumedEvent {
  op?: 'c' | 'u' | 'd' | 't';
  before?: Record<string, Json> | null;
  after?: Record<string, Json> | null;
  key?: Record<string, Json>;
  ddl?: string;
  ts_ms: number;
  source: {
    table: string | null;
    file: string;
    pos: number;
    row: number;
    lsn: string;
    txId: string;
    ts_ms: number;
  };
  transaction: { id: string; total_order: number; data_collection_order: number };
}

export interface Arrival {
  event: ConsumedEvent;
  /** The record's bytes as the stream carried them. */
  text: string;
  partitionKey: string;
  shardId: string;
  arrivedAtMs: number;
}

export function positionKey(e: ConsumedEvent): string {
  return `${e.source.file}:${e.source.pos}:${e.source.row}`;
}

export class BinlogConsumer {
  readonly arrivals: Arrival[] = [];
  readonly db = new Database(':memory:');
  /** Per partition key, the position (LSN, row) of the last event applied. */
  readonly #applied = new Map<string, { lsn: bigint; row: number }>();
  readonly #iterators = new Map<string, string | undefined>();
  duplicates = 0;

  constructor(
    readonly kinesis: KinesisClient,
    readonly streamName: string,
  ) {}

  /** Reads every shard once to its current end; returns the events that arrived. */
  async poll(): Promise<Arrival[]> {
    const shards = await this.kinesis.send(new DescribeStreamCommand({ StreamName: this.streamName }));
    const got: Arrival[] = [];
    for (const shard of shards.StreamDescription?.Shards ?? []) {
      const shardId = shard.ShardId!;
      let iterator = this.#iterators.get(shardId);
      if (!this.#iterators.has(shardId)) {
        iterator = (
          await this.kinesis.send(
            new GetShardIteratorCommand({
              StreamName: this.streamName,
              ShardId: shardId,
              ShardIteratorType: 'TRIM_HORIZON',
            }),
          )
        ).ShardIterator;
      }
      while (iterator !== undefined) {
        const out = await this.kinesis.send(
          new GetRecordsCommand({ ShardIterator: iterator, Limit: 10_000 }),
        );
        iterator = out.NextShardIterator;
        const now = Date.now();
        for (const r of out.Records ?? []) {
          const text = Buffer.from(r.Data!).toString('utf8');
          got.push({
            event: JSON.parse(text) as ConsumedEvent,
            text,
            partitionKey: r.PartitionKey!,
            shardId,
            arrivedAtMs: now,
          });
        }
        if ((out.Records ?? []).length === 0 || out.MillisBehindLatest === 0) break;
      }
      this.#iterators.set(shardId, iterator);
    }
    for (const arrival of got) this.#apply(arrival);
    this.arrivals.push(...got);
    return got;
  }

  #apply(arrival: Arrival): void {
    const e = arrival.event;
    const at = { lsn: BigInt(e.source.lsn), row: e.source.row };
    const last = this.#applied.get(arrival.partitionKey);
    if (last !== undefined && (at.lsn < last.lsn || (at.lsn === last.lsn && at.row <= last.row))) {
      this.duplicates++;
      return;
    }
    this.#applied.set(arrival.partitionKey, at);
    if (e.ddl !== undefined) {
      this.db.exec(e.ddl);
      return;
    }
    const table = quoteName(e.source.table!);
    const key = e.key!;
    const where = Object.keys(key)
      .map((k) => `${k === '_rowid_' ? 'rowid' : quoteName(k)} IS ?`)
      .join(' AND ');
    const keyValues = Object.values(key);
    if (e.op === 'd') {
      this.db.prepare(`DELETE FROM ${table} WHERE ${where}`).run(...keyValues);
    } else if (e.op === 'c') {
      this.#insert(table, e.after!, key);
    } else if (e.op === 'u') {
      // The full after image: the row as it is now, whatever this copy had.
      this.db.prepare(`DELETE FROM ${table} WHERE ${where}`).run(...keyValues);
      this.#insert(table, e.after!, key);
    } else throw new Error(`op ${e.op}: ${arrival.text}`);
  }

  #insert(table: string, after: Record<string, Json>, key: Record<string, Json>): void {
    const columns = Object.keys(after).map(quoteName);
    const values: Json[] = Object.values(after);
    if ('_rowid_' in key) {
      columns.push('rowid');
      values.push(key._rowid_!);
    }
    this.db
      .prepare(`INSERT INTO ${table} (${columns.join(', ')}) VALUES (${values.map(() => '?').join(', ')})`)
      .run(...values);
  }

  /** Every distinct event (first copies), in arrival order. */
  firstCopies(): Arrival[] {
    const seen = new Set<string>();
    return this.arrivals.filter((a) => {
      const id = positionKey(a.event);
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
  }

  close(): void {
    this.db.close();
  }
}

export function quoteName(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
