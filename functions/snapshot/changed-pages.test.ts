// The pages changed since a parent snapshot, from an archived log in an S3 double: exactly the pages
// written in (from, to] over chunk boundaries; a wait for the watermark that ends when it reaches
// the snapshot's LSN or stops moving; and "cannot tell" for no archive, a gap or a corrupt chunk.
import { describe, expect, it } from 'vitest';
import { watermarkKey } from '../../core/backup/archive.ts';
import { archiveMarkers } from '../../core/backup/s3-archive.ts';
import { archiveRecords, type PageTransaction, pageImageLog } from '../../core/backup/testing.ts';
import type { RedoRecord } from '../../core/record.ts';
import { addWrittenPages, archivedChanges, chainThrough } from './changed-pages.ts';
import { memoryS3 } from './testing.ts';

const bucket = 'b';
const cluster = 'c';
const image = (n: number) => new Uint8Array(32).fill(n);
/** Transaction t writes pages t+1 and 100+t. */
const txns = (n: number): PageTransaction[] =>
  Array.from({ length: n }, (_, t) => ({
    pages: new Map([
      [t + 1, image(t)],
      [100 + t, image(t)],
    ]),
    commitTimeMs: 1_000 + t,
  }));
/** Commit LSN of transaction t (3 records each, from LSN 1). */
const commitOf = (t: number) => BigInt(3 * (t + 1));
const exact = (fromLsn: bigint, toLsn: bigint) => ({
  fromLsn,
  fromCommitTimeMs: 0,
  toLsn,
  olderPointAllowed: false,
});

function fakeTime() {
  let now = 0;
  const advance = (ms: number) => {
    now += ms;
  };
  return { clock: () => now, sleep: async (ms: number) => advance(ms), advance };
}

describe('pages changed since the parent, from the archived log', () => {
  it('names exactly the pages written in (from, to], across chunks', async () => {
    const s3 = memoryS3(2);
    const records = pageImageLog(0n, txns(12));
    const chunks = await archiveRecords({ s3: s3.client, bucket, cluster }, 0n, records, { maxBytes: 400 });
    expect(chunks.length).toBeGreaterThan(3);
    const changes = archivedChanges({ s3: s3.client, bucket, cluster, ...fakeTime() });
    // After transaction 2's commit, up to transaction 8's: transactions 3..8.
    const result = await changes(exact(commitOf(2), commitOf(8)));
    expect('pages' in result && [...result.pages].sort((a, b) => a - b)).toEqual([
      4, 5, 6, 7, 8, 9, 103, 104, 105, 106, 107, 108,
    ]);
    // A bound inside a transaction counts its records up to the bound only.
    const partial = await changes(exact(commitOf(2), commitOf(2) + 1n));
    expect('pages' in partial && [...partial.pages]).toEqual([4]);
  });

  it('plans the chain through the LSN and reads page records only', () => {
    const chunk = (prevLsn: bigint, lastLsn: bigint) => ({
      key: `k${prevLsn}`,
      prevLsn,
      firstLsn: prevLsn + 1n,
      lastLsn,
      lastCommitLsn: lastLsn,
      firstCommitTimeMs: 0,
      lastCommitTimeMs: 0,
      timeline: 0,
    });
    const chunks = [chunk(0n, 10n), chunk(10n, 20n), chunk(20n, 30n), chunk(30n, 40n)];
    expect(chainThrough(chunks, 5n, 20n)?.map((c) => c.key)).toEqual(['k0', 'k10']);
    expect(chainThrough(chunks, 10n, 21n)?.map((c) => c.key)).toEqual(['k10', 'k20']);
    expect(chainThrough(chunks, 10n, 41n)).toBeUndefined();
    expect(chainThrough([chunks[0]!, chunks[2]!], 0n, 25n)).toBeUndefined();
    const into = new Set<number>();
    addWrittenPages(pageImageLog(0n, txns(2)) as RedoRecord[], 0n, 6n, into);
    expect([...into]).toEqual([1, 100, 2, 101]); // commits (page 0) are not pages
  });

  it('waits for the watermark to reach the snapshot, and gives up when it stops moving', async () => {
    const s3 = memoryS3();
    const target = { s3: s3.client, bucket, cluster };
    const records = pageImageLog(0n, txns(6));
    await archiveRecords(target, 0n, records.slice(0, 9)); // transactions 0..2
    const time = fakeTime();
    let polls = 0;
    const changes = archivedChanges({
      ...target,
      clock: time.clock,
      sleep: async (ms) => {
        time.advance(ms);
        // The archiver catches up on the third poll.
        if (++polls === 3) await archiveRecords(target, commitOf(2), records.slice(9));
      },
    });
    const caughtUp = await changes(exact(commitOf(0), commitOf(5)));
    expect('pages' in caughtUp && caughtUp.pages.size).toBe(10);
    expect(polls).toBe(3);

    // No archiver: the watermark stays below the snapshot, and the wait ends after the stall time.
    const stalled = fakeTime();
    const result = await archivedChanges({ ...target, ...stalled, stallMsMax: 1_000 })(
      exact(commitOf(0), commitOf(5) + 1n),
    );
    expect(result).toEqual({
      unknown: `the archive stopped at LSN ${commitOf(5)}, below the snapshot's ${commitOf(5) + 1n}`,
    });
    expect(stalled.clock()).toBeGreaterThanOrEqual(1_000);
    expect(stalled.clock()).toBeLessThan(2_000);
  });

  it('a scheduled snapshot takes the newest archived commit when the archive trails', async () => {
    const s3 = memoryS3();
    const target = { s3: s3.client, bucket, cluster };
    const records = pageImageLog(0n, txns(6));
    await archiveRecords(target, 0n, records.slice(0, 12)); // transactions 0..3 archived
    const time = fakeTime();
    const changes = archivedChanges({ ...target, ...time, waitForOlderMsMax: 2_000, stallMsMax: 60_000 });
    const older = await changes({
      fromLsn: commitOf(1),
      fromCommitTimeMs: 0,
      toLsn: commitOf(5),
      olderPointAllowed: true,
    });
    expect(older).toMatchObject({ lsn: commitOf(3), commitTimeMs: 1_003 });
    expect('pages' in older && [...older.pages].sort((a, b) => a - b)).toEqual([3, 4, 102, 103]);
    expect(time.clock()).toBeGreaterThanOrEqual(2_000); // it waited for the archive first
    // Asked for "now", it does not settle for less.
    const now = await changes({
      fromLsn: commitOf(1),
      fromCommitTimeMs: 0,
      toLsn: commitOf(5),
      olderPointAllowed: false,
    });
    expect(now).toEqual({ unknown: expect.stringMatching(/reached only LSN/) });
    // Nothing archived after the parent: no point to take.
    const none = await changes({
      fromLsn: commitOf(3),
      fromCommitTimeMs: 0,
      toLsn: commitOf(5),
      olderPointAllowed: true,
    });
    expect(none).toEqual({ unknown: expect.stringMatching(/reached only LSN/) });
  });

  it('cannot tell after a backtrack that took effect after the parent', async () => {
    const s3 = memoryS3();
    const target = { s3: s3.client, bucket, cluster };
    await archiveRecords(target, 0n, pageImageLog(0n, txns(6)));
    const marker = {
      seq: 1,
      epoch: 5n,
      appliedAtMs: 1_004,
      targetLsn: commitOf(1),
      targetTimeMs: 1_001,
      fromLsn: commitOf(5),
    };
    await archiveMarkers(s3.client, bucket, cluster, [marker]);
    const changes = archivedChanges({ ...target, ...fakeTime() });
    // Parent committed at 1_002, before the backtrack took effect (1_004): its pages may be undone.
    expect(await changes({ ...exact(commitOf(2), commitOf(5)), fromCommitTimeMs: 1_002 })).toEqual({
      unknown: 'backtrack 1 at 1970-01-01T00:00:01.004Z came after the parent snapshot',
    });
    // A parent taken after it (on the new timeline) is followed by the log as usual.
    const after = await changes({ ...exact(commitOf(2), commitOf(5)), fromCommitTimeMs: 1_005 });
    expect('pages' in after && after.pages.size).toBe(6);
  });

  it('cannot tell without a watermark, across a gap, or through a corrupt chunk', async () => {
    const s3 = memoryS3();
    const target = { s3: s3.client, bucket, cluster };
    const changes = archivedChanges({ ...target, ...fakeTime() });
    expect(await changes(exact(0n, 3n))).toEqual({ unknown: expect.stringMatching(/no archive watermark/) });

    const chunks = await archiveRecords(target, 0n, pageImageLog(0n, txns(8)), { maxBytes: 400 });
    const victim = chunks[2]!;
    const body = s3.objects.get(victim.key)!;
    body[body.length - 12] = body.at(-12)! ^ 0xff;
    expect(await changes(exact(0n, chunks.at(-1)!.lastLsn))).toEqual({
      unknown: expect.stringContaining(`log chunk for LSNs ${victim.firstLsn}-${victim.lastLsn} is corrupt`),
    });
    s3.objects.delete(victim.key);
    expect(await changes(exact(0n, chunks.at(-1)!.lastLsn))).toEqual({
      unknown: `log records after LSN ${victim.prevLsn} up to ${chunks[3]!.prevLsn} are missing from the archive`,
    });
    // Below the gap the archive still tells.
    const before = await changes(exact(0n, victim.prevLsn));
    expect('pages' in before).toBe(true);
    expect(s3.objects.has(watermarkKey(cluster))).toBe(true);
  });
});
