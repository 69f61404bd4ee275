// Quorum math for a PG's six segments (3 full + 3 tail): when a write is durable, when a recovery read
// is safe, and how segment SCLs roll up into PGCL, VCL and VDL. Pure; the writer calls it per ack.
import { assert } from './assert.ts';
import { fullSegmentsPerPg, readQuorum, segmentsPerPg, writeQuorum } from './limits.ts';
import { LSN_INVALID, type Lsn } from './lsn.ts';

/** A full segment holds pages and log; a tail segment holds log only. */
export type SegmentKind = 'full' | 'tail';

/** What the quorum math needs to know about a segment. Which node holds it is placement data, elsewhere. */
export interface SegmentDescriptor {
  kind: SegmentKind;
}

const allSegmentsMask = (1 << segmentsPerPg) - 1;

function popcount(mask: number): number {
  let count = 0;
  for (let m = mask; m !== 0; m &= m - 1) count++;
  return count;
}

/** Bit i set when segment i is full. Checks the PG's shape: six segments, exactly three full. */
export function fullMaskOf(kinds: readonly SegmentKind[]): number {
  assert(kinds.length === segmentsPerPg, () => `a PG has ${segmentsPerPg} segments, got ${kinds.length}`);
  let mask = 0;
  for (let i = 0; i < segmentsPerPg; i++) {
    const kind = kinds[i];
    assert(kind === 'full' || kind === 'tail', () => `segment ${i} kind ${String(kind)}`);
    if (kind === 'full') mask |= 1 << i;
  }
  assert(popcount(mask) === fullSegmentsPerPg, () => `a PG has ${fullSegmentsPerPg} full segments`);
  return mask;
}

function maskOf(flags: readonly boolean[]): number {
  assert(flags.length === segmentsPerPg, () => `a PG has ${segmentsPerPg} segments, got ${flags.length}`);
  let mask = 0;
  for (let i = 0; i < segmentsPerPg; i++) if (flags[i]) mask |= 1 << i;
  return mask;
}

/** Bitmask form of isWriteQuorum for hot paths that track acks as bits (bit i = segment i). */
export function isWriteQuorumMask(ackedMask: number, fullMask: number): boolean {
  assert((ackedMask & ~allSegmentsMask) === 0, 'ack mask has bits beyond the PG');
  return popcount(ackedMask) >= writeQuorum || (ackedMask & fullMask) === fullMask;
}

/** Bitmask form of isReadQuorum. */
export function isReadQuorumMask(respondedMask: number, fullMask: number): boolean {
  assert((respondedMask & ~allSegmentsMask) === 0, 'response mask has bits beyond the PG');
  return popcount(respondedMask) >= readQuorum && (respondedMask & fullMask) !== 0;
}

/** A write is durable in the PG once 4 of 6 segments, or all 3 full segments, acknowledged it. */
export function isWriteQuorum(acked: readonly boolean[], kinds: readonly SegmentKind[]): boolean {
  return isWriteQuorumMask(maskOf(acked), fullMaskOf(kinds));
}

/**
 * A recovery read is safe once 3 of 6 segments answered, one of them full: 3 + 4 > 6 meets every
 * 4-of-6 write quorum, and the full one meets the all-full write quorum.
 */
export function isReadQuorum(responded: readonly boolean[], kinds: readonly SegmentKind[]): boolean {
  return isReadQuorumMask(maskOf(responded), fullMaskOf(kinds));
}

/**
 * PGCL: the highest L such that the segments with SCL >= L form a write quorum, i.e. every record of
 * the PG up to L is on a write quorum. That set shrinks as L grows, so L is the larger of the 4th
 * highest SCL (any 4) and the lowest SCL among the full segments (all full).
 */
export function pgCompleteLsn(sclBySegment: readonly Lsn[], kinds: readonly SegmentKind[]): Lsn {
  const fullMask = fullMaskOf(kinds);
  assert(sclBySegment.length === segmentsPerPg, () => `a PG has ${segmentsPerPg} SCLs`);
  // The 4th highest is the SCL with exactly three segments ranked above it (ties broken by index);
  // 36 comparisons and no allocation beat sorting six bigints.
  let fourthHighest = LSN_INVALID;
  let fullMin: Lsn | undefined;
  for (let i = 0; i < segmentsPerPg; i++) {
    const scl = sclBySegment[i]!;
    assert(typeof scl === 'bigint' && scl >= 0n, () => `segment ${i} SCL must be an LSN`);
    let above = 0;
    for (let j = 0; j < segmentsPerPg; j++) {
      const other = sclBySegment[j]!;
      if (other > scl || (other === scl && j < i)) above++;
    }
    if (above === writeQuorum - 1) fourthHighest = scl;
    if ((fullMask & (1 << i)) !== 0 && (fullMin === undefined || scl < fullMin)) fullMin = scl;
  }
  assert(fullMin !== undefined, 'a PG has a full segment');
  return fourthHighest > fullMin ? fourthHighest : fullMin;
}

/** VCL: every PG is complete up to here. */
export function volumeCompleteLsn(pgcls: readonly Lsn[]): Lsn {
  assert(pgcls.length > 0, 'a volume has at least one PG');
  let vcl = pgcls[0]!;
  for (const pgcl of pgcls) if (pgcl < vcl) vcl = pgcl;
  return vcl;
}

/**
 * VDL: the highest CPL at or below VCL (LSN_INVALID when none), so durability always lands on an MTR
 * boundary. cplsSortedAscending is the writer's list of outstanding CPLs, kept in allocation order.
 */
export function volumeDurableLsn(vcl: Lsn, cplsSortedAscending: readonly Lsn[]): Lsn {
  let low = 0;
  let high = cplsSortedAscending.length; // answer index is high - 1 once low === high
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (cplsSortedAscending[mid]! <= vcl) low = mid + 1;
    else high = mid;
  }
  if (low === 0) return LSN_INVALID;
  const vdl = cplsSortedAscending[low - 1]!;
  // A full sortedness check would cost O(n); check the neighbourhood the search relied on.
  assert(vdl <= vcl, 'VDL above VCL');
  assert(
    (low === cplsSortedAscending.length || cplsSortedAscending[low]! > vdl) &&
      (low === 1 || cplsSortedAscending[low - 2]! < vdl),
    'CPLs must be strictly ascending',
  );
  return vdl;
}
