// The commit horizon: what lets the latest restorable time advance while a cluster is idle, as Aurora's
// LatestRestorableTime does. The archive watermark alone stops at the last archived commit — a
// cluster no one writes to would look minutes or hours behind — yet no commit is missing from it.
//
// A horizon is a fact about the writer's log, checked from its /health: "every commit with commit time
// <= throughMs has an LSN <= lsn". It is true because of how the writer stamps commits
// (services/writer/writer-engine.ts): a commit's time is max(clock, previous commit's time) and is
// taken in the same synchronous step that ships the commit and sets `latestCommit`. So when /health,
// answering at a moment after askedAtMs, reports latestCommit = L, every commit stamped before that
// moment has an LSN <= L, and every commit stamped after it has a time >= the writer's clock then >
// askedAtMs − writerClockSkewMsMax. Hence throughMs = askedAtMs − writerClockSkewMsMax − 1. Writers
// before this one: after a failover a new writer opens with a VDL above every durable record of the
// old ones and fences them (epochs), so their commits are at or below its recovered VDL <= L (a
// backtrack is the exception: below). Commits of a later
// writer: it serves only once the topology names it, which is read after askedAtMs, so it stamps
// times after askedAtMs too. The /health answer must come from the writer that topology names (its
// id and epoch), or the check counts for nothing.
//
// With the watermark at or above `lsn` (the archive holds every durable record up to there, gap-free),
// a restore to any T <= throughMs returns every commit with time <= T: the latest restorable time is
// max(watermark's commit time, throughMs). A Global Database failover that cut this region's archive
// (the archive fence gained a void, ADR 016) voids what was checked before it: a horizon counts only
// under the fence it was checked under (its newest void, fenceMark).
//
// A backtrack (ADR 015) is the one way a writer opens below durable records: the old timeline's
// commits above the backtrack's target are voided on storage, yet a restore to a time before the
// backtrack must return them, and the new writer's latestCommit says nothing about them. So a
// horizon is taken only from a writer whose redo publisher is live (it archives its timeline's
// markers before it publishes: a reader that reads the markers after the horizons sees them), and it
// counts only once the archive holds a commit above the newest marker's fromLsn — a commit of the
// current timeline, stamped after every voided one — so it never speaks for the old timeline's times.
//
// Pure (key, the check, which to keep, parsing); reading and writing: commit-horizon-store.ts. Who
// checks: the RDS API (services/rds-api/backup-settings.ts), at most every few seconds per cluster
// and only while it is asked; who reads: the RDS API and the restore function (restore-plan.ts).
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';
import { clusterPrefix, type Watermark } from './archive.ts';
import type { LsnVoid } from './archive-fence.ts';

/**
 * How far the writer's clock may be behind the checker's. One machine (embedded) shares one clock;
 * on AWS both run NTP-disciplined clocks (the Time Sync Service keeps them within a millisecond), so
 * a second covers steps as well as drift and costs only a second of LatestRestorableTime.
 */
export const writerClockSkewMsMax = 1_000;

export function commitHorizonKey(cluster: string): string {
  return `${clusterPrefix(cluster)}commit-horizon.json`;
}

/**
 * The archive fence as a horizon records it: its newest void ('' when none). Voids are only appended
 * (a repeat adds nothing), so a cut after a check always changes it — a count would not, once the
 * fence keeps its last archiveFenceVoidsMax.
 */
export function fenceMark(voids: readonly LsnVoid[]): string {
  const last = voids.at(-1);
  return last === undefined ? '' : `${last.aboveLsn}-${last.belowLsn}`;
}

export interface CommitHorizon {
  /** Every commit with commit time <= throughMs has an LSN <= lsn (decimal string: LSNs are 64-bit). */
  lsn: string;
  throughMs: number;
  /** The epoch of the writer that answered. */
  epoch: string;
  /** The archive fence when it was checked (fenceMark): a later cut changes it and voids the horizon. */
  fence: string;
  checkedAt: string;
}

const decimal = /^\d{1,20}$/;

/** The writer's /health fields a check reads (services/writer/main.ts). */
interface WriterHealth {
  healthy?: unknown;
  role?: unknown;
  id?: unknown;
  epoch?: unknown;
  latestCommit?: unknown;
  redoStream?: unknown;
}

/**
 * A horizon from a /health answer, or why none can be taken from it. `askedAtMs` is the checker's
 * clock read before it read the topology that named `writer` (and so before it asked).
 */
export function commitHorizonFromHealth(input: {
  health: unknown;
  askedAtMs: number;
  writer: { id: string; epoch: string };
  fence: string;
  nowMs: number;
}): { horizon: CommitHorizon } | { refused: string } {
  const h = (input.health ?? {}) as WriterHealth;
  if (typeof h !== 'object') return { refused: '/health is not a JSON object' };
  if (h.role !== 'writer') return { refused: `/health answered role ${String(h.role)}, not writer` };
  if (h.healthy !== true) return { refused: 'the writer is not healthy (fenced or failing)' };
  if ((h.redoStream as { mode?: unknown } | undefined)?.mode !== 'live')
    return { refused: "the writer's redo publisher is not live (markers not archived yet, or catching up)" };
  if (h.id !== input.writer.id)
    return { refused: `/health came from ${String(h.id)}, the topology names ${input.writer.id}` };
  if (h.epoch !== input.writer.epoch)
    return { refused: `/health epoch ${String(h.epoch)} is not the topology's ${input.writer.epoch}` };
  if (typeof h.latestCommit !== 'string' || !decimal.test(h.latestCommit))
    return { refused: '/health has no latestCommit LSN' };
  if (!Number.isSafeInteger(input.askedAtMs)) return { refused: 'bad check time' };
  return {
    horizon: {
      lsn: BigInt(h.latestCommit).toString(),
      throughMs: input.askedAtMs - writerClockSkewMsMax - 1,
      epoch: input.writer.epoch,
      fence: input.fence,
      checkedAt: new Date(input.nowMs).toISOString(),
    },
  };
}

/**
 * Whether `horizon` holds for the archive as it is: the watermark at or past it, no cut since, and —
 * after a backtrack (`backtrackFromLsn`: the newest archived marker's fromLsn, read after the
 * horizons) — a commit of the current timeline archived.
 */
export function horizonApplies(
  horizon: CommitHorizon | undefined,
  watermark: Watermark | undefined,
  fence: string,
  backtrackFromLsn: Lsn = 0n,
): boolean {
  return (
    horizon !== undefined &&
    watermark !== undefined &&
    horizon.fence === fence &&
    BigInt(watermark.lsn) >= BigInt(horizon.lsn) &&
    (backtrackFromLsn === 0n || BigInt(watermark.commitLsn) > backtrackFromLsn)
  );
}

/**
 * Horizons stored at most: the newest, and the newest one the archive had passed when it was stored.
 * A fresh horizon may lie above the watermark for a second or two (a commit on its way to the
 * archive); without the older one kept, a time reported restorable a moment ago would not be.
 */
export const storedHorizonsMax = 2;

/** The newest horizon that holds now (undefined: none). */
export function applyingHorizon(
  horizons: readonly CommitHorizon[],
  watermark: Watermark | undefined,
  fence: string,
  backtrackFromLsn: Lsn = 0n,
): CommitHorizon | undefined {
  let best: CommitHorizon | undefined;
  for (const h of horizons) {
    if (
      horizonApplies(h, watermark, fence, backtrackFromLsn) &&
      (best === undefined || h.throughMs > best.throughMs)
    )
      best = h;
  }
  return best;
}

/**
 * What to store after a check (undefined: nothing to write, the fresh one is not newer): the fresh
 * horizon alone when the watermark read now has passed it; else the fresh one and the newest stored
 * one it has passed (or, if none, the newest stored). Once the watermark passes a horizon it stays
 * past it (it only advances) until a cut, which changes the fence and drops every older horizon. (What
 * to keep is judged on LSNs alone; whether one counts, with backtracks, is the reader's check.)
 */
export function nextHorizons(
  stored: readonly CommitHorizon[],
  fresh: CommitHorizon,
  watermark: Watermark | undefined,
  fence: string,
): CommitHorizon[] | undefined {
  const newest = stored.reduce<CommitHorizon | undefined>(
    (m, h) => (m === undefined || h.throughMs > m.throughMs ? h : m),
    undefined,
  );
  if (newest !== undefined && newest.fence === fresh.fence && fresh.throughMs <= newest.throughMs)
    return undefined;
  if (horizonApplies(fresh, watermark, fence)) return [fresh];
  // Else keep the one that holds (it may have been reported), or the newest (it will hold sooner).
  const sameFence = stored.filter((h) => h.fence === fresh.fence);
  const kept = applyingHorizon(sameFence, watermark, fence) ?? sameFence.find((h) => h === newest);
  return (kept === undefined ? [fresh] : [fresh, kept]).slice(0, storedHorizonsMax);
}

/** The stored document's text → its horizons; anything else is an INTERNAL error naming the key. */
export function parseCommitHorizons(text: string, key: string): CommitHorizon[] {
  const bad = (why: string) =>
    new BorealisError(ErrorCode.INTERNAL, `commit horizon ${key} is malformed: ${why}`, { context: { key } });
  let doc: { horizons?: unknown };
  try {
    doc = JSON.parse(text) as { horizons?: unknown };
  } catch {
    throw bad('not JSON');
  }
  if (doc === null || typeof doc !== 'object' || !Array.isArray(doc.horizons))
    throw bad('horizons must be a list');
  if (doc.horizons.length > storedHorizonsMax) throw bad(`more than ${storedHorizonsMax} horizons`);
  return doc.horizons.map((item: unknown) => {
    const raw = (item ?? {}) as Partial<CommitHorizon>;
    if (typeof raw !== 'object') throw bad('a horizon is not an object');
    if (typeof raw.lsn !== 'string' || !decimal.test(raw.lsn)) throw bad('lsn must be a decimal string');
    if (!Number.isSafeInteger(raw.throughMs) || (raw.throughMs as number) < 0) throw bad('throughMs');
    if (typeof raw.epoch !== 'string' || !decimal.test(raw.epoch))
      throw bad('epoch must be a decimal string');
    if (typeof raw.fence !== 'string' || !/^(\d{1,20}-\d{1,20})?$/.test(raw.fence)) throw bad('fence');
    return {
      lsn: raw.lsn,
      throughMs: raw.throughMs!,
      epoch: raw.epoch,
      fence: raw.fence,
      checkedAt: String(raw.checkedAt ?? ''),
    };
  });
}

export function formatCommitHorizons(horizons: readonly CommitHorizon[]): string {
  if (horizons.length > storedHorizonsMax)
    throw new Error(`at most ${storedHorizonsMax} horizons are stored`);
  return `${JSON.stringify({ horizons })}\n`;
}
