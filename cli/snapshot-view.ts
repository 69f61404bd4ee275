// What `borealis snapshot list|create` print: the --json documents (stable field names) and the human
// views (a table of snapshots; one line per created snapshot). Pure.
import type { SnapshotManifest } from '../core/backup/archive.ts';
import { formatColumns } from './table.ts';

/** One snapshot in `snapshot list --json`. */
export interface SnapshotListEntry {
  snapshotId: string;
  lsn: string;
  /** Commit time of the snapshot's LSN (ISO): the point in time it restores to. */
  time: string;
  createdAt: string;
  pageCount: number;
  bytesUploaded: number;
  bytesTotal: number;
  parent: string | null;
  /** 'log': only pages the archived log names as changed were read; 'full': every page (null: format 1). */
  changedPagesFrom: 'log' | 'full' | null;
}

/** `snapshot create --json`. */
export interface SnapshotCreated extends SnapshotListEntry {
  /** False when the snapshot already existed (same id, or nothing committed since the newest). */
  created: boolean;
  pagesUploaded: number;
  /** Pages read from storage: only the changed ones when the archived log named them. */
  pagesRead: number;
  durationMs: number;
}

export function listEntry(m: SnapshotManifest): SnapshotListEntry {
  return {
    snapshotId: m.snapshotId,
    lsn: m.lsn,
    time: new Date(m.commitTimeMs).toISOString(),
    createdAt: m.createdAt,
    pageCount: m.pageCount,
    bytesUploaded: m.bytesUploaded,
    bytesTotal: m.bytesTotal,
    parent: m.parent,
    changedPagesFrom: m.changedPagesFrom ?? null,
  };
}

/** 1536 → "1.5 KiB"; exact bytes below 1 KiB. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${bytes} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

export function formatSnapshotList(cluster: string, entries: readonly SnapshotListEntry[]): string {
  if (entries.length === 0) return `cluster ${cluster}: no snapshots\n`;
  const table = formatColumns(
    [
      { header: 'ID' },
      { header: 'LSN', align: 'right' },
      { header: 'TIME' },
      { header: 'PAGES', align: 'right' },
      { header: 'NEW', align: 'right' },
      { header: 'TOTAL', align: 'right' },
    ],
    entries.map((e) => [
      e.snapshotId,
      e.lsn,
      e.time,
      String(e.pageCount),
      formatBytes(e.bytesUploaded),
      formatBytes(e.bytesTotal),
    ]),
  );
  return `${[`cluster ${cluster}: ${entries.length} snapshot${entries.length === 1 ? '' : 's'}`, ...table].join('\n')}\n`;
}

export function formatSnapshotCreated(s: SnapshotCreated): string {
  if (!s.created) return `snapshot ${s.snapshotId} already exists (LSN ${s.lsn}, ${s.time}): nothing to do\n`;
  return (
    `snapshot ${s.snapshotId} at LSN ${s.lsn} (${s.time}): ${s.pageCount} pages, ${s.pagesRead} read, ` +
    `${formatBytes(s.bytesUploaded)} new of ${formatBytes(s.bytesTotal)}` +
    `${s.parent ? ` (incremental to ${s.parent})` : ''}, ${(s.durationMs / 1000).toFixed(1)} s\n`
  );
}
