// The applier's core against an in-memory shipper (the quorum shipping itself is LogShipper's, tested
// in services/writer/log-shipper.test.ts): placement of batches, acknowledgement only once durable,
// the position persisted before the acknowledgement, and the secondary's commit time at VDL.
import { describe, expect, it } from 'vitest';
import { encodeRedoBatch } from '../../core/backup/redo-batch.ts';
import { isBorealisError } from '../../core/errors.ts';
import { createLogger } from '../../core/log.ts';
import type { Lsn } from '../../core/lsn.ts';
import { encodeCommitPayload, RecordKind, type RedoRecord } from '../../core/record.ts';
import { ReplicaApplier, type ReplicaShipper, type ReplicaState } from './applier.ts';

const logger = createLogger('replica-applier-test');

function commit(lsn: Lsn, prev: Lsn): RedoRecord {
  return {
    lsn,
    pg: 0,
    pageNo: 0,
    prevLsnInPg: prev,
    prevLsnOfPage: 0n,
    kind: RecordKind.Commit,
    flags: 0,
    payload: encodeCommitPayload({
      txnId: lsn,
      commitTimeMs: 1_000 * Number(lsn),
      prevCommitLsn: prev,
      prevCommitPg: 0,
      vdlHint: prev,
      pgTails: [{ pg: 0, lastLsn: lsn }],
    }),
  };
}

/** Batches of one commit each, LSN k in (k-1, k]. */
const batch = (lsn: Lsn) =>
  encodeRedoBatch({ epoch: 1n, prevLsn: lsn - 1n, records: [commit(lsn, lsn - 1n)] });

class MemoryShipper implements ReplicaShipper {
  shipped: Lsn[] = [];
  readonly #pending: Array<{ last: Lsn; resolve: () => void }> = [];
  vdl: Lsn = 0n;
  constructor(private readonly onVdl: (vdl: Lsn) => void) {}
  shipReplicated(records: RedoRecord[]) {
    for (const r of records) this.shipped.push(r.lsn);
    const last = records.at(-1)!.lsn;
    return { durable: new Promise<void>((resolve) => this.#pending.push({ last, resolve })) };
  }
  /** The quorum acknowledged everything shipped. */
  settle(): void {
    for (const p of this.#pending.splice(0)) {
      this.vdl = p.last;
      this.onVdl(p.last);
      p.resolve();
    }
  }
}

function rig(start: ReplicaState = { durableTail: 0n, vdl: 0n, vdlCommitTimeMs: 0 }) {
  const persisted: ReplicaState[] = [];
  let applier: ReplicaApplier | undefined;
  const shipper = new MemoryShipper((vdl) => applier!.vdlAdvanced(vdl));
  applier = new ReplicaApplier(shipper, logger, start, (s) => persisted.push(s));
  return { applier, shipper, persisted };
}

describe('ReplicaApplier', () => {
  it('acknowledges a batch only once durable, with the position persisted first', async () => {
    const { applier, shipper, persisted } = rig();
    let acked = false;
    const done = applier.apply(batch(1n)).then((r) => {
      acked = true;
      return r;
    });
    await new Promise((r) => setImmediate(r));
    expect(acked).toBe(false);
    expect(persisted).toEqual([]);
    shipper.settle();
    expect(await done).toEqual({ placement: 'continues', lastLsn: 1n, vdl: 1n });
    expect(persisted).toEqual([{ durableTail: 1n, vdl: 1n, vdlCommitTimeMs: 1_000 }]);
    expect(applier.vdlCommitTimeMs).toBe(1_000);
  });

  it('a redelivered batch ships nothing again; an overlapping one ships only what is new', async () => {
    const { applier, shipper } = rig();
    const first = applier.apply(batch(1n));
    shipper.settle();
    await first;
    const again = await applier.apply(batch(1n));
    expect(again.placement).toBe('duplicate');
    const overlap = encodeRedoBatch({ epoch: 1n, prevLsn: 0n, records: [commit(1n, 0n), commit(2n, 1n)] });
    const next = applier.apply(overlap);
    shipper.settle();
    expect((await next).placement).toBe('continues');
    expect(shipper.shipped).toEqual([1n, 2n]);
  });

  it('refuses a batch after a gap and changes nothing', async () => {
    const { applier, shipper, persisted } = rig();
    const error = await applier.apply(batch(3n)).catch((e: unknown) => e);
    expect(isBorealisError(error, 'NOT_COMPLETE')).toBe(true);
    expect(shipper.shipped).toEqual([]);
    expect(persisted).toEqual([]);
    expect(applier.shippedTail).toBe(0n);
    expect(applier.batchesRefused).toBe(1);
  });

  it('refuses bytes that are not a redo batch', async () => {
    const { applier, shipper } = rig();
    const error = await applier.apply(Buffer.from('no batch here')).catch((e: unknown) => e);
    expect(isBorealisError(error, 'INVALID_ARGUMENT')).toBe(true);
    expect(shipper.shipped).toEqual([]);
  });

  it('resumes from a persisted position: batches up to it are duplicates, the next one continues', async () => {
    const { applier, shipper } = rig({ durableTail: 2n, vdl: 2n, vdlCommitTimeMs: 2_000 });
    expect((await applier.apply(batch(2n))).placement).toBe('duplicate');
    const next = applier.apply(batch(3n));
    shipper.settle();
    expect(await next).toEqual({ placement: 'continues', lastLsn: 3n, vdl: 3n });
    expect(shipper.shipped).toEqual([3n]);
  });
});
