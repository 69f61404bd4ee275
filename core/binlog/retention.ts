// Binlog retention (Aurora's `binlog retention hours`): how far back `borealis binlog read` may start.
// One small JSON object per cluster in the region's backup bucket, next to the archive the older
// events are rebuilt from, so the CLI and any function read the same setting with the S3 access
// they already have. Absent object: the default (the binlog stream's own retention, 24 hours).
//
// The window a read may start in is [max(now − retention, the archive's first complete commit), now]:
// events older than the continuous backup keeps (backup retention, 1–35 days) are gone whatever this
// setting says, so a retention longer than the backup's only helps once the backup keeps that long.
// Pure (bounds, key, parsing); reading and writing the object: retention-store.ts.
import { clusterPrefix } from '../backup/archive.ts';
import { BorealisError, ErrorCode } from '../errors.ts';

/** Aurora's bounds for `binlog retention hours`: 1 hour to 90 days. */
export const binlogRetentionHoursMin = 1;
export const binlogRetentionHoursMax = 2160;
/** With no setting stored: a day, what the binlog Kinesis stream itself keeps (its default retention). */
export const binlogRetentionHoursDefault = 24;
export const hourMs = 3_600_000;

/** Every binlog object of a cluster in its backup bucket lives under this prefix. */
export function binlogPrefix(cluster: string): string {
  return `${clusterPrefix(cluster)}binlog/`;
}

export function binlogRetentionKey(cluster: string): string {
  return `${binlogPrefix(cluster)}retention.json`;
}

/** Envelopes too large for a Kinesis record, by position (the binlog streamer writes them). */
export function largeEnvelopesPrefix(cluster: string): string {
  return `${binlogPrefix(cluster)}large/`;
}

/** Fragments of oversized changes waiting for the rest (the binlog streamer's FragmentStore). */
export function fragmentsPrefix(cluster: string): string {
  return `${binlogPrefix(cluster)}fragments/`;
}

/** What is stored (the JSON object's fields). */
export interface BinlogRetentionSetting {
  hours: number;
  updatedAt: string;
}

/** The setting in effect: a stored one, or the default (updatedAt null). */
export interface BinlogRetention {
  hours: number;
  isDefault: boolean;
  updatedAt: string | null;
}

/** An integer number of hours in [1, 2160], or an INVALID_ARGUMENT error saying what is allowed. */
export function checkRetentionHours(value: unknown): number {
  if (
    typeof value !== 'number' ||
    !Number.isSafeInteger(value) ||
    value < binlogRetentionHoursMin ||
    value > binlogRetentionHoursMax
  ) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `binlog retention hours must be an integer from ${binlogRetentionHoursMin} to ${binlogRetentionHoursMax}, got ${String(value)}`,
      { retryable: false },
    );
  }
  return value;
}

/** The stored object's text → setting; anything else is an INTERNAL error naming the key. */
export function parseRetentionSetting(text: string, key: string): BinlogRetentionSetting {
  let raw: Partial<BinlogRetentionSetting>;
  try {
    raw = JSON.parse(text) as Partial<BinlogRetentionSetting>;
  } catch {
    throw malformedSetting(key, 'not JSON');
  }
  try {
    return { hours: checkRetentionHours(raw?.hours), updatedAt: String(raw.updatedAt ?? '') };
  } catch (error) {
    throw malformedSetting(key, (error as Error).message);
  }
}

/** Oldest commit time a read may start at. */
export function retentionCutoffMs(nowMs: number, hours: number): number {
  return nowMs - hours * hourMs;
}

function malformedSetting(key: string, why: string): BorealisError {
  return new BorealisError(ErrorCode.INTERNAL, `binlog retention setting ${key} is malformed: ${why}`, {
    context: { key },
  });
}
