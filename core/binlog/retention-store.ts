// Reading and writing the binlog retention setting (core/binlog/retention.ts) in the backup bucket.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { readParsedObject } from '../backup/s3-archive.ts';
import {
  type BinlogRetention,
  type BinlogRetentionSetting,
  binlogRetentionHoursDefault,
  binlogRetentionKey,
  checkRetentionHours,
  parseRetentionSetting,
} from './retention.ts';

export async function readBinlogRetention(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<BinlogRetention> {
  const key = binlogRetentionKey(cluster);
  const setting = await readParsedObject(s3, bucket, key, (text) => parseRetentionSetting(text, key));
  if (setting === undefined) return { hours: binlogRetentionHoursDefault, isDefault: true, updatedAt: null };
  return { hours: setting.hours, isDefault: false, updatedAt: setting.updatedAt };
}

/** Stores the setting (checked first: a bad value writes nothing). */
export async function writeBinlogRetention(
  s3: S3Client,
  bucket: string,
  cluster: string,
  hours: number,
  now: Date = new Date(),
): Promise<BinlogRetention> {
  const setting: BinlogRetentionSetting = { hours: checkRetentionHours(hours), updatedAt: now.toISOString() };
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: binlogRetentionKey(cluster),
      Body: `${JSON.stringify(setting)}\n`,
      ContentType: 'application/json',
    }),
  );
  return { hours: setting.hours, isDefault: false, updatedAt: setting.updatedAt };
}
