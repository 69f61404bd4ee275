// The connection phase of the MySQL protocol: the server's Protocol::HandshakeV10, the client's
// HandshakeResponse41, the auth switch, and mysql_native_password verification against the cluster's
// credentials. Pure: server.ts sends and receives the packets.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  Capability,
  Charset,
  MalformedPacketError,
  PayloadReader,
  PayloadWriter,
  ServerStatus,
  serverCapabilities,
} from './protocol.ts';

export const nativePasswordPlugin = 'mysql_native_password';
/** Bytes of the auth challenge (scramble). */
export const scrambleBytes = 20;

/** A fresh 20-byte challenge; its bytes are printable ASCII, never NUL (part 2 is NUL-terminated). */
export function newScramble(): Buffer {
  const bytes = randomBytes(scrambleBytes);
  for (let i = 0; i < bytes.length; i++) bytes[i] = 0x21 + (bytes[i]! % 94);
  return bytes;
}

/** Protocol::HandshakeV10, the first packet of every connection. */
export function handshakeV10(options: {
  serverVersion: string;
  connectionId: number;
  scramble: Buffer;
}): Buffer {
  const { scramble } = options;
  return new PayloadWriter()
    .u8(10)
    .nulString(options.serverVersion)
    .u32(options.connectionId)
    .push(scramble.subarray(0, 8))
    .u8(0)
    .u16(serverCapabilities & 0xffff)
    .u8(Charset.utf8mb4)
    .u16(ServerStatus.AUTOCOMMIT)
    .u16((serverCapabilities >>> 16) & 0xffff)
    .u8(scramble.length + 1)
    .zeros(10)
    .push(scramble.subarray(8))
    .u8(0)
    .nulString(nativePasswordPlugin)
    .build();
}

export interface HandshakeResponse {
  capabilities: number;
  maxPacketBytes: number;
  charset: number;
  user: string;
  authResponse: Buffer;
  database: string | undefined;
  /** The plugin the client answered for; undefined when it does not speak PLUGIN_AUTH. */
  authPlugin: string | undefined;
  /** The client asked for TLS (an SSLRequest): this server does not offer it. */
  sslRequest: boolean;
}

/** Parses HandshakeResponse41 (or an SSLRequest, flagged). Throws MalformedPacketError. */
export function parseHandshakeResponse(payload: Buffer): HandshakeResponse {
  const r = new PayloadReader(payload);
  const capabilities = r.u32('the client capabilities');
  if ((capabilities & Capability.PROTOCOL_41) === 0) {
    throw new MalformedPacketError('the client does not speak protocol 4.1 (HandshakeResponse320)');
  }
  const maxPacketBytes = r.u32('max packet size');
  const charset = r.u8('the character set');
  r.bytes(23, 'the filler');
  const base = { capabilities, maxPacketBytes, charset };
  if (r.remaining === 0 && (capabilities & Capability.SSL) !== 0) {
    return {
      ...base,
      user: '',
      authResponse: Buffer.alloc(0),
      database: undefined,
      authPlugin: undefined,
      sslRequest: true,
    };
  }
  const user = r.nulString('the user name');
  let authResponse: Buffer;
  if (capabilities & Capability.PLUGIN_AUTH_LENENC_CLIENT_DATA)
    authResponse = r.lenencBytes('the auth response');
  else if (capabilities & Capability.SECURE_CONNECTION)
    authResponse = r.bytes(r.u8('the auth response length'));
  else authResponse = Buffer.from(r.nulString('the auth response'), 'utf8');
  let database: string | undefined;
  if (capabilities & Capability.CONNECT_WITH_DB && r.remaining > 0) {
    database = r.nulString('the database name', true);
    if (database === '') database = undefined;
  }
  let authPlugin: string | undefined;
  if (capabilities & Capability.PLUGIN_AUTH && r.remaining > 0)
    authPlugin = r.nulString('the auth plugin', true);
  // Connection attributes (CONNECT_ATTRS) follow; they are not used.
  return { ...base, user, authResponse: Buffer.from(authResponse), database, authPlugin, sslRequest: false };
}

/** AuthSwitchRequest to mysql_native_password with the same challenge. */
export function authSwitchRequest(scramble: Buffer): Buffer {
  return new PayloadWriter().u8(0xfe).nulString(nativePasswordPlugin).push(scramble).u8(0).build();
}

const sha1 = (...parts: Buffer[]): Buffer => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

/** What a client sends for `password` under mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))). */
export function nativePasswordToken(password: string, scramble: Buffer): Buffer {
  if (password === '') return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, 'utf8'));
  const stage2 = sha1(stage1);
  const mask = sha1(scramble, stage2);
  const token = Buffer.allocUnsafe(stage1.length);
  for (let i = 0; i < token.length; i++) token[i] = stage1[i]! ^ mask[i]!;
  return token;
}

/** Whether `token` proves knowledge of `password` for this challenge (constant time). */
export function verifyNativePassword(password: string, scramble: Buffer, token: Buffer): boolean {
  const expected = nativePasswordToken(password, scramble);
  if (expected.length !== token.length) return false;
  return expected.length === 0 || timingSafeEqual(expected, token);
}
