// The restore function's cluster provisioner in deployed mode (LocalStack/AWS): the new cluster is
// asked for on the region's provision queue (SQS) and started by whoever runs clusters there —
// `borealis up --aws` — which reports in the cluster's status parameter; the cluster's own control
// plane publishes its topology. Ready means: status `ready` for this request AND the topology
// parameter with a writer and the proxy's endpoints. Embedded mode uses embedded/restore-provisioner.ts
// instead (injected by the local function runner): nothing here imports embedded/.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { GetParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import {
  decodeProvisionStatus,
  encodeProvisionJob,
  encodeProvisionRequest,
  fitsOneMessage,
  type ProvisionRequest,
  type ProvisionStatus,
  provisionJobKey,
  provisionStatusParameterName,
} from '../../core/cluster/provision.ts';
import { isTopologyNotFound, type ReadPublishedTopology } from '../../core/cluster/topology-store.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { ClusterProvisioner } from './handler.ts';

/** How often the status and topology parameters are read while a request is carried out. */
export const provisionPollIntervalMsDefault = 1_000;
/** Lambda's own limit is 15 minutes; a restore that takes longer is reported failed. */
export const provisionCreateTimeoutMsDefault = 14 * 60_000;
/** A destroy is a stop and a few deletes: it answers quickly or the consumer is gone. */
export const provisionDestroyTimeoutMsDefault = 60_000;

export interface QueueProvisionerOptions {
  sqs: SQSClient;
  ssm: SSMClient;
  /** Stores a restore job too large for one message (the claim check); without it such a job fails. */
  s3?: S3Client;
  queueUrl: string;
  readTopology: ReadPublishedTopology;
  createTimeoutMs?: number;
  destroyTimeoutMs?: number;
  pollIntervalMs?: number;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

type Created = Awaited<ReturnType<ClusterProvisioner['create']>>;

export class QueueProvisioner implements ClusterProvisioner {
  readonly #o: Required<Omit<QueueProvisionerOptions, 'sleep' | 'now' | 's3'>> & {
    s3?: S3Client;
    sleep: (ms: number) => Promise<void>;
    now: () => number;
  };

  constructor(options: QueueProvisionerOptions) {
    this.#o = {
      createTimeoutMs: provisionCreateTimeoutMsDefault,
      destroyTimeoutMs: provisionDestroyTimeoutMsDefault,
      pollIntervalMs: provisionPollIntervalMsDefault,
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      now: Date.now,
      ...options,
    };
  }

  /** The status the consumer last wrote for `cluster`, if any. */
  async status(cluster: string): Promise<ProvisionStatus | undefined> {
    try {
      const out = await this.#o.ssm.send(
        new GetParameterCommand({ Name: provisionStatusParameterName(cluster) }),
      );
      return out.Parameter?.Value === undefined ? undefined : decodeProvisionStatus(out.Parameter.Value);
    } catch (error) {
      if ((error as Error).name === 'ParameterNotFound') return undefined;
      throw error;
    }
  }

  /** A cluster exists if it published a topology or a request for it is being carried out or done. */
  async exists(cluster: string): Promise<boolean> {
    try {
      await this.#o.readTopology(cluster);
      return true;
    } catch (error) {
      if (!isTopologyNotFound(error)) throw error;
    }
    const status = await this.status(cluster);
    return status?.state === 'starting' || status?.state === 'ready';
  }

  async create(job: RestoreJob): Promise<Created> {
    const cluster = job.targetCluster;
    const inline: ProvisionRequest = { kind: 'create', requestId: job.requestId, job };
    if (fitsOneMessage(inline) || this.#o.s3 === undefined) {
      // Too large without a place to store it: encodeProvisionRequest fails, naming the size.
      await this.#send(encodeProvisionRequest(inline));
    } else {
      const key = provisionJobKey(cluster, job.requestId);
      await this.#o.s3.send(
        new PutObjectCommand({
          Bucket: job.bucket,
          Key: key,
          Body: encodeProvisionJob(job),
          ContentType: 'application/json',
        }),
      );
      await this.#send(
        encodeProvisionRequest({
          kind: 'create-stored',
          requestId: job.requestId,
          cluster,
          jobObject: { bucket: job.bucket, key },
        }),
      );
    }
    const deadline = this.#o.now() + this.#o.createTimeoutMs;
    let seen: ProvisionStatus | undefined;
    while (this.#o.now() < deadline) {
      const status = await this.status(cluster);
      if (status?.requestId === job.requestId) {
        seen = status;
        if (status.state === 'failed') {
          throw new BorealisError(
            ErrorCode.UNAVAILABLE,
            `the cluster provisioner could not start ${cluster}: ${status.reason ?? 'no reason given'}`,
            { retryable: false },
          );
        }
        if (status.state === 'ready') {
          const topology = await this.#o.readTopology(cluster).catch(() => undefined);
          if (topology?.writer && topology.endpoints?.writer) {
            return {
              endpoints: { writer: topology.endpoints.writer, reader: topology.endpoints.reader ?? null },
              resourceArn: topology.resourceArn,
              secretArn: topology.secretArn,
            };
          }
        }
      }
      await this.#o.sleep(this.#o.pollIntervalMs);
    }
    throw new BorealisError(
      ErrorCode.TIMEOUT,
      seen === undefined
        ? `no cluster provisioner took the request for ${cluster} within ${this.#o.createTimeoutMs} ms: is \`borealis up --aws\` running (queue ${this.#o.queueUrl})?`
        : `cluster ${cluster} was not ready within ${this.#o.createTimeoutMs} ms (provisioner state: ${seen.state})`,
      { retryable: false },
    );
  }

  /** Asks for the cluster to go and waits (bounded) for the answer; a silent consumer is not an error. */
  async destroy(cluster: string): Promise<void> {
    const requestId = `destroy-${cluster}-${this.#o.now()}`;
    await this.#send(encodeProvisionRequest({ kind: 'destroy', requestId, cluster }));
    const deadline = this.#o.now() + this.#o.destroyTimeoutMs;
    while (this.#o.now() < deadline) {
      const status = await this.status(cluster).catch(() => undefined);
      if (status === undefined || (status.requestId === requestId && status.state === 'destroyed')) return;
      await this.#o.sleep(this.#o.pollIntervalMs);
    }
  }

  async #send(body: string): Promise<void> {
    await this.#o.sqs.send(new SendMessageCommand({ QueueUrl: this.#o.queueUrl, MessageBody: body }));
  }
}

/** A provisioner that explains why there is none: every restore fails with `reason`, nothing starts. */
export function unconfiguredProvisioner(reason: string): ClusterProvisioner {
  const fail = async (): Promise<never> => {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, reason, { retryable: false });
  };
  return { exists: fail, create: fail, destroy: async () => undefined };
}
