// `borealis binlog`: what its commands print and how their flags become a read's start (pure, so it is
// tested without a system): one line per event (position, commit time, op, table, key), the envelope
// JSON lines of --json, and the retention setting.
import { envelopeJson } from '../core/binlog/events.ts';
import { formatPosition, parsePosition } from '../core/binlog/position.ts';
import type { BinlogReadStart, ReadEvent } from '../core/binlog/replay-plan.ts';
import { type BinlogRetention, retentionCutoffMs } from '../core/binlog/retention.ts';
import { oneLine, UsageError } from './errors.ts';
import { exactlyOne } from './options.ts';

/** Longest DDL text a readable line shows (the whole statement is in --json). */
export const ddlCharsMax = 120;

export interface ReadFlags {
  fromPosition?: string;
  fromTime?: string;
}

/** Exactly one of --from-position and --from-time, parsed; a UsageError (exit 2) otherwise. */
export function readStartOf(flags: ReadFlags): BinlogReadStart {
  const which = exactlyOne(flags, ['fromPosition', 'fromTime']);
  if (which === 'fromTime') {
    const text = flags.fromTime!;
    const timeMs = Date.parse(text);
    // An ISO time with a date (Date.parse also takes bare numbers and other forms: not those).
    if (!/^\d{4}-\d{2}-\d{2}/.test(text) || !Number.isFinite(timeMs)) {
      throw new UsageError(`--from-time '${text}' is not an ISO time (e.g. 2026-12-01T18:30:00.000Z)`);
    }
    return { kind: 'time', timeMs };
  }
  try {
    return { kind: 'position', position: parsePosition(flags.fromPosition!) };
  } catch (error) {
    throw new UsageError(`--from-position: ${(error as Error).message}`);
  }
}

/** `mysql-bin-changelog.000001:4096:0  2026-12-01T18:30:00.123Z  u  orders  {"id":7}` */
export function formatEventLine(event: ReadEvent): string {
  const e = event.envelope;
  const time = new Date(event.commitTimeMs).toISOString();
  const position = formatPosition(event.position);
  const table = e.source.table ?? '-';
  if ('ddl' in e) return `${position}  ${time}  ddl  ${table}  ${oneLine(e.ddl, ddlCharsMax)}\n`;
  if ('backtrack' in e) {
    const b = e.backtrack;
    return `${position}  ${time}  backtrack  -  to ${b.backtrackTo} (#${b.seq}: commits after LSN ${b.targetLsn} undone)\n`;
  }
  return `${position}  ${time}  ${e.op}  ${table}  ${JSON.stringify(e.key)}\n`;
}

/** --json: the envelope, one per line, as the binlog stream carries it. */
export function eventJsonLine(event: ReadEvent): string {
  return `${envelopeJson(event.envelope)}\n`;
}

/** `binlog retention --json`: field names are a contract (add, never rename). */
export interface RetentionView {
  cluster: string;
  /** Aurora's `binlog retention hours`. */
  binlogRetentionHours: number;
  /** True when no value was ever set (the default applies). */
  isDefault: boolean;
  updatedAt: string | null;
  /** now − retention (ISO): the oldest commit time a read may start at (the archive may bound it further). */
  retainFrom: string;
}

export function retentionView(cluster: string, r: BinlogRetention, nowMs: number): RetentionView {
  return {
    cluster,
    binlogRetentionHours: r.hours,
    isDefault: r.isDefault,
    updatedAt: r.updatedAt,
    retainFrom: new Date(retentionCutoffMs(nowMs, r.hours)).toISOString(),
  };
}

export function formatRetention(v: RetentionView): string {
  const how = v.isDefault ? 'default' : `set ${v.updatedAt}`;
  return (
    `binlog retention hours  ${v.binlogRetentionHours} (${how})\n` +
    `readable from           ${v.retainFrom} (cluster ${v.cluster})\n`
  );
}
