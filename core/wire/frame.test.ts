import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../crc32c.ts';
import { InvariantViolation } from '../errors.ts';
import { frameBodyBytesMax, frameSizeBytesMax } from '../limits.ts';
import {
  type DecodedItem,
  encodeFrame,
  encodeFrameHeader,
  FrameDecoder,
  frameHeaderBytes,
  frameLengthMax,
  frameVersion,
} from './frame.ts';

interface FrameSpec {
  type: number;
  requestId: number;
  flags: number;
  body: Uint8Array;
}

const arbFrame: fc.Arbitrary<FrameSpec> = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  requestId: fc.integer({ min: 0, max: 0xffff_ffff }),
  flags: fc.integer({ min: 0, max: 0xffff }),
  body: fc.uint8Array({ maxLength: 300 }),
});

/** Splits bytes at the given cut points (sorted, deduplicated, within bounds). */
function split(bytes: Buffer, cutSeeds: number[]): Buffer[] {
  const cuts = [...new Set(cutSeeds.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    chunks.push(bytes.subarray(from, cut));
    from = cut;
  }
  return chunks;
}

function pushAll(decoder: FrameDecoder, chunks: Buffer[]): DecodedItem[] {
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

function asSpec(item: DecodedItem): FrameSpec | DecodedItem {
  if (item.kind !== 'frame') return item;
  return { type: item.type, requestId: item.requestId, flags: item.flags, body: Uint8Array.from(item.body) };
}

/** A header claiming frameLength, with the given requestId; the body is not included. */
function rawHeader(frameLength: number, requestId: number, version = frameVersion): Buffer {
  const header = Buffer.alloc(frameHeaderBytes);
  header.writeUInt32LE(frameLength, 0);
  header[4] = version;
  header[5] = 1;
  header.writeUInt32LE(requestId, 8);
  return header;
}

describe('encodeFrame', () => {
  it('writes the documented header', () => {
    const body = Buffer.from('hello');
    const frame = encodeFrame(7, 0xdeadbeef, body, 0x0102);
    expect(frame.length).toBe(16 + 5);
    expect(frame.readUInt32LE(0)).toBe(12 + 5);
    expect(frame[4]).toBe(1);
    expect(frame[5]).toBe(7);
    expect(frame.readUInt16LE(6)).toBe(0x0102);
    expect(frame.readUInt32LE(8)).toBe(0xdeadbeef);
    expect(frame.readUInt32LE(12)).toBe(crc32c(body));
    expect(frame.subarray(16).toString()).toBe('hello');
  });

  it('encodeFrameHeader is the first 16 bytes of encodeFrame', () => {
    fc.assert(
      fc.property(arbFrame, ({ type, requestId, body, flags }) => {
        const frame = encodeFrame(type, requestId, body, flags);
        expect(encodeFrameHeader(type, requestId, body, flags).equals(frame.subarray(0, 16))).toBe(true);
      }),
    );
  });

  it('asserts on out-of-range fields', () => {
    const body = new Uint8Array(0);
    expect(() => encodeFrame(256, 0, body)).toThrow(InvariantViolation);
    expect(() => encodeFrame(-1, 0, body)).toThrow(InvariantViolation);
    expect(() => encodeFrame(1, 2 ** 32, body)).toThrow(InvariantViolation);
    expect(() => encodeFrame(1, 0, body, 0x10000)).toThrow(InvariantViolation);
    expect(() => encodeFrameHeader(1, 0, { length: frameBodyBytesMax + 1 } as Uint8Array)).toThrow(
      InvariantViolation,
    );
  });

  it('frame limits: a maximal frame is frameSizeBytesMax on the wire', () => {
    expect(frameLengthMax + 4).toBe(frameSizeBytesMax);
    expect(frameHeaderBytes + frameBodyBytesMax).toBe(frameSizeBytesMax);
  });
});

describe('FrameDecoder', () => {
  it('decodes any frames split at any chunk boundaries', () => {
    fc.assert(
      fc.property(
        fc.array(arbFrame, { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map((f) => encodeFrame(f.type, f.requestId, f.body, f.flags)));
          const decoder = new FrameDecoder();
          const items = pushAll(decoder, split(stream, cuts));
          expect(items.map(asSpec)).toEqual(frames.map((f) => ({ ...f, body: Uint8Array.from(f.body) })));
          expect(decoder.bufferedBytes).toBe(0);
        },
      ),
    );
  });

  it('decodes a stream fed one byte at a time', () => {
    const frames = [
      encodeFrame(1, 1, Buffer.from('abc')),
      encodeFrame(2, 2, Buffer.alloc(0)),
      encodeFrame(3, 3, Buffer.alloc(40, 7)),
    ];
    const decoder = new FrameDecoder();
    const stream = Buffer.concat(frames);
    const items: DecodedItem[] = [];
    for (let i = 0; i < stream.length; i++) items.push(...decoder.push(stream.subarray(i, i + 1)));
    expect(items.map((item) => (item.kind === 'frame' ? item.requestId : -1))).toEqual([1, 2, 3]);
  });

  it('decodes long runs of small chunks that straddle frames', () => {
    const frames = Array.from({ length: 20 }, (_, i) => encodeFrame(1, i, Buffer.alloc(300 + i, i)));
    const stream = Buffer.concat(frames);
    const decoder = new FrameDecoder();
    const items: DecodedItem[] = [];
    for (let i = 0; i < stream.length; i += 3) items.push(...decoder.push(stream.subarray(i, i + 3)));
    expect(items.map((item) => (item.kind === 'frame' ? item.body.length : -1))).toEqual(
      frames.map((_, i) => 300 + i),
    );
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('returns a body view when the frame is inside one chunk', () => {
    const chunk = encodeFrame(1, 9, Buffer.from('payload'));
    const [item] = new FrameDecoder().push(chunk);
    expect(item?.kind).toBe('frame');
    if (item?.kind === 'frame') expect(item.body.buffer).toBe(chunk.buffer);
  });

  it('reports a bad CRC with the requestId and decodes the next frame', () => {
    fc.assert(
      fc.property(arbFrame, arbFrame, fc.array(fc.nat(), { maxLength: 6 }), (bad, good, cuts) => {
        const corrupted = encodeFrame(bad.type, bad.requestId, bad.body, bad.flags);
        corrupted.writeUInt32LE((corrupted.readUInt32LE(12) ^ 1) >>> 0, 12);
        const stream = Buffer.concat([
          corrupted,
          encodeFrame(good.type, good.requestId, good.body, good.flags),
        ]);
        const items = pushAll(new FrameDecoder(), split(stream, cuts));
        expect(items.length).toBe(2);
        expect(items[0]).toMatchObject({
          kind: 'error',
          code: 'BAD_CRC',
          requestId: bad.requestId,
          fatal: false,
        });
        expect(items[1]).toMatchObject({ kind: 'frame', requestId: good.requestId });
      }),
    );
  });

  it('reports a corrupted body byte as BAD_CRC', () => {
    const frame = encodeFrame(1, 77, Buffer.from('some body'));
    frame[20]! ^= 0x40;
    expect(new FrameDecoder().push(frame)).toMatchObject([{ kind: 'error', code: 'BAD_CRC', requestId: 77 }]);
  });

  it('skips an unsupported version and decodes the next frame', () => {
    const future = encodeFrame(1, 5, Buffer.from('from the future'));
    future[4] = 2;
    const items = new FrameDecoder().push(Buffer.concat([future, encodeFrame(1, 6, Buffer.from('ok'))]));
    expect(items).toMatchObject([
      { kind: 'error', code: 'UNSUPPORTED_VERSION', requestId: 5, fatal: false },
      { kind: 'frame', requestId: 6 },
    ]);
  });

  it('skips an oversized frame arriving across many chunks and decodes the frames after it', () => {
    const decoder = new FrameDecoder();
    const items: DecodedItem[] = [];
    items.push(...decoder.push(encodeFrame(1, 1, Buffer.from('before'))));
    const frameLength = frameLengthMax + 1;
    items.push(...decoder.push(rawHeader(frameLength, 42)));
    expect(items).toMatchObject([
      { kind: 'frame', requestId: 1 },
      { kind: 'error', code: 'FRAME_TOO_LARGE', requestId: 42, fatal: false },
    ]);
    // The rest of the oversized frame, in 1 MiB chunks: discarded without being buffered.
    let left = frameLength - 12;
    const chunk = Buffer.alloc(1024 * 1024, 0xee);
    while (left > 0) {
      const piece = chunk.subarray(0, Math.min(left, chunk.length));
      left -= piece.length;
      if (left === 0) {
        expect(decoder.push(Buffer.concat([piece, encodeFrame(2, 2, Buffer.from('after'))]))).toMatchObject([
          { kind: 'frame', requestId: 2 },
        ]);
      } else {
        expect(decoder.push(piece)).toEqual([]);
        expect(decoder.bufferedBytes).toBe(0);
      }
    }
  });

  it('skips oversized frames at any chunking, keeping the frames around them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat(), { maxLength: 10 }),
        fc.integer({ min: 1, max: 1000 }),
        (cuts, excess) => {
          // A header claiming more than the maximum, followed by exactly that many bytes.
          const frameLength = frameLengthMax + excess;
          const before = encodeFrame(1, 10, Buffer.from('a'));
          const after = encodeFrame(1, 11, Buffer.from('b'));
          const decoder = new FrameDecoder();
          const items: DecodedItem[] = [];
          items.push(...pushAll(decoder, split(Buffer.concat([before, rawHeader(frameLength, 99)]), cuts)));
          let left = frameLength - 12;
          const filler = Buffer.alloc(4 * 1024 * 1024);
          while (left > 0) {
            const piece = filler.subarray(0, Math.min(left, filler.length));
            items.push(...decoder.push(piece));
            left -= piece.length;
          }
          items.push(...pushAll(decoder, split(after, cuts)));
          expect(items).toMatchObject([
            { kind: 'frame', requestId: 10 },
            { kind: 'error', code: 'FRAME_TOO_LARGE', requestId: 99 },
            { kind: 'frame', requestId: 11 },
          ]);
        },
      ),
      { numRuns: 5 },
    );
  });

  it('accepts a frame of exactly the maximum length', () => {
    const body = Buffer.alloc(frameBodyBytesMax, 3);
    const frame = encodeFrame(4, 8, body);
    expect(frame.length).toBe(frameSizeBytesMax);
    const items = pushAll(new FrameDecoder(), split(frame, [1000, 5_000_000, 12_000_000]));
    expect(items).toMatchObject([{ kind: 'frame', requestId: 8 }]);
    if (items[0]?.kind === 'frame') expect(items[0].body.length).toBe(frameBodyBytesMax);
  });

  it('fails fatally on a frameLength below the header, then ignores input', () => {
    for (const frameLength of [0, 1, 11]) {
      const decoder = new FrameDecoder();
      const bad = Buffer.alloc(4);
      bad.writeUInt32LE(frameLength, 0);
      const items = decoder.push(Buffer.concat([encodeFrame(1, 1, Buffer.alloc(0)), bad]));
      expect(items).toMatchObject([
        { kind: 'frame', requestId: 1 },
        { kind: 'error', code: 'MALFORMED_FRAME', fatal: true },
      ]);
      expect(items[1]).not.toHaveProperty('requestId');
      expect(decoder.failed).toBe(true);
      expect(decoder.push(encodeFrame(1, 2, Buffer.alloc(0)))).toEqual([]);
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('accepts a body-less frame (frameLength 12)', () => {
    expect(new FrameDecoder().push(encodeFrame(13, 3, new Uint8Array(0)))).toMatchObject([
      { kind: 'frame', type: 13, requestId: 3, flags: 0 },
    ]);
  });

  it('waits for the rest of a partial frame and ignores empty chunks', () => {
    const frame = encodeFrame(1, 1, Buffer.alloc(100, 1));
    const decoder = new FrameDecoder();
    expect(decoder.push(frame.subarray(0, 3))).toEqual([]);
    expect(decoder.push(Buffer.alloc(0))).toEqual([]);
    expect(decoder.push(frame.subarray(3, 50))).toEqual([]);
    expect(decoder.bufferedBytes).toBe(50);
    expect(decoder.push(frame.subarray(50))).toMatchObject([{ kind: 'frame', requestId: 1 }]);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it('never throws on garbage; every error is a decode item', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.array(fc.nat(), { maxLength: 8 }), (bytes, cuts) => {
        const decoder = new FrameDecoder();
        const items = pushAll(decoder, split(Buffer.from(bytes), cuts));
        for (const item of items) expect(['frame', 'error']).toContain(item.kind);
      }),
    );
  });
});
