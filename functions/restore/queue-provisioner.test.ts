// The restore function's deployed-mode provisioner, with the SQS and SSM clients stubbed at their
// `send` (no LocalStack here; integration/localstack/up-aws.test.ts runs it against real ones) and a
// fake clock: what it sends, when it calls a cluster ready or failed, and the unconfigured case.
import type { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSClient } from '@aws-sdk/client-sqs';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { EventBridgeEvent } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import {
  decodeProvisionJob,
  decodeProvisionRequest,
  encodeProvisionStatus,
  provisionJobKey,
} from '../../core/cluster/provision.ts';
import type { Topology } from '../../core/cluster/topology.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { handleRestoreRequested, restoreFailed, restoreRequested } from './handler.ts';
import { provisionerFromEnv } from './index.ts';
import {
  QueueProvisioner,
  type QueueProvisionerOptions,
  unconfiguredProvisioner,
} from './queue-provisioner.ts';

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

const topology = (withWriter: boolean): Topology => ({
  version: 2,
  cluster: 'restored-1',
  region: 'us-east-1',
  epoch: '1',
  writer: withWriter
    ? { id: 'instance-1', endpoint: 'http://127.0.0.1:1/', redo: '127.0.0.1:2', incarnation: 1 }
    : null,
  readers: [],
  failoverInProgress: false,
  resourceArn: 'arn:r',
  secretArn: 'arn:s',
  endpoints: { writer: 'http://127.0.0.1:7', reader: 'http://127.0.0.1:8' },
  updatedAt: 'now',
});

const notFound = () =>
  new BorealisError(ErrorCode.UNAVAILABLE, 'no cluster', { retryable: false, context: { notFound: true } });

/** A fake world: the messages sent, the status parameter, and a script of what the consumer does. */
function world(script: (tick: number, sent: string[]) => { status?: string; topology?: Topology }) {
  const sent: string[] = [];
  let now = 0;
  let tick = 0;
  let state: { status?: string; topology?: Topology } = script(0, sent);
  const sqs = {
    send: async (command: { input: { MessageBody: string; QueueUrl: string } }) => {
      expect(command.input.QueueUrl).toBe('http://q/borealis-provision');
      sent.push(command.input.MessageBody);
      return {};
    },
  } as unknown as SQSClient;
  const ssm = {
    send: async (command: { input: { Name: string } }) => {
      expect(command.input.Name).toBe('/borealis/restored-1/provision');
      if (state.status === undefined) throw Object.assign(new Error('none'), { name: 'ParameterNotFound' });
      return { Parameter: { Value: state.status } };
    },
  } as unknown as SSMClient;
  const options: QueueProvisionerOptions = {
    sqs,
    ssm,
    queueUrl: 'http://q/borealis-provision',
    readTopology: async () => {
      if (state.topology === undefined) throw notFound();
      return state.topology;
    },
    createTimeoutMs: 10_000,
    destroyTimeoutMs: 3_000,
    pollIntervalMs: 1_000,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
      tick += 1;
      state = script(tick, sent);
    },
  };
  const provisioner = new QueueProvisioner(options);
  return { provisioner, sent, elapsed: () => now, options };
}

const status = (state: string, requestId = 'req-1', reason?: string) =>
  encodeProvisionStatus({
    requestId,
    cluster: 'restored-1',
    state: state as 'ready',
    ...(reason ? { reason } : {}),
  });

describe('QueueProvisioner', () => {
  it('sends one create request with the job, and is ready once the status and the topology say so', async () => {
    const w = world((tick) =>
      tick < 2 ? { status: status('starting') } : { status: status('ready'), topology: topology(tick >= 3) },
    );
    const created = await w.provisioner.create(job);
    expect(created).toEqual({
      endpoints: { writer: 'http://127.0.0.1:7', reader: 'http://127.0.0.1:8' },
      resourceArn: 'arn:r',
      secretArn: 'arn:s',
    });
    expect(w.sent.map(decodeProvisionRequest)).toEqual([{ kind: 'create', requestId: 'req-1', job }]);
    // Ready status at tick 2, but the topology had no writer until tick 3.
    expect(w.elapsed()).toBe(3_000);
  });

  it("fails with the consumer's reason, and ignores another request's status", async () => {
    const w = world((tick) =>
      tick < 2
        ? { status: status('failed', 'req-0', 'old failure') }
        : { status: status('failed', 'req-1', 'disk full') },
    );
    await expect(w.provisioner.create(job)).rejects.toThrow(
      'the cluster provisioner could not start restored-1: disk full',
    );
  });

  it('times out naming the queue when no consumer takes the request', async () => {
    const w = world(() => ({}));
    await expect(w.provisioner.create(job)).rejects.toThrow(
      'no cluster provisioner took the request for restored-1 within 10000 ms: is `borealis up --aws` running (queue http://q/borealis-provision)?',
    );
    expect(w.elapsed()).toBe(10_000);
  });

  it('exists: a published topology, or a request being carried out or done; not a failed one', async () => {
    expect(await world(() => ({ topology: topology(true) })).provisioner.exists('restored-1')).toBe(true);
    expect(await world(() => ({ status: status('starting') })).provisioner.exists('restored-1')).toBe(true);
    expect(await world(() => ({ status: status('ready') })).provisioner.exists('restored-1')).toBe(true);
    expect(await world(() => ({ status: status('failed') })).provisioner.exists('restored-1')).toBe(false);
    expect(await world(() => ({})).provisioner.exists('restored-1')).toBe(false);
  });

  it('a job too large for one message is stored in the backup bucket and sent as a claim check', async () => {
    const large: RestoreJob = {
      ...job,
      chunkKeys: Array.from(
        { length: 8_000 },
        (_, i) => `borealis/log/${String(i).padStart(20, '0')}-chunk.gz`,
      ),
    };
    const w = world((tick) => (tick < 1 ? {} : { status: status('ready'), topology: topology(true) }));
    const puts: { bucket: string; key: string; body: string }[] = [];
    const s3 = {
      send: async (command: PutObjectCommand) => {
        puts.push({
          bucket: command.input.Bucket!,
          key: command.input.Key!,
          body: String(command.input.Body),
        });
        return {};
      },
    } as unknown as S3Client;
    const withS3 = new QueueProvisioner({ ...w.options, s3 });
    await withS3.create(large);
    expect(puts.map((p) => [p.bucket, p.key])).toEqual([
      [job.bucket, provisionJobKey('restored-1', 'req-1')],
    ]);
    expect(decodeProvisionJob(puts[0]!.body, { requestId: 'req-1', cluster: 'restored-1' })).toEqual(large);
    expect(w.sent.map(decodeProvisionRequest)).toEqual([
      {
        kind: 'create-stored',
        requestId: 'req-1',
        cluster: 'restored-1',
        jobObject: { bucket: job.bucket, key: provisionJobKey('restored-1', 'req-1') },
      },
    ]);
    // Without a place to store it, the job fails naming its size, and nothing is sent.
    const without = world(() => ({}));
    await expect(without.provisioner.create(large)).rejects.toThrow(/exceed SQS's 262144-byte message limit/);
    expect(without.sent).toEqual([]);
  });

  it('destroy sends one destroy request for the cluster', async () => {
    const w = world(() => ({}));
    await w.provisioner.destroy('restored-1');
    expect(w.sent.map(decodeProvisionRequest)).toEqual([
      { kind: 'destroy', requestId: 'destroy-restored-1-0', cluster: 'restored-1' },
    ]);
  });

  it('destroy waits for the status to go, and gives up quietly after its bound', async () => {
    const gone = world((tick) => (tick < 2 ? { status: status('ready') } : {}));
    await gone.provisioner.destroy('restored-1');
    const silent = world(() => ({ status: status('ready') }));
    await silent.provisioner.destroy('restored-1');
    expect(silent.elapsed()).toBe(3_000);
  });
});

describe('the restore entry without a provision queue', () => {
  it('answers each request Failed with what is missing, and starts nothing', async () => {
    const { provisioner } = provisionerFromEnv({}, 'us-east-1');
    const emitted: Array<[string, unknown]> = [];
    const event = {
      'detail-type': restoreRequested,
      detail: { requestId: 'r1', sourceCluster: 'borealis', targetCluster: 'restored-1', snapshotId: 's1' },
    } as unknown as EventBridgeEvent<string, unknown>;
    const result = await handleRestoreRequested(event, {
      s3: {} as never,
      bucket: 'b',
      region: 'us-east-1',
      provisioner,
      emit: async (type, detail) => {
        emitted.push([type, detail]);
      },
    });
    const reason =
      "cannot check whether cluster restored-1 exists: restore: no cluster provisioner is configured (PROVISION_QUEUE_URL is not set; the CDK stack sets it to the region's provision queue)";
    expect(result).toEqual({
      requestId: 'r1',
      sourceCluster: 'borealis',
      targetCluster: 'restored-1',
      reason,
    });
    expect(emitted).toEqual([[restoreFailed, result]]);
  });

  it('an unconfigured provisioner refuses create and exists, and destroy does nothing', async () => {
    const p = unconfiguredProvisioner('why');
    await expect(p.exists('x')).rejects.toThrow('why');
    await expect(p.create(job)).rejects.toThrow('why');
    await expect(p.destroy('x')).resolves.toBeUndefined();
  });
});
