// One table's rows as GZIP Parquet part files (hyparquet-writer: pure JavaScript, so the Lambda
// bundle needs no wasm for it — docs/adr/011-parquet-writer.md). Each batch of rows becomes one row
// group, encoded and appended to a local part file; a part is closed at partBytesTarget and handed
// to `upload` (a multipart upload streamed from the file), then deleted. Memory: one row group.
import { rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { fileWriter, ParquetWriter } from 'hyparquet-writer';
import { assert } from '../../core/assert.ts';
import { type ColumnMapping, convertValue, type ParquetType, type SqliteValue } from './type-mapping.ts';

/** A part is closed once its file reaches this size (at a row-group boundary). */
export const partBytesTargetDefault = 256 * 2 ** 20;
/** Rows per row group at most; bytesPerRowGroupMax usually closes one first for wide rows. */
export const rowGroupRowsMax = 100_000;
/** Bytes of values per row group at most (what the export holds in memory, twice: rows + columns). */
export const rowGroupBytesMax = 32 * 2 ** 20;
/** Parquet's GZIP codec is gzip (RFC 1952); level 6 is zlib's default trade-off. */
const gzipLevel = 6;

type SchemaElement = {
  name: string;
  type?: 'INT64' | 'DOUBLE' | 'BYTE_ARRAY' | 'BOOLEAN';
  converted_type?: 'UTF8';
  repetition_type?: 'OPTIONAL' | 'REQUIRED';
  num_children?: number;
};

function schemaElement(name: string, type: ParquetType): SchemaElement {
  switch (type) {
    case 'STRING':
      return { name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' };
    case 'BYTE_ARRAY':
      return { name, type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' };
    default:
      return { name, type, repetition_type: 'OPTIONAL' };
  }
}

export function parquetSchema(columns: readonly ColumnMapping[]): SchemaElement[] {
  return [
    { name: 'root', num_children: columns.length },
    ...columns.map((c) => schemaElement(c.name, c.parquetType)),
  ];
}

const compressors = {
  GZIP: (bytes: Uint8Array) => new Uint8Array(gzipSync(bytes, { level: gzipLevel })),
};

export interface ClosedPart {
  index: number;
  path: string;
  bytes: number;
  rows: number;
}

export class TableParts {
  #writer: ParquetWriter | undefined;
  #file: ReturnType<typeof fileWriter> | undefined;
  #path = '';
  #rows = 0;
  #index = 0;
  readonly closed: ClosedPart[] = [];

  constructor(
    private readonly options: {
      columns: readonly ColumnMapping[];
      /** Part file `n` is written at pathOf(n). */
      pathOf: (index: number) => string;
      /** Called with each closed part; the file is deleted once it resolves. */
      upload: (part: ClosedPart) => Promise<void>;
      partBytesTarget?: number;
    },
  ) {}

  #open(): ParquetWriter {
    this.#path = this.options.pathOf(this.#index);
    this.#file = fileWriter(this.#path);
    this.#rows = 0;
    this.#writer = new ParquetWriter({
      writer: this.#file,
      schema: parquetSchema(this.options.columns) as never,
      codec: 'GZIP',
      compressors,
      createdBy: 'borealis snapshot-export (hyparquet-writer)',
    });
    return this.#writer;
  }

  /** Appends rows (values as the reader gives them) as one row group. */
  async write(rows: readonly SqliteValue[][]): Promise<void> {
    if (rows.length === 0) return;
    const writer = this.#writer ?? this.#open();
    const columnData = this.options.columns.map((c, i) => ({
      name: c.name,
      data: rows.map((row) => convertValue(c.parquetType, row[i] ?? null)),
    }));
    writer.write({ columnData: columnData as never, rowGroupSize: rows.length });
    this.#rows += rows.length;
    if (this.#file!.offset >= (this.options.partBytesTarget ?? partBytesTargetDefault)) await this.#close();
  }

  async #close(): Promise<void> {
    assert(this.#writer && this.#file, 'a part is open');
    await this.#writer.finish();
    const part: ClosedPart = {
      index: this.#index,
      path: this.#path,
      bytes: this.#file.offset,
      rows: this.#rows,
    };
    this.#writer = undefined;
    this.#file = undefined;
    this.#index++;
    try {
      await this.options.upload(part);
      this.closed.push(part);
    } finally {
      rmSync(part.path, { force: true });
    }
  }

  /** Closes the open part; a table with no rows still gets one (empty) part carrying its schema. */
  async finish(): Promise<ClosedPart[]> {
    if (!this.#writer && this.closed.length === 0) this.#open();
    if (this.#writer) await this.#close();
    return this.closed;
  }

  /** Drops the open part's file (a cancelled or failed export). */
  abort(): void {
    if (this.#path) rmSync(this.#path, { force: true });
    this.#writer = undefined;
    this.#file = undefined;
  }
}
