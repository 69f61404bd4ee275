// Reading and writing a cluster's backup retention setting (retention-setting.ts) in its backup bucket.
import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  type BackupRetentionSetting,
  backupRetentionSettingKey,
  checkBackupRetentionDays,
  parseBackupRetentionSetting,
} from './retention-setting.ts';

/** The stored setting, or undefined when the cluster has none (the default applies). */
export async function readBackupRetentionSetting(
  s3: S3Client,
  bucket: string,
  cluster: string,
): Promise<BackupRetentionSetting | undefined> {
  const key = backupRetentionSettingKey(cluster);
  let text: string;
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    text = await got.Body!.transformToString();
  } catch (error) {
    if ((error as Error).name === 'NoSuchKey') return undefined;
    throw error;
  }
  return parseBackupRetentionSetting(text, key);
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
