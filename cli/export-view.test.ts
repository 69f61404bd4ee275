// `borealis export`: the views (task, list, progress bar), the request built from the flags, and the
// command line's own errors (pure: no system runs).
import { describe, expect, it } from 'vitest';
import { checkExportRequest, type ExportTask, newTask } from '../functions/snapshot-export/task.ts';
import { exportRequestOf } from './export.ts';
import { formatProgress, formatTask, formatTaskList } from './export-view.ts';
import { runCli } from './program.ts';
import { memoryIo } from './testing.ts';

const task: ExportTask = {
  ...newTask(
    checkExportRequest({ exportTaskIdentifier: 'daily-1', cluster: 'borealis', snapshotIdentifier: 's1' }),
    {
      region: 'us-east-1',
      bucket: 'borealis-backup-us-east-1',
      now: new Date(0),
    },
  ),
  Status: 'IN_PROGRESS',
  PercentProgress: 40,
  ExportedRowCount: 123456,
  TotalExtractedDataInGB: 0.5,
};

describe('export views', () => {
  it('draws a progress bar', () => {
    expect(formatProgress(task)).toBe('[############..................]  40%  IN_PROGRESS  123,456 rows');
  });

  it("prints a task's fields under Aurora's names", () => {
    const text = formatTask({ ...task, WarningMessage: 'db.t skipped: a virtual table' });
    expect(text).toContain('ExportTaskIdentifier    daily-1\n');
    expect(text).toContain('Status                  IN_PROGRESS\n');
    expect(text).toContain('TotalExtractedDataInGB  0.5 (512 MiB)\n');
    expect(text).toContain('WarningMessage          db.t skipped: a virtual table\n');
    expect(text).not.toContain('FailureCause');
  });

  it('lists tasks with their destination', () => {
    expect(formatTaskList([])).toBe('no export tasks\n');
    const lines = formatTaskList([task]).split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+%\s+SNAPSHOT\s+ROWS\s+SIZE\s+DESTINATION$/);
    expect(lines[1]).toContain('s3://borealis-backup-us-east-1/exports/daily-1/');
  });
});

describe('export start flags', () => {
  it('become the request the function takes', () => {
    expect(
      exportRequestOf({
        stateDir: '.borealis',
        cluster: 'borealis',
        snapshot: 's1',
        exportId: 'e1',
        only: 'orders, borealis.customers,,',
        s3Prefix: 'a/b',
        wait: true,
      }),
    ).toEqual({
      exportTaskIdentifier: 'e1',
      cluster: 'borealis',
      snapshotIdentifier: 's1',
      s3Prefix: 'a/b',
      exportOnly: ['orders', 'borealis.customers'],
    });
  });

  it('refuses a start without a snapshot or an export id (exit 2)', async () => {
    const io = memoryIo();
    expect(await runCli(['export', 'start', '--export-id', 'e1'], io)).toBe(2);
    expect(io.stderr()).toContain("required option '--snapshot <id>' not specified");
  });
});
