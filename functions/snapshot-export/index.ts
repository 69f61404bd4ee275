// Lambda entry of the snapshot-export function (EventBridge rule: source 'borealis', detail-type
// 'Borealis Export Requested'; detail = ExportRequest: exportTaskIdentifier, cluster,
// snapshotIdentifier, s3Prefix?, s3Bucket?, exportOnly?). The CLI runs the same handler in its own
// process (`borealis export start`). Environment: BACKUP_BUCKET (of CLUSTER_NAME; another cluster's
// bucket is derived from its name), AWS_REGION, endpoints as core/aws/endpoints.ts resolves them.
// Its answer is the task record (also in S3, where `borealis export status` reads it).
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { s3Client } from '../../core/aws/clients.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { borealisEventSource, eventDetailTypes, functionEnv } from '../../core/functions.ts';
import { createLogger } from '../../core/log.ts';
import { primaryRegion, regionalResources } from '../../core/resources.ts';
import { handleExportRequest } from './handler.ts';
import { checkExportRequest, type ExportRequest, type ExportTask } from './task.ts';

export type ExportRequestedEvent = EventBridgeEvent<'Borealis Export Requested', ExportRequest>;

/** The request an event carries; another event is a non-retryable error. */
export function parseExportEvent(event: unknown): unknown {
  const e = (event ?? {}) as Partial<EventBridgeEvent<string, unknown>>;
  if (e.source !== borealisEventSource || e['detail-type'] !== eventDetailTypes.exportRequested) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `snapshot-export event: expected a ${borealisEventSource} '${eventDetailTypes.exportRequested}' event`,
      { retryable: false },
    );
  }
  return e.detail;
}

/** The bucket holding a cluster's snapshots (and its export task records). */
export function backupBucketOf(cluster: string, region: string, env: NodeJS.ProcessEnv): string {
  return cluster === env[functionEnv.clusterName] && env[functionEnv.backupBucket]
    ? env[functionEnv.backupBucket]!
    : regionalResources(region, cluster).backupBucket;
}

export function createHandler(env: NodeJS.ProcessEnv = process.env) {
  const logger = createLogger('snapshot-export');
  return middy<ExportRequestedEvent, ExportTask>(async (event: ExportRequestedEvent): Promise<ExportTask> => {
    const request = checkExportRequest(parseExportEvent(event));
    const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || primaryRegion;
    const s3 = s3Client({ region, env });
    try {
      const task = await handleExportRequest(
        {
          s3,
          bucket: backupBucketOf(request.cluster, region, env),
          region,
          log: (message, fields) =>
            logger.info({ exportTaskIdentifier: request.exportTaskIdentifier, ...fields }, message),
        },
        request,
      );
      logger.info(
        { exportTaskIdentifier: task.ExportTaskIdentifier, status: task.Status, rows: task.ExportedRowCount },
        'export task ended',
      );
      return task;
    } finally {
      s3.destroy();
    }
  });
}

export const handler = createHandler();
