import { describe, expect, it } from 'vitest';
import * as limits from './limits.ts';

describe('limits', () => {
  it('has the documented values', () => {
    expect(limits.pageSizeBytesDefault).toBe(4096);
    expect(limits.pageSizeBytesMax).toBe(65536);
    expect(limits.frameSizeBytesMax).toBe(16 * 1024 * 1024);
    expect(limits.recordsPerAppendMax).toBe(65536);
    expect(limits.segmentsPerPg).toBe(6);
    expect(limits.azCount).toBe(3);
    expect(limits.writeQuorum).toBe(4);
    expect(limits.readQuorum).toBe(3);
    expect(limits.fullSegmentsPerPg).toBe(3);
    expect(limits.lsnAllocationLimit).toBe(10_000_000n);
    expect(limits.gossipBytesPerPullMax).toBe(4 * 1024 * 1024);
    expect(limits.recordHeaderBytes).toBe(40);
    expect(limits.recordOverheadBytes).toBe(44);
    expect(limits.frameHeaderBytes).toBe(16);
  });

  it('quorums intersect and survive an AZ (also asserted at load)', () => {
    expect(limits.writeQuorum + limits.readQuorum).toBeGreaterThan(limits.segmentsPerPg);
    expect(2 * limits.writeQuorum).toBeGreaterThan(limits.segmentsPerPg);
    expect(limits.segmentsPerPg - limits.segmentsPerAz).toBeGreaterThanOrEqual(limits.writeQuorum);
    expect(limits.segmentsPerPg - limits.segmentsPerAz - 1).toBeGreaterThanOrEqual(limits.readQuorum);
  });

  it('a maximal record fits a gossip pull, and a pull fits a frame', () => {
    expect(limits.recordPayloadBytesMax + limits.recordOverheadBytes).toBeLessThanOrEqual(
      limits.gossipBytesPerPullMax,
    );
    expect(limits.gossipBytesPerPullMax + limits.messageEnvelopeBytesMax).toBeLessThanOrEqual(
      limits.frameBodyBytesMax,
    );
    expect(limits.recordPayloadBytesMax).toBeGreaterThanOrEqual(limits.pageSizeBytesMax + 12);
  });

  it('every numeric bound is a positive finite number', () => {
    for (const [name, value] of Object.entries(limits)) {
      if (typeof value === 'number') expect(Number.isSafeInteger(value) && value > 0, name).toBe(true);
      if (typeof value === 'bigint') expect(value > 0n, name).toBe(true);
    }
  });
});
