// A cluster's backup retention period (Aurora's BackupRetentionPeriod, 1–35 days) as a setting of its
// own: one small JSON object in the cluster's backup bucket, beside the archive it governs, written by
// the RDS API's ModifyDBCluster and read by the backup retention function (functions/backup-retention)
// before each expiry. Absent object: the function's BACKUP_RETENTION_DAYS (else Aurora's default, 1).
// Pure (key, bounds, parsing); reading and writing the object: retention-setting-store.ts.
import { BorealisError, ErrorCode } from '../errors.ts';
import { backupRetentionDaysMax, backupRetentionDaysMin } from '../functions.ts';
import { clusterPrefix } from './archive.ts';

export function backupRetentionSettingKey(cluster: string): string {
  return `${clusterPrefix(cluster)}backup-retention.json`;
}

/** What is stored (the JSON object's fields). */
export interface BackupRetentionSetting {
  days: number;
  updatedAt: string;
}

/** An integer number of days in [1, 35], or an INVALID_ARGUMENT error saying what is allowed. */
export function checkBackupRetentionDays(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < backupRetentionDaysMin ||
    value > backupRetentionDaysMax
  ) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `backup retention period must be an integer number of days from ${backupRetentionDaysMin} to ${backupRetentionDaysMax}, got ${String(value)}`,
      { retryable: false },
    );
  }
  return value;
}

/** The stored object's text → setting; anything else is an INTERNAL error naming the key. */
export function parseBackupRetentionSetting(text: string, key: string): BackupRetentionSetting {
  let raw: Partial<BackupRetentionSetting>;
  try {
    raw = JSON.parse(text) as Partial<BackupRetentionSetting>;
  } catch {
    throw malformed(key, 'not JSON');
  }
  if (raw === null || typeof raw !== 'object') throw malformed(key, 'not an object');
  try {
    return { days: checkBackupRetentionDays(raw.days), updatedAt: String(raw.updatedAt ?? '') };
  } catch (error) {
    throw malformed(key, (error as Error).message);
  }
}

/**
 * The period an expiry uses: the cluster's stored setting when there is one, else the fallback (the
 * function's BACKUP_RETENTION_DAYS, already validated) — and which of the two it was.
 */
export function retentionDaysInEffect(
  stored: BackupRetentionSetting | undefined,
  fallbackDays: number,
): { days: number; source: 'cluster setting' | 'default' } {
  checkBackupRetentionDays(fallbackDays);
  return stored === undefined
    ? { days: fallbackDays, source: 'default' }
    : { days: checkBackupRetentionDays(stored.days), source: 'cluster setting' };
}

function malformed(key: string, why: string): BorealisError {
  return new BorealisError(ErrorCode.INTERNAL, `backup retention setting ${key} is malformed: ${why}`, {
    context: { key },
  });
}
