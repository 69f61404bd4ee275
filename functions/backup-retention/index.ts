// Lambda entry of the backup retention function: middy over expireBackups, on a schedule
// (`detail-type: 'Scheduled Event'`, core/functions.ts). Environment: BACKUP_BUCKET, CLUSTER_NAME,
// BACKUP_RETENTION_DAYS (1–35, default 1: the period of a cluster without a BackupRetentionPeriod
// setting of its own, core/backup/retention-setting.ts), AWS_REGION; endpoints as
// core/aws/endpoints.ts resolves them. Built per invocation, so importing never fails; a bad retention value fails the invocation
// with a non-retryable INVALID_ARGUMENT naming the variable.
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { s3Client } from '../../core/aws/clients.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { functionEnv, parseBackupRetentionDays } from '../../core/functions.ts';
import { createLogger } from '../../core/log.ts';
import { expireBackups, type RetentionReport } from './handler.ts';

export const scheduledDetailType = 'Scheduled Event';

export type RetentionEvent = EventBridgeEvent<'Scheduled Event', unknown>;

/** The cluster, bucket, region and retention the environment names (validated). */
export function retentionConfigFromEnv(env: NodeJS.ProcessEnv): {
  cluster: string;
  bucket: string;
  region: string;
  retentionDays: number;
} {
  const required = (name: string): string => {
    const value = env[name];
    if (value === undefined || value === '') {
      throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `backup-retention: ${name} is not set`, {
        retryable: false,
      });
    }
    return value;
  };
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (!region) {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, 'backup-retention: AWS_REGION is not set', {
      retryable: false,
    });
  }
  return {
    cluster: required(functionEnv.clusterName),
    bucket: required(functionEnv.backupBucket),
    region,
    retentionDays: parseBackupRetentionDays(env[functionEnv.backupRetentionDays]),
  };
}

/** The middy handler over the given environment (the local runner passes its own). */
export function createHandler(env: NodeJS.ProcessEnv = process.env) {
  const logger = createLogger('backup-retention');
  return middy<RetentionEvent, RetentionReport>(async (event: RetentionEvent): Promise<RetentionReport> => {
    if (event?.['detail-type'] !== scheduledDetailType) {
      throw new BorealisError(
        ErrorCode.INVALID_ARGUMENT,
        `backup-retention: expected a '${scheduledDetailType}' event`,
        { retryable: false },
      );
    }
    const config = retentionConfigFromEnv(env);
    const s3 = s3Client({ region: config.region, env });
    try {
      return await expireBackups({
        s3,
        bucket: config.bucket,
        cluster: config.cluster,
        now: Date.now,
        retentionDays: config.retentionDays,
        log: (message, fields) => logger.info(fields ?? {}, message),
      });
    } finally {
      s3.destroy();
    }
  });
}

export const handler = createHandler();
