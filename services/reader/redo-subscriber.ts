// The reader's connection to the writer's redo stream: subscribes from the last LSN it applied,
// feeds every batch to the engine, and reconnects with backoff when the writer goes away. After a
// failover the control plane points it at the new writer (retarget).
import { connect, type Socket } from 'node:net';
import type { Logger } from '../../core/log.ts';
import type { Lsn } from '../../core/lsn.ts';
import { encodeFrame, FrameDecoder } from '../../core/wire/frame.ts';
import { decodeMessage, encodeMessage } from '../../core/wire/messages.ts';
import type { ReaderEngine } from './reader-engine.ts';

export class RedoSubscriber {
  #socket: Socket | undefined;
  #stopped = false;
  #backoffMs = 50;
  connected = false;
  reconnects = 0;

  constructor(
    private address: { host: string; port: number },
    private readonly engine: ReaderEngine,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.#connect();
  }

  /** host:port of the writer this reader follows. */
  get writerRedo(): string {
    return `${this.address.host}:${this.address.port}`;
  }

  /** Follow another writer (after a failover): drop the current stream and subscribe there. */
  retarget(address: { host: string; port: number }): void {
    if (address.host === this.address.host && address.port === this.address.port) return;
    this.logger.info(
      { from: this.writerRedo, to: `${address.host}:${address.port}` },
      'following a new writer',
    );
    this.address = address;
    this.#backoffMs = 50;
    // The close handler reconnects, now to the new address.
    this.#socket?.destroy();
  }

  #connect(): void {
    if (this.#stopped) return;
    const socket = connect(this.address);
    this.#socket = socket;
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    socket.once('connect', () => {
      this.connected = true;
      this.#backoffMs = 50;
      // A stream starts again from what was applied: records received above VDL before are resent
      // (and after a failover, those above the new writer's VDL were truncated and must never apply).
      this.engine.streamRestarted();
      const fromLsn: Lsn = this.engine.visibleLsn;
      const { type, body } = encodeMessage({ type: 'subscribe', fromLsn });
      socket.write(encodeFrame(type, 1, body));
      this.logger.info({ fromLsn: fromLsn.toString() }, 'subscribed to the redo stream');
    });
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) {
        if (item.kind === 'error') {
          this.logger.warn({ err: item.message }, 'bad frame on the redo stream');
          socket.destroy();
          return;
        }
        const message = decodeMessage(item.type, item.body);
        if (message.type === 'redoBatch') this.engine.receive(message.vdl, message.records);
        else if (message.type === 'resync') {
          this.logger.warn(
            { vdl: message.vdl.toString() },
            'fell behind the redo buffer: resync from storage',
          );
          this.engine.resync(message.vdl, message.pgTails);
        }
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      this.connected = false;
      if (this.#stopped) return;
      this.reconnects++;
      setTimeout(() => this.#connect(), this.#backoffMs);
      this.#backoffMs = Math.min(2_000, this.#backoffMs * 2);
    });
  }

  stop(): void {
    this.#stopped = true;
    this.#socket?.destroy();
  }
}
