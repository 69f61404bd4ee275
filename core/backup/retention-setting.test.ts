// The backup retention setting: Aurora's bounds (1–35 days), the stored object beside the archive,
// which period an expiry uses, and the store round trip (a bad value writes nothing).
import { describe, expect, it } from 'vitest';
import { memoryS3 } from '../../functions/snapshot/testing.ts';
import {
  backupRetentionSettingKey,
  checkBackupRetentionDays,
  parseBackupRetentionSetting,
  retentionDaysInEffect,
} from './retention-setting.ts';
import { readBackupRetentionSetting, writeBackupRetentionSetting } from './retention-setting-store.ts';

describe('backup retention days', () => {
  it('takes integers from 1 to 35', () => {
    expect(checkBackupRetentionDays(1)).toBe(1);
    expect(checkBackupRetentionDays(35)).toBe(35);
  });

  it.each([0, 36, 1.5, -1, Number.NaN, '7', null, undefined])('refuses %s with the allowed range', (v) => {
    expect(() => checkBackupRetentionDays(v)).toThrow(
      /^backup retention period must be an integer number of days from 1 to 35, got /,
    );
  });
});

describe('the stored setting', () => {
  it('lives next to the archive in the backup bucket', () => {
    expect(backupRetentionSettingKey('borealis')).toBe('clusters/borealis/backup-retention.json');
  });

  it('parses; a malformed one is an error naming its key', () => {
    const key = backupRetentionSettingKey('c');
    expect(parseBackupRetentionSetting('{"days":7,"updatedAt":"2026-12-01T00:00:00.000Z"}', key)).toEqual({
      days: 7,
      updatedAt: '2026-12-01T00:00:00.000Z',
    });
    expect(() => parseBackupRetentionSetting('{', key)).toThrow(
      'backup retention setting clusters/c/backup-retention.json is malformed: not JSON',
    );
    expect(() => parseBackupRetentionSetting('null', key)).toThrow(/malformed: not an object/);
    expect(() => parseBackupRetentionSetting('{"days":0}', key)).toThrow(
      /malformed: backup retention period/,
    );
  });

  it('wins over the given period when stored', () => {
    expect(retentionDaysInEffect(undefined, 3)).toEqual({ days: 3, source: 'default' });
    expect(retentionDaysInEffect({ days: 7, updatedAt: '' }, 3)).toEqual({
      days: 7,
      source: 'cluster setting',
    });
    expect(() => retentionDaysInEffect(undefined, 0)).toThrow(/from 1 to 35/);
  });

  it('round-trips through the bucket; a bad value writes nothing', async () => {
    const s3 = memoryS3();
    expect(await readBackupRetentionSetting(s3.client, 'b', 'c')).toBeUndefined();
    const now = new Date('2026-12-02T10:00:00.000Z');
    expect(await writeBackupRetentionSetting(s3.client, 'b', 'c', 7, now)).toEqual({
      days: 7,
      updatedAt: now.toISOString(),
    });
    expect(await readBackupRetentionSetting(s3.client, 'b', 'c')).toEqual({
      days: 7,
      updatedAt: now.toISOString(),
    });
    await expect(writeBackupRetentionSetting(s3.client, 'b', 'c', 36)).rejects.toThrow(/from 1 to 35/);
    expect(s3.puts).toEqual([backupRetentionSettingKey('c')]);
  });
});
