// Lambda entry of the restore function (EventBridge rule: source 'borealis', detail-type
// 'Borealis Restore Requested'). Its answer goes back to EventBridge as 'Borealis Restore
// Completed' / 'Failed'. The new cluster is created through the provision queue named by
// PROVISION_QUEUE_URL (set by CDK): `borealis up --aws` consumes it (queue-provisioner.ts). Without
// that variable every request is answered Failed with the reason — the handler never crashes on it.
// Embedded mode does not use this entry: the local function runner calls the handler with the local
// launcher's provisioner (embedded/restore-provisioner.ts); nothing here imports embedded/.
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import type { Context, EventBridgeEvent } from 'aws-lambda';
import { eventBridgeClient, s3Client, sqsClient, ssmClient } from '../../core/aws/clients.ts';
import { ssmTopologyReader } from '../../core/cluster/topology-store.ts';
import { functionEnv } from '../../core/functions.ts';
import { primaryRegion, regionalResources } from '../../core/resources.ts';
import { type ClusterProvisioner, eventSource, handleRestoreRequested } from './handler.ts';
import {
  provisionCreateTimeoutMsDefault,
  QueueProvisioner,
  unconfiguredProvisioner,
} from './queue-provisioner.ts';

/**
 * Time kept back from the Lambda's deadline to destroy a half-made cluster (at most
 * provisionDestroyTimeoutMsDefault) and emit the answer.
 */
const answerReserveMs = 90_000;

/**
 * The provisioner this environment configures: the provision queue, or one that fails each request
 * saying what is missing. `remainingMs` bounds how long a create may wait (the Lambda's time left).
 */
export function provisionerFromEnv(
  env: NodeJS.ProcessEnv,
  region: string,
  remainingMs: number = provisionCreateTimeoutMsDefault + answerReserveMs,
): { provisioner: ClusterProvisioner; close: () => void } {
  const queueUrl = env[functionEnv.provisionQueueUrl];
  if (queueUrl === undefined || queueUrl === '') {
    return {
      provisioner: unconfiguredProvisioner(
        `restore: no cluster provisioner is configured (${functionEnv.provisionQueueUrl} is not set; the CDK stack sets it to the region's provision queue)`,
      ),
      close: () => {},
    };
  }
  const sqs = sqsClient({ region, env });
  const ssm = ssmClient({ region, env });
  const s3 = s3Client({ region, env });
  return {
    provisioner: new QueueProvisioner({
      sqs,
      ssm,
      s3,
      queueUrl,
      readTopology: ssmTopologyReader(ssm),
      createTimeoutMs: Math.max(0, remainingMs - answerReserveMs),
    }),
    close: () => {
      sqs.destroy();
      ssm.destroy();
      s3.destroy();
    },
  };
}

const region = process.env.AWS_REGION ?? primaryRegion;
const bucket = process.env[functionEnv.backupBucket] ?? regionalResources(region).backupBucket;
const events = eventBridgeClient({ region });
const s3 = s3Client({ region });

export const handler = middy(async (event: EventBridgeEvent<string, unknown>, context: Context) => {
  const remainingMs =
    typeof context?.getRemainingTimeInMillis === 'function' ? context.getRemainingTimeInMillis() : undefined;
  const { provisioner, close } = provisionerFromEnv(process.env, region, remainingMs);
  try {
    return await handleRestoreRequested(event, {
      s3,
      bucket,
      region,
      provisioner,
      emit: async (detailType, detail) => {
        await events.send(
          new PutEventsCommand({
            Entries: [{ Source: eventSource, DetailType: detailType, Detail: JSON.stringify(detail) }],
          }),
        );
      },
    });
  } finally {
    close();
  }
});
