// A client of the storage protocol over one persistent TCP connection: the writer's log shipper,
// readers' page fetches, peer gossip and tests all use it. Requests are pipelined and matched to
// replies by requestId; an error frame becomes a BorealisError with the node's code.
// Per request it costs one map entry: deadlines share one timer per client, and the frames written in
// one tick (a burst of commits, a reader's page fetches) leave in one write on the socket.
// A connection that answers nothing for a whole request timeout is dropped (and a connect that takes
// as long is abandoned): after a network partition, TCP would otherwise keep retransmitting into the
// old connection, or its SYN, with exponential backoff — tens of seconds after the network healed.
import { connect, type Socket } from 'node:net';
import { BorealisError, ErrorCode } from '../errors.ts';
import { encodeFrame, FrameDecoder } from './frame.ts';
import { decodeMessage, encodeMessage, type StorageMessage } from './messages.ts';

export interface StorageClientOptions {
  host: string;
  port: number;
  /** Default deadline of one request, connection included. */
  requestTimeoutMs?: number;
  /** For error messages and logs, e.g. the node id. */
  name?: string;
}

interface Pending {
  resolve: (message: StorageMessage) => void;
  reject: (error: Error) => void;
  /** performance.now() past which the request fails with TIMEOUT. */
  deadlineMs: number;
  timeoutMs: number;
  type: number;
  /** performance.now() when the request was made. */
  sentAtMs: number;
}

const requestTimeoutMsDefault = 10_000;

export class StorageClient {
  readonly name: string;
  #socket: Socket | undefined;
  #connecting: Promise<Socket> | undefined;
  /** The socket of #connecting, so a connect that outlives a request's deadline can be abandoned. */
  #connectingSocket: Socket | undefined;
  /** performance.now() of the last bytes received, on any connection. */
  #lastReceivedMs = Number.NEGATIVE_INFINITY;
  /** Connections dropped because they answered nothing for a whole request timeout. */
  staleConnectionsDropped = 0;
  #decoder = new FrameDecoder();
  #pending = new Map<number, Pending>();
  #nextRequestId = 1;
  #closed = false;
  /** The one deadline timer, armed for the earliest deadline it knew of (a later one re-arms it). */
  #deadlineTimer: NodeJS.Timeout | undefined;
  #deadlineTimerAtMs = Number.POSITIVE_INFINITY;
  /** Requests waiting for the connection: a request made meanwhile must queue behind them. */
  #waitingForSocket = 0;
  /** The socket is corked until the end of this tick. */
  #corked: Socket | undefined;

  constructor(readonly options: StorageClientOptions) {
    this.name = options.name ?? `${options.host}:${options.port}`;
  }

  get connected(): boolean {
    return this.#socket !== undefined;
  }

  /** Sends one message and resolves with the reply; rejects with a BorealisError. */
  request(message: StorageMessage, timeoutMs = this.options.requestTimeoutMs ?? requestTimeoutMsDefault) {
    const { type, body } = encodeMessage(message);
    return this.requestRaw(type, body, timeoutMs);
  }

  /** Like request() for a frame built by hand (tests of the server's error handling use it). */
  requestRaw(
    type: number,
    body: Uint8Array,
    timeoutMs = this.options.requestTimeoutMs ?? requestTimeoutMsDefault,
    corrupt?: (frame: Buffer) => Buffer,
  ): Promise<StorageMessage> {
    const requestId = this.#nextRequestId;
    this.#nextRequestId = this.#nextRequestId === 0xffff_ffff ? 1 : this.#nextRequestId + 1;
    let frame = encodeFrame(type, requestId, body);
    if (corrupt) frame = corrupt(frame);
    return new Promise<StorageMessage>((resolve, reject) => {
      const sentAtMs = performance.now();
      const deadlineMs = sentAtMs + timeoutMs;
      this.#pending.set(requestId, { resolve, reject, deadlineMs, timeoutMs, type, sentAtMs });
      this.#armDeadline(deadlineMs);
      const socket = this.#socket;
      if (socket !== undefined && this.#waitingForSocket === 0) {
        this.#write(socket, frame);
        return;
      }
      this.#waitingForSocket++;
      this.#socketReady().then(
        (socket) => {
          this.#waitingForSocket--;
          if (this.#pending.has(requestId)) this.#write(socket, frame);
        },
        (error: Error) => {
          this.#waitingForSocket--;
          this.#settle(requestId, error);
        },
      );
    });
  }

  /** Writes now or, with other frames of this tick, in one write when the tick ends. */
  #write(socket: Socket, frame: Buffer): void {
    if (this.#corked !== socket) {
      this.#corked = socket;
      socket.cork();
      process.nextTick(() => {
        this.#corked = undefined;
        socket.uncork();
      });
    }
    socket.write(frame);
  }

  #armDeadline(deadlineMs: number): void {
    if (deadlineMs >= this.#deadlineTimerAtMs) return;
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimerAtMs = deadlineMs;
    // Unref: the connection, not a deadline, is what keeps a process with requests in flight alive.
    this.#deadlineTimer = setTimeout(
      () => this.#expire(),
      Math.max(0, deadlineMs - performance.now()),
    ).unref();
  }

  /** Fails the requests past their deadline and re-arms the timer for the earliest one left. */
  #expire(): void {
    this.#deadlineTimer = undefined;
    this.#deadlineTimerAtMs = Number.POSITIVE_INFINITY;
    const now = performance.now();
    let next = Number.POSITIVE_INFINITY;
    let silent = false;
    for (const [requestId, pending] of this.#pending) {
      if (pending.deadlineMs <= now) {
        // Not a byte came back since this request was made: the connection (or the connect) is dead.
        if (this.#lastReceivedMs < pending.sentAtMs) silent = true;
        this.#settle(
          requestId,
          new BorealisError(ErrorCode.TIMEOUT, `${this.name}: no reply within ${pending.timeoutMs} ms`, {
            context: { node: this.name, requestId, type: pending.type },
          }),
        );
      } else if (pending.deadlineMs < next) {
        next = pending.deadlineMs;
      }
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armDeadline(next);
    if (!silent) return;
    const socket = this.#socket;
    if (socket !== undefined) {
      // Detached before it is destroyed, so a request made before its 'close' takes a new connection.
      this.staleConnectionsDropped++;
      this.#socket = undefined;
      this.#failAll(
        new BorealisError(ErrorCode.UNAVAILABLE, `${this.name}: connection answered nothing; dropped`, {
          context: { node: this.name },
        }),
      );
      socket.destroy();
    } else if (this.#connectingSocket !== undefined) {
      // Its 'close' rejects the connect and whatever waits on it: the next request connects anew.
      this.staleConnectionsDropped++;
      this.#connectingSocket.destroy();
    }
  }

  /** Writes raw bytes on the connection (for tests that send garbage). */
  async writeRaw(bytes: Uint8Array): Promise<void> {
    const socket = await this.#socketReady();
    socket.write(bytes);
  }

  close(): void {
    this.#closed = true;
    this.#socket?.destroy();
    this.#failAll(new BorealisError(ErrorCode.UNAVAILABLE, `${this.name}: client closed`));
    clearTimeout(this.#deadlineTimer);
    this.#deadlineTimer = undefined;
    this.#deadlineTimerAtMs = Number.POSITIVE_INFINITY;
  }

  #socketReady(): Promise<Socket> {
    if (this.#closed)
      return Promise.reject(new BorealisError(ErrorCode.UNAVAILABLE, `${this.name}: client closed`));
    if (this.#socket) return Promise.resolve(this.#socket);
    if (this.#connecting) return this.#connecting;
    this.#connecting = new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host: this.options.host, port: this.options.port });
      this.#connectingSocket = socket;
      socket.setNoDelay(true);
      socket.once('connect', () => {
        this.#socket = socket;
        this.#connecting = undefined;
        this.#connectingSocket = undefined;
        this.#decoder = new FrameDecoder();
        resolve(socket);
      });
      socket.on('data', (chunk: Buffer) => this.#onData(chunk));
      socket.on('error', () => {
        // 'close' follows and does the bookkeeping.
      });
      socket.once('close', () => {
        const wasConnected = this.#socket === socket;
        if (!wasConnected && this.#connectingSocket !== socket) return;
        this.#socket = undefined;
        this.#connecting = undefined;
        this.#connectingSocket = undefined;
        const error = new BorealisError(
          ErrorCode.UNAVAILABLE,
          wasConnected ? `${this.name}: connection lost` : `${this.name}: cannot connect`,
          { context: { node: this.name } },
        );
        if (!wasConnected) reject(error);
        this.#failAll(error);
      });
    });
    return this.#connecting;
  }

  #onData(chunk: Buffer): void {
    this.#lastReceivedMs = performance.now();
    for (const item of this.#decoder.push(chunk)) {
      if (item.kind === 'error') {
        if (item.requestId !== undefined) {
          this.#settle(item.requestId, new BorealisError(item.code, `${this.name}: ${item.message}`));
        }
        if (item.fatal) this.#socket?.destroy();
        continue;
      }
      let message: StorageMessage;
      try {
        message = decodeMessage(item.type, item.body);
      } catch (error) {
        this.#settle(item.requestId, error as Error);
        continue;
      }
      if (message.type === 'error') {
        this.#settle(
          item.requestId,
          new BorealisError(message.code, `${this.name}: ${message.message}`, {
            context: { node: this.name },
          }),
        );
      } else {
        this.#settle(item.requestId, undefined, message);
      }
    }
  }

  #settle(requestId: number, error: Error | undefined, message?: StorageMessage): void {
    const pending = this.#pending.get(requestId);
    if (!pending) return;
    this.#pending.delete(requestId);
    if (error) pending.reject(error);
    else pending.resolve(message!);
  }

  #failAll(error: Error): void {
    for (const [id] of this.#pending) this.#settle(id, error);
  }
}

/** Narrows a reply to the expected type; anything else is a protocol violation by the peer. */
export function expectReply<T extends StorageMessage['type']>(
  reply: StorageMessage,
  type: T,
): Extract<StorageMessage, { type: T }> {
  if (reply.type !== type) {
    throw new BorealisError(ErrorCode.MALFORMED_FRAME, `expected a ${type} reply, got ${reply.type}`);
  }
  return reply as Extract<StorageMessage, { type: T }>;
}
