// Binlog events from RowImages redo records: each row change becomes an envelope in Debezium's MySQL
// shape (before, after, op, source, transaction), each DDL statement a schema-change envelope, in the
// order the transaction made them. Pure but for the FragmentStore, where the fragments of a change
// too large for one record wait for the rest. Used by the binlog-streamer function (stream → Kinesis)
// and by `borealis binlog read` (archive → stdout), so both carry byte-identical envelopes apart from
// ts_ms (when emitted).
//
// Decisions:
// - Values are typed as the Data API types them: INTEGER → a JSON number, or its decimal string
//   outside ±(2^53 - 1) where a JSON number would round; REAL → a number; TEXT → a string; BLOB → its
//   base64; NULL → null. SQLite stores ±Infinity in a REAL (`1e999`), which JSON has no number for:
//   those become the strings "Infinity" / "-Infinity", as the Data API's formattedRecords spells them
//   (null would be a wrong value, not a missing one). NaN cannot be stored (SQLite turns it into
//   NULL); should one appear it is null. An integral REAL and an INTEGER look alike in JSON (1.0 and
//   1 both print `1`), as in the Data API's JSON.
// - The key is the declared primary key's columns, or { _rowid_: n } for a rowid table without one.
//   An update whose key changes is a delete of the old key then a create of the new one (Debezium
//   does the same), both with the change's ordinals. A rowid table without a declared key carries
//   only the rowid after an update, so there an update never splits: the capture must ship a rowid
//   change as a delete and a create.
// - Positions: the event of index `row` among those a record yields is at positionOf(lsn, row)
//   (core/binlog/position.ts), the record's LSN — lsn0 for a fragmented change, the LSN of its first
//   fragment. The same record always yields the same events in the same order, so a redelivered or
//   rebuilt event keeps its position and a consumer deduplicates on it.
// - source.lsn and source.txId / transaction.id are decimal strings (LSNs and transaction ids are
//   u64; the archive's JSON writes them the same way).
// - Fragments: a fragment that is not its change's last is stored and yields nothing; the last one
//   reads the others back (all must be there: a reader that starts inside a change must start at its
//   lsn0), joins them, yields the change's events, then deletes them. A caller that may retry the
//   record after a failure (the Lambda) defers the deletion until its events are safely out.
import { createHash } from 'node:crypto';
import { assert } from '../assert.ts';
import type { BacktrackMarker } from '../backtrack/timeline.ts';
import { BorealisError, ErrorCode } from '../errors.ts';
import { RecordKind, type RedoRecord } from '../record.ts';
import { type BinlogPosition, positionOf } from './position.ts';
import {
  type BinlogChange,
  type BinlogTable,
  type BinlogValue,
  decodeRowImages,
  joinFragments,
  type RowChange,
  type RowImagesFragment,
  type RowImagesWhole,
} from './row-images.ts';

/** A column value in an envelope: blobs as base64 strings, int64 outside ±(2^53 - 1) as decimal strings. */
export type JsonValue = null | number | string | boolean;

export interface RowEnvelope {
  before: Record<string, JsonValue> | null;
  after: Record<string, JsonValue> | null;
  op: 'c' | 'u' | 'd';
  /**
   * The row's key (Debezium sends it as the record key; we carry it in the value too): the primary
   * key columns, or { _rowid_: n } for a rowid table without an explicit key.
   */
  key: Record<string, JsonValue>;
  /** When the event was emitted (epoch ms). */
  ts_ms: number;
  source: BinlogSource;
  transaction: BinlogTransaction;
  /** Set on the stream when the envelope was too large for a Kinesis record (images are then null). */
  external?: ExternalEnvelope;
}

/**
 * Where the binlog streamer stored an envelope too large for one Kinesis record (the whole envelope
 * JSON, in the backup bucket); the stream carries the envelope without its images (or DDL text).
 */
export interface ExternalEnvelope {
  bucket: string;
  key: string;
  bytes: number;
}

/** DDL, in order with the rows. */
export interface SchemaChangeEnvelope {
  ts_ms: number;
  databaseName: string;
  ddl: string;
  tableChanges: { type: 'CREATE' | 'ALTER' | 'DROP'; id: string }[];
  source: BinlogSource;
  transaction: BinlogTransaction;
  /** As for RowEnvelope: ddl '' and tableChanges [] on the stream, the whole envelope in S3. */
  external?: ExternalEnvelope;
}

export interface BinlogTransaction {
  /** The transaction id, decimal. */
  id: string;
  /** 1-based ordinal of the change in its transaction. */
  total_order: number;
  /** 1-based ordinal of the change among the transaction's changes to the same table. */
  data_collection_order: number;
}

export interface BinlogSource {
  version: string;
  connector: 'borealis';
  /** The cluster. */
  name: string;
  /** Commit time (epoch ms). */
  ts_ms: number;
  snapshot: 'false';
  db: string;
  table: string | null;
  /** The volume epoch of the writer that committed the transaction. */
  server_id: number;
  file: string;
  pos: number;
  row: number;
  /** The RowImages record's LSN, decimal. */
  lsn: string;
  /** The transaction id, decimal. */
  txId: string;
}

/**
 * A control event (ADR 015): the cluster was backtracked. From here on the stream continues on the
 * new timeline: the rows are as of `backtrack.backtrackTo` again, and the events between the target
 * and this one describe changes that were undone (none is re-sent). A consumer that mirrors the data
 * must resynchronise (e.g. restore to the target time, or re-snapshot); one that only audits can note
 * it. Its position (the LSN the new timeline resumes above, row 0) sorts after every event of the old
 * timeline and before every event of the new one.
 */
export interface BacktrackEnvelope {
  ts_ms: number;
  databaseName: string;
  backtrack: {
    /** The backtrack's marker number: 1, 2, 3 … */
    seq: number;
    /** The time asked for (ISO 8601): the data is what the cluster showed then. */
    backtrackTo: string;
    /** When the backtrack took effect (ISO 8601). */
    appliedAt: string;
    /** The newest commit kept (decimal LSN; '0' when none). */
    targetLsn: string;
    /** The new timeline's records are above this LSN (decimal). */
    resumesAboveLsn: string;
  };
  source: BinlogSource;
}

export type BinlogEnvelope = RowEnvelope | SchemaChangeEnvelope;

/** What the binlog stream carries: the change events, and the backtrack control events. */
export type StreamEnvelope = BinlogEnvelope | BacktrackEnvelope;

/** Kinesis partition key of backtrack control events. */
export const backtrackPartitionKey = '_backtrack_';

/** A control event as the streamer puts it: like a BinlogEvent, with a BacktrackEnvelope. */
export type ControlEvent = Omit<BinlogEvent, 'envelope'> & { envelope: BacktrackEnvelope };

/** The control event of a backtrack marker, before the first event of its timeline. */
export function backtrackEvent(marker: BacktrackMarker, ctx: DecodeContext): ControlEvent {
  const position = positionOf(marker.fromLsn, 0);
  return {
    envelope: {
      ts_ms: ctx.nowMs(),
      databaseName: ctx.db ?? binlogDefaultDb,
      backtrack: {
        seq: marker.seq,
        backtrackTo: new Date(marker.targetTimeMs).toISOString(),
        appliedAt: new Date(marker.appliedAtMs).toISOString(),
        targetLsn: marker.targetLsn.toString(),
        resumesAboveLsn: marker.fromLsn.toString(),
      },
      source: {
        version: binlogConnectorVersion,
        connector: 'borealis',
        name: ctx.cluster,
        ts_ms: marker.appliedAtMs,
        snapshot: 'false',
        db: ctx.db ?? binlogDefaultDb,
        table: null,
        server_id: Number(marker.epoch),
        file: position.file,
        pos: position.pos,
        row: position.row,
        lsn: marker.fromLsn.toString(),
        txId: '0',
      },
    },
    partitionKey: backtrackPartitionKey,
    position,
    lsn: marker.fromLsn,
    commitTimeMs: marker.appliedAtMs,
  };
}

export function isBacktrackEnvelope(envelope: StreamEnvelope): envelope is BacktrackEnvelope {
  return 'backtrack' in envelope;
}

export interface BinlogEvent {
  envelope: BinlogEnvelope;
  /** Kinesis partition key: `${table}:${JSON of the key values}` (rows), `${table}` or '' (DDL). */
  partitionKey: string;
  position: BinlogPosition;
  /** The RowImages record's LSN (lsn0 for a fragmented change). */
  lsn: bigint;
  commitTimeMs: number;
}

/** Where fragments of an oversized change wait for the rest (memory for the CLI, S3 for Lambda). */
export interface FragmentStore {
  put(lsn0: bigint, index: number, bytes: Uint8Array): Promise<void>;
  get(lsn0: bigint, index: number): Promise<Uint8Array | undefined>;
  /** Forgets fragments 0..count-1 of the change at lsn0 (absent ones are no error). */
  delete(lsn0: bigint, count: number): Promise<void>;
}

export interface DecodeContext {
  cluster: string;
  /** The database name in source.db (default 'main', SQLite's). */
  db?: string;
  /** source.server_id when the payload does not name its writer's epoch (epoch 0). */
  serverId: number;
  nowMs: () => number;
}

/** source.version: the connector's version (Debezium puts its own there). */
export const binlogConnectorVersion = '0.1.0';
export const binlogDefaultDb = 'main';
/** The key of a rowid table without a declared primary key. */
export const rowidKeyColumn = '_rowid_';
/** Kinesis takes partition keys of at most 256 characters. */
export const kinesisPartitionKeyLengthMax = 256;
/** What kinesisPartitionKey() puts on a DDL event whose table is unknown (Kinesis refuses ''). */
export const ddlPartitionKeyFallback = '_ddl_';

const maxSafe = BigInt(Number.MAX_SAFE_INTEGER);

/**
 * The events of one RowImages record (any other record kind: []). A PK update yields 'd' then 'c'.
 * A fragment that is not the last yields [] (stored); the last one yields the joined change.
 * Anything that does not decode is a MALFORMED_FRAME BorealisError; nothing is guessed.
 */
export async function eventsOfRecord(
  record: RedoRecord,
  ctx: DecodeContext,
  fragments: FragmentStore,
): Promise<BinlogEvent[]> {
  if (record.kind !== RecordKind.RowImages) return [];
  assert(ctx.cluster !== '', 'a binlog decode context names its cluster');
  const payload = decodeRowImages(record.payload);
  if (payload.kind === 'whole') return eventsOfWhole(payload, record.lsn, ctx);
  const lsn0 = record.lsn - BigInt(payload.index);
  if (lsn0 <= 0n) throw malformed(`fragment ${payload.index} at LSN ${record.lsn} has no first fragment`);
  if (payload.index < payload.count - 1) {
    await fragments.put(lsn0, payload.index, record.payload);
    return [];
  }
  const parts: RowImagesFragment[] = [];
  for (let i = 0; i < payload.count - 1; i++) {
    const bytes = await fragments.get(lsn0, i);
    if (bytes === undefined) {
      throw new BorealisError(
        ErrorCode.NOT_COMPLETE,
        `binlog: fragment ${i} of ${payload.count} of the change at LSN ${lsn0} is missing (read from inside the change, or its fragments were lost)`,
        { retryable: false, context: { lsn0: lsn0.toString(), index: i, count: payload.count } },
      );
    }
    const part = decodeRowImages(bytes);
    if (part.kind !== 'fragment') throw malformed(`stored fragment ${i} at LSN ${lsn0} is not a fragment`);
    parts.push(part);
  }
  parts.push(payload);
  const whole = joinFragments(parts);
  const events = eventsOfWhole(whole, lsn0, ctx);
  await fragments.delete(lsn0, payload.count - 1);
  return events;
}

/** The events of a whole payload whose record (or first fragment) is at `lsn`. */
function eventsOfWhole(whole: RowImagesWhole, lsn: bigint, ctx: DecodeContext): BinlogEvent[] {
  const db = ctx.db ?? binlogDefaultDb;
  const nowMs = ctx.nowMs();
  const txId = whole.txnId.toString();
  // The epoch of the writer that committed, as the payload names it; else the caller's.
  const serverId = whole.epoch !== 0n ? Number(whole.epoch) : ctx.serverId;
  const events: BinlogEvent[] = [];
  const push = (
    envelope: Omit<RowEnvelope, 'source'> | Omit<SchemaChangeEnvelope, 'source'>,
    table: string | null,
    partitionKey: string,
  ) => {
    const position = positionOf(lsn, events.length);
    const source: BinlogSource = {
      version: binlogConnectorVersion,
      connector: 'borealis',
      name: ctx.cluster,
      ts_ms: whole.commitTimeMs,
      snapshot: 'false',
      db,
      table,
      server_id: serverId,
      file: position.file,
      pos: position.pos,
      row: position.row,
      lsn: lsn.toString(),
      txId,
    };
    events.push({
      envelope: { ...envelope, source } as BinlogEnvelope,
      partitionKey,
      position,
      lsn,
      commitTimeMs: whole.commitTimeMs,
    });
  };
  whole.changes.forEach((change: BinlogChange, i) => {
    const transaction: BinlogTransaction = {
      id: txId,
      total_order: whole.firstOrdinal + i,
      data_collection_order: change.tableOrdinal,
    };
    if (change.kind === 'ddl') {
      const table = change.tableName === '' ? null : change.tableName;
      push(
        {
          ts_ms: nowMs,
          databaseName: db,
          ddl: change.sql,
          tableChanges: tableChangesOf(change.sql, change.tableName, db),
          transaction,
        },
        table,
        change.tableName,
      );
      return;
    }
    const table = whole.tables[change.table];
    assert(table !== undefined, () => `change names table ${change.table} of ${whole.tables.length}`);
    for (const row of rowEnvelopes(change, table)) {
      push(
        { ...row, ts_ms: nowMs, transaction },
        table.name,
        `${table.name}:${JSON.stringify(Object.values(row.key))}`,
      );
    }
  });
  return events;
}

type RowParts = Pick<RowEnvelope, 'before' | 'after' | 'op' | 'key'>;

/** One envelope per change, two for an update that moves the row to another key. */
function rowEnvelopes(change: RowChange, table: BinlogTable): RowParts[] {
  const before = change.before === null ? null : imageOf(change.before, table);
  const after = change.after === null ? null : imageOf(change.after, table);
  if (change.op === 'c') return [{ before: null, after, op: 'c', key: keyOf(after!, change, table) }];
  if (change.op === 'd') return [{ before, after: null, op: 'd', key: keyOf(before!, change, table) }];
  const oldKey = keyOf(before!, change, table);
  const newKey = keyOf(after!, change, table);
  if (JSON.stringify(Object.values(oldKey)) === JSON.stringify(Object.values(newKey))) {
    return [{ before, after, op: 'u', key: newKey }];
  }
  return [
    { before, after: null, op: 'd', key: oldKey },
    { before: null, after, op: 'c', key: newKey },
  ];
}

function imageOf(values: BinlogValue[], table: BinlogTable): Record<string, JsonValue> {
  assert(values.length === table.columns.length, () => `image of ${values.length} for ${table.name}`);
  const out: Record<string, JsonValue> = {};
  table.columns.forEach((column, i) => {
    out[column] = jsonValueOf(values[i]!);
  });
  return out;
}

function keyOf(
  image: Record<string, JsonValue>,
  change: RowChange,
  table: BinlogTable,
): Record<string, JsonValue> {
  if (table.primaryKey.length === 0) return { [rowidKeyColumn]: jsonValueOf(change.rowid) };
  const key: Record<string, JsonValue> = {};
  for (const index of table.primaryKey) {
    const column = table.columns[index]!;
    key[column] = image[column] ?? null;
  }
  return key;
}

/** A SQLite value as the Data API's JSON types it (see the module header). */
export function jsonValueOf(value: BinlogValue): JsonValue {
  if (value === null) return null;
  switch (typeof value) {
    case 'bigint':
      return value >= -maxSafe && value <= maxSafe ? Number(value) : value.toString();
    case 'number':
      if (Number.isFinite(value)) return value;
      return Number.isNaN(value) ? null : value > 0 ? 'Infinity' : '-Infinity';
    case 'string':
      return value;
    default:
      return Buffer.from(value.buffer, value.byteOffset, value.length).toString('base64');
  }
}

/** Debezium's tableChanges of a DDL statement: a table's CREATE / ALTER / DROP (an index alters its table). */
function tableChangesOf(sql: string, tableName: string, db: string): SchemaChangeEnvelope['tableChanges'] {
  if (tableName === '') return [];
  const m = /^\s*(create|alter|drop)\s+(?:(?:temp|temporary|virtual|unique)\s+)*(table|index)\b/i.exec(
    stripLeadingComments(sql),
  );
  if (m === null) return [];
  const verb = m[1]!.toUpperCase() as 'CREATE' | 'ALTER' | 'DROP';
  const type = m[2]!.toLowerCase() === 'table' ? verb : 'ALTER';
  return [{ type, id: `"${db}"."${tableName}"` }];
}

function stripLeadingComments(sql: string): string {
  let s = sql;
  for (;;) {
    const t = s.trimStart();
    if (t.startsWith('--')) s = t.slice(t.indexOf('\n') < 0 ? t.length : t.indexOf('\n') + 1);
    else if (t.startsWith('/*')) s = t.slice(t.indexOf('*/') < 0 ? t.length : t.indexOf('*/') + 2);
    else return t;
  }
}

/** Envelope JSON text (values are already JSON-safe: int64 beyond ±(2^53 - 1) are decimal strings). */
export function envelopeJson(envelope: StreamEnvelope): string {
  return JSON.stringify(envelope);
}

/**
 * The partition key as Kinesis takes it (1..256 characters): the event's own when it fits; '' (DDL
 * of no known table) → ddlPartitionKeyFallback; a longer one → its table prefix and a SHA-256 of the
 * whole, so one key still maps to one shard (per-key order holds).
 */
export function kinesisPartitionKey(partitionKey: string): string {
  if (partitionKey === '') return ddlPartitionKeyFallback;
  if (partitionKey.length <= kinesisPartitionKeyLengthMax) return partitionKey;
  const digest = createHash('sha256').update(partitionKey).digest('base64url');
  return `${partitionKey.slice(0, 128)}#${digest}`;
}

/** Fragments in memory, bounded in bytes: beyond it the oldest changes' fragments are dropped. */
export class MemoryFragmentStore implements FragmentStore {
  /** lsn0 → index → bytes, in insertion order of lsn0. */
  readonly #changes = new Map<bigint, Map<number, Uint8Array>>();
  #bytes = 0;

  constructor(readonly bytesMax = 256 * 1024 * 1024) {
    assert(bytesMax > 0, 'a positive fragment store bound');
  }

  get bytes(): number {
    return this.#bytes;
  }

  async put(lsn0: bigint, index: number, bytes: Uint8Array): Promise<void> {
    if (bytes.length > this.bytesMax) {
      throw new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `binlog: a ${bytes.length}-byte fragment exceeds the fragment store's ${this.bytesMax} bytes`,
        { retryable: false },
      );
    }
    let change = this.#changes.get(lsn0);
    if (change === undefined) {
      change = new Map();
      this.#changes.set(lsn0, change);
    }
    this.#bytes -= change.get(index)?.length ?? 0;
    change.set(index, Uint8Array.prototype.slice.call(bytes));
    this.#bytes += bytes.length;
    // Over the bound: drop whole changes, oldest first (one a reader began inside, say), never this one.
    for (const other of [...this.#changes.keys()]) {
      if (this.#bytes <= this.bytesMax) break;
      if (other !== lsn0) this.#drop(other);
    }
    if (this.#bytes > this.bytesMax) {
      this.#drop(lsn0);
      throw new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `binlog: the change at LSN ${lsn0} has more fragments than the fragment store's ${this.bytesMax} bytes hold`,
        { retryable: false },
      );
    }
  }

  #drop(lsn0: bigint): void {
    for (const b of this.#changes.get(lsn0)?.values() ?? []) this.#bytes -= b.length;
    this.#changes.delete(lsn0);
  }

  async get(lsn0: bigint, index: number): Promise<Uint8Array | undefined> {
    return this.#changes.get(lsn0)?.get(index);
  }

  async delete(lsn0: bigint, count: number): Promise<void> {
    const change = this.#changes.get(lsn0);
    if (change === undefined) return;
    for (let i = 0; i < count; i++) {
      const b = change.get(i);
      if (b === undefined) continue;
      this.#bytes -= b.length;
      change.delete(i);
    }
    if (change.size === 0) this.#changes.delete(lsn0);
  }
}

function malformed(message: string): BorealisError {
  return new BorealisError(ErrorCode.MALFORMED_FRAME, `RowImages record: ${message}`, { retryable: false });
}
