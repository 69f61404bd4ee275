// What `borealis export status|list|start` print for people (pure): a task's fields under Aurora's
// names, the list as aligned columns, and the one-line progress bar a terminal shows while it runs.
import type { ExportTask } from '../functions/snapshot-export/task.ts';
import { formatBytes } from './snapshot-view.ts';
import { formatColumns } from './table.ts';

/** Width of the bar's filled/empty part, in characters. */
export const progressBarWidth = 30;

/** `[#########.....]  30%  IN_PROGRESS  120,000 rows` (no newline: redrawn with \r). */
export function formatProgress(task: ExportTask): string {
  const percent = Math.max(0, Math.min(100, task.PercentProgress));
  const filled = Math.round((progressBarWidth * percent) / 100);
  const bar = `[${'#'.repeat(filled)}${'.'.repeat(progressBarWidth - filled)}]`;
  return `${bar} ${String(percent).padStart(3)}%  ${task.Status}  ${task.ExportedRowCount.toLocaleString('en-US')} rows`;
}

const gbToBytes = (gb: number) => Math.round(gb * 2 ** 30);
/** Plain decimals (no 4e-7), trailing zeros dropped: 0.0000004, 0.5, 12. */
const formatGb = (gb: number) => gb.toFixed(9).replace(/\.?0+$/, '');

/** One field per line, Aurora's names; absent optional fields are left out. */
export function formatTask(task: ExportTask): string {
  const fields: Array<[string, string]> = [
    ['ExportTaskIdentifier', task.ExportTaskIdentifier],
    ['Status', task.Status],
    ['PercentProgress', String(task.PercentProgress)],
    ['SourceArn', task.SourceArn],
    ['SnapshotTime', task.SnapshotTime ?? '-'],
    ['TaskStartTime', task.TaskStartTime ?? '-'],
    ['TaskEndTime', task.TaskEndTime ?? '-'],
    ['S3Bucket', task.S3Bucket],
    ['S3Prefix', task.S3Prefix === '' ? '(none)' : task.S3Prefix],
    ['ExportOnly', task.ExportOnly.length === 0 ? '(all tables)' : task.ExportOnly.join(', ')],
    [
      'TotalExtractedDataInGB',
      `${formatGb(task.TotalExtractedDataInGB)} (${formatBytes(gbToBytes(task.TotalExtractedDataInGB))})`,
    ],
    ['ExportedTables', String(task.ExportedTableCount)],
    ['ExportedRows', String(task.ExportedRowCount)],
  ];
  if (task.FailureCause !== undefined) fields.push(['FailureCause', task.FailureCause]);
  if (task.WarningMessage !== undefined) fields.push(['WarningMessage', task.WarningMessage]);
  const width = Math.max(...fields.map(([name]) => name.length));
  return `${fields.map(([name, value]) => `${name.padEnd(width)}  ${value}`).join('\n')}\n`;
}

export function formatTaskList(tasks: readonly ExportTask[]): string {
  if (tasks.length === 0) return 'no export tasks\n';
  return `${formatColumns(
    [
      { header: 'ID' },
      { header: 'STATUS' },
      { header: '%', align: 'right' },
      { header: 'SNAPSHOT' },
      { header: 'ROWS', align: 'right' },
      { header: 'SIZE', align: 'right' },
      { header: 'DESTINATION' },
    ],
    tasks.map((t) => [
      t.ExportTaskIdentifier,
      t.Status,
      String(t.PercentProgress),
      t.SnapshotIdentifier,
      String(t.ExportedRowCount),
      formatBytes(gbToBytes(t.TotalExtractedDataInGB)),
      `s3://${t.S3Bucket}/${t.S3Prefix === '' ? '' : `${t.S3Prefix}/`}${t.ExportTaskIdentifier}/`,
    ]),
  ).join('\n')}\n`;
}
