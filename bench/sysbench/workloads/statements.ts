// The sysbench OLTP statements on the sbtest table (id primary key, k indexed, c, pad), written once
// in the SQL every system here accepts, and the random values sysbench feeds them.
import { prng } from '../../../core/prng.ts';
import type { Params, WorkloadContext } from '../types.ts';

/** sysbench's --range-size default: rows read by each range query. */
export const rangeSize = 100;
/** sysbench's --point-selects default in oltp_read_write. */
export const pointSelectsPerTransaction = 10;

export const sql = {
  pointSelect: 'SELECT c FROM sbtest WHERE id = :id',
  simpleRange: 'SELECT c FROM sbtest WHERE id BETWEEN :low AND :high',
  sumRange: 'SELECT SUM(k) FROM sbtest WHERE id BETWEEN :low AND :high',
  orderRange: 'SELECT c FROM sbtest WHERE id BETWEEN :low AND :high ORDER BY c',
  distinctRange: 'SELECT DISTINCT c FROM sbtest WHERE id BETWEEN :low AND :high ORDER BY c',
  indexUpdate: 'UPDATE sbtest SET k = k + 1 WHERE id = :id',
  nonIndexUpdate: 'UPDATE sbtest SET c = :c WHERE id = :id',
  delete: 'DELETE FROM sbtest WHERE id = :id',
  insert: 'INSERT INTO sbtest (id, k, c, pad) VALUES (:id, :k, :c, :pad)',
  heartbeatWrite: 'UPDATE heartbeat SET seq = :seq, ts = :ts WHERE id = 1',
  heartbeatRead: 'SELECT seq, ts FROM heartbeat WHERE id = 1',
} as const;

/** A small, fast, seeded generator (mulberry32), one per client so runs are repeatable. */
export function seededRandom(seed: number): (n: number) => number {
  const next = prng(seed);
  return (n: number) => Math.floor(next() * n);
}

/** Uniformly chosen existing id (sysbench's --rand-type=uniform). */
export function randomId(context: WorkloadContext): number {
  return 1 + context.random(context.rows);
}

/** `groups` groups of 11 random digits joined by '-': sysbench's c (10 groups) and pad (5). */
export function digitGroups(context: WorkloadContext, groups: number): string {
  const parts: string[] = [];
  for (let g = 0; g < groups; g++) {
    let digits = '';
    for (let d = 0; d < 11; d++) digits += String(context.random(10));
    parts.push(digits);
  }
  return parts.join('-');
}

export function rangeParams(context: WorkloadContext): Params {
  const low = 1 + context.random(Math.max(1, context.rows - rangeSize + 1));
  return { low, high: low + rangeSize - 1 };
}

/** One generated sbtest row, for loading and for the insert of delete + insert. */
export function sbtestRow(context: WorkloadContext, id: number): Params {
  return { id, k: randomId(context), c: digitGroups(context, 10), pad: digitGroups(context, 5) };
}
