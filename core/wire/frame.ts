// The binary frame every hot path rides on (redo push and acks, page reads, gossip, replication):
// length-prefixed, versioned, CRC-checked, over persistent TCP connections.
//
// Header (16 bytes, little-endian): frameLength u32 (bytes after this field: 12 + body) | version u8 |
// type u8 | flags u16 | requestId u32 | crc32c u32 of the body. Then the body.
import { assert } from '../assert.ts';
import { crc32c } from '../crc32c.ts';
import { ErrorCode } from '../errors.ts';
import { frameBodyBytesMax, frameHeaderBytes, frameSizeBytesMax } from '../limits.ts';

export { frameHeaderBytes };

export const frameVersion = 1;
/** Header bytes that frameLength counts (everything after the length field itself). */
const frameLengthCoveredHeaderBytes = frameHeaderBytes - 4;
/** Largest frameLength: the frame with its length field fits frameSizeBytesMax. */
export const frameLengthMax = frameSizeBytesMax - 4;

function isU32(x: number): boolean {
  return x >>> 0 === x;
}

function writeHeader(out: Buffer, type: number, requestId: number, body: Uint8Array, flags: number): void {
  assert(type >>> 0 === type && type <= 0xff, () => `frame type ${type} must be a u8`);
  assert(flags >>> 0 === flags && flags <= 0xffff, () => `frame flags ${flags} must be a u16`);
  assert(isU32(requestId), () => `requestId ${requestId} must be a u32`);
  assert(
    body.length <= frameBodyBytesMax,
    () => `frame body of ${body.length} bytes exceeds ${frameBodyBytesMax}`,
  );
  out.writeUInt32LE(frameLengthCoveredHeaderBytes + body.length, 0);
  out[4] = frameVersion;
  out[5] = type;
  out.writeUInt16LE(flags, 6);
  out.writeUInt32LE(requestId, 8);
  out.writeUInt32LE(crc32c(body), 12);
}

/** One frame in one new buffer (header + a copy of the body). */
export function encodeFrame(type: number, requestId: number, body: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes + body.length);
  writeHeader(out, type, requestId, body, flags);
  out.set(body, frameHeaderBytes);
  return out;
}

/**
 * Only the 16-byte header, for large bodies: write the header and then the body itself to the socket
 * (cork/uncork) instead of copying megabytes into a new frame buffer.
 */
export function encodeFrameHeader(type: number, requestId: number, body: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes);
  writeHeader(out, type, requestId, body, flags);
  return out;
}

export interface DecodedFrame {
  kind: 'frame';
  type: number;
  requestId: number;
  flags: number;
  /** May be a view into a pushed chunk: callers must not reuse chunks they pushed. */
  body: Buffer;
}

export interface DecodeErrorItem {
  kind: 'error';
  code: ErrorCode;
  /** The offending frame's requestId, when its header was readable: answer that request with an error. */
  requestId?: number;
  message: string;
  /** True when the stream cannot be resynchronised: close the connection. */
  fatal: boolean;
}

export type DecodedItem = DecodedFrame | DecodeErrorItem;

/**
 * Streaming decoder for one connection. push() each chunk as it arrives and handle the items in order.
 * A bad frame (CRC, version, size) yields an error item and decoding resumes at the next frame, so one
 * bad request does not cost the connection; only a frameLength too small to be a frame is fatal.
 * Chunks are kept in a list and copied at most once, into the body of a frame that spans chunks.
 */
export class FrameDecoder {
  #chunks: Array<Buffer | undefined> = [];
  /** Index of the first live chunk and the read offset inside it. */
  #chunkHead = 0;
  #chunkOffset = 0;
  #bufferedBytes = 0;
  /** Bytes of a rejected frame still to skip as they arrive. */
  #discardBytes = 0;
  #failed = false;
  #header = Buffer.alloc(frameHeaderBytes);

  /** Bytes held waiting for the rest of a frame (for metrics and back-pressure). */
  get bufferedBytes(): number {
    return this.#bufferedBytes;
  }

  /** True after a fatal error item: push() then ignores input. */
  get failed(): boolean {
    return this.#failed;
  }

  push(chunk: Buffer): DecodedItem[] {
    const items: DecodedItem[] = [];
    if (this.#failed || chunk.length === 0) return items;
    this.#chunks.push(chunk);
    this.#bufferedBytes += chunk.length;

    for (;;) {
      if (this.#discardBytes > 0) {
        const skip = Math.min(this.#discardBytes, this.#bufferedBytes);
        this.#consume(skip);
        this.#discardBytes -= skip;
        if (this.#discardBytes > 0) break;
      }
      if (this.#bufferedBytes < 4) break;
      this.#peek(this.#header, 4);
      const frameLength = this.#header.readUInt32LE(0);
      if (frameLength < frameLengthCoveredHeaderBytes) {
        // The length cannot even cover a header: there is no telling where the next frame starts.
        this.#failed = true;
        this.#release();
        items.push({
          kind: 'error',
          code: ErrorCode.MALFORMED_FRAME,
          message: `frameLength ${frameLength} is below the ${frameLengthCoveredHeaderBytes}-byte header`,
          fatal: true,
        });
        break;
      }
      if (this.#bufferedBytes < frameHeaderBytes) break;
      this.#peek(this.#header, frameHeaderBytes);
      const version = this.#header[4]!;
      const type = this.#header[5]!;
      const flags = this.#header.readUInt16LE(6);
      const requestId = this.#header.readUInt32LE(8);
      const crcStored = this.#header.readUInt32LE(12);

      if (frameLength > frameLengthMax) {
        this.#consume(frameHeaderBytes);
        this.#discardBytes = frameLength - frameLengthCoveredHeaderBytes;
        items.push({
          kind: 'error',
          code: ErrorCode.FRAME_TOO_LARGE,
          requestId,
          message: `frame of ${frameLength + 4} bytes exceeds ${frameSizeBytesMax}`,
          fatal: false,
        });
        continue;
      }
      if (version !== frameVersion) {
        this.#consume(frameHeaderBytes);
        this.#discardBytes = frameLength - frameLengthCoveredHeaderBytes;
        items.push({
          kind: 'error',
          code: ErrorCode.UNSUPPORTED_VERSION,
          requestId,
          message: `frame version ${version} (this build speaks ${frameVersion})`,
          fatal: false,
        });
        continue;
      }
      const frameBytes = 4 + frameLength;
      if (this.#bufferedBytes < frameBytes) break;
      this.#consume(frameHeaderBytes);
      const body = this.#take(frameLength - frameLengthCoveredHeaderBytes);
      const crcActual = crc32c(body);
      if (crcActual !== crcStored) {
        items.push({
          kind: 'error',
          code: ErrorCode.BAD_CRC,
          requestId,
          message: `frame body crc32c ${crcActual} != header ${crcStored}`,
          fatal: false,
        });
        continue;
      }
      items.push({ kind: 'frame', type, requestId, flags, body });
    }
    return items;
  }

  /** Copies the first n buffered bytes into target without consuming them. */
  #peek(target: Buffer, n: number): void {
    assert(n <= this.#bufferedBytes && n <= target.length, 'peek within buffered bytes');
    let copied = 0;
    let index = this.#chunkHead;
    let offset = this.#chunkOffset;
    while (copied < n) {
      const chunk = this.#chunks[index]!;
      const count = Math.min(n - copied, chunk.length - offset);
      chunk.copy(target, copied, offset, offset + count);
      copied += count;
      index++;
      offset = 0;
    }
  }

  /** Removes and returns the first n buffered bytes: a view when they lie in one chunk, else one copy. */
  #take(n: number): Buffer {
    assert(n <= this.#bufferedBytes, 'take within buffered bytes');
    const first = this.#chunks[this.#chunkHead];
    if (n === 0 || first === undefined) return Buffer.alloc(0);
    if (first.length - this.#chunkOffset >= n) {
      const view = first.subarray(this.#chunkOffset, this.#chunkOffset + n);
      this.#consume(n);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    this.#peek(out, n);
    this.#consume(n);
    return out;
  }

  #consume(n: number): void {
    assert(n <= this.#bufferedBytes, 'consume within buffered bytes');
    this.#bufferedBytes -= n;
    let left = n;
    while (left > 0) {
      const chunk = this.#chunks[this.#chunkHead]!;
      const available = chunk.length - this.#chunkOffset;
      if (left < available) {
        this.#chunkOffset += left;
        left = 0;
      } else {
        left -= available;
        this.#chunks[this.#chunkHead] = undefined; // let the chunk be collected
        this.#chunkHead++;
        this.#chunkOffset = 0;
      }
    }
    if (this.#chunkHead === this.#chunks.length) {
      this.#release();
    } else if (this.#chunkHead >= 64 && this.#chunkHead * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#chunkHead);
      this.#chunkHead = 0;
    }
  }

  #release(): void {
    this.#chunks = [];
    this.#chunkHead = 0;
    this.#chunkOffset = 0;
    if (this.#failed) this.#bufferedBytes = 0;
  }
}
