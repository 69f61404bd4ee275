// The writer's redo stream to readers (binary TCP): every shipped record, in LSN order, and VDL as
// it moves, pushed to each subscriber as RedoBatch frames. A bounded buffer of recent records lets a
// reader that reconnects catch up; one that fell behind the buffer is told to resync from storage.
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

interface Subscriber {
  socket: Socket;
  requestId: number;
  queue: RedoRecord[];
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
    logger: Logger;
    vdl: Lsn;
    pgTails: () => Map<number, Lsn>;
  }): Promise<RedoStreamServer> {
    let self: RedoStreamServer | undefined;
    const server = createServer((socket) => self!.#accept(socket));
    self = new RedoStreamServer(server, options.logger, options.vdl, options.pgTails);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, '127.0.0.1', () => resolve());
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
          subscriber = { socket, requestId: item.requestId, queue: [] };
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
      subscriber.queue = [...this.#buffer.filter((r) => r.lsn > this.#vdl)];
    } else {
      subscriber.queue = this.#buffer.filter((r) => r.lsn > fromLsn);
    }
    this.#subscribers.add(subscriber);
    this.logger.info(
      { fromLsn: fromLsn.toString(), subscribers: this.#subscribers.size },
      'reader subscribed',
    );
    this.#scheduleFlush();
  }

  /** Records just shipped to storage (not yet durable: readers apply them once VDL passes them). */
  publish(records: RedoRecord[]): void {
    for (const r of records) {
      this.#buffer.push(r);
      this.#bufferBytes += encodedRecordLength(r);
    }
    while (this.#bufferBytes > bufferBytesMax && this.#buffer.length > 0) {
      const dropped = this.#buffer.shift()!;
      this.#bufferBytes -= encodedRecordLength(dropped);
      this.#bufferFloor = dropped.lsn;
    }
    for (const s of this.#subscribers) s.queue.push(...records);
    this.#scheduleFlush();
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
      for (const s of this.#subscribers) this.#flush(s);
    });
  }

  #flush(s: Subscriber): void {
    if (s.socket.writableLength > socketBacklogBytesMax) {
      this.logger.warn('dropping a reader that does not keep up with the redo stream');
      s.socket.destroy();
      return;
    }
    do {
      let bytes = 0;
      let n = 0;
      while (n < s.queue.length && bytes < batchBytesMax) bytes += encodedRecordLength(s.queue[n++]!);
      const records = s.queue.splice(0, n);
      this.#send(s.socket, s.requestId, { type: 'redoBatch', vdl: this.#vdl, records });
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
