import { describe, expect, it } from 'vitest';
import {
  collectionBase,
  collectionTarget,
  lowestPeerScl,
  mergeWriterFloor,
  type SegmentCollectionInputs,
  type WriterFloor,
} from './log-collection.ts';

const writer: WriterFloor = { epoch: 2n, archive: 500n, backtrack: 'none', globalSecondary: 'none' };
const full: SegmentCollectionInputs = {
  writer,
  readPointFloor: 600n,
  ownScl: 900n,
  coalescedLsn: 800n,
  pageRecordsFrom: 701n,
  peerScl: 850n,
};

describe('collectionTarget', () => {
  it('collects nothing until a writer has sent its floor', () => {
    expect(collectionTarget({ ...full, writer: undefined })).toEqual({
      upto: 0n,
      retainedBy: 'noWriterFloor',
    });
  });

  it('collects nothing while PGMRPL is not known', () => {
    expect(collectionTarget({ ...full, readPointFloor: undefined })).toEqual({
      upto: 0n,
      retainedBy: 'readPointFloor',
    });
  });

  it('is the minimum of every input, named', () => {
    expect(collectionTarget(full)).toEqual({ upto: 500n, retainedBy: 'archive' });
    const noBackup = { ...writer, archive: 'none' as const };
    expect(collectionTarget({ ...full, writer: noBackup })).toEqual({
      upto: 600n,
      retainedBy: 'readPointFloor',
    });
    expect(collectionTarget({ ...full, writer: { ...writer, backtrack: 300n } })).toEqual({
      upto: 300n,
      retainedBy: 'backtrack',
    });
    expect(collectionTarget({ ...full, writer: { ...writer, globalSecondary: 200n } })).toEqual({
      upto: 200n,
      retainedBy: 'globalSecondary',
    });
    expect(collectionTarget({ ...full, coalescedLsn: 100n })).toEqual({
      upto: 100n,
      retainedBy: 'coalesced',
    });
    // A page-record list still naming LSN 401 keeps 401: the target is just below it.
    expect(collectionTarget({ ...full, pageRecordsFrom: 401n })).toEqual({
      upto: 400n,
      retainedBy: 'pageRecords',
    });
    expect(collectionTarget({ ...full, peerScl: 50n })).toEqual({ upto: 50n, retainedBy: 'peerScl' });
    expect(collectionTarget({ ...full, peerScl: 'unknown' })).toEqual({ upto: 0n, retainedBy: 'peerScl' });
    expect(collectionTarget({ ...full, ownScl: 40n })).toEqual({ upto: 40n, retainedBy: 'ownScl' });
  });

  it('takes no page inputs for a tail segment', () => {
    const tail = {
      writer: { ...writer, archive: 'none' as const },
      readPointFloor: 600n,
      ownScl: 900n,
      peerScl: 850n,
    };
    expect(collectionTarget(tail)).toEqual({ upto: 600n, retainedBy: 'readPointFloor' });
  });

  it('a page-record list with nothing left is no input', () => {
    const { pageRecordsFrom: _, ...rest } = full;
    expect(collectionTarget({ ...rest, writer: { ...writer, archive: 'none' } })).toEqual({
      upto: 600n,
      retainedBy: 'readPointFloor',
    });
  });
});

describe('mergeWriterFloor', () => {
  it('never lowers an input of the same writer (late or reordered messages)', () => {
    const merged = mergeWriterFloor(writer, { ...writer, archive: 400n });
    expect(merged.archive).toBe(500n);
    expect(mergeWriterFloor(writer, { ...writer, archive: 700n }).archive).toBe(700n);
    // 'none' (the feature does not hold the log) ranks above every LSN.
    expect(mergeWriterFloor({ ...writer, archive: 'none' }, writer).archive).toBe('none');
  });

  it("takes a newer writer's inputs whole, even lower ones, and ignores a fenced writer's", () => {
    const newer = { epoch: 3n, archive: 10n, backtrack: 'none' as const, globalSecondary: 'none' as const };
    expect(mergeWriterFloor(writer, newer)).toEqual(newer);
    expect(mergeWriterFloor(newer, { ...writer, archive: 900n })).toEqual(newer);
    expect(mergeWriterFloor(undefined, writer)).toEqual(writer);
  });
});

describe('collectionBase', () => {
  // A PG's chain: 10 → 20 (commit) → 30 → 40 (commit) → 50.
  const chain = [10n, 20n, 30n, 40n, 50n];
  const commits = [20n, 40n];
  const segment = {
    lastCommitAtOrBelow: (lsn: bigint) => commits.filter((c) => c <= lsn).pop() ?? 0n,
    chainRecordAtOrBelow: (lsn: bigint) => chain.filter((c) => c <= lsn).pop() ?? 0n,
    prevOf: (lsn: bigint) => chain[chain.indexOf(lsn) - 1] ?? 0n,
  };

  it('keeps the newest commit at or below the target (recovery starts its walk there)', () => {
    expect(collectionBase(45n, 0n, segment)).toBe(30n);
    expect(collectionBase(40n, 0n, segment)).toBe(30n);
    expect(collectionBase(39n, 0n, segment)).toBe(10n);
  });

  it('is a chain record when no commit is at or below the target', () => {
    expect(collectionBase(15n, 0n, segment)).toBe(10n);
    const noCommits = { ...segment, lastCommitAtOrBelow: () => 0n };
    expect(collectionBase(45n, 0n, noCommits)).toBe(40n);
  });

  it('never goes below the current base', () => {
    expect(collectionBase(45n, 35n, segment)).toBe(35n);
    expect(collectionBase(20n, 30n, segment)).toBe(30n);
  });
});

describe('lowestPeerScl', () => {
  it('is the lowest SCL heard, unknown while a peer has not answered yet', () => {
    expect(
      lowestPeerScl(
        [
          { scl: 5n, heardAtMs: 100 },
          { scl: 3n, heardAtMs: 100 },
        ],
        100,
        1000,
      ),
    ).toBe(3n);
    expect(
      lowestPeerScl(
        [
          { scl: 5n, heardAtMs: 100 },
          { scl: undefined, heardAtMs: 100 },
        ],
        100,
        1000,
      ),
    ).toBe('unknown');
  });

  it('leaves out a peer silent for longer than staleMs (it rebuilds from page images)', () => {
    expect(
      lowestPeerScl(
        [
          { scl: 5n, heardAtMs: 5000 },
          { scl: 1n, heardAtMs: 100 },
        ],
        5000,
        1000,
      ),
    ).toBe(5n);
    expect(
      lowestPeerScl(
        [
          { scl: 5n, heardAtMs: 5000 },
          { scl: undefined, heardAtMs: 100 },
        ],
        5000,
        1000,
      ),
    ).toBe(5n);
    expect(lowestPeerScl([{ scl: 1n, heardAtMs: 100 }], 5000, 1000)).toBe('unknown');
  });
});
