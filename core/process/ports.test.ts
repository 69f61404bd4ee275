import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ephemeralRangeStart, freePorts } from './ports.ts';

describe('freePorts', () => {
  it('returns distinct ports below the ephemeral range that can be bound', async () => {
    const ports = await freePorts(24);
    expect(new Set(ports).size).toBe(24);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(ephemeralRangeStart());
    }
    // Every one is free now (the picker let go of them).
    for (const port of ports.slice(0, 4)) {
      await new Promise<void>((resolve, reject) => {
        const server = createServer();
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => server.close(() => resolve()));
      });
    }
  });
});
