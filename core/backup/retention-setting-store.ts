// Reading and writing a cluster's backup retention setting (retention-setting.ts) in its backup bucket.
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  type BackupRetentionSetting,
  backupRetentionSettingKey,
  checkBackupRetentionDays,
  parseBackupRetentionSetting,
} from './retention-setting.ts';
import { readParsedObject } from './s3-archive.ts';

/** The stored setting, or undefined when the cluster has none (the default applies). */
export async function readBackupRetentionSetting(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<BackupRetentionSetting | undefined> {
  const key = backupRetentionSettingKey(cluster);
  return readParsedObject(s3, bucket, key, (text) => parseBackupRetentionSetting(text, key));
}

/** Stores the setting (checked first: a bad value writes nothing). */
export async function writeBackupRetentionSetting(
  s3: S3Client,
  bucket: string,
  cluster: string,
  days: number,
  now: Date = new Date(),
): Promise<BackupRetentionSetting> {
  const setting: BackupRetentionSetting = {
    days: checkBackupRetentionDays(days),
    updatedAt: now.toISOString(),
  };
  await s3.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: backupRetentionSettingKey(cluster),
      Body: `${JSON.stringify(setting)}\n`,
      ContentType: 'application/json',
    }),
  );
  return setting;
}
