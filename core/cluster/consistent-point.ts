// The writer's consistent point as its HTTP side port serves it (GET /consistent-point): the newest
// durable commit (a CPL at VDL) with its commit time, and every PG's last LSN taken in the same tick.
// A snapshot pins it and reads each page from storage as of min(lsn, its PG's tail): a PG with no
// record in (tail, lsn] is complete to lsn even though its segments' SCL stopped at its tail.
import { BorealisError, ErrorCode } from '../errors.ts';
import type { Lsn } from '../lsn.ts';

export const consistentPointRoute = '/consistent-point';

/** The JSON document (LSNs as decimal strings: they are 64-bit). */
export interface ConsistentPointDocument {
  lsn: string;
  commitTimeMs: number;
  /** pg → last LSN allocated in it when `lsn` was read (PGs never written are absent). */
  pgTails: Record<string, string>;
  epoch: string;
}

export interface ConsistentPoint {
  lsn: Lsn;
  commitTimeMs: number;
  pgTails: ReadonlyMap<number, Lsn>;
}

export function encodeConsistentPoint(point: ConsistentPoint, epoch: bigint): ConsistentPointDocument {
  return {
    lsn: point.lsn.toString(),
    commitTimeMs: point.commitTimeMs,
    pgTails: Object.fromEntries([...point.pgTails].map(([pg, lsn]) => [String(pg), lsn.toString()])),
    epoch: epoch.toString(),
  };
}

const decimal = /^\d{1,20}$/;

export function decodeConsistentPoint(value: unknown): ConsistentPoint {
  const bad = (why: string) =>
    new BorealisError(ErrorCode.INVALID_ARGUMENT, `consistent point: ${why}`, { context: { value } });
  if (typeof value !== 'object' || value === null) throw bad('not an object');
  const doc = value as Partial<ConsistentPointDocument>;
  if (typeof doc.lsn !== 'string' || !decimal.test(doc.lsn)) throw bad('lsn must be a decimal string');
  if (typeof doc.commitTimeMs !== 'number' || !Number.isSafeInteger(doc.commitTimeMs) || doc.commitTimeMs < 0)
    throw bad('commitTimeMs must be a non-negative integer');
  if (typeof doc.pgTails !== 'object' || doc.pgTails === null) throw bad('pgTails must be an object');
  const pgTails = new Map<number, Lsn>();
  for (const [pg, lsn] of Object.entries(doc.pgTails)) {
    if (!/^\d{1,9}$/.test(pg) || typeof lsn !== 'string' || !decimal.test(lsn))
      throw bad(`bad tail of pg ${pg}`);
    pgTails.set(Number(pg), BigInt(lsn));
  }
  return { lsn: BigInt(doc.lsn), commitTimeMs: doc.commitTimeMs, pgTails };
}
