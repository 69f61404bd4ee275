import { describe, expect, it } from 'vitest';
import type { ChunkInfo } from '../backup/archive.ts';
import { planArchiveCut } from './archive-cut.ts';

const chunk = (
  prevLsn: bigint,
  lastLsn: bigint,
  lastCommitLsn: bigint,
  ms = Number(lastCommitLsn),
): ChunkInfo => ({
  key: `k${prevLsn}-${lastLsn}`,
  prevLsn,
  firstLsn: prevLsn + 1n,
  lastLsn,
  lastCommitLsn,
  firstCommitTimeMs: ms,
  lastCommitTimeMs: ms,
  timeline: 0,
});
const watermark = (lsn: bigint, commitLsn: bigint) => ({
  lsn: lsn.toString(),
  commitLsn: commitLsn.toString(),
  commitTimeMs: Number(commitLsn),
  updatedAt: 'before',
});

describe('planArchiveCut', () => {
  const chunks = [chunk(0n, 10n, 10n), chunk(10n, 20n, 18n), chunk(20n, 30n, 0n), chunk(30n, 40n, 40n)];

  it('moves every chunk with a record above the point, a straddling one too, and ends the chain at the last chunk end below it', () => {
    const plan = planArchiveCut(chunks, watermark(40n, 40n), 25n, 'now');
    expect(plan.move).toEqual(['k20-30', 'k30-40']);
    expect(plan.watermark).toEqual({ lsn: '20', commitLsn: '18', commitTimeMs: 18, updatedAt: 'now' });
  });

  it('a chunk without a commit at the end keeps the commit of the chain before it', () => {
    const plan = planArchiveCut(chunks, watermark(40n, 40n), 30n, 'now');
    expect(plan.move).toEqual(['k30-40']);
    expect(plan.watermark).toMatchObject({ lsn: '30', commitLsn: '18' });
  });

  it('a watermark already at or below the point stays; chunks above it (not yet chained) still move', () => {
    const plan = planArchiveCut(chunks, watermark(20n, 18n), 25n, 'now');
    expect(plan.watermark).toEqual(watermark(20n, 18n));
    expect(plan.move).toEqual(['k20-30', 'k30-40']);
  });

  it('nothing archived at or below the point: no watermark', () => {
    expect(planArchiveCut(chunks, watermark(40n, 40n), 5n, 'now')).toEqual({
      move: ['k0-10', 'k10-20', 'k20-30', 'k30-40'],
      watermark: undefined,
    });
    expect(planArchiveCut([], undefined, 5n, 'now')).toEqual({ move: [], watermark: undefined });
  });
});
