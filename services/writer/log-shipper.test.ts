// The log shipper against six real storage node state machines in this process (testing.ts): how it
// links records, when a batch is durable (a write quorum of every PG it touches, and nothing less),
// how it brings a node that was away up to date, how it splits a large transaction, and how a newer
// epoch fences it.
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { isWriteQuorum } from '../../core/quorum.ts';
import { encodeCommitPayload, RecordFlags, RecordKind, type RedoRecord } from '../../core/record.ts';
import { pgOfPage } from '../../core/volume.ts';
import type { StorageClient } from '../../core/wire/client.ts';
import { appendBytesMax, chunksInFlightMax, LogShipper, type NewRecord } from './log-shipper.ts';
import { InProcessVolume } from './testing.ts';

const pagesPerPg = 64;
const opened: { close: () => unknown }[] = [];
afterEach(async () => {
  for (const x of opened.splice(0).reverse()) await x.close();
});

function openVolume(options: { pgCount: number; pagesPerPg?: number }): InProcessVolume {
  const volume = InProcessVolume.open({
    pgCount: options.pgCount,
    pagesPerPg: options.pagesPerPg ?? pagesPerPg,
  });
  opened.push(volume);
  return volume;
}

function shipper(
  volume: InProcessVolume,
  options: Partial<ConstructorParameters<typeof LogShipper>[0]> = {},
) {
  const s = new LogShipper({
    volume: volume.volume,
    epoch: 1n,
    clients: volume.clients,
    nextLsn: 1n,
    // No retries unless a test asks for them: what is sent once is what the test sees.
    retryIntervalMs: 3_600_000,
    ...options,
  });
  opened.push(s);
  return s;
}

/** A transaction as the writer engine ships it: a small delta per page, then the commit record. */
function txn(pageNos: number[], commitPg: number): NewRecord[] {
  return [
    ...pageNos.map((pageNo) => ({
      pageNo,
      kind: RecordKind.PageDelta,
      flags: 0,
      payload: Uint8Array.of(0, 0, 1, 0, 42), // any bytes: nothing here coalesces or reads the page
    })),
    {
      pg: commitPg,
      pageNo: 0,
      kind: RecordKind.Commit,
      flags: RecordFlags.Cpl,
      payload: encodeCommitPayload({
        txnId: 1n,
        commitTimeMs: 0,
        pgTails: [],
        vdlHint: 0n,
        prevCommitLsn: 0n,
        prevCommitPg: 0,
      }),
    },
  ];
}

/** Whether a promise has settled, and how, without waiting for it. */
function track(promise: Promise<void>): { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } {
  const t: { state: 'pending' | 'resolved' | 'rejected'; error?: unknown } = { state: 'pending' };
  promise.then(
    () => {
      t.state = 'resolved';
    },
    (error: unknown) => {
      t.state = 'rejected';
      t.error = error;
    },
  );
  return t;
}

describe('LogShipper: LSNs and backlinks', () => {
  it('property: LSNs run on from nextLsn; each record links to its PG’s and its page’s previous record', () => {
    // Sends go nowhere: the clients never answer. Only the records ship() returns are checked.
    const silent = new Map(
      ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'].map((id) => [
        id,
        {
          request: () => new Promise(() => {}),
          requestRaw: () => new Promise(() => {}),
        } as unknown as StorageClient,
      ]),
    );
    const volume = InProcessVolume.open({ pgCount: 3, pagesPerPg: 8 });
    opened.push(volume);
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 12,
        }),
        fc.bigInt({ min: 1n, max: 1n << 40n }),
        fc.array(fc.bigInt({ min: 1n, max: 1n << 20n }), { minLength: 3, maxLength: 3 }),
        (batches, firstLsn, tailGaps) => {
          // Each PG's tail somewhere below the first LSN, as a recovered writer would start.
          const pgTails = new Map(tailGaps.map((gap, pg) => [pg, firstLsn > gap ? firstLsn - gap : 0n]));
          const s = new LogShipper({
            volume: volume.volume,
            epoch: 1n,
            clients: silent,
            nextLsn: firstLsn,
            pgTails,
            durableLsn: firstLsn - 1n,
            lsnAllocationLimit: 1n << 50n,
            retryIntervalMs: 3_600_000,
          });
          const lastInPg = new Map(pgTails);
          const lastOfPage = new Map<number, Lsn>();
          let expected = firstLsn;
          for (const pageNos of batches) {
            const commitPg = pgOfPage(volume.volume, pageNos[pageNos.length - 1]!);
            const { records, durable } = s.ship(txn(pageNos, commitPg));
            durable.catch(() => undefined);
            for (const r of records) {
              expect(r.lsn).toBe(expected++);
              expect(r.pg).toBe(r.pageNo === 0 ? commitPg : pgOfPage(volume.volume, r.pageNo));
              expect(r.prevLsnInPg).toBe(lastInPg.get(r.pg) ?? 0n);
              lastInPg.set(r.pg, r.lsn);
              expect(r.prevLsnOfPage).toBe(r.pageNo === 0 ? 0n : (lastOfPage.get(r.pageNo) ?? 0n));
              if (r.pageNo !== 0) lastOfPage.set(r.pageNo, r.lsn);
            }
          }
          expect(s.nextLsn).toBe(expected);
          for (const [pg, lsn] of lastInPg) expect(s.pgTail(pg)).toBe(lsn);
          expect(s.vdl).toBe(firstLsn - 1n); // nothing answered: nothing more is durable
          s.close();
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('LogShipper: durability', () => {
  // Every one of the 64 sets of nodes up, against the quorum rule per PG. Set m ships one batch to
  // PGs 2m and 2m + 1 (laid out as PGs 0 and 1: the default placement alternates full segments by
  // PG), each through a shipper of its own that takes over where the last one stopped.
  it('a batch is durable exactly when every PG it touches has a write quorum of segments up', async () => {
    const volume = openVolume({ pgCount: 128 });
    const ids = volume.volume.nodes.map((n) => n.id);
    let next = { nextLsn: 1n, pgTails: new Map<number, Lsn>() };
    for (let mask = 0; mask < 64; mask++) {
      volume.down.clear();
      ids.forEach((id, i) => {
        if ((mask & (1 << i)) === 0) volume.down.add(id);
      });
      const s = shipper(volume, { ...next, durableLsn: next.nextLsn - 1n });
      const [pgA, pgB] = [2 * mask, 2 * mask + 1];
      const { records, durable } = s.ship(
        txn([pgA * pagesPerPg + 1, pgA * pagesPerPg + 2, pgB * pagesPerPg + 1], pgB),
      );
      const commitLsn = records.at(-1)!.lsn;
      const outcome = track(durable);
      const vdlWait = track(s.waitForVdl(commitLsn));
      await volume.idle();
      const quorum = (pg: number) =>
        isWriteQuorum(
          volume.volume.placement[pg]!.segments.map((seg) => !volume.down.has(seg.nodeId)),
          volume.volume.placement[pg]!.segments.map((seg) => seg.kind),
        );
      const quorate = quorum(pgA) && quorum(pgB);
      const up = ids.filter((id) => !volume.down.has(id)).join(',');
      expect({ up, durable: outcome.state, vdlWait: vdlWait.state, vdl: s.vdl }).toEqual({
        up,
        durable: quorate ? 'resolved' : 'pending',
        vdlWait: quorate ? 'resolved' : 'pending',
        vdl: quorate ? commitLsn : next.nextLsn - 1n,
      });
      expect({ up, a: s.pgCompleteLsn(pgA) > 0n, b: s.pgCompleteLsn(pgB) > 0n }).toEqual({
        up,
        a: quorum(pgA),
        b: quorum(pgB),
      });
      next = { nextLsn: s.nextLsn, pgTails: s.pgTails() };
      s.close();
      durable.catch(() => undefined);
    }
  }, 60_000);

  it('sends a node that was away what it missed once it is back, and the batch becomes durable', async () => {
    const volume = openVolume({ pgCount: 2 });
    // Both nodes of one AZ and one more: 3 of 6 up — no write quorum in either PG.
    for (const id of ['n1', 'n2', 'n3']) volume.down.add(id);
    const s = shipper(volume, { retryIntervalMs: 5 });
    const first = s.ship(txn([1, pagesPerPg + 1], 0));
    const second = s.ship(txn([2], 0));
    const states = [track(first.durable), track(second.durable)];
    await volume.idle();
    await new Promise((r) => setTimeout(r, 30)); // retries to the nodes still away change nothing
    expect(states.map((t) => t.state)).toEqual(['pending', 'pending']);
    expect(s.vdl).toBe(0n);

    volume.down.delete('n1');
    await Promise.all([first.durable, second.durable]);
    expect(s.vdl).toBe(second.records.at(-1)!.lsn);
    // n1 holds both batches, complete in both PGs (its SCL is each PG's last LSN).
    const lastInPg = (pg: number) =>
      [...first.records, ...second.records].filter((r) => r.pg === pg).at(-1)!.lsn;
    const n1 = volume.nodes.get('n1')!.recoveryInfo();
    expect(n1.map((x) => [x.pg, x.scl])).toEqual([
      [0, lastInPg(0)],
      [1, lastInPg(1)],
    ]);
  });

  it('acknowledges commits in LSN order: a later batch durable first does not move VDL past an earlier one', async () => {
    const volume = openVolume({ pgCount: 2 });
    // n2, n4, n6 away: PG 0 keeps its three full segments (a write quorum), PG 1 has only tails.
    for (const id of ['n2', 'n4', 'n6']) volume.down.add(id);
    const s = shipper(volume, { retryIntervalMs: 5 });
    const first = s.ship(txn([pagesPerPg + 1], 1));
    const second = s.ship(txn([1], 0));
    const waits = [
      track(s.waitForVdl(first.records.at(-1)!.lsn)),
      track(s.waitForVdl(second.records.at(-1)!.lsn)),
    ];
    const firstDurable = track(first.durable);
    await second.durable;
    await volume.idle();
    expect(firstDurable.state).toBe('pending');
    expect(waits.map((w) => w.state)).toEqual(['pending', 'pending']);
    expect(s.vdl).toBe(0n);
    for (const id of ['n2', 'n4', 'n6']) volume.down.delete(id);
    await first.durable;
    await new Promise((r) => setTimeout(r, 1));
    expect(waits.map((w) => w.state)).toEqual(['resolved', 'resolved']);
    expect(s.vdl).toBe(second.records.at(-1)!.lsn);
  });
});

describe('LogShipper: a large transaction', () => {
  it(`goes to each node as Appends of at most ${appendBytesMax / 1024 / 1024} MiB, in LSN order, ${chunksInFlightMax} in flight at most`, async () => {
    const pages = 2_600; // ~10.6 MiB of page images in PG 0
    const volume = openVolume({ pgCount: 2, pagesPerPg: 4096 });
    const s = shipper(volume);
    const records: NewRecord[] = Array.from({ length: pages }, (_, i) => ({
      pageNo: i + 1,
      kind: RecordKind.PageImage,
      flags: 0,
      payload: new Uint8Array(4096).fill(i % 251),
    }));
    const commit = txn([], 0).at(-1)!;
    const shipped = s.ship([...records, commit]);
    await shipped.durable;
    expect(s.vdl).toBe(shipped.records.at(-1)!.lsn);
    for (const [id, appends] of volume.appends) {
      expect(appends.length, id).toBeGreaterThanOrEqual(3);
      for (const a of appends) expect(a.bodyBytes, id).toBeLessThanOrEqual(appendBytesMax + 64);
      const sent: RedoRecord[] = appends.flatMap((a) => a.records);
      expect(sent.map((r) => r.lsn)).toEqual(shipped.records.map((r) => r.lsn)); // each once, in order
      expect(volume.inFlightMax.get(id), id).toBeLessThanOrEqual(chunksInFlightMax);
    }
  }, 60_000);
});

describe('LogShipper: fencing', () => {
  it('a newer epoch on one node fences it: pending batches and VDL waits fail, nothing more is sent', async () => {
    const volume = openVolume({ pgCount: 2 });
    const fenced: BorealisError[] = [];
    const s = shipper(volume, { onFenced: (e) => fenced.push(e) });
    const before = s.ship(txn([1], 0));
    await before.durable;
    // A new writer opened the volume on n4 (it installs epoch 2 there first).
    await volume.nodes.get('n4')!.handle({ type: 'recoveryInfo', epoch: 2n });
    const batch = s.ship(txn([2], 0));
    const wait = s.waitForVdl(batch.records.at(-1)!.lsn);
    await expect(batch.durable).rejects.toMatchObject({ code: ErrorCode.STALE_EPOCH });
    await expect(wait).rejects.toMatchObject({ code: ErrorCode.STALE_EPOCH });
    expect(fenced.map((e) => e.code)).toEqual([ErrorCode.STALE_EPOCH]);
    expect(s.fenced).toBe(fenced[0]);
    await volume.idle();
    const sentBefore = [...volume.appends.values()].map((a) => a.length);
    const after = s.ship(txn([3], 0));
    expect(after.records).toEqual([]);
    await expect(after.durable).rejects.toBeInstanceOf(BorealisError);
    await expect(s.waitForVdl(s.vdl + 1n)).rejects.toMatchObject({ code: ErrorCode.STALE_EPOCH });
    await volume.idle();
    expect([...volume.appends.values()].map((a) => a.length)).toEqual(sentBefore);
    expect(fenced).toHaveLength(1);
  });

  it('close() fails what is pending with UNAVAILABLE', async () => {
    const volume = openVolume({ pgCount: 2 });
    for (const id of ['n1', 'n2', 'n3']) volume.down.add(id);
    const s = shipper(volume);
    const batch = s.ship(txn([1], 0));
    const wait = s.waitForVdl(batch.records.at(-1)!.lsn);
    await volume.idle();
    s.close();
    await expect(batch.durable).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
    await expect(wait).rejects.toMatchObject({ code: ErrorCode.UNAVAILABLE });
  });
});
