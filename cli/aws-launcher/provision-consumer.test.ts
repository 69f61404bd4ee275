// The provision queue's consumer, one message at a time (`handle`), with SSM stubbed at its `send`
// and the clusters it runs faked: what it reports for each request, what it refuses, what it drops.
// The SQS loop itself runs against LocalStack in integration/localstack/up-aws.test.ts.
import { DeleteObjectCommand, type GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { type DeleteParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import {
  decodeProvisionStatus,
  encodeProvisionJob,
  encodeProvisionRequest,
  provisionJobKey,
} from '../../core/cluster/provision.ts';
import { createRequestStaleMs, ProvisionConsumer, type ProvisionedClusters } from './provision-consumer.ts';

const job: RestoreJob = {
  requestId: 'req-1',
  sourceCluster: 'borealis',
  targetCluster: 'restored-1',
  region: 'us-east-1',
  bucket: 'borealis-backup-us-east-1',
  chunkKeys: [],
  restoreTimeMs: 1,
  cutCommitLsn: '10',
  cutCommitTimeMs: 1,
};
const create = encodeProvisionRequest({ kind: 'create', requestId: 'req-1', job });

function harness(options: { startFails?: string; existing?: string[]; stored?: Map<string, string> } = {}) {
  const calls: string[] = [];
  const running = new Map<string, string>();
  const clusters: ProvisionedClusters = {
    exists: (name) => running.has(name) || (options.existing ?? []).includes(name),
    runningRequest: (name) => running.get(name),
    async start(j) {
      calls.push(`start ${j.targetCluster}`);
      if (options.startFails) throw new Error(options.startFails);
      running.set(j.targetCluster, j.requestId);
    },
    async remove(name) {
      calls.push(`remove ${name}`);
      running.delete(name);
    },
  };
  const ssm = {
    send: async (command: PutParameterCommand | DeleteParameterCommand) => {
      if (command instanceof PutParameterCommand) {
        const status = decodeProvisionStatus(command.input.Value!);
        calls.push(`status ${status.state}${status.reason ? `: ${status.reason}` : ''}`);
      } else {
        calls.push(`delete ${command.input.Name}`);
      }
      return {};
    },
  } as unknown as SSMClient;
  const stored = options.stored ?? new Map<string, string>();
  const s3 = {
    send: async (command: GetObjectCommand | DeleteObjectCommand) => {
      const id = `${command.input.Bucket}/${command.input.Key}`;
      if (command instanceof DeleteObjectCommand) {
        calls.push(`delete s3://${id}`);
        stored.delete(id);
        return {};
      }
      const text = stored.get(id);
      if (text === undefined)
        throw Object.assign(new Error('The specified key does not exist.'), { name: 'NoSuchKey' });
      return { Body: { transformToString: async () => text } };
    },
  } as unknown as S3Client;
  const logs: string[] = [];
  const consumer = new ProvisionConsumer({
    sqs: {} as SQSClient,
    ssm,
    s3,
    queueUrl: 'http://q',
    clusters,
    protectedClusters: new Set(['borealis']),
    log: (message) => logs.push(message),
    now: () => 10 * createRequestStaleMs,
  });
  return { consumer, calls, logs };
}

describe('ProvisionConsumer', () => {
  it('a create reports starting, starts the cluster, then reports ready', async () => {
    const h = harness();
    await h.consumer.handle(create);
    expect(h.calls).toEqual(['status starting', 'start restored-1', 'status ready']);
  });

  it('the same request again (redelivered) reports ready without starting a second cluster', async () => {
    const h = harness();
    await h.consumer.handle(create);
    await h.consumer.handle(create);
    expect(h.calls.filter((c) => c.startsWith('start'))).toEqual(['start restored-1']);
    expect(h.calls.at(-1)).toBe('status ready');
  });

  it('a cluster that does not start is removed and reported failed with the reason', async () => {
    const h = harness({ startFails: 'no write quorum' });
    await h.consumer.handle(create);
    expect(h.calls).toEqual([
      'status starting',
      'start restored-1',
      'remove restored-1',
      'status failed: no write quorum',
    ]);
  });

  it('refuses a name that exists here, and never creates or destroys the cluster it runs', async () => {
    const taken = harness({ existing: ['restored-1'] });
    await taken.consumer.handle(create);
    expect(taken.calls).toEqual(['status failed: cluster restored-1 already exists here']);
    const primary = harness();
    await primary.consumer.handle(
      encodeProvisionRequest({ kind: 'destroy', requestId: 'd', cluster: 'borealis' }),
    );
    expect(primary.calls).toEqual(['status failed: cluster borealis is not removed through the queue']);
  });

  it('a destroy stops the cluster, then deletes its topology and its status (the answer)', async () => {
    const h = harness();
    await h.consumer.handle(create);
    h.calls.length = 0;
    await h.consumer.handle(
      encodeProvisionRequest({ kind: 'destroy', requestId: 'd', cluster: 'restored-1' }),
    );
    expect(h.calls).toEqual([
      'remove restored-1',
      'delete /borealis/restored-1/topology',
      'delete /borealis/restored-1/provision',
    ]);
  });

  it('drops a malformed request and a create older than its requester waits, touching nothing', async () => {
    const h = harness();
    await h.consumer.handle('{"not":"a request"}');
    await h.consumer.handle(create, 10 * createRequestStaleMs - createRequestStaleMs - 1);
    expect(h.calls).toEqual([]);
    expect(h.logs).toEqual([
      'provision queue: dropped a malformed request',
      'provision queue: dropped a stale create request',
    ]);
  });
  it('a job sent as a claim check is read from S3, deleted there, and started as an inline one', async () => {
    const key = provisionJobKey('restored-1', 'req-1');
    const stored = new Map([[`${job.bucket}/${key}`, encodeProvisionJob(job)]]);
    const h = harness({ stored });
    const request = encodeProvisionRequest({
      kind: 'create-stored',
      requestId: 'req-1',
      cluster: 'restored-1',
      jobObject: { bucket: job.bucket, key },
    });
    await h.consumer.handle(request);
    expect(h.calls).toEqual([
      `delete s3://${job.bucket}/${key}`,
      'status starting',
      'start restored-1',
      'status ready',
    ]);
    expect(stored.size).toBe(0);
  });

  it('a claim check whose object is missing or names another request is reported failed, nothing started', async () => {
    const key = provisionJobKey('restored-1', 'req-1');
    const request = encodeProvisionRequest({
      kind: 'create-stored',
      requestId: 'req-1',
      cluster: 'restored-1',
      jobObject: { bucket: job.bucket, key },
    });
    const missing = harness();
    await missing.consumer.handle(request);
    expect(missing.calls).toEqual([
      `status failed: the restore job ${job.bucket}/${key} cannot be read: The specified key does not exist.`,
    ]);
    const other = harness({
      stored: new Map([[`${job.bucket}/${key}`, encodeProvisionJob({ ...job, requestId: 'req-2' })]]),
    });
    await other.consumer.handle(request);
    expect(other.calls.filter((c) => c.startsWith('start'))).toEqual([]);
    expect(other.calls.at(-1)).toMatch(
      /^status failed: .*it is for restored-1\/req-2, not restored-1\/req-1/,
    );
  });
});
