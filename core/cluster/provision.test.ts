// The provision queue's documents: a request survives encoding, a bad one is refused with what is
// wrong, a job too large for one SQS message is refused before sending, and status round-trips.
import { describe, expect, it } from 'vitest';
import type { RestoreJob } from '../backup/restore-plan.ts';
import {
  decodeProvisionRequest,
  decodeProvisionStatus,
  encodeProvisionRequest,
  encodeProvisionStatus,
  provisionMessageBytesMax,
  provisionReasonCharsMax,
  provisionStatusParameterName,
} from './provision.ts';

const job: RestoreJob = {
  requestId: 'req-1',
  sourceCluster: 'borealis',
  targetCluster: 'restored-1',
  region: 'us-east-1',
  bucket: 'borealis-backup-us-east-1',
  chunkKeys: ['borealis/log/a', 'borealis/log/b'],
  restoreTimeMs: 1_700_000_000_000,
  cutCommitLsn: '1234',
  cutCommitTimeMs: 1_699_999_999_000,
};

describe('provision requests', () => {
  it('a create and a destroy round-trip through the message body', () => {
    const create = { kind: 'create' as const, requestId: 'req-1', job };
    expect(decodeProvisionRequest(encodeProvisionRequest(create))).toEqual(create);
    const destroy = { kind: 'destroy' as const, requestId: 'destroy-restored-1-1', cluster: 'restored-1' };
    expect(decodeProvisionRequest(encodeProvisionRequest(destroy))).toEqual(destroy);
    expect(JSON.parse(encodeProvisionRequest(destroy)).version).toBe(1);
  });

  it('refuses a job too large for one SQS message, naming its size', () => {
    const keys = Array.from({ length: 5_000 }, (_, i) => `borealis/log/${String(i).padStart(60, '0')}`);
    expect(() =>
      encodeProvisionRequest({ kind: 'create', requestId: 'req-1', job: { ...job, chunkKeys: keys } }),
    ).toThrow(new RegExp(`\\d+ bytes \\(5000 log chunks\\) exceed SQS's ${provisionMessageBytesMax}-byte`));
  });

  it('refuses bad bodies with the reason', () => {
    const body = (doc: Record<string, unknown>) => JSON.stringify({ version: 1, requestId: 'r', ...doc });
    expect(() => decodeProvisionRequest('nope')).toThrow('provision request: not JSON');
    expect(() => decodeProvisionRequest(JSON.stringify({ version: 2, kind: 'destroy' }))).toThrow(
      'version 2 is not 1',
    );
    expect(() => decodeProvisionRequest(body({ kind: 'explode' }))).toThrow(
      "kind must be 'create', 'create-stored' or 'destroy'",
    );
    expect(() => decodeProvisionRequest(body({ kind: 'destroy', cluster: '../etc' }))).toThrow(
      'cluster name must match',
    );
    expect(() =>
      decodeProvisionRequest(body({ kind: 'create', job: { ...job, requestId: 'r' }, requestId: 'x' })),
    ).toThrow('job.requestId differs from requestId');
    expect(() =>
      decodeProvisionRequest(
        body({ kind: 'create', requestId: 'req-1', job: { ...job, cutCommitLsn: 'x' } }),
      ),
    ).toThrow('job.cutCommitLsn must be a decimal LSN');
    expect(() =>
      decodeProvisionRequest(body({ kind: 'create', requestId: 'req-1', job: { ...job, chunkKeys: [1] } })),
    ).toThrow('job.chunkKeys must be a list of keys');
  });
});

describe('provision status', () => {
  it('is kept in /borealis/<cluster>/provision and round-trips', () => {
    expect(provisionStatusParameterName('restored-1')).toBe('/borealis/restored-1/provision');
    const text = encodeProvisionStatus(
      { requestId: 'req-1', cluster: 'restored-1', state: 'failed', reason: 'no quorum' },
      new Date('2026-12-02T00:00:00.000Z'),
    );
    expect(decodeProvisionStatus(text)).toEqual({
      version: 1,
      requestId: 'req-1',
      cluster: 'restored-1',
      state: 'failed',
      reason: 'no quorum',
      updatedAt: '2026-12-02T00:00:00.000Z',
    });
  });

  it('cuts a long reason so the status fits a standard SSM parameter', () => {
    const text = encodeProvisionStatus({
      requestId: 'r',
      cluster: 'c',
      state: 'failed',
      reason: 'x'.repeat(10_000),
    });
    expect(decodeProvisionStatus(text).reason).toHaveLength(provisionReasonCharsMax);
    expect(Buffer.byteLength(text)).toBeLessThan(4_096);
  });

  it('refuses an unknown state', () => {
    const text = JSON.stringify({ version: 1, requestId: 'r', cluster: 'c', state: 'dancing' });
    expect(() => decodeProvisionStatus(text)).toThrow('provision status: unknown state "dancing"');
  });
});
