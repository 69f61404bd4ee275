// Binlog positions, derived from LSNs so they never change: the event of the `row`-th change in the
// RowImages record at LSN L is at file `mysql-bin-changelog.<N>` (N = L >> 32, plus 1, six digits as
// Aurora names its binlog files) and pos L & 0xffffffff. Redelivered or rebuilt (from the archive)
// events carry the same position, so a consumer deduplicates on it; positions order like LSNs.
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';

export const binlogFilePrefix = 'mysql-bin-changelog.';

export interface BinlogPosition {
  file: string;
  pos: number;
  /** Index of the event among those its record yields (a PK update yields two). */
  row: number;
}

export function positionOf(lsn: Lsn, row: number): BinlogPosition {
  const fileNo = Number(lsn >> 32n) + 1;
  return {
    file: `${binlogFilePrefix}${String(fileNo).padStart(6, '0')}`,
    pos: Number(lsn & 0xffff_ffffn),
    row,
  };
}

/** The LSN a position's file and pos were derived from. */
export function lsnOfPosition(p: { file: string; pos: number }): Lsn {
  const match = /^mysql-bin-changelog\.(\d{6,})$/.exec(p.file);
  if (match === null || !Number.isSafeInteger(p.pos) || p.pos < 0 || p.pos > 0xffff_ffff) {
    throw new BorealisError(ErrorCode.INVALID_ARGUMENT, `not a binlog position: ${p.file}:${p.pos}`, {
      retryable: false,
    });
  }
  return ((BigInt(match[1]!) - 1n) << 32n) | BigInt(p.pos);
}

/** `file:pos` or `file:pos:row` (what `borealis binlog read --from-position` takes and prints). */
export function parsePosition(text: string): BinlogPosition {
  const parts = text.split(':');
  const [file, pos, row = '0'] = parts;
  if (parts.length < 2 || parts.length > 3 || !/^\d+$/.test(pos ?? '') || !/^\d+$/.test(row)) {
    throw new BorealisError(
      ErrorCode.INVALID_ARGUMENT,
      `not a binlog position: '${text}' (expected ${binlogFilePrefix}NNNNNN:POS[:ROW])`,
      { retryable: false },
    );
  }
  const position = { file: file!, pos: Number(pos), row: Number(row) };
  lsnOfPosition(position);
  return position;
}

export function formatPosition(p: BinlogPosition): string {
  return `${p.file}:${p.pos}:${p.row}`;
}

/** Orders positions as the log does. */
export function comparePositions(a: BinlogPosition, b: BinlogPosition): number {
  const la = lsnOfPosition(a);
  const lb = lsnOfPosition(b);
  if (la !== lb) return la < lb ? -1 : 1;
  return a.row - b.row;
}
