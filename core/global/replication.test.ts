import { describe, expect, it } from 'vitest';
import { placeBatch, replicationLagMs, synchronizationStatus } from './replication.ts';

describe('placeBatch', () => {
  it('a batch wholly at or below the shipped tail is a duplicate', () => {
    expect(placeBatch(100n, { prevLsn: 50n, lastLsn: 100n })).toBe('duplicate');
    expect(placeBatch(100n, { prevLsn: 0n, lastLsn: 60n })).toBe('duplicate');
  });

  it('a batch whose predecessor is at or below the tail and that ends above it continues the log', () => {
    expect(placeBatch(100n, { prevLsn: 100n, lastLsn: 120n })).toBe('continues');
    // Overlapping a redelivered prefix: only the records above the tail are shipped.
    expect(placeBatch(100n, { prevLsn: 80n, lastLsn: 120n })).toBe('continues');
    expect(placeBatch(0n, { prevLsn: 0n, lastLsn: 1n })).toBe('continues');
  });

  it('a batch whose predecessor is above the tail leaves a gap (sparse LSNs do not matter)', () => {
    expect(placeBatch(100n, { prevLsn: 101n, lastLsn: 120n })).toBe('gap');
    expect(placeBatch(0n, { prevLsn: 5n, lastLsn: 9n })).toBe('gap');
  });

  it('refuses a header that ends at or below its predecessor', () => {
    expect(() => placeBatch(0n, { prevLsn: 5n, lastLsn: 5n })).toThrow(/ends above its predecessor/);
  });
});

describe('replicationLagMs', () => {
  it('is 0 when the secondary holds the primary newest commit', () => {
    expect(
      replicationLagMs({ nowMs: 10_000, secondaryCommitTimeMs: 1_000, secondaryVdl: 50n, primaryVdl: 50n }),
    ).toBe(0);
  });

  it('is now minus the commit time of the newest commit visible on the secondary while the primary is ahead', () => {
    expect(
      replicationLagMs({ nowMs: 10_000, secondaryCommitTimeMs: 9_750, secondaryVdl: 40n, primaryVdl: 50n }),
    ).toBe(250);
  });

  it('with no commit on the secondary yet, counts from the primary commit it lacks, and never goes negative', () => {
    expect(
      replicationLagMs({
        nowMs: 10_000,
        secondaryCommitTimeMs: 0,
        secondaryVdl: 0n,
        primaryVdl: 50n,
        primaryCommitTimeMs: 9_000,
      }),
    ).toBe(1_000);
    expect(
      replicationLagMs({ nowMs: 10_000, secondaryCommitTimeMs: 0, secondaryVdl: 0n, primaryVdl: 50n }),
    ).toBe(0);
    expect(
      replicationLagMs({ nowMs: 10_000, secondaryCommitTimeMs: 10_500, secondaryVdl: 1n, primaryVdl: 50n }),
    ).toBe(0);
  });
});

describe('synchronizationStatus', () => {
  it('is connected while the applier answers, pending-resync otherwise', () => {
    expect(synchronizationStatus(true)).toBe('connected');
    expect(synchronizationStatus(false)).toBe('pending-resync');
  });
});
