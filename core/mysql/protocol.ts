// The MySQL client/server protocol's framing and primitive codecs: packets (3-byte length + sequence
// id, payloads of 16 MiB - 1 or more split and joined), length-encoded integers and strings, and the
// protocol's constants. Pure: the server (server.ts) feeds bytes in and writes the buffers out.

/** A payload of exactly this many bytes means "continued in the next packet". */
export const packetPayloadBytesMax = 0xff_ffff;
/** max_allowed_packet: the largest command a client may send (MySQL 8's default, 64 MiB). */
export const maxAllowedPacketDefault = 64 * 1024 * 1024;

/** Capability flags (Protocol::CapabilityFlags). */
export const Capability = {
  LONG_PASSWORD: 0x1,
  FOUND_ROWS: 0x2,
  LONG_FLAG: 0x4,
  CONNECT_WITH_DB: 0x8,
  NO_SCHEMA: 0x10,
  LOCAL_FILES: 0x80,
  IGNORE_SPACE: 0x100,
  PROTOCOL_41: 0x200,
  INTERACTIVE: 0x400,
  SSL: 0x800,
  TRANSACTIONS: 0x2000,
  SECURE_CONNECTION: 0x8000,
  MULTI_STATEMENTS: 0x1_0000,
  MULTI_RESULTS: 0x2_0000,
  PS_MULTI_RESULTS: 0x4_0000,
  PLUGIN_AUTH: 0x8_0000,
  CONNECT_ATTRS: 0x10_0000,
  PLUGIN_AUTH_LENENC_CLIENT_DATA: 0x20_0000,
  DEPRECATE_EOF: 0x100_0000,
} as const;

/** What this server offers; a connection uses the intersection with what the client asks for. */
export const serverCapabilities =
  Capability.LONG_PASSWORD |
  Capability.FOUND_ROWS |
  Capability.LONG_FLAG |
  Capability.CONNECT_WITH_DB |
  Capability.IGNORE_SPACE |
  Capability.PROTOCOL_41 |
  Capability.INTERACTIVE |
  Capability.TRANSACTIONS |
  Capability.SECURE_CONNECTION |
  Capability.MULTI_RESULTS |
  Capability.PS_MULTI_RESULTS |
  Capability.PLUGIN_AUTH |
  Capability.CONNECT_ATTRS |
  Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA |
  Capability.DEPRECATE_EOF;

/** What a client must support to talk to this server. */
export const requiredClientCapabilities = Capability.PROTOCOL_41 | Capability.SECURE_CONNECTION;

export const ServerStatus = {
  IN_TRANS: 0x1,
  AUTOCOMMIT: 0x2,
  MORE_RESULTS_EXISTS: 0x8,
} as const;

/** Command bytes (the first byte of a command packet). */
export const Command = {
  QUIT: 0x01,
  INIT_DB: 0x02,
  QUERY: 0x03,
  FIELD_LIST: 0x04,
  STATISTICS: 0x09,
  PING: 0x0e,
  STMT_PREPARE: 0x16,
  STMT_EXECUTE: 0x17,
  STMT_SEND_LONG_DATA: 0x18,
  STMT_CLOSE: 0x19,
  STMT_RESET: 0x1a,
  SET_OPTION: 0x1b,
  RESET_CONNECTION: 0x1f,
} as const;

/** Column types (enum_field_types). */
export const ColumnType = {
  DECIMAL: 0x00,
  TINY: 0x01,
  SHORT: 0x02,
  LONG: 0x03,
  FLOAT: 0x04,
  DOUBLE: 0x05,
  NULL: 0x06,
  TIMESTAMP: 0x07,
  LONGLONG: 0x08,
  INT24: 0x09,
  DATE: 0x0a,
  TIME: 0x0b,
  DATETIME: 0x0c,
  YEAR: 0x0d,
  VARCHAR: 0x0f,
  BIT: 0x10,
  JSON: 0xf5,
  NEWDECIMAL: 0xf6,
  ENUM: 0xf7,
  SET: 0xf8,
  TINY_BLOB: 0xf9,
  MEDIUM_BLOB: 0xfa,
  LONG_BLOB: 0xfb,
  BLOB: 0xfc,
  VAR_STRING: 0xfd,
  STRING: 0xfe,
  GEOMETRY: 0xff,
} as const;

export const ColumnFlag = {
  NOT_NULL: 0x1,
  PRI_KEY: 0x2,
  BLOB: 0x10,
  UNSIGNED: 0x20,
  BINARY: 0x80,
  NUM: 0x8000,
} as const;

/** Character sets by collation id: utf8mb4_general_ci for text, binary for numbers and blobs. */
export const Charset = { utf8mb4: 45, binary: 63 } as const;

/** A malformed packet: the connection answers ERR 1835 (or closes when it cannot say which command). */
export class MalformedPacketError extends Error {
  constructor(what: string) {
    super(`Malformed communication packet: ${what}`);
    this.name = 'MalformedPacketError';
  }
}

export class PacketTooLargeError extends Error {
  constructor(readonly bytesMax: number) {
    super(`Got a packet bigger than 'max_allowed_packet' bytes (${bytesMax})`);
    this.name = 'PacketTooLargeError';
  }
}

/** One logical packet: the payload (split packets joined) and the sequence id of its last part. */
export interface Packet {
  payload: Buffer;
  sequenceId: number;
}

/**
 * Reassembles packets from a byte stream. Buffers at most one packet's bytes (bounded by
 * payloadBytesMax, checked from the headers before the payload arrives).
 */
export class PacketReader {
  #buffered: Buffer[] = [];
  #bufferedBytes = 0;
  /** Parts of a split payload read so far. */
  #parts: Buffer[] = [];
  #partsBytes = 0;

  /** The largest payload accepted (raised from the handshake bound to max_allowed_packet after auth). */
  payloadBytesMax: number;

  constructor(payloadBytesMax: number) {
    this.payloadBytesMax = payloadBytesMax;
  }

  /** Adds bytes; returns every packet now complete. Throws PacketTooLargeError before buffering one. */
  push(chunk: Buffer): Packet[] {
    this.#buffered.push(chunk);
    this.#bufferedBytes += chunk.length;
    const packets: Packet[] = [];
    for (;;) {
      if (this.#bufferedBytes < 4) return packets;
      const head = this.#peek(4);
      const length = head[0]! | (head[1]! << 8) | (head[2]! << 16);
      const sequenceId = head[3]!;
      if (this.#partsBytes + length > this.payloadBytesMax)
        throw new PacketTooLargeError(this.payloadBytesMax);
      if (this.#bufferedBytes < 4 + length) return packets;
      const whole = this.#take(4 + length);
      const payload = whole.subarray(4);
      if (length === packetPayloadBytesMax) {
        this.#parts.push(payload);
        this.#partsBytes += length;
        continue;
      }
      if (this.#parts.length > 0) {
        this.#parts.push(payload);
        const joined = Buffer.concat(this.#parts, this.#partsBytes + length);
        this.#parts = [];
        this.#partsBytes = 0;
        packets.push({ payload: joined, sequenceId });
      } else packets.push({ payload, sequenceId });
    }
  }

  /** Bytes of an unfinished packet are waiting (a truncated packet if the peer closes now). */
  get pending(): boolean {
    return this.#bufferedBytes > 0 || this.#parts.length > 0;
  }

  #peek(bytes: number): Buffer {
    if (this.#buffered[0]!.length < bytes) this.#buffered = [Buffer.concat(this.#buffered)];
    return this.#buffered[0]!;
  }

  #take(bytes: number): Buffer {
    if (this.#buffered[0]!.length < bytes) this.#buffered = [Buffer.concat(this.#buffered)];
    const first = this.#buffered[0]!;
    const taken = first.subarray(0, bytes);
    if (first.length === bytes) this.#buffered.shift();
    else this.#buffered[0] = first.subarray(bytes);
    this.#bufferedBytes -= bytes;
    return taken;
  }
}

/**
 * Frames a payload as one or more packets starting at sequenceId; returns the buffers and the next
 * sequence id. A payload of a multiple of 16 MiB - 1 ends with an empty packet, as the protocol says.
 */
export function framePayload(payload: Buffer, sequenceId: number): { buffers: Buffer[]; next: number } {
  const buffers: Buffer[] = [];
  let seq = sequenceId;
  let offset = 0;
  for (;;) {
    const length = Math.min(packetPayloadBytesMax, payload.length - offset);
    const header = Buffer.allocUnsafe(4);
    header[0] = length & 0xff;
    header[1] = (length >> 8) & 0xff;
    header[2] = (length >> 16) & 0xff;
    header[3] = seq & 0xff;
    buffers.push(header, payload.subarray(offset, offset + length));
    seq = (seq + 1) & 0xff;
    offset += length;
    if (length < packetPayloadBytesMax) return { buffers, next: seq };
  }
}

// --- Payload reading ---------------------------------------------------------------------------------

/** Reads protocol primitives from one payload; every overrun is a MalformedPacketError. */
export class PayloadReader {
  offset = 0;
  constructor(readonly buffer: Buffer) {}

  get remaining(): number {
    return this.buffer.length - this.offset;
  }

  #need(bytes: number, what: string): void {
    if (this.offset + bytes > this.buffer.length) throw new MalformedPacketError(`${what} runs past the end`);
  }

  u8(what = 'a byte'): number {
    this.#need(1, what);
    return this.buffer[this.offset++]!;
  }

  u16(what = 'a 2-byte integer'): number {
    this.#need(2, what);
    const v = this.buffer.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  u32(what = 'a 4-byte integer'): number {
    this.#need(4, what);
    const v = this.buffer.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  bytes(n: number, what = 'a value'): Buffer {
    this.#need(n, what);
    const v = this.buffer.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  /** A length-encoded integer (as a number: lengths beyond 2^53 are malformed here). */
  lenenc(what = 'a length'): number {
    const first = this.u8(what);
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16(what);
    if (first === 0xfd) {
      this.#need(3, what);
      const v = this.buffer.readUIntLE(this.offset, 3);
      this.offset += 3;
      return v;
    }
    if (first === 0xfe) {
      this.#need(8, what);
      const v = this.buffer.readBigUInt64LE(this.offset);
      this.offset += 8;
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedPacketError(`${what} is too large`);
      return Number(v);
    }
    throw new MalformedPacketError(`${what} has the invalid length prefix 0x${first.toString(16)}`);
  }

  lenencBytes(what = 'a string'): Buffer {
    return this.bytes(this.lenenc(what), what);
  }

  /** A NUL-terminated string; without its NUL, the rest of the payload when `toEndIfUnterminated`. */
  nulString(what = 'a string', toEndIfUnterminated = false): string {
    const end = this.buffer.indexOf(0, this.offset);
    if (end < 0) {
      if (!toEndIfUnterminated) throw new MalformedPacketError(`${what} has no terminating NUL`);
      const v = this.buffer.toString('utf8', this.offset);
      this.offset = this.buffer.length;
      return v;
    }
    const v = this.buffer.toString('utf8', this.offset, end);
    this.offset = end + 1;
    return v;
  }

  rest(): Buffer {
    const v = this.buffer.subarray(this.offset);
    this.offset = this.buffer.length;
    return v;
  }
}

// --- Payload writing ---------------------------------------------------------------------------------

/** Builds one payload from protocol primitives. */
export class PayloadWriter {
  #chunks: Buffer[] = [];
  #bytes = 0;

  push(buffer: Buffer): this {
    this.#chunks.push(buffer);
    this.#bytes += buffer.length;
    return this;
  }

  u8(v: number): this {
    return this.push(Buffer.from([v & 0xff]));
  }

  u16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeUInt16LE(v);
    return this.push(b);
  }

  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32LE(v >>> 0);
    return this.push(b);
  }

  zeros(n: number): this {
    return this.push(Buffer.alloc(n));
  }

  lenenc(v: number | bigint): this {
    return this.push(lenencInt(v));
  }

  lenencString(v: string | Buffer): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    return this.lenenc(b.length).push(b);
  }

  nulString(v: string): this {
    return this.push(Buffer.from(`${v}\0`, 'utf8'));
  }

  string(v: string): this {
    return this.push(Buffer.from(v, 'utf8'));
  }

  build(): Buffer {
    return this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks, this.#bytes);
  }
}

export function lenencInt(v: number | bigint): Buffer {
  const n = BigInt(v);
  if (n < 0n) throw new RangeError(`a length-encoded integer cannot be negative: ${n}`);
  if (n < 0xfbn) return Buffer.from([Number(n)]);
  if (n <= 0xffffn) {
    const b = Buffer.allocUnsafe(3);
    b[0] = 0xfc;
    b.writeUInt16LE(Number(n), 1);
    return b;
  }
  if (n <= 0xff_ffffn) {
    const b = Buffer.allocUnsafe(4);
    b[0] = 0xfd;
    b.writeUIntLE(Number(n), 1, 3);
    return b;
  }
  const b = Buffer.allocUnsafe(9);
  b[0] = 0xfe;
  b.writeBigUInt64LE(n, 1);
  return b;
}
