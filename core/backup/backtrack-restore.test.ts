// Point-in-time restore across backtracks (ADR 015), against an S3 double: the archive holds the log
// of every timeline (voided records included, each chunk tagged with the timeline it was published
// under) and the markers; a restore to T must give exactly what the cluster showed at T — the commits
// on the timeline as it was at T with commit time <= T. A fast-check property drives random writes
// and backtracks (forward and back) against a model that simply remembers what was shown, and
// restores to random times; the cases name the snapshot and chain choices it depends on.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryS3 } from '../../functions/snapshot/testing.ts';
import { type BacktrackMarker, onTimeline, timelineAt } from '../backtrack/timeline.ts';
import type { Lsn } from '../lsn.ts';
import { type ChunkInfo, planLogChain, type Watermark } from './archive.ts';
import { materializeRestore } from './materialize.ts';
import { type ManifestSummary, planOfJob, planRestore, restoreJob } from './restore-plan.ts';
import { archiveRecords, pageImageLog } from './testing.ts';

const bucket = 'b';
const cluster = 'c';
const pageSizeBytes = 16;

interface Commit {
  lsn: Lsn;
  timeMs: number;
  pages: Map<number, number>;
}

/** A volume's history as the archive sees it: commits, markers, chunks per timeline. */
class History {
  readonly s3 = memoryS3();
  readonly commits: Commit[] = [];
  readonly markers: BacktrackMarker[] = [];
  readonly chunks: ChunkInfo[] = [];
  /** What the cluster showed after each change: [from time, pages]. */
  readonly shown: { atMs: number; pages: Map<number, number> }[] = [{ atMs: 0, pages: new Map() }];
  watermark: Watermark | undefined;
  nowMs = 1_000;
  #nextLsn = 1n;
  /** The last record on the current timeline: the next chunk's prevLsn. */
  #tail = 0n;

  /** Transactions published together (one chunk: a backtrack may cut it in two). */
  async write(...txns: Map<number, number>[]): Promise<void> {
    const times = txns.map(() => (this.nowMs += 10));
    const records = pageImageLog(
      this.#nextLsn - 1n,
      txns.map((pages, i) => ({
        pages: new Map([...pages].map(([p, v]) => [p, new Uint8Array(pageSizeBytes).fill(v)])),
        commitTimeMs: times[i]!,
      })),
    );
    const last = records.at(-1)!.lsn;
    const [chunk] = await archiveRecords({ s3: this.s3.client, bucket, cluster }, this.#tail, records, {
      timeline: this.markers.length,
      watermark: false,
    });
    this.chunks.push(chunk!);
    this.#nextLsn = last + 1n;
    this.#tail = last;
    const commitLsns = records.filter((r) => r.pageNo === 0).map((r) => r.lsn);
    txns.forEach((pages, i) => {
      this.commits.push({ lsn: commitLsns[i]!, timeMs: times[i]!, pages });
      const next = new Map(this.shown.at(-1)!.pages);
      for (const [p, v] of pages) next.set(p, v);
      this.shown.push({ atMs: times[i]!, pages: next });
    });
    this.watermark = {
      lsn: last.toString(),
      commitLsn: last.toString(),
      commitTimeMs: this.nowMs,
      updatedAt: '',
    };
  }

  /** Backtrack to T: the storage side's choice of target, as the control plane makes it. */
  backtrack(toMs: number): void {
    this.nowMs += 10;
    const timeline = timelineAt(this.markers, toMs);
    const kept = this.commits.filter((c) => onTimeline(timeline, c.lsn) && c.timeMs <= toMs).at(-1);
    this.markers.push({
      seq: this.markers.length + 1,
      epoch: BigInt(this.markers.length + 2),
      appliedAtMs: this.nowMs,
      targetLsn: kept?.lsn ?? 0n,
      targetTimeMs: toMs,
      fromLsn: this.#nextLsn - 1n,
    });
    this.#tail = kept?.lsn ?? 0n;
    this.shown.push({ atMs: this.nowMs, pages: new Map(this.shownAt(toMs)) });
  }

  shownAt(timeMs: number): Map<number, number> {
    return [...this.shown].reverse().find((s) => s.atMs <= timeMs)!.pages;
  }

  async restore(timeMs: number, snapshots: ManifestSummary[] = []): Promise<Map<number, number>> {
    const plan = planRestore({
      sourceCluster: cluster,
      request: { restoreTimeMs: timeMs },
      snapshots,
      chunks: this.chunks,
      watermark: this.watermark,
      markers: this.markers,
    });
    // Through the job, as the restore function hands it on.
    const job = restoreJob(plan, { requestId: 'r', targetCluster: 't', region: 'us-east-1', bucket });
    const db = await materializeRestore({ s3: this.s3.client, bucket, plan: planOfJob(job), pageSizeBytes });
    return new Map([...db.pages].map(([p, bytes]) => [p, bytes[0]!]));
  }
}

describe('point-in-time restore across backtracks', () => {
  it('restores what the cluster showed before, between and after backtracks', async () => {
    const h = new History();
    await h.write(new Map([[1, 1]]));
    const t1 = h.nowMs;
    await h.write(new Map([[1, 2]]));
    await h.write(new Map([[2, 3]]));
    const t2 = h.nowMs;
    h.backtrack(t1); // page 1 = 1, page 2 absent
    const backtrackedAt = h.nowMs;
    await h.write(new Map([[3, 4]]));
    const t3 = h.nowMs;
    expect(await h.restore(t2)).toEqual(
      new Map([
        [1, 2],
        [2, 3],
      ]),
    );
    expect(await h.restore(t3)).toEqual(
      new Map([
        [1, 1],
        [3, 4],
      ]),
    );
    expect(await h.restore(t1)).toEqual(new Map([[1, 1]]));
    // Forward again, to before the first backtrack: the undone commits return, and the new one goes.
    h.backtrack(t2);
    await h.write(new Map([[4, 5]]));
    const t4 = h.nowMs;
    expect(await h.restore(t4)).toEqual(
      new Map([
        [1, 2],
        [2, 3],
        [4, 5],
      ]),
    );
    expect(await h.restore(t3)).toEqual(
      new Map([
        [1, 1],
        [3, 4],
      ]),
    );
    // The chunk that voided (t1, t2] continues the chain on its own timeline only.
    const [first, , third, fourth] = h.chunks;
    const chain = planLogChain(h.chunks, 0n, {
      timeline: {
        timelines: [timelineAt([], 0), timelineAt(h.markers.slice(0, 1), backtrackedAt)],
        target: timelineAt(h.markers.slice(0, 1), backtrackedAt),
      },
    });
    expect(chain.chunks.map((c) => c.key)).toEqual([first!.key, fourth!.key]);
    expect(third!.timeline).toBe(0);
    expect(fourth!.timeline).toBe(1);
  });

  it('skips the voided part of a chunk the backtrack target cuts', async () => {
    const h = new History();
    await h.write(new Map([[1, 1]]), new Map([[1, 2]])); // one chunk, two commits
    const t1 = h.commits[0]!.timeMs;
    h.backtrack(t1);
    await h.write(new Map([[2, 3]]));
    expect(await h.restore(h.nowMs)).toEqual(
      new Map([
        [1, 1],
        [2, 3],
      ]),
    );
  });

  it('starts from a snapshot only if its point is on the timeline at T', async () => {
    const h = new History();
    await h.write(new Map([[1, 1]]));
    const t1 = h.nowMs;
    await h.write(new Map([[1, 2]]));
    const voided = h.commits.at(-1)!;
    h.backtrack(t1);
    await h.write(new Map([[2, 3]]));
    const snapshots = [
      { snapshotId: 's', key: 'no-such-key', lsn: voided.lsn.toString(), commitTimeMs: voided.timeMs },
    ];
    const plan = planRestore({
      sourceCluster: cluster,
      request: { restoreTimeMs: h.nowMs },
      snapshots,
      chunks: h.chunks,
      watermark: h.watermark,
      markers: h.markers,
    });
    expect(plan.snapshot).toBeUndefined(); // its point was voided: the log from the start instead
    expect(await h.restore(h.nowMs)).toEqual(
      new Map([
        [1, 1],
        [2, 3],
      ]),
    );
    // Before the backtrack it is the right base.
    const before = planRestore({
      sourceCluster: cluster,
      request: { restoreTimeMs: voided.timeMs },
      snapshots,
      chunks: h.chunks,
      watermark: h.watermark,
      markers: h.markers,
    });
    expect(before.snapshot?.snapshotId).toBe('s');
  });

  it('any history of writes and backtracks: a restore to T gives what was shown at T', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            fc.record({
              write: fc.array(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 2 }), {
                minLength: 1,
                maxLength: 3,
              }),
            }),
            fc.record({ backtrack: fc.integer({ min: 0, max: 1_000 }) }),
          ),
          { minLength: 1, maxLength: 14 },
        ),
        // Fractions in thousandths: fc.double leans to its bounds and tiny values, missing the middle.
        fc.array(fc.integer({ min: 0, max: 1_000 }), { minLength: 1, maxLength: 4 }),
        async (steps, restoreAt) => {
          const h = new History();
          let value = 0; // every write a new value, so a wrong page always shows
          for (const step of steps) {
            if ('write' in step)
              await h.write(...step.write.map((pages) => new Map(pages.map((p) => [p, ++value]))));
            else h.backtrack(1_000 + Math.floor((step.backtrack * (h.nowMs - 1_000)) / 1_000));
          }
          if (!h.watermark) return;
          for (const at of restoreAt) {
            // Restorable: up to the newest archived commit's time.
            const t = 1_000 + Math.floor((at * (h.watermark.commitTimeMs - 1_000)) / 1_000);
            expect(await h.restore(t)).toEqual(h.shownAt(t));
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
