import { describe, expect, it } from 'vitest';
import type { SnapshotManifest } from '../core/backup/archive.ts';
import { formatBytes, formatSnapshotCreated, formatSnapshotList, listEntry } from './snapshot-view.ts';

const manifest = (id: string, lsn: string, timeMs: number, parent: string | null): SnapshotManifest => ({
  snapshotId: id,
  cluster: 'borealis',
  lsn,
  commitTimeMs: timeMs,
  createdAt: new Date(timeMs + 500).toISOString(),
  pageSizeBytes: 4096,
  pageCount: 3,
  pages: ['a', 'b', 'c'],
  parent,
  bytesUploaded: parent ? 4096 : 12288,
  bytesTotal: 12288,
  changedPagesFrom: parent ? 'log' : 'full',
});

describe('snapshot views', () => {
  const first = listEntry(manifest('snap-1', '120', Date.UTC(2026, 0, 2, 3, 4, 5), null));
  const second = listEntry(manifest('snap-2', '9000', Date.UTC(2026, 0, 2, 4, 4, 5), 'snap-1'));

  it('formats sizes', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1023)).toBe('1023 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(12 * 1024 * 1024)).toBe('12 MiB');
  });

  it('lists snapshots as a table', () => {
    expect(formatSnapshotList('borealis', [first, second])).toBe(
      [
        'cluster borealis: 2 snapshots',
        'ID       LSN  TIME                      PAGES      NEW   TOTAL',
        'snap-1   120  2026-01-02T03:04:05.000Z      3   12 KiB  12 KiB',
        'snap-2  9000  2026-01-02T04:04:05.000Z      3  4.0 KiB  12 KiB',
        '',
      ].join('\n'),
    );
    expect(formatSnapshotList('x', [])).toBe('cluster x: no snapshots\n');
  });

  it('keeps the JSON fields of a list entry', () => {
    expect(second).toEqual({
      snapshotId: 'snap-2',
      lsn: '9000',
      time: '2026-01-02T04:04:05.000Z',
      createdAt: '2026-01-02T04:04:05.500Z',
      pageCount: 3,
      bytesUploaded: 4096,
      bytesTotal: 12288,
      parent: 'snap-1',
      changedPagesFrom: 'log',
    });
  });

  it('says what a create did', () => {
    expect(
      formatSnapshotCreated({ ...second, created: true, pagesUploaded: 1, pagesRead: 2, durationMs: 2345 }),
    ).toBe(
      'snapshot snap-2 at LSN 9000 (2026-01-02T04:04:05.000Z): 3 pages, 2 read, 4.0 KiB new of 12 KiB (incremental to snap-1), 2.3 s\n',
    );
    expect(
      formatSnapshotCreated({ ...second, created: false, pagesUploaded: 0, pagesRead: 0, durationMs: 5 }),
    ).toBe('snapshot snap-2 already exists (LSN 9000, 2026-01-02T04:04:05.000Z): nothing to do\n');
  });
});
