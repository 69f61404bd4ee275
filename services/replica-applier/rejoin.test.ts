import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../core/log.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { StorageClient } from '../../core/wire/client.ts';
import type { RecoveredVolume } from '../writer/recovery.ts';
import { discardDivergentSuffix } from './rejoin.ts';

/** A loopback port nothing listens on (taken, then let go). */
async function deadPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('the rejoin discard', () => {
  it('does not void anything while a storage node cannot tell its log bases: it fails, retryable, naming the node', async () => {
    const client = new StorageClient({ host: '127.0.0.1', port: await deadPort(), requestTimeoutMs: 200 });
    let truncating = false;
    try {
      const discard = discardDivergentSuffix({
        volume: {} as VolumeConfig, // not reached: the check comes first
        clients: new Map([['us-east-1a-1', client]]),
        logger: createLogger('rejoin-test'),
        recovered: { epoch: 3n, vdl: 200n } as RecoveredVolume,
        aboveLsn: 100n,
        keepAbove: 100n,
        beforeTruncation: () => {
          truncating = true;
        },
        nodeWaitMs: 1_000,
      });
      await expect(discard).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        retryable: true,
        message: expect.stringMatching(/storage node us-east-1a-1 did not answer for 1 s/),
      });
      expect(truncating).toBe(false);
    } finally {
      client.close();
    }
  });
});
