// The storage node's durable log: append-only files of encoded records (each with its own CRC32C),
// shared by all segments on the node so that one fsync covers every PG (group commit). The only
// foreground I/O in Borealis storage: write, fdatasync, then acknowledge. On open, a torn or corrupt
// tail is detected by decoding and cut; every record before it is recovered exactly.
import {
  closeSync,
  fdatasync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  rmSync,
  statSync,
  unlinkSync,
  writev,
} from 'node:fs';
import { join } from 'node:path';
import { assert } from '../../../core/assert.ts';
import { BorealisError, ErrorCode } from '../../../core/errors.ts';
import { type RedoRecord, tryDecodeRecord } from '../../../core/record.ts';

/** Where a record lives on disk. */
export interface LogLocation {
  fileNo: number;
  offset: number;
  length: number;
}

export interface LogOpenStats {
  files: number;
  records: number;
  bytes: number;
  /** Bytes cut from a torn or corrupt tail (0 when the log was clean). */
  tailCutBytes: number;
  tailCutReason?: string;
}

export type FlushObserver = (info: { batches: number; bytes: number; fsyncSeconds: number }) => void;

/** A file rolls over at this size; old files are dropped whole once log collection allows it. */
export const logFileBytesMax = 64 * 1024 * 1024;
/** The smallest roll-over size a node may be configured with (tests use small files to see collection). */
export const logFileBytesMin = 64 * 1024;
/** Reading a file on open goes in chunks of this size (records never exceed a chunk). */
const scanChunkBytes = 8 * 1024 * 1024;
/** readMany: one read covers records this close together (the bytes between are read and dropped). */
const spanGapBytesMax = 64 * 1024;
/** readMany: and at most this much in all. */
const spanBytesMax = 4 * 1024 * 1024;

/** One read of readMany: a stretch of one file and the records (by index) it covers. */
export interface ReadSpan {
  fileNo: number;
  offset: number;
  length: number;
  indexes: number[];
}

/**
 * Groups locations into spans to read whole: same file, each record within spanGapBytesMax of the
 * span so far, the span within spanBytesMax. Pure, so the plan can be tested without a disk.
 */
export function planReadSpans(locations: readonly LogLocation[]): ReadSpan[] {
  const order = locations.map((_, i) => i);
  order.sort(
    (a, b) => locations[a]!.fileNo - locations[b]!.fileNo || locations[a]!.offset - locations[b]!.offset,
  );
  const spans: ReadSpan[] = [];
  let span: ReadSpan | undefined;
  for (const i of order) {
    const at = locations[i]!;
    const end = at.offset + at.length;
    if (
      span &&
      span.fileNo === at.fileNo &&
      at.offset <= span.offset + span.length + spanGapBytesMax &&
      end - span.offset <= spanBytesMax
    ) {
      span.length = Math.max(span.length, end - span.offset);
      span.indexes.push(i);
      continue;
    }
    span = { fileNo: at.fileNo, offset: at.offset, length: at.length, indexes: [i] };
    spans.push(span);
  }
  return spans;
}

interface PendingAppend {
  buffers: Buffer[];
  bytes: number;
  resolve: (locations: LogLocation[]) => void;
  reject: (error: Error) => void;
}

function fileName(fileNo: number): string {
  return `${String(fileNo).padStart(8, '0')}.log`;
}

export class LogFile {
  readonly #dir: string;
  readonly #fds = new Map<number, number>();
  /** Bytes in each open file (the current one: written so far). */
  readonly #sizes = new Map<number, number>();
  readonly #fileBytesMax: number;
  #fileNo = 0;
  #size = 0;
  #queue: PendingAppend[] = [];
  #flushing = false;
  #failed: Error | undefined;
  #closed = false;
  /** The last "no space" refusal, until an append succeeds again (reported in /health). */
  spaceError: { message: string; atMs: number } | undefined;
  onFlush: FlushObserver | undefined;

  private constructor(dir: string, fileBytesMax: number) {
    assert(
      fileBytesMax >= logFileBytesMin,
      () => `log file size ${fileBytesMax} is below ${logFileBytesMin}`,
    );
    this.#dir = dir;
    this.#fileBytesMax = fileBytesMax;
  }

  /**
   * Opens (or creates) the log in dir and calls visit for every intact record in order. The first
   * record that does not decode ends the log: it and everything after it are cut and made durable.
   */
  static open(
    dir: string,
    visit: (record: RedoRecord, location: LogLocation) => void,
    fileBytesMax = logFileBytesMax,
  ): {
    log: LogFile;
    stats: LogOpenStats;
  } {
    mkdirSync(dir, { recursive: true });
    const log = new LogFile(dir, fileBytesMax);
    const fileNos = readdirSync(dir)
      .filter((f) => /^\d{8}\.log$/.test(f))
      .map((f) => Number(f.slice(0, 8)))
      .sort((a, b) => a - b);
    const stats: LogOpenStats = { files: fileNos.length, records: 0, bytes: 0, tailCutBytes: 0 };
    let cutAt: { index: number; offset: number } | undefined;
    for (let i = 0; i < fileNos.length && cutAt === undefined; i++) {
      const fileNo = fileNos[i]!;
      const fd = openSync(join(dir, fileName(fileNo)), 'r+');
      log.#fds.set(fileNo, fd);
      const size = statSync(join(dir, fileName(fileNo))).size;
      const end = scanFile(fd, size, fileNo, (record, location) => {
        stats.records++;
        stats.bytes += location.length;
        visit(record, location);
      });
      if (end.offset < size) {
        cutAt = { index: i, offset: end.offset };
        stats.tailCutReason = `${fileName(fileNo)} @${end.offset}: ${end.reason}`;
        stats.tailCutBytes += size - end.offset;
      }
    }
    if (cutAt !== undefined) {
      const fileNo = fileNos[cutAt.index]!;
      const fd = log.#fds.get(fileNo)!;
      ftruncateSync(fd, cutAt.offset);
      fsyncSync(fd);
      for (const later of fileNos.slice(cutAt.index + 1)) {
        const path = join(dir, fileName(later));
        stats.tailCutBytes += statSync(path).size;
        rmSync(path);
      }
      fileNos.length = cutAt.index + 1;
      syncDir(dir);
    }
    if (fileNos.length === 0) {
      log.#openNewFile(1);
    } else {
      log.#fileNo = fileNos[fileNos.length - 1]!;
      log.#size = statSync(join(dir, fileName(log.#fileNo))).size;
    }
    for (const fileNo of fileNos) log.#sizes.set(fileNo, statSync(join(dir, fileName(fileNo))).size);
    return { log, stats };
  }

  /**
   * Appends encoded records; resolves with their locations once they are on disk (fdatasync).
   * Appends issued while an fsync is in flight share the next one.
   */
  append(buffers: Buffer[]): Promise<LogLocation[]> {
    if (this.#failed) return Promise.reject(this.#failed);
    assert(!this.#closed, 'append on a closed log');
    let bytes = 0;
    for (const b of buffers) bytes += b.length;
    return new Promise((resolve, reject) => {
      this.#queue.push({ buffers, bytes, resolve, reject });
      if (!this.#flushing) this.#flush();
    });
  }

  /** Reads the bytes of one record back (for gossip, scrub, page materialisation). */
  read(location: LogLocation): Buffer {
    const fd = this.#fds.get(location.fileNo);
    assert(fd !== undefined, () => `log file ${location.fileNo} is not open`);
    const buf = Buffer.allocUnsafe(location.length);
    const n = readSync(fd, buf, 0, location.length, location.offset);
    if (n !== location.length) return buf.subarray(0, n);
    return buf;
  }

  /**
   * Reads the bytes of many records (the coalescer's batch) with one read per span of nearby records
   * instead of one per record. Each result is a view into its span's buffer, in the order asked.
   */
  readMany(locations: readonly LogLocation[]): Buffer[] {
    const out: Buffer[] = new Array(locations.length);
    for (const span of planReadSpans(locations)) {
      const fd = this.#fds.get(span.fileNo);
      assert(fd !== undefined, () => `log file ${span.fileNo} is not open`);
      const buf = Buffer.allocUnsafe(span.length);
      const n = readSync(fd, buf, 0, span.length, span.offset);
      for (const i of span.indexes) {
        const at = locations[i]!;
        const from = at.offset - span.offset;
        // A short read (a file cut under us) yields a short record, which fails to decode, as in read().
        out[i] = buf.subarray(Math.min(from, n), Math.min(from + at.length, n));
      }
    }
    return out;
  }

  get currentFileNo(): number {
    return this.#fileNo;
  }

  /** The files on disk, ascending. */
  get fileNos(): number[] {
    return [...this.#sizes.keys()].sort((a, b) => a - b);
  }

  /** Bytes of every file on disk. */
  get bytes(): number {
    let total = 0;
    for (const size of this.#sizes.values()) total += size;
    return total;
  }

  /**
   * Deletes a whole file that log collection no longer needs (never the one being written). The
   * caller has made durable whatever explains the log's new start (the collection manifest) first.
   */
  remove(fileNo: number): void {
    assert(fileNo !== this.#fileNo, 'the log file being written is never removed');
    const fd = this.#fds.get(fileNo);
    assert(fd !== undefined, () => `log file ${fileNo} is not open`);
    closeSync(fd);
    this.#fds.delete(fileNo);
    this.#sizes.delete(fileNo);
    unlinkSync(join(this.#dir, fileName(fileNo)));
    syncDir(this.#dir);
  }

  close(): void {
    this.#closed = true;
    for (const fd of this.#fds.values()) closeSync(fd);
    this.#fds.clear();
  }

  #openNewFile(fileNo: number): void {
    // 'wx+': a new file must not exist yet, and no O_APPEND (writes go to explicit positions).
    const fd = openSync(join(this.#dir, fileName(fileNo)), 'wx+');
    this.#fds.set(fileNo, fd);
    this.#fileNo = fileNo;
    this.#size = 0;
    this.#sizes.set(fileNo, 0);
    syncDir(this.#dir);
  }

  /** Refuses a batch for want of space (retryable), then goes on with the queue. */
  #refuseNoSpace(batch: PendingAppend[], cause: Error): void {
    const refusal = new BorealisError(
      ErrorCode.UNAVAILABLE,
      `log append refused: no space left in ${this.#dir} (${(cause as NodeJS.ErrnoException).code})`,
      { cause, retryable: true, context: { dir: this.#dir } },
    );
    this.spaceError = { message: refusal.message, atMs: Date.now() };
    for (const p of batch) p.reject(refusal);
    this.#flush();
  }

  #flush(): void {
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0 || this.#closed) {
      this.#flushing = false;
      return;
    }
    this.#flushing = true;
    if (this.#size >= this.#fileBytesMax) {
      try {
        this.#openNewFile(this.#fileNo + 1);
      } catch (error) {
        if (!isNoSpace(error)) throw error;
        this.#refuseNoSpace(batch, error as Error);
        return;
      }
    }
    const fileNo = this.#fileNo;
    const fd = this.#fds.get(fileNo)!;
    const locations: LogLocation[][] = [];
    const all: Buffer[] = [];
    let offset = this.#size;
    for (const pending of batch) {
      const locs: LogLocation[] = [];
      for (const b of pending.buffers) {
        locs.push({ fileNo, offset, length: b.length });
        offset += b.length;
        all.push(b);
      }
      locations.push(locs);
    }
    const bytes = offset - this.#size;
    const fail = (error: Error) => {
      // A failed write or fsync leaves the file in an unknown state: no later append may be acked
      // (fsyncgate). The node fails stop; a restart re-reads what is really on disk.
      this.#failed = error;
      for (const p of batch) p.reject(error);
      for (const p of this.#queue) p.reject(error);
      this.#queue = [];
      this.#flushing = false;
    };
    writevAll(fd, all, this.#size, (writeError) => {
      if (writeError && isNoSpace(writeError)) {
        // Nothing of the batch is acknowledged and the file is cut back to what was: no space is an
        // operating condition, not a broken log. The node refuses appends until space returns.
        try {
          ftruncateSync(fd, this.#size);
        } catch {
          // Shrinking needs no space; if even that fails the next write starts at #size anyway.
        }
        return this.#refuseNoSpace(batch, writeError);
      }
      if (writeError) return fail(writeError);
      this.spaceError = undefined;
      this.#size = offset;
      this.#sizes.set(fileNo, offset);
      const started = process.hrtime.bigint();
      fdatasync(fd, (syncError) => {
        if (syncError) return fail(syncError);
        const fsyncSeconds = Number(process.hrtime.bigint() - started) / 1e9;
        this.onFlush?.({ batches: batch.length, bytes, fsyncSeconds });
        for (const [i, p] of batch.entries()) p.resolve(locations[i]!);
        this.#flush();
      });
    });
  }
}

/** ENOSPC / EDQUOT: the file system is full (or the quota is): the append is refused, not fatal. */
function isNoSpace(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** writev may write fewer bytes than asked; keep going until everything is down. */
function writevAll(
  fd: number,
  buffers: Buffer[],
  position: number,
  done: (error: Error | null) => void,
): void {
  // Linux caps iovec count at 1024 per call.
  const chunk = buffers.slice(0, 1024);
  writev(fd, chunk, position, (error, written) => {
    if (error) return done(error);
    let remaining = written;
    let i = 0;
    while (i < buffers.length && remaining >= buffers[i]!.length) {
      remaining -= buffers[i]!.length;
      i++;
    }
    const rest = buffers.slice(i);
    if (remaining > 0) rest[0] = rest[0]!.subarray(remaining);
    if (rest.length === 0) return done(null);
    writevAll(fd, rest, position + written, done);
  });
}

function scanFile(
  fd: number,
  size: number,
  fileNo: number,
  visit: (record: RedoRecord, location: LogLocation) => void,
): { offset: number; reason: string } {
  let base = 0;
  let buf = Buffer.alloc(0);
  let pos = 0;
  // Keeps the unread rest of the buffer and reads up to `chunk` more bytes of the file after it.
  const refill = (chunk: number) => {
    const rest = buf.subarray(pos);
    const want = Math.min(chunk, size - (base + buf.length));
    const next = Buffer.allocUnsafe(rest.length + want);
    rest.copy(next, 0);
    const n = readSync(fd, next, rest.length, want, base + buf.length);
    base += pos;
    buf = next.subarray(0, rest.length + n);
    pos = 0;
  };
  for (;;) {
    if (buf.length - pos < scanChunkBytes / 2 && base + buf.length < size) refill(scanChunkBytes);
    if (base + pos >= size) return { offset: size, reason: 'end' };
    const result = tryDecodeRecord(buf, pos);
    if (!result.ok) {
      // A record cut by the end of the buffer but not by the end of the file: read more.
      if (result.reason === 'truncated' && base + buf.length < size) {
        refill(scanChunkBytes * 2);
        continue;
      }
      return { offset: base + pos, reason: `${result.reason}: ${result.detail}` };
    }
    // The visitor may keep the record: give it its own copy of the payload, not a view of buf.
    const record = { ...result.record, payload: Buffer.from(result.record.payload) };
    visit(record, { fileNo, offset: base + pos, length: result.length });
    pos += result.length;
  }
}

function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
