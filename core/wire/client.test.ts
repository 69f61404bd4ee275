// The storage client drops a connection that answers nothing for a whole request timeout, and gives
// up a connect that takes as long: the next request goes out on a new connection at once, instead of
// into TCP's retransmission backoff on a connection a partition killed.
import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { StorageClient } from './client.ts';
import { encodeFrame, FrameDecoder } from './frame.ts';
import { decodeMessage, encodeMessage } from './messages.ts';

/** A storage-protocol server answering ping with pong, except on the connections it is told to ignore. */
function pongServer(
  silentConnections: number,
): Promise<{ server: Server; port: number; connections: Socket[] }> {
  const connections: Socket[] = [];
  const server = createServer((socket) => {
    connections.push(socket);
    if (connections.length <= silentConnections) return; // a black hole: reads, never answers
    const decoder = new FrameDecoder();
    socket.on('data', (chunk) => {
      for (const item of decoder.push(chunk)) {
        if (item.kind === 'error') continue;
        if (decodeMessage(item.type, item.body).type !== 'ping') continue;
        const { type, body } = encodeMessage({ type: 'pong' });
        socket.write(encodeFrame(type, item.requestId, body));
      }
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      resolve({ server, port: typeof address === 'object' && address ? address.port : 0, connections });
    }),
  );
}

describe('StorageClient on a dead connection', () => {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) c();
  });

  it('drops a connection that answered nothing for a whole timeout; the next request gets a new one', async () => {
    const { server, port, connections } = await pongServer(1);
    const client = new StorageClient({ host: '127.0.0.1', port, requestTimeoutMs: 200 });
    cleanups.push(() => {
      client.close();
      for (const c of connections) c.destroy();
      server.close();
    });
    await expect(client.request({ type: 'ping' })).rejects.toMatchObject({ code: 'TIMEOUT' });
    expect(client.staleConnectionsDropped).toBe(1);
    expect((await client.request({ type: 'ping' })).type).toBe('pong');
    expect(connections).toHaveLength(2);
  });

  it('keeps a connection that is answering, even when one request times out', async () => {
    const { server, port, connections } = await pongServer(0);
    const client = new StorageClient({ host: '127.0.0.1', port, requestTimeoutMs: 1_000 });
    cleanups.push(() => {
      client.close();
      for (const c of connections) c.destroy();
      server.close();
    });
    expect((await client.request({ type: 'ping' })).type).toBe('pong');
    // A request the server never answers (it only answers ping), while pings keep being answered.
    const unanswered = client.request({ type: 'recoveryInfo', epoch: 0n }, 300);
    const pings = (async () => {
      for (let i = 0; i < 8; i++) {
        await client.request({ type: 'ping' });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await expect(unanswered).rejects.toMatchObject({ code: 'TIMEOUT' });
    await pings;
    expect(client.staleConnectionsDropped).toBe(0);
    expect(connections).toHaveLength(1);
  });
});
