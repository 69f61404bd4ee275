// Row-level change capture for the binlog, inside the writer's SQLite: the build has no preupdate
// hook, so every table gets TEMP triggers (AFTER INSERT / UPDATE / DELETE, per connection) that
// append the row's full before and after images, as SQL literals (quote()), to a TEMP table. That
// table is written inside the client's transaction, so SQLite itself drops what a failed statement,
// an ON CONFLICT resolution, a RAISE() or a rollback takes back. Right before COMMIT the executor
// has this module read and clear the table and stage the transaction's changes with the writer
// engine, which ships them as RowImages records in the same MTR as the commit (ADR 012).
//
// Triggers follow the schema: DDL bumps a generation, and a connection whose triggers are older
// rebuilds them (outside any transaction, so a rollback never takes them away). Readers never capture.
import { assert } from '../assert.ts';
import type { Connection } from '../engine/connection.ts';
import type { Logger } from '../log.ts';
import type { BinlogChange, BinlogTable, BinlogValue, CapturedTransaction, RowOp } from './row-images.ts';

/** Where captured transactions go: the writer engine's one staged slot (the write lock serialises commits). */
export interface RowImagesSink {
  /** The changes of the transaction about to commit; its commit ships them. */
  stageRowImages(captured: CapturedTransaction): void;
  /** The commit is over (shipped, empty or failed): drop whatever is still staged. */
  clearRowImages(): void;
}

/**
 * What the SQL executor calls around write transactions when it captures (the writer only). The
 * executor holds the write lock from prepare to unstage, so one connection at a time is in between.
 */
export interface ChangeCapture {
  /** Whether the connection's triggers match the schema (cheap; no SQL). */
  ready(connection: Connection): boolean;
  /** Brings the connection's triggers up to date. Runs outside any transaction. */
  prepare(connection: Connection): Promise<void>;
  /** Inside the transaction, before a write statement runs (drops triggers that would block ALTER TABLE). */
  beforeStatement(connection: Connection, sql: string): Promise<void>;
  /** Inside the transaction, after a write statement ran (or failed): records DDL if the schema changed. */
  afterStatement(connection: Connection, sql: string): Promise<void>;
  /**
   * Right before COMMIT, under the write lock: hands the transaction's changes to the sink. Whether
   * it staged anything (then unstage follows the COMMIT).
   */
  stage(connection: Connection): Promise<boolean>;
  /** After the COMMIT that followed a stage returning true, whatever its outcome: nothing staged survives. */
  unstage(): void;
  /** After a statement that ran outside a transaction (VACUUM, ATTACH, PRAGMA): the schema may differ. */
  invalidate(connection: Connection): Promise<void>;
}

/** Aurora's binlog_format, as Borealis has it: ROW (capture) or OFF. */
export type BinlogFormat = 'ROW' | 'OFF';
export const binlogFormats: readonly BinlogFormat[] = ['ROW', 'OFF'];

/** The setting from a flag (case-insensitive, as MySQL takes it); undefined if it is neither. */
export function parseBinlogFormat(text: string): BinlogFormat | undefined {
  const upper = text.toUpperCase();
  return binlogFormats.find((f) => f === upper);
}

/** The TEMP table the triggers write to, on each writer connection. */
export const captureTableName = 'borealis_binlog';
const triggerPrefix = 'borealis_binlog_';
/** Columns per concat_ws() call in a trigger's image expression (SQLite allows 127 arguments at least). */
const imageGroupColumns = 100;
/** Names SQLite answers with a rowid table's rowid, unless a column took them. */
const rowidNames = ['rowid', '_rowid_', 'oid'];
/** A statement text that starts like this and holds no ';' changes rows, never the schema. */
const plainDmlPattern = /^\s*(insert|update|delete|replace)\b/i;
const alterPattern = /^\s*alter\b/i;

interface ConnectionState {
  generation: number;
  /** main.schema_version when the triggers were built (valid while generation is current). */
  schemaVersion: bigint;
  /** The tables the triggers number (the temp table's tbl column indexes this). */
  tables: CaptureTable[];
}

/** A captured table with what the trigger needs beyond the payload's BinlogTable. */
export interface CaptureTable extends BinlogTable {
  withoutRowid: boolean;
  /** The rowid alias the triggers read (undefined: WITHOUT ROWID, or every alias is a column name). */
  rowidName: string | undefined;
}

/** A schema as the triggers see it: its tables and the script that creates their triggers. */
interface SchemaTriggers {
  generation: number;
  schemaVersion: bigint;
  tables: CaptureTable[];
  script: string;
}

export interface CaptureStats {
  transactions: number;
  rowChanges: number;
  ddlChanges: number;
  triggerBuilds: number;
}

export class TriggerCapture implements ChangeCapture {
  readonly #sink: RowImagesSink;
  readonly #logger: Logger | undefined;
  readonly #states = new WeakMap<Connection, ConnectionState>();
  /** Bumped by every schema change this writer makes (or may have made). */
  #generation = 1;
  #schema: SchemaTriggers | undefined;
  readonly stats: CaptureStats = { transactions: 0, rowChanges: 0, ddlChanges: 0, triggerBuilds: 0 };

  constructor(options: { sink: RowImagesSink; logger?: Logger }) {
    this.#sink = options.sink;
    this.#logger = options.logger;
  }

  ready(connection: Connection): boolean {
    return this.#states.get(connection)?.generation === this.#generation;
  }

  async prepare(connection: Connection): Promise<void> {
    if (this.ready(connection)) return;
    assert(!connection.inTransaction, 'capture triggers are built outside transactions');
    let schema = this.#schema;
    if (schema?.generation !== this.#generation) {
      schema = await readSchema(connection, this.#generation);
      this.#schema = schema;
    }
    const old = await connection.execute(
      `SELECT name FROM temp.sqlite_schema WHERE type = 'trigger' AND name LIKE '${triggerPrefix}%'`,
    );
    const drops = old.rows.map(([name]) => `DROP TRIGGER IF EXISTS temp.${quoteIdentifier(String(name))};`);
    // temp_store MEMORY: the capture table and the statement journals its triggers need stay in
    // SQLite's own memory, not in VFS files (a no-op when already set; setting it drops temp objects).
    await connection.execute(
      `PRAGMA recursive_triggers = ON; PRAGMA temp_store = MEMORY; ${drops.join(' ')}
       CREATE TEMP TABLE IF NOT EXISTS ${captureTableName} (seq INTEGER PRIMARY KEY, tbl INTEGER,
         op TEXT NOT NULL, rid_before INTEGER, rid INTEGER, img_before TEXT, img_after TEXT);
       DELETE FROM temp.${captureTableName}; ${schema.script}`,
    );
    this.#states.set(connection, {
      generation: schema.generation,
      schemaVersion: schema.schemaVersion,
      tables: schema.tables,
    });
    this.stats.triggerBuilds++;
  }

  async beforeStatement(connection: Connection, sql: string): Promise<void> {
    if (!alterPattern.test(sql)) return;
    // ALTER TABLE … DROP / RENAME COLUMN refuses a column a trigger uses: drop this connection's
    // triggers first (inside the transaction; the connection rebuilds them afterwards in any case).
    const state = this.#states.get(connection);
    if (state === undefined) return;
    const old = await connection.execute(
      `SELECT name FROM temp.sqlite_schema WHERE type = 'trigger' AND name LIKE '${triggerPrefix}%'`,
    );
    for (const [name] of old.rows)
      await connection.execute(`DROP TRIGGER temp.${quoteIdentifier(String(name))}`);
    state.generation = 0;
  }

  async afterStatement(connection: Connection, sql: string): Promise<void> {
    if (plainDmlPattern.test(sql) && !sql.includes(';')) return;
    const state = this.#states.get(connection);
    if (state === undefined || !connection.inTransaction) return;
    const version = await schemaVersionOf(connection);
    if (version === state.schemaVersion) return;
    // The statement changed main's schema: it is DDL, recorded in order with the rows. Every
    // connection rebuilds its triggers (even if this transaction rolls back: rebuilding is harmless).
    state.schemaVersion = version;
    state.generation = 0;
    this.#generation++;
    await connection.execute(
      `INSERT INTO temp.${captureTableName} (tbl, op, img_before, img_after) VALUES (NULL, 'ddl', :sql, :table)`,
      new Map([
        ['sql', sql],
        ['table', ddlTableName(sql)],
      ]),
    );
  }

  async stage(connection: Connection): Promise<boolean> {
    const state = this.#states.get(connection);
    if (state === undefined || !connection.inTransaction) return false;
    // Read and cleared in one statement; RETURNING's order is unspecified, so it is sorted by seq.
    const read = await connection.execute(
      `DELETE FROM temp.${captureTableName} RETURNING tbl, op, rid_before, rid, img_before, img_after, seq`,
    );
    if (read.rows.length === 0) return false;
    const rows = read.rows as CapturedRowWithSeq[];
    rows.sort((a, b) => (a[6] < b[6] ? -1 : a[6] > b[6] ? 1 : 0));
    const captured = capturedTransaction(state.tables, rows);
    this.stats.transactions++;
    for (const c of captured.changes) {
      if (c.kind === 'row') this.stats.rowChanges++;
      else this.stats.ddlChanges++;
    }
    this.#sink.stageRowImages(captured);
    return true;
  }

  unstage(): void {
    this.#sink.clearRowImages();
  }

  async invalidate(connection: Connection): Promise<void> {
    // The statement may have reset recursive_triggers: this connection rebuilds. If it changed the
    // schema version (VACUUM does), every connection does.
    const state = this.#states.get(connection);
    if (state !== undefined) state.generation = 0;
    if (this.#schema === undefined) return;
    if ((await schemaVersionOf(connection)) === this.#schema.schemaVersion) return;
    this.#generation++;
    this.#logger?.debug({ generation: this.#generation }, 'schema version moved outside a transaction');
  }
}

/** One row of the capture table: tbl, op, rid_before, rid, img_before, img_after. */
export type CapturedRow = [bigint | null, string, bigint | null, bigint | null, string | null, string | null];
type CapturedRowWithSeq = [...CapturedRow, bigint];

/**
 * The captured rows of one transaction (in capture order) as the payload's model: the tables they
 * use, and the changes with per-table ordinals. A rowid-keyed table whose row changed its rowid
 * becomes a delete of the old row and a create of the new one (its key is the rowid).
 */
export function capturedTransaction(
  tables: CaptureTable[],
  rows: (CapturedRow | CapturedRowWithSeq)[],
): CapturedTransaction {
  const used = new Map<number, number>();
  const out: CapturedTransaction = { tables: [], changes: [] };
  const ordinals = new Map<string, number>();
  const nextOrdinal = (name: string) => {
    const n = (ordinals.get(name) ?? 0) + 1;
    ordinals.set(name, n);
    return n;
  };
  for (const [tbl, op, ridBefore, rid, before, after] of rows) {
    if (op === 'ddl') {
      const tableName = after ?? '';
      out.changes.push({ kind: 'ddl', sql: before ?? '', tableName, tableOrdinal: nextOrdinal(tableName) });
      continue;
    }
    assert(tbl !== null && op.length === 1 && 'cud'.includes(op), () => `capture row ${tbl} ${op}`);
    const table = tables[Number(tbl)];
    assert(table !== undefined, () => `capture row names table ${tbl} of ${tables.length}`);
    let index = used.get(Number(tbl));
    if (index === undefined) {
      index = out.tables.length;
      used.set(Number(tbl), index);
      out.tables.push({ name: table.name, columns: table.columns, primaryKey: table.primaryKey });
    }
    const count = table.columns.length;
    const beforeImage = before === null ? null : parseImage(before, count);
    const afterImage = after === null ? null : parseImage(after, count);
    const change = (o: RowOp, r: bigint, b: BinlogValue[] | null, a: BinlogValue[] | null): BinlogChange => ({
      kind: 'row',
      table: index,
      op: o,
      rowid: r,
      before: b,
      after: a,
      tableOrdinal: nextOrdinal(table.name),
    });
    // A key change is a delete of the old key and a create of the new one, as Debezium sends it:
    // split here, so each event has its own ordinals (total_order, data_collection_order).
    const keyChanged =
      table.primaryKey.length === 0
        ? ridBefore !== rid
        : table.primaryKey.some((k) => !sameValue(beforeImage?.[k] ?? null, afterImage?.[k] ?? null));
    if (op === 'u' && keyChanged) {
      out.changes.push(change('d', ridBefore ?? 0n, beforeImage, null));
      out.changes.push(change('c', rid ?? 0n, null, afterImage));
      continue;
    }
    out.changes.push(change(op as RowOp, (op === 'd' ? ridBefore : rid) ?? 0n, beforeImage, afterImage));
  }
  return out;
}

/** Whether two column values are the same value of the same storage class. */
function sameValue(a: BinlogValue, b: BinlogValue): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.compare(a, b) === 0;
  return typeof a === typeof b && (a === b || (Number.isNaN(a) && Number.isNaN(b)));
}

/**
 * A row image as the trigger wrote it — quote() of every column joined by ',' — back into values.
 * quote() gives exact literals: integers in decimal, reals with enough digits to round-trip (or
 * 9.0e+999 for ±Inf), text in single quotes with '' for ', blobs as X'hex', and NULL.
 */
export function parseImage(text: string, count: number): BinlogValue[] {
  const values: BinlogValue[] = [];
  let i = 0;
  for (;;) {
    if (text.charCodeAt(i) === 0x27) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const quote = text.indexOf("'", from);
        assert(quote >= 0, 'unterminated text literal in a row image');
        if (text.charCodeAt(quote + 1) === 0x27) {
          value += text.slice(from, quote + 1);
          from = quote + 2;
          continue;
        }
        value += text.slice(from, quote);
        i = quote + 1;
        break;
      }
      values.push(value);
    } else {
      let end = text.indexOf(',', i);
      if (end < 0) end = text.length;
      values.push(parseScalar(text.slice(i, end)));
      i = end;
    }
    if (i >= text.length) break;
    assert(text.charCodeAt(i) === 0x2c, () => `row image: ',' expected at ${i}`);
    i++;
  }
  assert(values.length === count, () => `row image of ${values.length} values for ${count} columns`);
  return values;
}

const integerLiteral = /^-?\d+$/;
const blobLiteral = /^X'([0-9A-F]*)'$/;

function parseScalar(literal: string): BinlogValue {
  if (literal === 'NULL') return null;
  if (integerLiteral.test(literal)) return BigInt(literal);
  const blob = blobLiteral.exec(literal);
  if (blob !== null) return new Uint8Array(Buffer.from(blob[1]!, 'hex'));
  const real = Number(literal);
  assert(!Number.isNaN(real), () => `row image: unknown literal ${literal.slice(0, 40)}`);
  return real;
}

async function schemaVersionOf(connection: Connection): Promise<bigint> {
  const { rows } = await connection.execute('PRAGMA main.schema_version');
  return BigInt(rows[0]![0] as bigint);
}

/** The captured tables of main (every ordinary table but SQLite's own) and their trigger script. */
async function readSchema(connection: Connection, generation: number): Promise<SchemaTriggers> {
  const schemaVersion = await schemaVersionOf(connection);
  // Virtual tables (and their shadow tables) and views are not captured: see ADR 012.
  const { rows } = await connection.execute(
    `SELECT l.name, l.wr, x.name, x.pk, x.hidden
       FROM pragma_table_list AS l, pragma_table_xinfo(l.name, 'main') AS x
      WHERE l.schema = 'main' AND l.type = 'table' AND l.name NOT LIKE 'sqlite\\_%' ESCAPE '\\'
      ORDER BY l.name, x.cid`,
  );
  const byName = new Map<
    string,
    { withoutRowid: boolean; columns: string[]; all: string[]; pk: [number, number][] }
  >();
  for (const [name, wr, column, pk, hidden] of rows) {
    let t = byName.get(String(name));
    if (t === undefined) {
      t = { withoutRowid: Number(wr) === 1, columns: [], all: [], pk: [] };
      byName.set(String(name), t);
    }
    t.all.push(String(column).toLowerCase());
    // Generated columns (hidden 2 virtual, 3 stored) follow from the others: not in the images.
    if (Number(hidden) !== 0) continue;
    if (Number(pk) > 0) t.pk.push([Number(pk), t.columns.length]);
    t.columns.push(String(column));
  }
  const tables: CaptureTable[] = [...byName].map(([name, t]) => ({
    name,
    columns: t.columns,
    primaryKey: t.pk.sort((a, b) => a[0] - b[0]).map(([, index]) => index),
    withoutRowid: t.withoutRowid,
    rowidName: t.withoutRowid ? undefined : rowidNames.find((n) => !t.all.includes(n)),
  }));
  return { generation, schemaVersion, tables, script: tables.map(triggerScript).join('\n') };
}

/** The three TEMP triggers of table i. */
export function triggerScript(table: CaptureTable, i: number): string {
  const on = `main.${quoteIdentifier(table.name)}`;
  // concat_ws in groups: a chain of || as deep as the table is wide would pass SQLite's expression
  // depth limit (1000) on wide tables, and one call its argument limit. quote() is never NULL.
  const image = (row: 'OLD' | 'NEW') => {
    const groups: string[] = [];
    for (let i = 0; i < table.columns.length; i += imageGroupColumns) {
      const group = table.columns.slice(i, i + imageGroupColumns);
      groups.push(`concat_ws(',', ${group.map((c) => `quote(${row}.${quoteIdentifier(c)})`).join(', ')})`);
    }
    return groups.length === 1 ? groups[0]! : `concat_ws(',', ${groups.join(', ')})`;
  };
  const rowid = (row: 'OLD' | 'NEW') => (table.rowidName === undefined ? '0' : `${row}.${table.rowidName}`);
  const insert = (values: string) =>
    `INSERT INTO ${captureTableName} (tbl, op, rid_before, rid, img_before, img_after) VALUES (${values}); END;`;
  return [
    `CREATE TEMP TRIGGER ${triggerPrefix}${i}_c AFTER INSERT ON ${on} BEGIN`,
    insert(`${i}, 'c', NULL, ${rowid('NEW')}, NULL, ${image('NEW')}`),
    `CREATE TEMP TRIGGER ${triggerPrefix}${i}_u AFTER UPDATE ON ${on} BEGIN`,
    insert(`${i}, 'u', ${rowid('OLD')}, ${rowid('NEW')}, ${image('OLD')}, ${image('NEW')}`),
    `CREATE TEMP TRIGGER ${triggerPrefix}${i}_d AFTER DELETE ON ${on} BEGIN`,
    insert(`${i}, 'd', ${rowid('OLD')}, NULL, ${image('OLD')}, NULL`),
  ].join('\n');
}

export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

const identifier = String.raw`(?:"(?:[^"]|"")*"|\x60(?:[^\x60]|\x60\x60)*\x60|\[[^\]]*\]|'(?:[^']|'')*'|[^\s.(;]+)`;
const qualified = String.raw`(?:${identifier}\s*\.\s*)?(${identifier})`;
const ddlTablePatterns = [
  new RegExp(
    String.raw`^\s*(?:create|drop)\s+(?:temp\s+|temporary\s+)?table\s+(?:if\s+(?:not\s+)?exists\s+)?${qualified}`,
    'i',
  ),
  new RegExp(String.raw`^\s*alter\s+table\s+${qualified}`, 'i'),
  new RegExp(
    String.raw`^\s*create\s+(?:unique\s+)?index\s+(?:if\s+not\s+exists\s+)?${qualified}\s+on\s+(${identifier})`,
    'i',
  ),
];

/** The table a DDL statement names, best effort ('' when it names none or cannot be told). */
export function ddlTableName(sql: string): string {
  for (const [i, pattern] of ddlTablePatterns.entries()) {
    const match = pattern.exec(sql);
    if (match === null) continue;
    return unquoteIdentifier(match[i === 2 ? 2 : 1]!);
  }
  return '';
}

function unquoteIdentifier(name: string): string {
  const first = name[0];
  if (first === '"' || first === '`' || first === "'")
    return name.slice(1, -1).replaceAll(first + first, first);
  if (first === '[') return name.slice(1, -1);
  return name;
}
