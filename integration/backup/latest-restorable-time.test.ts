// The latest restorable time under 1,000 commits/s (issue 6): the real backup pipeline after the
// writer's commit — redo publisher → Kinesis emulator → function runner's backup-archiver → S3
// emulator — fed 1,000 commits/s of redo made in process (bench/backup/pipeline.ts says why), while
// the archive watermark is sampled. It must stay within 5 s of now, and the archived log must be
// gap-free from LSN 0 to the last commit. The figures are printed; `npm run bench:backup` runs longer.
import { describe, expect, it } from 'vitest';
import { runBackupLoad } from '../../bench/backup/pipeline.ts';

describe('continuous backup keeps up with 1,000 commits/s', () => {
  it('keeps the latest restorable time within 5 s of now and the archived log gap-free', async () => {
    const result = await runBackupLoad({
      commitsPerSecond: 1000,
      seconds: 12,
      pagesPerCommit: 3,
      deltaBytes: 120,
    });
    console.log(
      `latest restorable time behind now at ${(result.commits / result.elapsedS).toFixed(0)} commits/s: p50 ${result.behindMs.p50} ms, p99 ${result.behindMs.p99} ms, max ${result.behindMs.max} ms (${result.behindMs.samples} samples); drained ${result.drainedMs} ms after the load`,
    );
    // The generator itself kept the rate (a starved event loop would make this test meaningless).
    expect(result.commits).toBeGreaterThanOrEqual(0.9 * 1000 * 12);
    expect(result.behindMs.samples).toBeGreaterThan(20);
    expect(result.behindMs.max).toBeLessThanOrEqual(5_000);
    expect(result.drainedMs).toBeLessThanOrEqual(5_000);
    expect(result.chainEndLsn).toBe(result.lastLsn);
  }, 120_000);
});
