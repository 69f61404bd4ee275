// The writer's redo stream to readers (binary TCP): every shipped record, in LSN order, and VDL as
// it moves, pushed to each subscriber as RedoBatch frames. A bounded buffer of recent records lets a
// reader that reconnects catch up; one that fell behind the buffer is told to resync from storage.
// Records go out with the VDL advance that follows them, not as they are shipped: a reader applies
// nothing above VDL anyway, and one frame per commit instead of two halves the writes per reader.
import { createServer, type Server, type Socket } from 'node:net';
import type { Logger } from '../../core/log.ts';
import type { Lsn } from '../../core/lsn.ts';
import { encodedRecordLength, type RedoRecord } from '../../core/record.ts';
import { encodeFrame, FrameDecoder } from '../../core/wire/frame.ts';
import { decodeMessage, encodeMessage, type StorageMessage } from '../../core/wire/messages.ts';

/** Records kept for readers that reconnect. */
const bufferBytesMax = 64 * 1024 * 1024;
/** A subscriber this far behind on its socket is dropped (it resyncs when it returns). */
const socketBacklogBytesMax = 64 * 1024 * 1024;
const batchBytesMax = 4 * 1024 * 1024;
/** Records queued for a subscriber past this many bytes go out without waiting for VDL to move. */
const queueBytesFlushMin = 1024 * 1024;

interface Subscriber {
  socket: Socket;
  requestId: number;
  queue: RedoRecord[];
  queueBytes: number;
}

/** One encoded RedoBatch body, shared by subscribers whose queues hold the same records. */
interface EncodedBatch {
  first: RedoRecord | undefined;
  count: number;
  type: number;
  body: Buffer;
}

export class RedoStreamServer {
  readonly #buffer: RedoRecord[] = [];
  #bufferBytes = 0;
  /** Records at or below this LSN are no longer buffered. */
  #bufferFloor: Lsn;
  #vdl: Lsn;
  readonly #subscribers = new Set<Subscriber>();
  #flushScheduled = false;
  readonly #server: Server;

  private constructor(
    server: Server,
    private readonly logger: Logger,
    startLsn: Lsn,
    private readonly pgTails: () => Map<number, Lsn>,
  ) {
    this.#server = server;
    this.#bufferFloor = startLsn;
    this.#vdl = startLsn;
  }

  static async start(options: {
    port: number;
    /** @default '127.0.0.1' */
    host?: string;
    logger: Logger;
    vdl: Lsn;
    pgTails: () => Map<number, Lsn>;
  }): Promise<RedoStreamServer> {
    let self: RedoStreamServer | undefined;
    const server = createServer((socket) => self!.#accept(socket));
    self = new RedoStreamServer(server, options.logger, options.vdl, options.pgTails);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '127.0.0.1', () => resolve());
    });
    return self;
  }

  get port(): number {
    return (this.#server.address() as { port: number }).port;
  }

  get subscriberCount(): number {
    return this.#subscribers.size;
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    let subscriber: Subscriber | undefined;
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) {
        if (item.kind === 'error') {
          this.#send(socket, item.requestId ?? 0, { type: 'error', code: item.code, message: item.message });
          if (item.fatal) socket.destroy();
          continue;
        }
        let message: StorageMessage;
        try {
          message = decodeMessage(item.type, item.body);
        } catch (error) {
          this.#send(socket, item.requestId, {
            type: 'error',
            code: 'MALFORMED_FRAME',
            message: (error as Error).message,
          });
          continue;
        }
        if (message.type === 'ping') {
          this.#send(socket, item.requestId, { type: 'pong' });
        } else if (message.type === 'subscribe' && !subscriber) {
          subscriber = { socket, requestId: item.requestId, queue: [], queueBytes: 0 };
          this.#subscribe(subscriber, message.fromLsn);
        } else {
          this.#send(socket, item.requestId, {
            type: 'error',
            code: 'UNKNOWN_MESSAGE_TYPE',
            message: `the redo stream does not serve ${message.type}`,
          });
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (subscriber) this.#subscribers.delete(subscriber);
    });
  }

  #subscribe(subscriber: Subscriber, fromLsn: Lsn): void {
    if (fromLsn < this.#bufferFloor) {
      // The records it needs are gone from the buffer: it drops its cache and goes on from here.
      const pgTails = [...this.pgTails()].map(([pg, scl]) => ({ pg, scl }));
      this.#send(subscriber.socket, subscriber.requestId, { type: 'resync', vdl: this.#vdl, pgTails });
      subscriber.queue = this.#buffer.filter((r) => r.lsn > this.#vdl);
    } else {
      subscriber.queue = this.#buffer.filter((r) => r.lsn > fromLsn);
    }
    for (const r of subscriber.queue) subscriber.queueBytes += encodedRecordLength(r);
    this.#subscribers.add(subscriber);
    this.logger.info(
      { fromLsn: fromLsn.toString(), subscribers: this.#subscribers.size },
      'reader subscribed',
    );
    this.#scheduleFlush();
  }

  /** Records just shipped to storage (not yet durable: readers apply them once VDL passes them). */
  publish(records: RedoRecord[]): void {
    let bytes = 0;
    for (const r of records) {
      this.#buffer.push(r);
      bytes += encodedRecordLength(r);
    }
    this.#bufferBytes += bytes;
    while (this.#bufferBytes > bufferBytesMax && this.#buffer.length > 0) {
      const dropped = this.#buffer.shift()!;
      this.#bufferBytes -= encodedRecordLength(dropped);
      this.#bufferFloor = dropped.lsn;
    }
    let large = false;
    for (const s of this.#subscribers) {
      for (const r of records) s.queue.push(r);
      s.queueBytes += bytes;
      if (s.queueBytes >= queueBytesFlushMin) large = true;
    }
    // Otherwise they wait for the VDL advance that makes them applicable (vdlAdvanced).
    if (large) this.#scheduleFlush();
  }

  vdlAdvanced(vdl: Lsn): void {
    this.#vdl = vdl;
    this.#scheduleFlush();
  }

  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      const shared: EncodedBatch[] = [];
      for (const s of this.#subscribers) this.#flush(s, shared);
    });
  }

  #flush(s: Subscriber, shared: EncodedBatch[]): void {
    if (s.socket.writableLength > socketBacklogBytesMax) {
      this.logger.warn('dropping a reader that does not keep up with the redo stream');
      s.socket.destroy();
      return;
    }
    do {
      let bytes = 0;
      let n = 0;
      while (n < s.queue.length && bytes < batchBytesMax) bytes += encodedRecordLength(s.queue[n++]!);
      const first = s.queue[0];
      // Subscribers that keep up hold the same record objects: encode their batch once.
      let batch = shared.find((b) => b.first === first && b.count === n);
      if (batch === undefined) {
        const records = s.queue.slice(0, n);
        const { type, body } = encodeMessage({ type: 'redoBatch', vdl: this.#vdl, records });
        batch = { first, count: n, type, body };
        shared.push(batch);
      }
      s.queue.splice(0, n);
      s.queueBytes = Math.max(0, s.queueBytes - bytes);
      if (!s.socket.destroyed) s.socket.write(encodeFrame(batch.type, s.requestId, batch.body));
    } while (s.queue.length > 0);
  }

  #send(socket: Socket, requestId: number, message: StorageMessage): void {
    if (socket.destroyed) return;
    const { type, body } = encodeMessage(message);
    socket.write(encodeFrame(type, requestId, body));
  }

  close(): void {
    for (const s of this.#subscribers) s.socket.destroy();
    this.#server.close();
  }
}
