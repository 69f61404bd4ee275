// The commit chain walk of recovery (durablePrefix), against a model of what a writer leaves on
// storage when it crashes: transactions shipped in LSN order, each commit naming its predecessor and
// the newest commit durable when it was shipped (vdlHint); every PG complete on some answering segment
// up to a cut at least as high as everything acknowledged; commit records above a cut held or not.
import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { globalPromotionLsnGap, lsnAllocationLimit } from '../../core/limits.ts';
import type { Lsn } from '../../core/lsn.ts';
import { type CommitPayload, encodeCommitPayload, RecordFlags, RecordKind } from '../../core/record.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import type { StorageMessage } from '../../core/wire/messages.ts';
import { LogShipper, type NewRecord } from './log-shipper.ts';
import { durablePrefix, recoverVolume } from './recovery.ts';
import { InProcessVolume } from './testing.ts';

/** One shipped transaction: its records per PG (LSN order), then its commit record. */
interface Txn {
  /** LSNs of its page records, ascending; each with its PG. */
  records: { lsn: Lsn; pg: number }[];
  commit: { lsn: Lsn; pg: number; payload: CommitPayload };
}

/** A crashed writer's volume as a read quorum sees it. */
interface Crash {
  txns: Txn[];
  /** Commits 1..acked were acknowledged (VDL passed them) before the crash. */
  acked: number;
  /** Per PG, the highest SCL among the segments that answered. */
  completeTo: Map<number, Lsn>;
  /** Commit LSNs some answering segment holds. */
  held: Set<Lsn>;
}

/**
 * Builds the transactions as writer-engine.ts does: records of ascending pages (so ascending PGs),
 * then the commit record in the PG of the last change, its pgTails, prev commit and vdlHint.
 */
function shipAll(shapes: { pgs: number[]; records: number }[], hints: number[]): Txn[] {
  const txns: Txn[] = [];
  let next = 1n;
  for (const [i, shape] of shapes.entries()) {
    const records: { lsn: Lsn; pg: number }[] = [];
    for (const pg of shape.pgs) for (let r = 0; r < shape.records; r++) records.push({ lsn: next++, pg });
    const tails = new Map<number, Lsn>();
    for (const r of records) tails.set(r.pg, r.lsn);
    const prev = txns[i - 1]?.commit;
    const hint = hints[i]! === 0 ? undefined : txns[hints[i]! - 1]!.commit;
    const commit = {
      lsn: next++,
      pg: records[records.length - 1]!.pg,
      payload: {
        txnId: BigInt(i + 1),
        commitTimeMs: i,
        pgTails: [...tails].map(([pg, lastLsn]) => ({ pg, lastLsn })),
        vdlHint: hint?.lsn ?? 0n,
        prevCommitLsn: prev?.lsn ?? 0n,
        prevCommitPg: prev?.pg ?? 0,
      },
    };
    txns.push({ records, commit });
  }
  return txns;
}

/** Per PG, the last LSN at or below `lsn` (records and commit records alike). */
function pgTailsAt(txns: Txn[], lsn: Lsn): Map<number, Lsn> {
  const tails = new Map<number, Lsn>();
  for (const t of txns) {
    for (const r of [...t.records, t.commit]) if (r.lsn <= lsn) tails.set(r.pg, r.lsn);
  }
  return tails;
}

/** Every record at or below `lsn` is complete on some answering segment of its PG. */
function completeUpTo(crash: Crash, lsn: Lsn): boolean {
  for (const [pg, tail] of pgTailsAt(crash.txns, lsn))
    if ((crash.completeTo.get(pg) ?? 0n) < tail) return false;
  return true;
}

async function walk(crash: Crash) {
  const byLsn = new Map(crash.txns.map((t) => [t.commit.lsn, t.commit]));
  let newest = { lsn: 0n, pg: 0 };
  for (const lsn of crash.held) if (lsn > newest.lsn) newest = { lsn, pg: byLsn.get(lsn)!.pg };
  const fetched: Lsn[] = [];
  const below: Lsn[] = [];
  const result = await durablePrefix(newest, crash.completeTo, {
    fetchCommit: async (lsn, pg) => {
      fetched.push(lsn);
      const commit = byLsn.get(lsn);
      return commit && commit.pg === pg && crash.held.has(lsn) ? commit.payload : undefined;
    },
    commitBelow: async (lsn) => {
      below.push(lsn);
      let found: (typeof crash.txns)[number]['commit'] | undefined;
      for (const t of crash.txns) if (t.commit.lsn < lsn && crash.held.has(t.commit.lsn)) found = t.commit;
      return found;
    },
  });
  return { ...result, fetched, below };
}

const pgCount = 3;

/** A crash the writer could leave: fast-check draws shapes, hints, acks and what survived. */
const crashes = fc
  .record({
    shapes: fc.array(
      fc.record({
        pgs: fc.uniqueArray(fc.integer({ min: 0, max: pgCount - 1 }), { minLength: 1, maxLength: pgCount }),
        records: fc.integer({ min: 1, max: 2 }),
      }),
      { minLength: 1, maxLength: 10 },
    ),
    ackedDraw: fc.nat(),
    hintDraws: fc.array(fc.nat(), { minLength: 10, maxLength: 10 }),
    cutDraws: fc.array(fc.nat(), { minLength: pgCount, maxLength: pgCount }),
    heldAbove: fc.array(fc.boolean(), { minLength: 10, maxLength: 10 }),
  })
  .map(({ shapes, ackedDraw, hintDraws, cutDraws, heldAbove }): Crash => {
    for (const s of shapes) s.pgs.sort((a, b) => a - b);
    const acked = ackedDraw % (shapes.length + 1);
    // vdlHint of commit i: a commit durable when i was shipped — never moving back, below i, and at
    // most what was acknowledged by the crash.
    const hints: number[] = [];
    for (let i = 0; i < shapes.length; i++) {
      const drawn = hintDraws[i]! % (i + 1);
      hints.push(Math.min(Math.max(hints[i - 1] ?? 0, drawn), i, acked));
    }
    const txns = shipAll(shapes, hints);
    // Each PG complete at least up to everything acknowledged; above that, up to some record of it.
    const floorTails = pgTailsAt(txns, acked === 0 ? 0n : txns[acked - 1]!.commit.lsn);
    const completeTo = new Map<number, Lsn>();
    for (let pg = 0; pg < pgCount; pg++) {
      const floor = floorTails.get(pg) ?? 0n;
      const above = txns.flatMap((t) => [...t.records, t.commit]).filter((r) => r.pg === pg && r.lsn > floor);
      const choices = [floor, ...above.map((r) => r.lsn)];
      completeTo.set(pg, choices[cutDraws[pg]! % choices.length]!);
    }
    // A commit record at or below its PG's cut is held; above it, maybe (out of order, pending).
    const held = new Set<Lsn>();
    for (const [i, t] of txns.entries()) {
      if (t.commit.lsn <= completeTo.get(t.commit.pg)! || heldAbove[i]) held.add(t.commit.lsn);
    }
    return { txns, acked, completeTo, held };
  });

describe('durablePrefix (the commit chain walk)', () => {
  it('walks back to the hint, then forward over the complete prefix', async () => {
    // Three one-record transactions in PG 0: LSNs 1-2, 3-4, 5-6; the third names the first durable.
    const txns = shipAll(
      [
        { pgs: [0], records: 1 },
        { pgs: [0], records: 1 },
        { pgs: [0], records: 1 },
      ],
      [0, 0, 1],
    );
    const held = new Set(txns.map((t) => t.commit.lsn));
    const all = await walk({ txns, acked: 1, completeTo: new Map([[0, 6n]]), held });
    expect([all.vdl, all.last?.payload.txnId, all.commitsWalked]).toEqual([6n, 3n, 2]);
    expect(all.fetched).toEqual([6n, 4n]); // never below the hint (commit 2)
    // Complete only to LSN 4: the third commit is dropped.
    const cut = await walk({ txns, acked: 1, completeTo: new Map([[0, 4n]]), held });
    expect([cut.vdl, cut.last?.payload.txnId]).toEqual([4n, 2n]);
    // Nothing complete above the hint: VDL is the hint, and `last` is read from storage.
    const floor = await walk({ txns, acked: 1, completeTo: new Map([[0, 2n]]), held });
    expect([floor.vdl, floor.last?.payload.txnId]).toEqual([2n, 1n]);
  });

  it('with no commit anywhere, the volume is empty', async () => {
    expect(await walk({ txns: [], acked: 0, completeTo: new Map(), held: new Set() })).toMatchObject({
      vdl: 0n,
      last: undefined,
      commitsWalked: 0,
    });
  });

  it('a missing newest commit with no commit held below it and none named durable: VDL 0', async () => {
    // The newest commit reported turns out to be held by no answering segment (it is void: its
    // reporter missed a truncation) and nothing is below it: nothing was ever durable.
    const result = await durablePrefix({ lsn: 2n, pg: 0 }, new Map([[0, 2n]]), {
      fetchCommit: async () => undefined,
      commitBelow: async () => undefined,
    });
    expect(result).toEqual({ vdl: 0n, last: undefined, commitsWalked: 0, commitsMissing: 1 });
  });

  it('property: it answers, VDL is a commit whose every record is complete, and `last` is that commit', async () => {
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(crashes, async (crash) => {
        const { vdl, last } = await walk(crash);
        answered++;
        const commit = crash.txns.find((t) => t.commit.lsn === vdl)?.commit;
        expect(vdl === 0n || commit !== undefined, `VDL ${vdl} is a commit`).toBe(true);
        expect(completeUpTo(crash, vdl), `every record up to VDL ${vdl} is complete`).toBe(true);
        expect(last?.payload).toEqual(commit?.payload);
      }),
      { numRuns: 2_000 },
    );
    expect(answered).toBe(2_000);
  });

  // Invariant 1 (ARCHITECTURE.md): no acknowledged commit is lost while a read quorum survives; and
  // a read quorum is all recovery needs to open the volume. When the walk meets a commit record no
  // answering segment holds, it goes on from the newest commit below it that one holds — not from
  // the newest vdlHint met, which can be older than commits acknowledged after the newer ones were
  // shipped, and without refusing when no vdlHint was met (see the examples below).
  it('property: it answers, with VDL at or above every acknowledged commit', async () => {
    await fc.assert(
      fc.asyncProperty(crashes, async (crash) => {
        const { vdl } = await walk(crash);
        const acked = crash.acked === 0 ? 0n : crash.txns[crash.acked - 1]!.commit.lsn;
        expect(vdl).toBeGreaterThanOrEqual(acked);
      }),
      { numRuns: 2_000 },
    );
  });

  it('opens with VDL 0 when the one missing commit was never durable and none is named durable', async () => {
    // Commit 2 (PG 0) reached only segments that are now away; commit 4 (PG 1) reached a read quorum.
    // Nothing was acknowledged: VDL 0 is the right answer (it used to refuse with NOT_COMPLETE).
    const txns = shipAll(
      [
        { pgs: [0], records: 1 }, // record 1, commit 2: lost
        { pgs: [1], records: 1 }, // record 3, commit 4: complete in PG 1
      ],
      [0, 0],
    );
    const completeTo = new Map([
      [0, 0n],
      [1, 4n],
    ]);
    const result = await walk({ txns, acked: 0, completeTo, held: new Set([4n]) });
    expect([result.vdl, result.last, result.commitsMissing]).toEqual([0n, undefined, 1]);
    expect(result.below).toEqual([2n]);
  });

  it('keeps an acknowledged commit when a newer commit record reached no answering segment', async () => {
    // All in PG 0. Commits 6 and 8 were shipped while commit 2 was the newest durable one (their
    // vdlHint); then commit 4 became durable and was acknowledged; commit 6 reached only segments
    // that are now away; commit 8 reached an answering one that had missed commit 6's Append.
    // VDL is 4 (commit 8 is not complete: 5–6 are missing); it used to fall back to the hint, 2.
    const txns = shipAll(
      [
        { pgs: [0], records: 1 }, // record 1, commit 2
        { pgs: [0], records: 1 }, // record 3, commit 4: acknowledged
        { pgs: [0], records: 1 }, // record 5, commit 6: on no answering segment
        { pgs: [0], records: 1 }, // record 7, commit 8: held above SCL on one segment
      ],
      [0, 0, 1, 1],
    );
    const crash = { txns, acked: 2, completeTo: new Map([[0, 4n]]), held: new Set([2n, 4n, 8n]) };
    const result = await walk(crash);
    expect([result.vdl, result.last?.payload.txnId, result.commitsMissing]).toEqual([4n, 2n, 1]);
    expect(result.fetched).toEqual([8n, 6n]); // commit 4 came with the answer to "below 6"
    expect(result.below).toEqual([6n]);
  });
});

describe('recoverVolume on six storage nodes in this process', () => {
  // The acknowledged-commit example end to end, on the real storage state machine and the real log
  // shipper, with the records where a writer would have left them: the recovered VDL is 4.
  it('keeps an acknowledged commit while a read quorum answers, though a newer commit is on none of it', async () => {
    const volume = InProcessVolume.open({ pgCount: 1, pagesPerPg: 64 });
    const logger = pino({ level: 'silent' });
    try {
      const shipper = new LogShipper({
        volume: volume.volume,
        epoch: 1n,
        clients: volume.clients,
        nextLsn: 1n,
        retryIntervalMs: 3_600_000,
      });
      // Transaction i: one page record (LSN 2i - 1), then its commit (LSN 2i), hint as given.
      const txn = (i: number, vdlHint: Lsn): NewRecord[] => [
        { pageNo: i, kind: RecordKind.PageDelta, flags: 0, payload: Uint8Array.of(0, 0, 1, 0, i) },
        {
          pg: 0,
          pageNo: 0,
          kind: RecordKind.Commit,
          flags: RecordFlags.Cpl,
          payload: encodeCommitPayload({
            txnId: BigInt(i),
            commitTimeMs: i,
            pgTails: [{ pg: 0, lastLsn: BigInt(2 * i - 1) }],
            vdlHint,
            prevCommitLsn: BigInt(2 * i - 2),
            prevCommitPg: 0,
          }),
        },
      ];
      await shipper.ship(txn(1, 0n)).durable; // commit 2: acknowledged
      // Commit 4 goes to every node; n3–n6 are slow to take it. Commits 6 and 8 go out before it is
      // durable, so they name commit 2 as the newest durable one.
      for (const id of ['n3', 'n4', 'n5', 'n6']) volume.pause(id);
      const second = shipper.ship(txn(2, 2n));
      for (const id of ['n3', 'n4', 'n5', 'n6']) volume.down.add(id);
      const third = shipper.ship(txn(3, 2n)); // reaches n1 and n2 only
      volume.down.clear();
      for (const id of ['n1', 'n2', 'n4', 'n5', 'n6']) volume.down.add(id);
      const fourth = shipper.ship(txn(4, 2n)); // reaches n3 only, after commit 4: held above its SCL
      volume.down.clear();
      for (const batch of [third, fourth]) batch.durable.catch(() => undefined);
      await volume.idle();
      expect(shipper.vdl).toBe(2n);
      for (const id of ['n3', 'n4', 'n5', 'n6']) volume.resume(id);
      await second.durable; // on all six: acknowledged
      await volume.idle();
      expect(shipper.vdl).toBe(4n);
      expect(volume.nodes.get('n3')!.recoveryInfo()[0]).toMatchObject({
        scl: 4n,
        maxLsn: 8n,
        lastCplLsn: 8n,
      });
      shipper.close();
      // The writer crashes; n1 and n2 (the only holders of commit 6) are away; n3–n6 answer.
      volume.down.clear();
      volume.down.add('n1');
      volume.down.add('n2');
      const recovered = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
      });
      expect(recovered.vdl).toBe(4n); // commit 4 was acknowledged (it used to be truncated: VDL 2)
      expect(recovered.lastCommit).toMatchObject({ lsn: 4n, pg: 0 });
      expect(recovered.nextTxnId).toBe(3n);
      expect(recovered.stats.commitsMissing).toBe(1);
      // Commit 8 (above VDL) is gone; commit 4 stays.
      expect(volume.nodes.get('n3')!.recoveryInfo()[0]).toMatchObject({
        scl: 4n,
        maxLsn: 4n,
        lastCplLsn: 4n,
      });
    } finally {
      await volume.close();
    }
  });
});

describe('durablePrefix past commits that no answering segment holds', () => {
  it('goes on below a missing commit of another PG than its successor', async () => {
    // Commit 6 (PG 1) is missing; its successor, commit 8, is in PG 0; commit 4 (PG 1) was acknowledged.
    const txns = shipAll(
      [
        { pgs: [0], records: 1 }, // record 1, commit 2 (PG 0)
        { pgs: [1], records: 1 }, // record 3, commit 4 (PG 1): acknowledged
        { pgs: [1], records: 1 }, // record 5, commit 6 (PG 1): on no answering segment
        { pgs: [0], records: 1 }, // record 7, commit 8 (PG 0): held above SCL
      ],
      [0, 0, 1, 1],
    );
    const completeTo = new Map([
      [0, 2n],
      [1, 4n],
    ]);
    const result = await walk({ txns, acked: 2, completeTo, held: new Set([2n, 4n, 8n]) });
    expect([result.vdl, result.last?.lsn, result.last?.pg, result.commitsMissing]).toEqual([4n, 4n, 1, 1]);
    expect(result.below).toEqual([6n]);
  });

  it('steps over several missing commits, in a row and again further down', async () => {
    // PG 0, one record each: commits 2 and 4 durable (4 acknowledged), 6 missing, 8 held, 10 and 12
    // missing, 14 held (the newest). Every commit after the first names commit 2 as durable.
    const txns = shipAll(
      Array.from({ length: 7 }, () => ({ pgs: [0], records: 1 })),
      [0, 0, 1, 1, 1, 1, 1],
    );
    const held = new Set([2n, 4n, 8n, 14n]);
    const result = await walk({ txns, acked: 2, completeTo: new Map([[0, 4n]]), held });
    expect([result.vdl, result.last?.payload.txnId, result.commitsMissing]).toEqual([4n, 2n, 2]);
    expect(result.fetched).toEqual([14n, 12n, 6n]);
    expect(result.below).toEqual([12n, 6n]); // "below 12" answers 8 (10 is missing too); "below 6", 4
    // The same volume complete up to commit 8 in PG 0 (its records all there, commit 6's record
    // included, its commit record lost): VDL stops at 4 all the same, commit 6 being missing.
    const fuller = await walk({ txns, acked: 2, completeTo: new Map([[0, 8n]]), held });
    expect(fuller.vdl).toBe(4n);
  });

  it('uses the newest commit known durable (a vdlHint) where nothing is held between it and the missing one', async () => {
    // Commit 2 durable and named by commit 6; commit 4 missing; nothing complete above 2.
    const txns = shipAll(
      [
        { pgs: [0], records: 1 }, // commit 2: acknowledged
        { pgs: [0], records: 1 }, // commit 4: missing
        { pgs: [0], records: 1 }, // commit 6: held above SCL
      ],
      [0, 1, 1],
    );
    const result = await walk({ txns, acked: 1, completeTo: new Map([[0, 2n]]), held: new Set([2n, 6n]) });
    expect([result.vdl, result.last?.payload.txnId, result.commitsWalked]).toEqual([2n, 1n, 0]);
    expect(result.fetched).toEqual([6n, 4n]); // commit 2 came with the answer to "below 4": no re-read
  });

  it('never walks below the newest commit known durable, even past a missing commit', async () => {
    // Commit 6 names commit 4 durable; commit 8 is missing; commit 10 held. Below 8: commit 6.
    const txns = shipAll(
      Array.from({ length: 5 }, () => ({ pgs: [0], records: 1 })),
      [0, 0, 1, 2, 2],
    );
    const result = await walk({
      txns,
      acked: 3,
      completeTo: new Map([[0, 6n]]),
      held: new Set([2n, 4n, 6n, 10n]),
    });
    expect([result.vdl, result.commitsWalked]).toEqual([6n, 1]);
    expect(result.fetched).toEqual([10n, 8n]); // commit 2 (below the hint, commit 4) never read
  });

  it('a commit named durable that no answering segment holds is a retryable NOT_COMPLETE', async () => {
    // Commit 6 names commit 2 durable, commit 4 is missing, and so is commit 2: a segment lost a
    // record it had acknowledged (outside the fault model). Recovery refuses rather than guess.
    const txns = shipAll(
      Array.from({ length: 3 }, () => ({ pgs: [0], records: 1 })),
      [0, 1, 1],
    );
    const error = await walk({ txns, acked: 1, completeTo: new Map([[0, 2n]]), held: new Set([6n]) }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: ErrorCode.NOT_COMPLETE,
      retryable: true,
      message: 'durable commit 0/2 not found below missing commit 0/4',
    });
  });
});

/** One transaction of one page record at `lsn` (PG 0, page pageNo) and its commit at lsn + 1. */
function oneRecordTxn(t: { lsn: Lsn; pageNo: number; txnId: number; vdlHint: Lsn; prev: Lsn }): NewRecord[] {
  return [
    { pageNo: t.pageNo, kind: RecordKind.PageDelta, flags: 0, payload: Uint8Array.of(0, 0, 1, 0, t.txnId) },
    {
      pg: 0,
      pageNo: 0,
      kind: RecordKind.Commit,
      flags: RecordFlags.Cpl,
      payload: encodeCommitPayload({
        txnId: BigInt(t.txnId),
        commitTimeMs: t.txnId,
        pgTails: [{ pg: 0, lastLsn: t.lsn }],
        vdlHint: t.vdlHint,
        prevCommitLsn: t.prev,
        prevCommitPg: 0,
      }),
    },
  ];
}

/** Ships one batch with only `reach` up, then brings every node back; returns once the requests ended. */
async function shipTo(volume: InProcessVolume, shipper: LogShipper, reach: string[], records: NewRecord[]) {
  for (const id of volume.nodes.keys()) if (!reach.includes(id)) volume.down.add(id);
  const batch = shipper.ship(records);
  batch.durable.catch(() => undefined);
  volume.down.clear();
  await volume.idle();
  return batch;
}

describe('recoverVolume past missing commits, on six storage nodes in this process', () => {
  const logger = pino({ level: 'silent' });

  it('opens (VDL 0) while a read quorum answers, though the one commit below the newest is on none of it', async () => {
    const volume = InProcessVolume.open({ pgCount: 1, pagesPerPg: 64 });
    try {
      const shipper = new LogShipper({
        volume: volume.volume,
        epoch: 1n,
        clients: volume.clients,
        nextLsn: 1n,
        retryIntervalMs: 3_600_000,
      });
      await shipTo(
        volume,
        shipper,
        ['n1', 'n2'],
        oneRecordTxn({ lsn: 1n, pageNo: 1, txnId: 1, vdlHint: 0n, prev: 0n }),
      );
      await shipTo(
        volume,
        shipper,
        ['n3'],
        oneRecordTxn({ lsn: 3n, pageNo: 2, txnId: 2, vdlHint: 0n, prev: 2n }),
      );
      expect(shipper.vdl).toBe(0n); // nothing acknowledged
      shipper.close();
      volume.down.add('n1');
      volume.down.add('n2');
      const started = performance.now();
      const recovered = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
      });
      expect([recovered.vdl, recovered.stats.commitsMissing, recovered.stats.epochAttempts]).toEqual([
        0n,
        1,
        1,
      ]);
      expect(performance.now() - started).toBeLessThan(5_000); // it used to retry NOT_COMPLETE until the deadline
      expect(volume.nodes.get('n3')!.recoveryInfo()[0]).toMatchObject({ maxLsn: 0n, lastCplLsn: 0n });
    } finally {
      await volume.close();
    }
  });

  it('does not bring back a commit an earlier recovery truncated, from segments that missed the truncation', async () => {
    const volume = InProcessVolume.open({ pgCount: 1, pagesPerPg: 64 });
    try {
      // Epoch 1: commit 2 on all six (acknowledged); commit 4 reaches n5 and n6 only; the writer crashes.
      const first = new LogShipper({
        volume: volume.volume,
        epoch: 1n,
        clients: volume.clients,
        nextLsn: 1n,
        retryIntervalMs: 3_600_000,
      });
      await first.ship(oneRecordTxn({ lsn: 1n, pageNo: 1, txnId: 1, vdlHint: 0n, prev: 0n })).durable;
      await shipTo(
        volume,
        first,
        ['n5', 'n6'],
        oneRecordTxn({ lsn: 3n, pageNo: 2, txnId: 2, vdlHint: 2n, prev: 2n }),
      );
      first.close();
      // Recovery 1 without n5 and n6: VDL 2; commit 4 is voided on n1–n4 only.
      volume.down.add('n5');
      volume.down.add('n6');
      const one = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
      });
      volume.down.clear();
      expect(one.vdl).toBe(2n);
      expect(volume.nodes.get('n5')!.recoveryInfo()[0]).toMatchObject({
        scl: 4n,
        lastCplLsn: 4n,
        truncatedUpto: 0n,
      });
      // Epoch 2: commit A reaches n1 and n2 only, commit B (after it) n3 only; the writer crashes.
      const second = new LogShipper({
        volume: volume.volume,
        epoch: one.epoch,
        clients: volume.clients,
        nextLsn: one.nextLsn,
        pgTails: one.pgTails,
        durableLsn: one.vdl,
        retryIntervalMs: 3_600_000,
      });
      const a = one.nextLsn;
      await shipTo(
        volume,
        second,
        ['n1', 'n2'],
        oneRecordTxn({ lsn: a, pageNo: 3, txnId: 3, vdlHint: 2n, prev: 2n }),
      );
      await shipTo(
        volume,
        second,
        ['n3'],
        oneRecordTxn({ lsn: a + 2n, pageNo: 4, txnId: 4, vdlHint: 2n, prev: a + 1n }),
      );
      second.close();
      // Recovery 2 from n3–n6: commit A is on none of them; below it, n5 and n6 still hold the voided
      // commit 4 (complete there: SCL 4). Taking it would resurrect a commit recovery 1 cut.
      volume.down.add('n1');
      volume.down.add('n2');
      const two = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
      });
      expect([two.vdl, two.lastCommit.lsn, two.stats.commitsMissing]).toEqual([2n, 2n, 1]);
      expect(volume.nodes.get('n5')!.recoveryInfo()[0]).toMatchObject({ maxLsn: 2n, lastCplLsn: 2n });
    } finally {
      await volume.close();
    }
  });
});

describe('recoverVolume for a Global Database promotion', () => {
  const logger = pino({ level: 'silent' });

  it('truncates and allocates from the highest LSN plus the promotion gap, and a later recovery stays above it', async () => {
    const volume = InProcessVolume.open({ pgCount: 1, pagesPerPg: 64 });
    try {
      const shipper = new LogShipper({
        volume: volume.volume,
        epoch: 1n,
        clients: volume.clients,
        nextLsn: 1n,
        retryIntervalMs: 3_600_000,
      });
      await shipper.ship(oneRecordTxn({ lsn: 1n, pageNo: 1, txnId: 1, vdlHint: 0n, prev: 0n })).durable;
      shipper.close();
      const promoted = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
        truncationGap: globalPromotionLsnGap,
      });
      expect(promoted.vdl).toBe(2n);
      expect(promoted.nextLsn).toBe(2n + globalPromotionLsnGap + 1n);
      expect(volume.nodes.get('n1')!.recoveryInfo()[0]!.truncatedUpto).toBe(2n + globalPromotionLsnGap);
      // A writer restart after it (no gap asked) still allocates above the promotion's range.
      const again = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
      });
      expect(again.nextLsn).toBe(2n + globalPromotionLsnGap + lsnAllocationLimit + 1n);
      // A later promotion counts the gap from the previous promotion's first LSN (another region's,
      // which this volume never saw), not from its own highest.
      const floor = 5n * globalPromotionLsnGap;
      const next = await recoverVolume({
        volume: volume.volume,
        clients: volume.clients,
        logger,
        timeoutMs: 5_000,
        truncationGap: globalPromotionLsnGap,
        truncationFloor: floor,
      });
      expect(next.nextLsn).toBe(floor + globalPromotionLsnGap + 1n);
    } finally {
      await volume.close();
    }
  });
});

describe('recoverVolume reads a read quorum of answers, never a silence', () => {
  const logger = pino({ level: 'silent' });

  /** The volume's clients, but `failing` node → request types it times out on. */
  function clientsFailing(volume: InProcessVolume, failing: Record<string, string[]>) {
    return new Map(
      [...volume.clients].map(([id, client]) => [
        id,
        {
          name: id,
          request: (message: StorageMessage, timeoutMs?: number) =>
            failing[id]?.includes(message.type)
              ? Promise.reject(
                  new BorealisError(ErrorCode.TIMEOUT, `${id}: ${message.type} timed out (test)`),
                )
              : client.request(message, timeoutMs),
        } as unknown as StorageClient,
      ]),
    );
  }

  /**
   * One PG. Commits 2 and 4 on all six (acknowledged); commits 6 and 8 shipped naming commit 2 durable:
   * commit 6 reaches n1 and n2 only, commit 8 n3 only. The writer crashes; n1 and n2 are away.
   */
  async function crashed(): Promise<InProcessVolume> {
    const volume = InProcessVolume.open({ pgCount: 1, pagesPerPg: 64 });
    const shipper = new LogShipper({
      volume: volume.volume,
      epoch: 1n,
      clients: volume.clients,
      nextLsn: 1n,
      retryIntervalMs: 3_600_000,
    });
    await shipper.ship(oneRecordTxn({ lsn: 1n, pageNo: 1, txnId: 1, vdlHint: 0n, prev: 0n })).durable;
    await shipper.ship(oneRecordTxn({ lsn: 3n, pageNo: 2, txnId: 2, vdlHint: 2n, prev: 2n })).durable;
    await shipTo(
      volume,
      shipper,
      ['n1', 'n2'],
      oneRecordTxn({ lsn: 5n, pageNo: 3, txnId: 3, vdlHint: 2n, prev: 4n }),
    );
    await shipTo(
      volume,
      shipper,
      ['n3'],
      oneRecordTxn({ lsn: 7n, pageNo: 4, txnId: 4, vdlHint: 2n, prev: 6n }),
    );
    expect(shipper.vdl).toBe(4n);
    shipper.close();
    volume.down.add('n1');
    volume.down.add('n2');
    return volume;
  }

  it('opens when the segments that answer the walk still form a read quorum', async () => {
    const volume = await crashed();
    try {
      // n4 answers recoveryInfo, then times out on every read of the walk: n3, n5, n6 remain.
      const clients = clientsFailing(volume, { n4: ['gossipPull', 'cplBelow'] });
      const recovered = await recoverVolume({ volume: volume.volume, clients, logger, timeoutMs: 5_000 });
      expect([recovered.vdl, recovered.stats.epochAttempts]).toEqual([4n, 1]);
    } finally {
      await volume.close();
    }
  });

  it('does not take a silence for "not held": without a read quorum of answers it cuts nothing', async () => {
    const volume = await crashed();
    try {
      // n4 and n5 time out on "the commit below 6": only n3 and n6 answer it, not a read quorum.
      const clients = clientsFailing(volume, { n4: ['cplBelow'], n5: ['cplBelow'] });
      const error = await recoverVolume({ volume: volume.volume, clients, logger, timeoutMs: 600 }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({
        code: ErrorCode.UNAVAILABLE,
        retryable: true,
        message: 'pg 0: no read quorum answered the commit below 0/6',
      });
      expect(volume.nodes.get('n3')!.recoveryInfo()[0]).toMatchObject({ maxLsn: 8n, truncatedUpto: 0n });
    } finally {
      await volume.close();
    }
  });
});
