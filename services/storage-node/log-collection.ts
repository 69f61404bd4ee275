// Log collection, the pure part: how far a segment's log (its records on disk and its in-memory index)
// may be let go of. A record goes only when nobody can need it any more: the backup (archived in S3),
// readers (PGMRPL), backtrack and the secondary region (named inputs, 'none' until those exist), this
// segment's own page reads (full segments: the coalescer has stored versions, and no page-record list
// still names it) and gossip (every peer segment of the PG this node knows of holds it). The node does
// the I/O (services/storage-node/storage-node.ts); ADR 013 has the reasoning.
import type { Lsn } from '../../core/lsn.ts';
import type { CollectionInput } from '../../core/wire/messages.ts';

/** Which input holds a segment's log where it is (the minimum), reported in /metrics and /health. */
export const retainedByValues = [
  'noWriterFloor',
  'archive',
  'readPointFloor',
  'backtrack',
  'globalSecondary',
  'coalesced',
  'pageRecords',
  'peerScl',
  'ownScl',
] as const;
export type RetainedBy = (typeof retainedByValues)[number];

/** The writer's inputs, volume-wide, as last sent (CollectionFloor), with the epoch that sent them. */
export interface WriterFloor {
  epoch: bigint;
  archive: CollectionInput;
  backtrack: CollectionInput;
  globalSecondary: CollectionInput;
}

/**
 * The writer floor after a CollectionFloor message: never lowered by a late or reordered message of
 * the same writer ('none' ranks above every LSN: the feature does not hold the log). A newer epoch is
 * another writer, whose configuration may differ (backup switched on: its archive starts low), so its
 * inputs replace the old ones; an older epoch is a fenced writer and changes nothing.
 */
export function mergeWriterFloor(current: WriterFloor | undefined, next: WriterFloor): WriterFloor {
  if (!current || next.epoch > current.epoch) return { ...next };
  if (next.epoch < current.epoch) return current;
  return {
    epoch: current.epoch,
    archive: higherInput(current.archive, next.archive),
    backtrack: higherInput(current.backtrack, next.backtrack),
    globalSecondary: higherInput(current.globalSecondary, next.globalSecondary),
  };
}

function higherInput(a: CollectionInput, b: CollectionInput): CollectionInput {
  if (a === 'none' || b === 'none') return 'none';
  return a > b ? a : b;
}

export interface SegmentCollectionInputs {
  /** undefined: no writer has sent its floor since this node started — nothing is collected. */
  writer: WriterFloor | undefined;
  /** PGMRPL for this PG (undefined: not sent yet — nothing is collected). */
  readPointFloor: Lsn | undefined;
  /** This segment's SCL: it cannot give up what it does not hold completely. */
  ownScl: Lsn;
  /** Full segments: records up to here are in stored page versions. */
  coalescedLsn?: Lsn;
  /** Full segments: the lowest LSN a page-record list still names (undefined: none does). */
  pageRecordsFrom?: Lsn;
  /** The lowest SCL of the PG's other segments this node knows of ('unknown': a peer not heard yet). */
  peerScl: Lsn | 'unknown';
}

/**
 * The highest LSN at or below which this segment's records are needed by no input, and the input
 * that holds it there (the minimum; the first in retainedByValues order on a tie). 0: collect nothing.
 */
export function collectionTarget(inputs: SegmentCollectionInputs): { upto: Lsn; retainedBy: RetainedBy } {
  if (!inputs.writer) return { upto: 0n, retainedBy: 'noWriterFloor' };
  const candidates: [RetainedBy, Lsn][] = [];
  const named: [RetainedBy, CollectionInput][] = [
    ['archive', inputs.writer.archive],
    ['backtrack', inputs.writer.backtrack],
    ['globalSecondary', inputs.writer.globalSecondary],
  ];
  for (const [name, input] of named) if (input !== 'none') candidates.push([name, input]);
  candidates.push(['readPointFloor', inputs.readPointFloor ?? 0n]);
  if (inputs.coalescedLsn !== undefined) candidates.push(['coalesced', inputs.coalescedLsn]);
  if (inputs.pageRecordsFrom !== undefined && inputs.pageRecordsFrom > 0n) {
    candidates.push(['pageRecords', inputs.pageRecordsFrom - 1n]);
  }
  candidates.push(['peerScl', inputs.peerScl === 'unknown' ? 0n : inputs.peerScl]);
  candidates.push(['ownScl', inputs.ownScl]);
  let best = candidates[0]!;
  for (const c of candidates) {
    if (c[1] < best[1] || (c[1] === best[1] && order(c[0]) < order(best[0]))) best = c;
  }
  return { upto: best[1], retainedBy: best[0] };
}

function order(name: RetainedBy): number {
  return retainedByValues.indexOf(name);
}

/**
 * Where a segment's log may start, given the target: a record of the PG's backlink chain (the chain
 * restarts there after a restart) that keeps the newest commit record at or below the target (a
 * recovering writer starts its walk at a segment's newest commit and reads it). Never below the
 * current base. `lastCommitAtOrBelow` and `chainRecordAtOrBelow` answer 0 for none; `prevOf` is a
 * held record's backlink.
 */
export function collectionBase(
  upto: Lsn,
  currentBase: Lsn,
  segment: {
    lastCommitAtOrBelow: (lsn: Lsn) => Lsn;
    chainRecordAtOrBelow: (lsn: Lsn) => Lsn;
    prevOf: (lsn: Lsn) => Lsn;
  },
): Lsn {
  if (upto <= currentBase) return currentBase;
  const commit = segment.lastCommitAtOrBelow(upto);
  const base = commit > currentBase ? segment.prevOf(commit) : segment.chainRecordAtOrBelow(upto);
  return base > currentBase ? base : currentBase;
}

/** What a peer segment last told this node, for the gossip input. */
export interface PeerSclSample {
  scl: Lsn | undefined;
  heardAtMs: number;
}

/**
 * The lowest SCL of a PG's peer segments, for collection: a peer that has not answered for staleMs
 * is left out (it will rebuild from page images when it is back, rather than hold every node's log
 * for as long as it is away); one that has not answered since this node started, and is not stale
 * yet, makes it 'unknown'.
 */
export function lowestPeerScl(
  peers: Iterable<PeerSclSample>,
  nowMs: number,
  staleMs: number,
): Lsn | 'unknown' {
  let lowest: Lsn | undefined;
  for (const p of peers) {
    if (p.heardAtMs < nowMs - staleMs) continue;
    if (p.scl === undefined) return 'unknown';
    if (lowest === undefined || p.scl < lowest) lowest = p.scl;
  }
  return lowest ?? 'unknown';
}
