// The pure parts of `borealis binlog read`: start filtering, chunk skipping, where the stream takes
// over, stream records back into events, the before-retention error, and the shard merge.
import { describe, expect, it } from 'vitest';
import type { ChunkInfo } from '../backup/archive.ts';
import type { BinlogEnvelope } from './events.ts';
import { type BinlogPosition, formatPosition, positionOf } from './position.ts';
import {
  beforeRetentionError,
  isAtOrAfterStart,
  leadingChunksToSkip,
  parseStreamRecord,
  ShardMerge,
  streamStartMarginMs,
  streamStartMs,
} from './replay-plan.ts';

const at = (lsn: bigint, row = 0): BinlogPosition => positionOf(lsn, row);

function chunk(prevLsn: bigint, lastLsn: bigint, lastCommitLsn: bigint, times: [number, number]): ChunkInfo {
  return {
    key: `k${prevLsn}`,
    prevLsn,
    firstLsn: prevLsn + 1n,
    lastLsn,
    lastCommitLsn,
    firstCommitTimeMs: times[0],
    lastCommitTimeMs: times[1],
    timeline: 0,
  };
}

describe('where a read starts', () => {
  it('keeps events at or after a position (inclusive, rows within a record ordered)', () => {
    const start = { kind: 'position', position: at(100n, 1) } as const;
    expect(isAtOrAfterStart({ position: at(100n, 0), commitTimeMs: 0 }, start)).toBe(false);
    expect(isAtOrAfterStart({ position: at(100n, 1), commitTimeMs: 0 }, start)).toBe(true);
    expect(isAtOrAfterStart({ position: at(101n, 0), commitTimeMs: 0 }, start)).toBe(true);
    // Positions order like LSNs across binlog files (file = LSN >> 32).
    expect(isAtOrAfterStart({ position: at(1n << 32n), commitTimeMs: 0 }, start)).toBe(true);
    expect(isAtOrAfterStart({ position: at(99n, 5), commitTimeMs: 0 }, start)).toBe(false);
  });

  it('keeps events whose commit time is at or after a time', () => {
    const start = { kind: 'time', timeMs: 5_000 } as const;
    expect(isAtOrAfterStart({ position: at(1n), commitTimeMs: 4_999 }, start)).toBe(false);
    expect(isAtOrAfterStart({ position: at(1n), commitTimeMs: 5_000 }, start)).toBe(true);
  });

  it('skips only leading chunks that end on a commit and lie wholly before the start', () => {
    const chain = [
      chunk(0n, 10n, 10n, [1_000, 2_000]),
      chunk(10n, 20n, 18n, [3_000, 4_000]), // ends inside a transaction: never skipped
      chunk(20n, 30n, 30n, [5_000, 6_000]),
      chunk(30n, 40n, 40n, [7_000, 8_000]),
    ];
    expect(leadingChunksToSkip(chain, { kind: 'time', timeMs: 2_500 })).toBe(1);
    expect(leadingChunksToSkip(chain, { kind: 'time', timeMs: 9_000 })).toBe(1);
    expect(leadingChunksToSkip(chain, { kind: 'time', timeMs: 2_000 })).toBe(0);
    expect(leadingChunksToSkip(chain, { kind: 'position', position: at(11n) })).toBe(1);
    expect(leadingChunksToSkip(chain, { kind: 'position', position: at(10n) })).toBe(0);
    expect(leadingChunksToSkip(chain.slice(2), { kind: 'position', position: at(41n) })).toBe(2);
    // A chunk with no commit at all (a slice of a large transaction) is never skipped.
    expect(leadingChunksToSkip([chunk(0n, 5n, 0n, [0, 0])], { kind: 'time', timeMs: 9_000 })).toBe(0);
  });

  it('reads the stream from a margin before the newest archived commit, or before a later start time', () => {
    expect(streamStartMs(100_000, { kind: 'time', timeMs: 50_000 })).toBe(100_000 - streamStartMarginMs);
    expect(streamStartMs(100_000, { kind: 'time', timeMs: 200_000 })).toBe(200_000 - streamStartMarginMs);
    expect(streamStartMs(undefined, { kind: 'position', position: at(1n) })).toBeUndefined();
    expect(streamStartMs(10, { kind: 'position', position: at(1n) })).toBe(0);
  });
});

function envelope(position: BinlogPosition, commitTimeMs: number): BinlogEnvelope {
  return {
    before: null,
    after: { id: 1, big: '9007199254740993' },
    op: 'c',
    key: { id: 1 },
    ts_ms: 1,
    source: {
      version: '0.1.0',
      connector: 'borealis',
      name: 'borealis',
      ts_ms: commitTimeMs,
      snapshot: 'false',
      db: 'main',
      table: 't',
      server_id: 2,
      file: position.file,
      pos: position.pos,
      row: position.row,
      lsn: '7',
      txId: '3',
    },
    transaction: { id: '3', total_order: 1, data_collection_order: 1 },
  };
}

describe('stream records', () => {
  it('parse back into the envelope, its position and commit time', () => {
    const e = envelope(at(7n, 1), 1234);
    const parsed = parseStreamRecord(Buffer.from(JSON.stringify(e)), 'shard/1');
    expect(parsed).toEqual({ envelope: e, position: at(7n, 1), commitTimeMs: 1234 });
  });

  it('anything else is a MALFORMED_FRAME error naming the record', () => {
    expect(() => parseStreamRecord(Buffer.from('{not json'), 'shard-0/42')).toThrow(
      /binlog stream record shard-0\/42 is not a binlog event: not JSON/,
    );
    expect(() => parseStreamRecord(Buffer.from('{"source":{"file":"x"}}'), 's/1')).toThrow(/no source/);
    const bad = { ...envelope(at(7n), 1), source: { ...envelope(at(7n), 1).source, file: 'binlog.1' } };
    expect(() => parseStreamRecord(Buffer.from(JSON.stringify(bad)), 's/1')).toThrow(/not a binlog position/);
  });
});

describe('the before-retention error', () => {
  it('names the bound and the earliest position that can be read', () => {
    const error = beforeRetentionError({
      start: { kind: 'time', timeMs: Date.parse('2026-12-01T00:00:00Z') },
      retentionHours: 24,
      cutoffMs: Date.parse('2026-12-01T10:00:00Z'),
      earliest: {
        envelope: envelope(at(4096n), 0),
        position: at(4096n),
        commitTimeMs: Date.parse('2026-12-01T10:00:01Z'),
      },
    });
    expect(error.message).toBe(
      'binlog time 2026-12-01T00:00:00.000Z is before the binlog retention (24 h: events committed since 2026-12-01T10:00:00.000Z); the earliest position that can be read is mysql-bin-changelog.000001:4096:0 (committed 2026-12-01T10:00:01.000Z)',
    );
    expect(error.code).toBe('INVALID_ARGUMENT');
  });

  it('names the archive when its first transaction is newer than the retention bound', () => {
    const error = beforeRetentionError({
      start: { kind: 'position', position: at(5n) },
      retentionHours: 2160,
      cutoffMs: 0,
      archiveFloorTimeMs: Date.parse('2026-11-01T00:00:00Z'),
    });
    expect(error.message).toBe(
      `binlog position ${formatPosition(at(5n))} is before the oldest archived transaction (committed 2026-11-01T00:00:00.000Z); no event that can be read has been committed yet`,
    );
  });
});

interface E {
  position: BinlogPosition;
  id: string;
}
const ev = (lsn: number, row = 0): E => ({ position: at(BigInt(lsn), row), id: `${lsn}:${row}` });
const ids = (events: E[]) => events.map((e) => e.id);
const tip = { caughtUp: true, closed: false };
const behind = { caughtUp: false, closed: false };

describe('ShardMerge', () => {
  it('one shard: everything read is ready at once, in order', () => {
    const m = new ShardMerge<E>(['a']);
    m.endRead('a', m.beginRead('a'), [ev(1), ev(2), ev(2, 1)], behind);
    expect(ids(m.takeReady())).toEqual(['1:0', '2:0', '2:1']);
  });

  it('interleaves shards by position once every shard holds a later event or was read to its tip', () => {
    const m = new ShardMerge<E>(['a', 'b']);
    m.endRead('a', m.beginRead('a'), [ev(1), ev(4)], behind);
    // b never read: nothing can be printed (b may hold 0..3).
    expect(m.takeReady()).toEqual([]);
    m.endRead('b', m.beginRead('b'), [ev(2), ev(3)], behind);
    // b's queue ends at 3, and b is behind: 4 waits.
    expect(ids(m.takeReady())).toEqual(['1:0', '2:0', '3:0']);
    m.endRead('b', m.beginRead('b'), [], tip);
    expect(ids(m.takeReady())).toEqual(['4:0']);
  });

  it('a shard at its tip counts only for events received before its read began', () => {
    const m = new ShardMerge<E>(['a', 'b']);
    m.endRead('a', m.beginRead('a'), [], tip); // a read, empty, before b's event arrived
    m.endRead('b', m.beginRead('b'), [ev(100)], tip);
    // a's empty read began before 100 was received: a may still deliver 99.
    expect(m.takeReady()).toEqual([]);
    m.endRead('a', m.beginRead('a'), [ev(99)], tip);
    expect(ids(m.takeReady())).toEqual(['99:0', '100:0']);
  });

  it('drops duplicates and anything at or before the position it starts after', () => {
    const m = new ShardMerge<E>(['a'], at(5n));
    m.endRead('a', m.beginRead('a'), [ev(4), ev(5), ev(6), ev(6), ev(7)], tip);
    expect(ids(m.takeReady())).toEqual(['6:0', '7:0']);
    expect(m.lastPosition).toEqual(at(7n));
  });

  it('a closed shard never holds anything back', () => {
    const m = new ShardMerge<E>(['parent', 'child']);
    m.endRead('parent', m.beginRead('parent'), [ev(1)], { caughtUp: false, closed: true });
    m.endRead('child', m.beginRead('child'), [ev(2)], behind);
    // The parent is closed and drained, the child behind: both events still print.
    expect(ids(m.takeReady())).toEqual(['1:0', '2:0']);
    expect(m.wantsRead('parent')).toBe(false);
  });

  it('without --follow: prints what was received by the end tick, then is finished', () => {
    const m = new ShardMerge<E>(['a', 'b']);
    m.endRead('a', m.beginRead('a'), [ev(1)], tip);
    m.endRead('b', m.beginRead('b'), [ev(2)], tip);
    expect(m.allCaughtUp()).toBe(true);
    const end = m.tick;
    m.endRead('a', m.beginRead('a'), [ev(3)], tip); // arrived after the end: not printed
    m.endRead('b', m.beginRead('b'), [], tip);
    expect(ids(m.takeReady(end))).toEqual(['1:0', '2:0']);
    expect(m.finished(end)).toBe(true);
  });

  it('stops reading a shard whose buffer is full until the merge drains it', () => {
    const m = new ShardMerge<E>(['a', 'b'], undefined, 2);
    m.endRead('a', m.beginRead('a'), [ev(1), ev(2)], behind);
    expect(m.wantsRead('a')).toBe(false);
    expect(m.wantsRead('b')).toBe(true);
    m.endRead('b', m.beginRead('b'), [], tip);
    expect(ids(m.takeReady())).toEqual(['1:0', '2:0']);
    expect(m.wantsRead('a')).toBe(true);
  });

  it('restores position order if a shard delivers out of order', () => {
    const m = new ShardMerge<E>(['a']);
    m.endRead('a', m.beginRead('a'), [ev(3), ev(1), ev(2)], tip);
    expect(ids(m.takeReady())).toEqual(['1:0', '2:0', '3:0']);
  });
});
