// Framing (split and joined 16 MiB packets, bounds), length-encoded values, the handshake packets and
// mysql_native_password, and the result-set encoders.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  authSwitchRequest,
  handshakeV10,
  nativePasswordToken,
  newScramble,
  parseHandshakeResponse,
  verifyNativePassword,
} from './handshake.ts';
import {
  Capability,
  ColumnType,
  framePayload,
  lenencInt,
  MalformedPacketError,
  PacketReader,
  PacketTooLargeError,
  PayloadReader,
  PayloadWriter,
  packetPayloadBytesMax,
} from './protocol.ts';
import { binaryRow, columnFor, errPacket, okPacket, parseExecute, textRow } from './results.ts';

const join = (buffers: Buffer[]): Buffer => Buffer.concat(buffers);

describe('packet framing', () => {
  it('frames and reads back payloads of any size, split at 16 MiB - 1 and joined', () => {
    for (const size of [
      0,
      1,
      250,
      packetPayloadBytesMax - 1,
      packetPayloadBytesMax,
      packetPayloadBytesMax + 1,
      2 * packetPayloadBytesMax,
    ]) {
      const payload = Buffer.alloc(size, 0x61);
      if (size > 0) payload[size - 1] = 0x62;
      const { buffers, next } = framePayload(payload, 7);
      const parts = Math.floor(size / packetPayloadBytesMax) + 1;
      expect(next).toBe((7 + parts) & 0xff);
      const reader = new PacketReader(64 * 1024 * 1024);
      const packets = reader.push(join(buffers));
      expect(packets).toHaveLength(1);
      expect(packets[0]!.payload.equals(payload)).toBe(true);
      expect(packets[0]!.sequenceId).toBe((7 + parts - 1) & 0xff);
      expect(reader.pending).toBe(false);
    }
  });

  it('reassembles packets from any chunking of the byte stream', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 20 }),
        (payloads, cuts) => {
          const stream = join(payloads.flatMap((p, i) => framePayload(Buffer.from(p), i).buffers));
          const reader = new PacketReader(1024);
          const got: Buffer[] = [];
          let offset = 0;
          let c = 0;
          while (offset < stream.length) {
            const n = cuts[c++ % cuts.length]!;
            got.push(...reader.push(stream.subarray(offset, offset + n)).map((p) => p.payload));
            offset += n;
          }
          expect(got.map((b) => [...b])).toEqual(payloads.map((p) => [...p]));
        },
      ),
    );
  });

  it('refuses a packet over the limit from its header, before its payload arrives', () => {
    const reader = new PacketReader(1000);
    const header = Buffer.from([0xe9, 0x03, 0, 0]); // 1001 bytes
    expect(() => reader.push(header)).toThrow(PacketTooLargeError);
    // A split packet: parts are counted together.
    const split = new PacketReader(packetPayloadBytesMax + 10);
    const first = Buffer.alloc(4 + packetPayloadBytesMax);
    first.writeUIntLE(packetPayloadBytesMax, 0, 3);
    expect(split.push(first)).toEqual([]);
    expect(() => split.push(Buffer.from([11, 0, 0, 1]))).toThrow(PacketTooLargeError);
  });
});

describe('length-encoded values', () => {
  it('round-trips integers at every width boundary', () => {
    for (const n of [0, 250, 251, 0xffff, 0x10000, 0xffffff, 0x1000000, 2 ** 40]) {
      const encoded = lenencInt(n);
      expect(new PayloadReader(encoded).lenenc()).toBe(n);
    }
    expect(lenencInt(250)).toHaveLength(1);
    expect(lenencInt(251)).toHaveLength(3);
    expect(lenencInt(0x10000)).toHaveLength(4);
    expect(lenencInt(0x1000000)).toHaveLength(9);
  });

  it('an overrun or an invalid prefix is a MalformedPacketError', () => {
    expect(() => new PayloadReader(Buffer.from([0xfc, 1])).lenenc()).toThrow(MalformedPacketError);
    expect(() => new PayloadReader(Buffer.from([0xff])).lenenc()).toThrow(MalformedPacketError);
    expect(() => new PayloadReader(Buffer.from([5, 1, 2])).lenencBytes()).toThrow(MalformedPacketError);
    expect(() => new PayloadReader(Buffer.from('abc')).nulString()).toThrow(MalformedPacketError);
  });
});

describe('handshake and mysql_native_password', () => {
  it('the token is SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))), verified in constant time', () => {
    const scramble = Buffer.from('abcdefghijklmnopqrst');
    const sha1 = (b: Buffer) => createHash('sha1').update(b).digest();
    const stage1 = sha1(Buffer.from('pw'));
    const mask = sha1(Buffer.concat([scramble, sha1(stage1)]));
    const expected = Buffer.from(stage1.map((b, i) => b ^ mask[i]!));
    expect(nativePasswordToken('pw', scramble).equals(expected)).toBe(true);
    expect(verifyNativePassword('pw', scramble, expected)).toBe(true);
    expect(verifyNativePassword('px', scramble, expected)).toBe(false);
    expect(verifyNativePassword('pw', scramble, expected.subarray(1))).toBe(false);
    expect(verifyNativePassword('', scramble, Buffer.alloc(0))).toBe(true);
    expect(verifyNativePassword('pw', scramble, Buffer.alloc(0))).toBe(false);
  });

  it('the scramble has no NUL byte; HandshakeV10 carries it in two parts and names the plugin', () => {
    const scramble = newScramble();
    expect(scramble).toHaveLength(20);
    expect(scramble.includes(0)).toBe(false);
    const hello = handshakeV10({ serverVersion: '8.0.36-borealis', connectionId: 7, scramble });
    const r = new PayloadReader(hello);
    expect(r.u8()).toBe(10);
    expect(r.nulString()).toBe('8.0.36-borealis');
    expect(r.u32()).toBe(7);
    const part1 = r.bytes(8);
    r.u8();
    const low = r.u16();
    r.u8();
    r.u16();
    const high = r.u16();
    expect(((high << 16) | low) & Capability.PLUGIN_AUTH).toBeTruthy();
    expect(r.u8()).toBe(21);
    r.bytes(10);
    const part2 = r.bytes(12);
    expect(Buffer.concat([part1, part2]).equals(scramble)).toBe(true);
    expect(r.u8()).toBe(0);
    expect(r.nulString()).toBe('mysql_native_password');
    expect(authSwitchRequest(scramble)[0]).toBe(0xfe);
  });

  it('parses HandshakeResponse41 with lenenc auth data, a database and a plugin; rejects truncation', () => {
    const token = Buffer.alloc(20, 7);
    const caps =
      Capability.PROTOCOL_41 |
      Capability.SECURE_CONNECTION |
      Capability.PLUGIN_AUTH |
      Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
      Capability.CONNECT_WITH_DB;
    const payload = new PayloadWriter()
      .u32(caps)
      .u32(1 << 24)
      .u8(45)
      .zeros(23)
      .nulString('admin')
      .lenencString(token)
      .nulString('borealis')
      .nulString('caching_sha2_password')
      .build();
    expect(parseHandshakeResponse(payload)).toMatchObject({
      user: 'admin',
      authResponse: token,
      database: 'borealis',
      authPlugin: 'caching_sha2_password',
      sslRequest: false,
    });
    for (let cut = 0; cut < 40; cut++) {
      expect(() => parseHandshakeResponse(payload.subarray(0, cut))).toThrow(MalformedPacketError);
    }
    const ssl = new PayloadWriter()
      .u32(caps | Capability.SSL)
      .u32(0)
      .u8(45)
      .zeros(23)
      .build();
    expect(parseHandshakeResponse(ssl).sslRequest).toBe(true);
  });
});

describe('result sets', () => {
  it('column types come from the values: integers, doubles, strings, blobs, mixed', () => {
    expect(columnFor('a', [1n, null, 2n]).type).toBe(ColumnType.LONGLONG);
    expect(columnFor('a', [1n, 1.5]).type).toBe(ColumnType.DOUBLE);
    expect(columnFor('a', ['x', 1n]).type).toBe(ColumnType.VAR_STRING);
    expect(columnFor('a', [new Uint8Array([1])]).type).toBe(ColumnType.BLOB);
    expect(columnFor('a', [null]).type).toBe(ColumnType.VAR_STRING);
  });

  it('text rows: NULL is 0xfb, values are length-encoded text', () => {
    expect([...textRow([null, 5n, 'é', new Uint8Array([0, 255]), true])]).toEqual([
      0xfb, 1, 0x35, 2, 0xc3, 0xa9, 2, 0, 255, 1, 0x31,
    ]);
  });

  it('binary rows: the null bitmap is offset by 2, integers 8 bytes, doubles 8 bytes', () => {
    const columns = [columnFor('i', [1n]), columnFor('n', [null]), columnFor('d', [1.5])];
    const row = binaryRow([-1n, null, 1.5], columns);
    expect(row[0]).toBe(0);
    expect(row[1]).toBe(0b1000); // column 1 → bit 3
    expect(row.readBigInt64LE(2)).toBe(-1n);
    expect(row.readDoubleLE(10)).toBe(1.5);
  });

  it('OK and ERR packets', () => {
    expect([...okPacket({ affectedRows: 300, lastInsertId: 5n, status: 2 })]).toEqual([
      0, 0xfc, 44, 1, 5, 2, 0, 0, 0,
    ]);
    const err = errPacket(1062, '23000', 'Duplicate');
    expect(err[0]).toBe(0xff);
    expect(err.readUInt16LE(1)).toBe(1062);
    expect(err.toString('utf8', 3)).toBe('#23000Duplicate');
  });
});

describe('COM_STMT_EXECUTE parameters', () => {
  const execute = (types: [number, number][], values: Buffer, nullBitmap = 0) =>
    Buffer.concat([
      Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]),
      Buffer.alloc((types.length + 7) >> 3, nullBitmap),
      Buffer.from([1]),
      Buffer.from(types.flat()),
      values,
    ]);

  it('decodes every parameter type', () => {
    const int = (n: number, bytes: number, signed = true) => {
      const b = Buffer.alloc(bytes);
      if (bytes === 8) b.writeBigInt64LE(BigInt(n));
      else if (signed) b.writeIntLE(n, 0, bytes);
      else b.writeUIntLE(n, 0, bytes);
      return b;
    };
    const f32 = Buffer.alloc(4);
    f32.writeFloatLE(0.5);
    const f64 = Buffer.alloc(8);
    f64.writeDoubleLE(1.25);
    const datetime = Buffer.from([11, 0xea, 0x07, 1, 2, 3, 4, 5, 0x40, 0xe2, 0x01, 0]); // 2026-01-02 03:04:05.123456
    const date = Buffer.from([4, 0xea, 0x07, 12, 31]);
    const time = Buffer.from([8, 1, 1, 0, 0, 0, 2, 3, 4]); // -26:03:04
    const str = Buffer.concat([lenencInt(3), Buffer.from('abc')]);
    const blob = Buffer.concat([lenencInt(2), Buffer.from([0, 255])]);
    const { values } = parseExecute(
      execute(
        [
          [ColumnType.TINY, 0],
          [ColumnType.TINY, 0x80],
          [ColumnType.SHORT, 0],
          [ColumnType.LONG, 0],
          [ColumnType.LONGLONG, 0],
          [ColumnType.FLOAT, 0],
          [ColumnType.DOUBLE, 0],
          [ColumnType.DATETIME, 0],
          [ColumnType.DATE, 0],
          [ColumnType.TIME, 0],
          [ColumnType.VAR_STRING, 0],
          [ColumnType.BLOB, 0],
          [ColumnType.NEWDECIMAL, 0],
        ],
        Buffer.concat([
          int(-1, 1),
          int(255, 1, false),
          int(-300, 2),
          int(-70000, 4),
          int(-5, 8),
          f32,
          f64,
          datetime,
          date,
          time,
          str,
          blob,
          str,
        ]),
      ).subarray(0),
      13,
      undefined,
      new Map(),
    );
    expect(values).toEqual([
      -1n,
      255n,
      -300n,
      -70000n,
      -5n,
      0.5,
      1.25,
      '2026-01-02 03:04:05.123456',
      '2026-12-31',
      '-26:03:04',
      'abc',
      new Uint8Array([0, 255]),
      'abc',
    ]);
  });

  it('reads NULLs from the bitmap, reuses bound types, takes long data, and refuses truncation', () => {
    const payload = Buffer.concat([
      Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]),
      Buffer.from([0b10, 1, ColumnType.VAR_STRING, 0, ColumnType.VAR_STRING, 0]),
    ]);
    const long = new Map([[0, Buffer.from('long text')]]);
    const first = parseExecute(payload, 2, undefined, long);
    expect(first.values).toEqual(['long text', null]);
    const again = Buffer.concat([
      Buffer.from([0x17, 1, 0, 0, 0, 0, 1, 0, 0, 0]),
      Buffer.from([0, 0]),
      lenencInt(1),
      Buffer.from('x'),
      lenencInt(1),
      Buffer.from('y'),
    ]);
    expect(parseExecute(again, 2, first.types, new Map()).values).toEqual(['x', 'y']);
    expect(() => parseExecute(again, 2, undefined, new Map())).toThrow(MalformedPacketError);
    expect(() => parseExecute(payload.subarray(0, 8), 2, undefined, new Map())).toThrow(MalformedPacketError);
  });
});
