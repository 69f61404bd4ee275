// The consumer side of the provision queue (core/cluster/provision.ts), run by `borealis up --aws`:
// long-polls the region's `<cluster>-provision` SQS queue, and for each request starts a restored
// cluster on this machine (its control plane hydrates the volume from S3 with the restore job) or
// stops and removes one — reporting every step in `/borealis/<target>/provision`. One request at a
// time: a restore is heavy, and the requester (the restore function) waits for its own answer.
// A message is deleted as soon as it is taken: the status parameter, not redelivery, carries the
// outcome, so a restore is never started twice by one request.
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  DeleteMessageCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { DeleteParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { RestoreJob } from '../../core/backup/restore-plan.ts';
import {
  decodeProvisionJob,
  decodeProvisionRequest,
  encodeProvisionStatus,
  type ProvisionRequest,
  type ProvisionState,
  provisionStatusParameterName,
} from '../../core/cluster/provision.ts';
import { topologyParameterName } from '../../core/cluster/topology-store.ts';

/** SQS long poll: at most this long per ReceiveMessage (SQS's own maximum is 20 s). */
export const receiveWaitSeconds = 10;
/** After an SQS error, wait this long before polling again (the endpoint may be restarting). */
const errorBackoffMs = 2_000;
/**
 * A create request older than this was given up by its requester (the restore function waits 14
 * minutes at most): starting it now would leave a cluster nobody asked for any more.
 */
export const createRequestStaleMs = 15 * 60_000;

/** The clusters this process runs for the queue (implemented with LocalCluster by the launcher). */
export interface ProvisionedClusters {
  /** Starts `job.targetCluster` with the restore job; resolves once it serves. */
  start(job: RestoreJob): Promise<void>;
  /** Stops it (if it runs) and removes its data. Idempotent. */
  remove(cluster: string): Promise<void>;
  /** The request that started a running cluster, or undefined if it does not run here. */
  runningRequest(cluster: string): string | undefined;
  /** Whether a cluster of that name has data or runs here (so a restore must name another). */
  exists(cluster: string): boolean;
}

export interface ProvisionConsumerOptions {
  sqs: SQSClient;
  ssm: SSMClient;
  /** Reads (and then deletes) restore jobs sent as a claim check (create-stored). */
  s3: S3Client;
  queueUrl: string;
  clusters: ProvisionedClusters;
  /** Clusters never created or destroyed through the queue (the deployed one this launcher runs). */
  protectedClusters: ReadonlySet<string>;
  log: (message: string, fields?: Record<string, unknown>) => void;
  now?: () => number;
}

export class ProvisionConsumer {
  readonly #o: ProvisionConsumerOptions;
  readonly #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #stopping = false;

  constructor(options: ProvisionConsumerOptions) {
    this.#o = options;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops polling; a request being carried out finishes first. */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort();
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopping) {
      let messages: Message[] = [];
      try {
        const out = await this.#o.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.#o.queueUrl,
            MaxNumberOfMessages: 1,
            WaitTimeSeconds: receiveWaitSeconds,
            MessageSystemAttributeNames: ['SentTimestamp'],
          }),
          { abortSignal: this.#abort.signal },
        );
        messages = out.Messages ?? [];
      } catch (error) {
        if (this.#stopping) return;
        this.#o.log('provision queue: receive failed', { err: (error as Error).message });
        await new Promise((r) => setTimeout(r, errorBackoffMs));
        continue;
      }
      for (const message of messages) {
        await this.#o.sqs
          .send(
            new DeleteMessageCommand({ QueueUrl: this.#o.queueUrl, ReceiptHandle: message.ReceiptHandle }),
          )
          .catch((error: Error) => this.#o.log('provision queue: delete failed', { err: error.message }));
        const sentAtMs = Number(message.Attributes?.SentTimestamp ?? Number.NaN);
        await this.handle(message.Body ?? '', Number.isFinite(sentAtMs) ? sentAtMs : undefined);
      }
    }
  }

  /** Carries out one message body (exposed for tests). Never throws: failures go to the status. */
  async handle(body: string, sentAtMs?: number): Promise<void> {
    let request: ProvisionRequest;
    try {
      request = decodeProvisionRequest(body);
    } catch (error) {
      this.#o.log('provision queue: dropped a malformed request', { err: (error as Error).message });
      return;
    }
    const now = (this.#o.now ?? Date.now)();
    if (request.kind === 'create' || request.kind === 'create-stored') {
      if (sentAtMs !== undefined && now - sentAtMs > createRequestStaleMs) {
        this.#o.log('provision queue: dropped a stale create request', {
          requestId: request.requestId,
          ageMs: now - sentAtMs,
        });
        return;
      }
      if (request.kind === 'create') {
        await this.#create(request.requestId, request.job);
        return;
      }
      let job: RestoreJob;
      try {
        job = await this.#storedJob(request);
      } catch (error) {
        const reason = `the restore job ${request.jobObject.bucket}/${request.jobObject.key} cannot be read: ${(error as Error).message}`;
        this.#o.log('provision queue: a stored restore job cannot be read', {
          requestId: request.requestId,
          err: reason,
        });
        await this.#report(request.cluster, request.requestId, 'failed', reason);
        return;
      }
      await this.#create(request.requestId, job);
    } else {
      await this.#destroy(request.requestId, request.cluster);
    }
  }

  /** The job of a create-stored request; the object is deleted once read (its message is gone too). */
  async #storedJob(request: Extract<ProvisionRequest, { kind: 'create-stored' }>): Promise<RestoreJob> {
    const { bucket, key } = request.jobObject;
    const got = await this.#o.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    const job = decodeProvisionJob(await got.Body!.transformToString(), request);
    await this.#o.s3
      .send(new DeleteObjectCommand({ Bucket: bucket, Key: key }))
      .catch((error: Error) =>
        this.#o.log('provision queue: stored job not deleted', { key, err: error.message }),
      );
    return job;
  }

  async #create(requestId: string, job: RestoreJob): Promise<void> {
    const cluster = job.targetCluster;
    const { clusters } = this.#o;
    if (clusters.runningRequest(cluster) === requestId) {
      // A redelivered request whose cluster already runs: say so again.
      await this.#report(cluster, requestId, 'ready');
      return;
    }
    if (this.#o.protectedClusters.has(cluster) || clusters.exists(cluster)) {
      await this.#report(cluster, requestId, 'failed', `cluster ${cluster} already exists here`);
      return;
    }
    await this.#report(cluster, requestId, 'starting');
    this.#o.log('provision queue: starting a restored cluster', { cluster, requestId });
    try {
      await clusters.start(job);
    } catch (error) {
      const reason = (error as Error).message;
      this.#o.log('provision queue: the restored cluster did not start', { cluster, requestId, err: reason });
      await clusters.remove(cluster).catch(() => undefined);
      await this.#report(cluster, requestId, 'failed', reason);
      return;
    }
    await this.#report(cluster, requestId, 'ready');
    this.#o.log('provision queue: restored cluster ready', { cluster, requestId });
  }

  async #destroy(requestId: string, cluster: string): Promise<void> {
    if (this.#o.protectedClusters.has(cluster)) {
      await this.#report(cluster, requestId, 'failed', `cluster ${cluster} is not removed through the queue`);
      return;
    }
    this.#o.log('provision queue: removing a cluster', { cluster, requestId });
    await this.#o.clusters
      .remove(cluster)
      .catch((error: Error) =>
        this.#o.log('provision queue: remove failed', { cluster, err: error.message }),
      );
    // Its topology and status go too: no one may take it for a running cluster. Deleting the status
    // is the answer the requester waits for.
    for (const name of [topologyParameterName(cluster), provisionStatusParameterName(cluster)]) {
      await this.#o.ssm.send(new DeleteParameterCommand({ Name: name })).catch((error: Error) => {
        if (error.name !== 'ParameterNotFound')
          this.#o.log('provision queue: could not delete a parameter', { name, err: error.message });
      });
    }
  }

  async #report(cluster: string, requestId: string, state: ProvisionState, reason?: string): Promise<void> {
    try {
      await this.#o.ssm.send(
        new PutParameterCommand({
          Name: provisionStatusParameterName(cluster),
          Type: 'String',
          Overwrite: true,
          Value: encodeProvisionStatus({
            requestId,
            cluster,
            state,
            ...(reason === undefined ? {} : { reason }),
          }),
        }),
      );
    } catch (error) {
      this.#o.log('provision queue: could not report the status', {
        cluster,
        state,
        err: (error as Error).message,
      });
    }
  }
}
