import type { KinesisStreamEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { encodeRedoBatch } from '../../core/backup/redo-batch.ts';
import { createLogger } from '../../core/log.ts';
import { encodeCommitPayload, RecordKind, type RedoRecord } from '../../core/record.ts';
import { type ApplyAnswer, type ReplicatorDeps, replicateRedoBatches } from './handler.ts';

const logger = createLogger('global-replicator-test');

function commit(lsn: bigint, prev: bigint): RedoRecord {
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
      commitTimeMs: 1_000 + Number(lsn),
      prevCommitLsn: prev,
      prevCommitPg: 0,
      vdlHint: prev,
      pgTails: [{ pg: 0, lastLsn: lsn }],
    }),
  };
}

function event(datas: Buffer[]): KinesisStreamEvent {
  return {
    Records: datas.map((d, i) => ({
      kinesis: { data: d.toString('base64'), sequenceNumber: `seq-${i}`, partitionKey: 'borealis' },
    })),
  } as unknown as KinesisStreamEvent;
}

const batches = [1n, 2n, 3n].map((lsn) =>
  encodeRedoBatch({ epoch: 1n, prevLsn: lsn - 1n, records: [commit(lsn, lsn - 1n)] }),
);

function deps(answers: Array<ApplyAnswer | Error>, url: string | null = 'http://127.0.0.1:1/apply') {
  const sent: Buffer[] = [];
  const d: ReplicatorDeps = {
    applierUrl: async () => url ?? undefined,
    post: async (_url, body) => {
      sent.push(Buffer.from(body));
      const answer = answers.shift() ?? { ok: true, status: 200, body: '{}' };
      if (answer instanceof Error) throw answer;
      return answer;
    },
    logger,
  };
  return { d, sent };
}

describe('replicateRedoBatches', () => {
  it('sends every batch in sequence order and reports no failure when each is acknowledged', async () => {
    const { d, sent } = deps([]);
    const out = await replicateRedoBatches(event(batches), d);
    expect(out.batchItemFailures).toEqual([]);
    expect(sent).toEqual(batches);
    expect(out.bytesSent).toBe(batches.reduce((n, b) => n + b.length, 0));
  });

  it('at the first unacknowledged batch, reports it and every later one, and sends nothing after it', async () => {
    const { d, sent } = deps([
      { ok: true, status: 200, body: '{}' },
      { ok: false, status: 409, body: 'gap' },
    ]);
    const out = await replicateRedoBatches(event(batches), d);
    expect(out.batchItemFailures).toEqual([{ itemIdentifier: 'seq-1' }, { itemIdentifier: 'seq-2' }]);
    expect(sent).toEqual(batches.slice(0, 2));
  });

  it('an unreachable secondary fails from the batch it could not send', async () => {
    const { d } = deps([new Error('ECONNREFUSED')]);
    const out = await replicateRedoBatches(event(batches), d);
    expect(out.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['seq-0', 'seq-1', 'seq-2']);
  });

  it('a record that is not a redo batch blocks there (never skipped: it would leave a hole)', async () => {
    const { d, sent } = deps([]);
    const out = await replicateRedoBatches(event([batches[0]!, Buffer.from('not a batch'), batches[2]!]), d);
    expect(out.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['seq-1', 'seq-2']);
    expect(sent).toEqual([batches[0]]);
  });

  it('with no secondary configured, every batch is done without sending anything', async () => {
    const { d, sent } = deps([], null);
    expect((await replicateRedoBatches(event(batches), d)).batchItemFailures).toEqual([]);
    expect(sent).toEqual([]);
  });

  it('when the secondary cannot be found, the whole batch is retried', async () => {
    const { d } = deps([]);
    d.applierUrl = async () => {
      throw new Error('no topology yet');
    };
    const out = await replicateRedoBatches(event(batches), d);
    expect(out.batchItemFailures).toHaveLength(3);
  });
});
