// Accept loop of the storage protocol: one FrameDecoder per connection, each request handled by the
// node and answered with a frame carrying the same requestId (replies may come out of order). Any
// rejection is an error frame; the connection and the node stay up.
import { createServer, type Server, type Socket } from 'node:net';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Logger } from '../../core/log.ts';
import { encodeFrame, FrameDecoder } from '../../core/wire/frame.ts';
import { decodeMessage, encodeMessage, type StorageMessage } from '../../core/wire/messages.ts';
import type { StorageMetrics } from './metrics.ts';
import type { StorageNode } from './storage-node.ts';

export function startStorageServer(
  node: StorageNode,
  options: {
    port: number;
    host?: string;
    logger: Logger;
    metrics: StorageMetrics;
    onFatal: (error: Error) => void;
  },
): Promise<Server> {
  const connections = new Set<Socket>();
  const server = createServer((socket) => {
    connections.add(socket);
    socket.setNoDelay(true);
    const decoder = new FrameDecoder();
    const reply = (requestId: number, message: StorageMessage) => {
      if (socket.destroyed) return;
      const { type, body } = encodeMessage(message);
      socket.write(encodeFrame(type, requestId, body));
    };
    const replyError = (requestId: number, error: BorealisError) => {
      options.metrics.rejected.inc({ code: error.code });
      options.logger.debug({ code: error.code, requestId, err: error.message }, 'request rejected');
      reply(requestId, { type: 'error', code: error.code, message: error.message });
    };
    socket.on('data', (chunk: Buffer) => {
      for (const item of decoder.push(chunk)) {
        if (item.kind === 'error') {
          replyError(item.requestId ?? 0, new BorealisError(item.code, item.message));
          if (item.fatal) socket.end();
          continue;
        }
        let message: StorageMessage;
        try {
          message = decodeMessage(item.type, item.body);
        } catch (error) {
          replyError(item.requestId, asProtocolError(error));
          continue;
        }
        node.handle(message).then(
          (answer) => reply(item.requestId, answer),
          (error: unknown) => {
            if (error instanceof BorealisError && error.code !== ErrorCode.INVARIANT_VIOLATION) {
              replyError(item.requestId, error);
              return;
            }
            // A broken invariant or a failed fsync: the node must not carry on (fail-stop).
            replyError(item.requestId, new BorealisError(ErrorCode.INTERNAL, 'storage node failed'));
            options.onFatal(error as Error);
          },
        );
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
  });
  server.on('close', () => {
    for (const s of connections) s.destroy();
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => resolve(server));
  });
}

function asProtocolError(error: unknown): BorealisError {
  if (error instanceof BorealisError) return error;
  return new BorealisError(ErrorCode.MALFORMED_FRAME, `undecodable request: ${String(error)}`, {
    cause: error,
  });
}
