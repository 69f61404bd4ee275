// Lambda entry of the restore function (EventBridge rule: source 'borealis', detail-type
// 'Borealis Restore Requested'). Its answer goes back to EventBridge as 'Borealis Restore
// Completed' / 'Failed'. The cluster is created through the provisioner of the environment: in
// embedded mode the local launcher (BOREALIS_STATE_DIR); on AWS/LocalStack the deployed compute
// (not built yet: CDK issue, compute=ecs|external).
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { eventBridgeClient, s3Client } from '../../core/aws/clients.ts';
import { regionalResources } from '../../core/resources.ts';
import { LocalProvisioner } from '../../embedded/restore-provisioner.ts';
import { type ClusterProvisioner, eventSource, handleRestoreRequested } from './handler.ts';

const region = process.env.AWS_REGION ?? 'us-east-1';
const bucket = process.env.BACKUP_BUCKET ?? regionalResources(region).backupBucket;

function provisioner(): ClusterProvisioner {
  const stateDir = process.env.BOREALIS_STATE_DIR;
  if (!stateDir)
    throw new Error('restore: no cluster provisioner here (set BOREALIS_STATE_DIR for embedded mode)');
  return new LocalProvisioner(stateDir);
}

const events = eventBridgeClient({ region });
const s3 = s3Client({ region });

export const handler = middy(async (event: EventBridgeEvent<string, unknown>) =>
  handleRestoreRequested(event, {
    s3,
    bucket,
    region,
    provisioner: provisioner(),
    emit: async (detailType, detail) => {
      await events.send(
        new PutEventsCommand({
          Entries: [{ Source: eventSource, DetailType: detailType, Detail: JSON.stringify(detail) }],
        }),
      );
    },
  }),
);
