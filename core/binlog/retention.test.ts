// The binlog retention setting: Aurora's bounds (1–2160 hours), the stored object, the cutoff.
import { describe, expect, it } from 'vitest';
import {
  binlogRetentionHoursDefault,
  binlogRetentionKey,
  checkRetentionHours,
  hourMs,
  parseRetentionSetting,
  retentionCutoffMs,
} from './retention.ts';

describe('binlog retention hours', () => {
  it('takes integers from 1 to 2160 (Aurora: an hour to 90 days)', () => {
    expect(checkRetentionHours(1)).toBe(1);
    expect(checkRetentionHours(2160)).toBe(2160);
    expect(binlogRetentionHoursDefault).toBe(24);
  });

  it.each([0, 2161, 1.5, -1, Number.NaN, '24', null, undefined])('refuses %s with the allowed range', (v) => {
    expect(() => checkRetentionHours(v)).toThrow(
      /^binlog retention hours must be an integer from 1 to 2160, got /,
    );
  });

  it('lives next to the archive in the backup bucket', () => {
    expect(binlogRetentionKey('borealis')).toBe('clusters/borealis/binlog/retention.json');
  });

  it('parses the stored object; a malformed one is an error naming its key', () => {
    const key = binlogRetentionKey('c');
    expect(parseRetentionSetting('{"hours":48,"updatedAt":"2026-12-01T00:00:00.000Z"}', key)).toEqual({
      hours: 48,
      updatedAt: '2026-12-01T00:00:00.000Z',
    });
    expect(() => parseRetentionSetting('{', key)).toThrow(
      'binlog retention setting clusters/c/binlog/retention.json is malformed: not JSON',
    );
    expect(() => parseRetentionSetting('{"hours":0}', key)).toThrow(
      /malformed: binlog retention hours must be/,
    );
  });

  it('the cutoff is now minus the retention', () => {
    expect(retentionCutoffMs(100 * hourMs, 24)).toBe(76 * hourMs);
  });
});
