// Keep-alive HTTP/1.1 connections to one instance, for the one exchange the proxy has with it: a POST
// of a JSON body, answered with a status, headers and a body. Node's http client allocates a request,
// a response stream and a dozen listeners per exchange, which cost the proxy about a fifth of its CPU;
// here an exchange is one write of head and body together and an incremental parse of the answer.
// What a send became — answered, never sent, or broken after it may have reached the instance — is
// reported exactly as the outcome policy needs it.
import type { IncomingHttpHeaders } from 'node:http';
import { connect, type Socket } from 'node:net';
import { assert } from '../../core/assert.ts';

export interface PoolOptions {
  host: string;
  port: number;
  /** Connections open at once; more sends wait for one to be free. */
  socketsMax: number;
  /** An idle connection is closed after this long. */
  idleMs: number;
  /** Larger answers fail the exchange (the connection is closed). */
  responseBytesMax: number;
}

export interface PoolResponse {
  status: number;
  /** Names in lower case; a repeated header's values joined with ", ". */
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type ExchangeResult =
  | { kind: 'response'; response: PoolResponse }
  /** reached: the request was written on an open connection, so the instance may have received it. */
  | { kind: 'failed'; reached: boolean; error: Error };

/** A send in progress: `cancel` fails it with `error` (and closes its connection if it has one). */
export interface Exchange {
  cancel(error: Error): void;
}

/** Largest response head accepted: status line and headers. */
const headBytesMax = 64 * 1024;
const headEnd = Buffer.from('\r\n\r\n');
const crlf = Buffer.from('\r\n');

interface Pending {
  request: Buffer;
  done: (result: ExchangeResult) => void;
  connection: Connection | undefined;
  settled: boolean;
}

export class BackendPool {
  readonly #options: PoolOptions;
  readonly #idle: Connection[] = [];
  readonly #waiting: Pending[] = [];
  #open = 0;
  #closed = false;

  constructor(options: PoolOptions) {
    assert(options.socketsMax > 0, 'a backend pool needs at least one connection');
    this.#options = options;
  }

  /** Sends `POST path` with a JSON body; `done` is called exactly once, never before send returns. */
  send(path: string, body: Buffer, done: (result: ExchangeResult) => void): Exchange {
    const pending: Pending = {
      request: encodeRequest(this.#options, path, body),
      done,
      connection: undefined,
      settled: false,
    };
    if (this.#closed) {
      const error = new Error('backend pool closed');
      queueMicrotask(() => this.#settle(pending, { kind: 'failed', reached: false, error }));
    } else {
      const connection = this.#idle.pop();
      if (connection !== undefined) connection.start(pending);
      else if (this.#open < this.#options.socketsMax) this.#connect(pending);
      else this.#waiting.push(pending);
    }
    return {
      cancel: (error) => {
        if (pending.settled) return;
        const index = this.#waiting.indexOf(pending);
        if (index >= 0) this.#waiting.splice(index, 1);
        if (pending.connection !== undefined) pending.connection.fail(error);
        else this.#settle(pending, { kind: 'failed', reached: false, error });
      },
    };
  }

  /** Closes every connection; sends still waiting for one fail as never sent. */
  close(error: Error): void {
    this.#closed = true;
    for (const pending of this.#waiting.splice(0))
      this.#settle(pending, { kind: 'failed', reached: false, error });
    for (const connection of this.#idle.splice(0)) connection.destroy();
  }

  #settle(pending: Pending, result: ExchangeResult): void {
    if (pending.settled) return;
    pending.settled = true;
    pending.done(result);
  }

  #connect(pending: Pending): void {
    this.#open++;
    const connection = new Connection(this.#options, {
      settle: (p, result) => this.#settle(p, result),
      free: (c) => this.#free(c),
      gone: (c) => this.#gone(c),
    });
    connection.open(pending);
  }

  /** A connection finished an exchange and can take another. */
  #free(connection: Connection): void {
    const next = this.#waiting.shift();
    if (next !== undefined) connection.start(next);
    else if (this.#closed) connection.destroy();
    else this.#idle.push(connection);
  }

  /** A connection closed: it no longer counts, and a waiting send may open another. */
  #gone(connection: Connection): void {
    this.#open--;
    const index = this.#idle.indexOf(connection);
    if (index >= 0) this.#idle.splice(index, 1);
    const next = this.#closed ? undefined : this.#waiting.shift();
    if (next !== undefined) this.#connect(next);
  }
}

interface ConnectionEvents {
  settle: (pending: Pending, result: ExchangeResult) => void;
  free: (connection: Connection) => void;
  gone: (connection: Connection) => void;
}

/** One TCP connection: one exchange at a time (no pipelining), kept open between them. */
class Connection {
  readonly #options: PoolOptions;
  readonly #events: ConnectionEvents;
  #socket: Socket | undefined;
  #connected = false;
  #current: Pending | undefined;
  #parser = new ResponseParser(0);
  #gone = false;

  constructor(options: PoolOptions, events: ConnectionEvents) {
    this.#options = options;
    this.#events = events;
  }

  open(first: Pending): void {
    this.#current = first;
    first.connection = this;
    const socket = connect({ host: this.#options.host, port: this.#options.port });
    this.#socket = socket;
    socket.setNoDelay(true);
    socket.once('connect', () => {
      this.#connected = true;
      const current = this.#current;
      if (current !== undefined) this.#write(current);
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('timeout', () => {
      // Idle past idleMs: closed here, before the instance's keep-alive timeout closes it under a send.
      if (this.#current === undefined) this.destroy();
    });
    let failure: Error | undefined;
    socket.on('error', (error) => {
      // 'close' follows and does the bookkeeping.
      failure ??= error;
    });
    socket.once('close', () =>
      this.#closed(
        failure ??
          new Error(
            this.#connected ? 'the instance closed the connection' : 'cannot connect to the instance',
          ),
      ),
    );
  }

  /** Starts an exchange on this idle, connected connection. */
  start(pending: Pending): void {
    assert(this.#current === undefined, 'an exchange started on a busy backend connection');
    this.#current = pending;
    pending.connection = this;
    this.#socket!.setTimeout(0);
    this.#write(pending);
  }

  /** Fails the exchange in flight, closing the connection (its answer can no longer be matched). */
  fail(error: Error): void {
    const current = this.#current;
    if (current === undefined) return;
    this.#current = undefined;
    this.#events.settle(current, { kind: 'failed', reached: this.#connected, error });
    this.destroy();
  }

  destroy(): void {
    this.#socket?.destroy();
  }

  #write(pending: Pending): void {
    this.#parser = new ResponseParser(this.#options.responseBytesMax);
    this.#socket!.write(pending.request);
  }

  #onData(chunk: Buffer): void {
    const current = this.#current;
    if (current === undefined) {
      // Bytes nobody asked for: this connection can no longer be trusted to match answers.
      this.destroy();
      return;
    }
    let parsed: ParseResult;
    try {
      parsed = this.#parser.push(chunk);
    } catch (error) {
      this.fail(error as Error);
      return;
    }
    if (parsed === 'more') return;
    this.#current = undefined;
    this.#events.settle(current, { kind: 'response', response: parsed.response });
    if (parsed.keepAlive && parsed.rest === 0) {
      this.#socket!.setTimeout(this.#options.idleMs);
      this.#events.free(this);
    } else {
      this.destroy();
    }
  }

  #closed(error: Error): void {
    if (this.#gone) return;
    this.#gone = true;
    const current = this.#current;
    this.#current = undefined;
    if (current !== undefined) {
      // An answer without a length ends with the connection.
      const ended = this.#parser.end();
      if (ended !== undefined) this.#events.settle(current, { kind: 'response', response: ended });
      else this.#events.settle(current, { kind: 'failed', reached: this.#connected, error });
    }
    this.#events.gone(this);
  }
}

function encodeRequest(options: PoolOptions, path: string, body: Buffer): Buffer {
  assert(/^\/[A-Za-z0-9/_-]*$/.test(path), () => `path ${path} is not one the proxy sends`);
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const head =
    `POST ${path} HTTP/1.1\r\nHost: ${host}:${options.port}\r\n` +
    `Content-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n`;
  const headBytes = Buffer.byteLength(head, 'latin1');
  const request = Buffer.allocUnsafe(headBytes + body.length);
  request.write(head, 0, 'latin1');
  body.copy(request, headBytes);
  return request;
}

type ParseResult = 'more' | { response: PoolResponse; keepAlive: boolean; rest: number };

/**
 * The answer to one request, fed as it arrives: the head, then a body framed by Content-Length, by
 * chunked transfer coding, or by the end of the connection. Throws on anything malformed or too large.
 */
export class ResponseParser {
  readonly #bytesMax: number;
  #buffered: Buffer = Buffer.alloc(0);
  #status = 0;
  #headers: IncomingHttpHeaders | undefined;
  #keepAlive = true;
  #framing: 'length' | 'chunked' | 'close' = 'length';
  #length = 0;
  #bodyChunks: Buffer[] = [];
  #bodyBytes = 0;
  /** Chunked: bytes of the current chunk still to read, or -1 when a size line comes next. */
  #chunkLeft = -1;
  #trailers = false;

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax;
  }

  push(chunk: Buffer): ParseResult {
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    if (this.#headers === undefined && !this.#parseHead()) return 'more';
    switch (this.#framing) {
      case 'length':
        return this.#lengthBody();
      case 'chunked':
        return this.#chunkedBody();
      case 'close':
        this.#take(this.#buffered.length);
        return 'more';
    }
  }

  /** The connection ended: the answer, if its framing lets the end complete it. */
  end(): PoolResponse | undefined {
    if (this.#headers === undefined || this.#framing !== 'close') return undefined;
    return this.#response();
  }

  #parseHead(): boolean {
    for (;;) {
      const end = this.#buffered.indexOf(headEnd);
      if (end < 0) {
        if (this.#buffered.length > headBytesMax)
          throw new Error('the instance sent an oversized response head');
        return false;
      }
      const lines = this.#buffered.toString('latin1', 0, end).split('\r\n');
      this.#buffered = this.#buffered.subarray(end + headEnd.length);
      const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!);
      if (status === null)
        throw new Error(`the instance sent a malformed status line: ${lines[0]!.slice(0, 80)}`);
      const code = Number(status[2]);
      // 1xx answers precede the real one.
      if (code < 200) continue;
      const headers: IncomingHttpHeaders = {};
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon <= 0) throw new Error('the instance sent a malformed header line');
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line.slice(colon + 1).trim();
        const before = headers[name];
        headers[name] = before === undefined ? value : `${before}, ${value}`;
      }
      this.#status = code;
      this.#headers = headers;
      const connection = String(headers.connection ?? '').toLowerCase();
      this.#keepAlive = status[1] === '1' ? !connection.includes('close') : connection.includes('keep-alive');
      const encoding = String(headers['transfer-encoding'] ?? '').toLowerCase();
      if (encoding !== '') {
        if (!encoding.endsWith('chunked')) throw new Error(`the instance sent transfer-encoding ${encoding}`);
        this.#framing = 'chunked';
      } else if (headers['content-length'] !== undefined) {
        const length = String(headers['content-length']);
        if (!/^\d+$/.test(length)) throw new Error('the instance sent a malformed content-length');
        this.#framing = 'length';
        this.#length = Number(length);
        if (this.#length > this.#bytesMax)
          throw new Error(`the instance's answer exceeds ${this.#bytesMax} bytes`);
      } else {
        this.#framing = 'close';
        this.#keepAlive = false;
      }
      return true;
    }
  }

  #lengthBody(): ParseResult {
    const need = this.#length - this.#bodyBytes;
    if (this.#buffered.length < need) {
      this.#take(this.#buffered.length);
      return 'more';
    }
    this.#take(need);
    return { response: this.#response(), keepAlive: this.#keepAlive, rest: this.#buffered.length };
  }

  #chunkedBody(): ParseResult {
    for (;;) {
      if (this.#trailers) {
        const end = this.#buffered.indexOf(crlf);
        if (end < 0) return 'more';
        this.#buffered = this.#buffered.subarray(end + crlf.length);
        // An empty line ends the trailers, and the answer.
        if (end === 0)
          return { response: this.#response(), keepAlive: this.#keepAlive, rest: this.#buffered.length };
        continue;
      }
      if (this.#chunkLeft < 0) {
        const end = this.#buffered.indexOf(crlf);
        if (end < 0) {
          if (this.#buffered.length > 1024) throw new Error('the instance sent a malformed chunk size');
          return 'more';
        }
        const size = this.#buffered.toString('latin1', 0, end).split(';', 1)[0]!.trim();
        if (!/^[0-9a-fA-F]{1,8}$/.test(size)) throw new Error('the instance sent a malformed chunk size');
        this.#buffered = this.#buffered.subarray(end + crlf.length);
        this.#chunkLeft = Number.parseInt(size, 16);
        if (this.#chunkLeft === 0) {
          this.#trailers = true;
          continue;
        }
        if (this.#bodyBytes + this.#chunkLeft > this.#bytesMax)
          throw new Error(`the instance's answer exceeds ${this.#bytesMax} bytes`);
      }
      // The chunk's data, then its CRLF.
      if (this.#buffered.length < this.#chunkLeft + crlf.length) {
        const n = Math.min(this.#chunkLeft, this.#buffered.length);
        this.#take(n);
        this.#chunkLeft -= n;
        return 'more';
      }
      this.#take(this.#chunkLeft);
      if (!this.#buffered.subarray(0, crlf.length).equals(crlf))
        throw new Error('the instance sent a malformed chunk');
      this.#buffered = this.#buffered.subarray(crlf.length);
      this.#chunkLeft = -1;
    }
  }

  /** Moves n buffered bytes into the body. */
  #take(n: number): void {
    if (n === 0) return;
    if (this.#bodyBytes + n > this.#bytesMax)
      throw new Error(`the instance's answer exceeds ${this.#bytesMax} bytes`);
    this.#bodyChunks.push(this.#buffered.subarray(0, n));
    this.#bodyBytes += n;
    this.#buffered = this.#buffered.subarray(n);
  }

  #response(): PoolResponse {
    const body =
      this.#bodyChunks.length === 1 ? this.#bodyChunks[0]! : Buffer.concat(this.#bodyChunks, this.#bodyBytes);
    return { status: this.#status, headers: this.#headers!, body };
  }
}
