// `borealis export start|status|list|cancel`: Aurora's snapshot export to Parquet (StartExportTask,
// DescribeExportTasks, CancelExportTask). `start` checks the request, records the task and runs the
// snapshot-export function's handler in this process (a progress bar on a terminal), or with
// --no-wait hands it to the running system's function runner as a `Borealis Export Requested`
// event. The task lives in the cluster's backup bucket, so status/list/cancel work from anywhere.
import type { Command } from 'commander';
import type { ExportTask } from '../functions/snapshot-export/task.ts';
import type { BackupTarget, ClusterOption } from './backup-target.ts';
import { CliError } from './errors.ts';
import { formatProgress, formatTask, formatTaskList } from './export-view.ts';
import { type CommandContext, printJson } from './io.ts';
import { addClusterOption, addRegionOption, addStateDirOption, type StateDirOptions } from './options.ts';

type ExportOptions = StateDirOptions & ClusterOption & { json?: boolean };

type StartOptions = ExportOptions & {
  snapshot: string;
  exportId: string;
  s3Prefix?: string;
  s3Bucket?: string;
  only?: string;
  wait: boolean;
};

function addOptions(command: Command): Command {
  return addStateDirOption(
    addRegionOption(
      addClusterOption(command, 'the cluster whose snapshot (and backup bucket) to use').option(
        '--json',
        'print JSON (for scripts): the task under Aurora field names',
      ),
    ),
  );
}

async function withTarget<T>(options: ExportOptions, work: (target: BackupTarget) => Promise<T>): Promise<T> {
  // Loaded on use: the S3 client slows every other command's start.
  const { backupTarget, backupStoreError } = await import('./backup-target.ts');
  const target = backupTarget(options);
  try {
    return await work(target);
  } catch (error) {
    throw backupStoreError(error, target);
  } finally {
    target.s3.destroy();
  }
}

/** The request `start` sends, from its flags (ExportOnly from a comma list). */
export function exportRequestOf(options: StartOptions): Record<string, unknown> {
  return {
    exportTaskIdentifier: options.exportId,
    cluster: options.cluster,
    snapshotIdentifier: options.snapshot,
    ...(options.s3Prefix === undefined ? {} : { s3Prefix: options.s3Prefix }),
    ...(options.s3Bucket === undefined ? {} : { s3Bucket: options.s3Bucket }),
    ...(options.only === undefined
      ? {}
      : {
          exportOnly: options.only
            .split(',')
            .map((n) => n.trim())
            .filter((n) => n !== ''),
        }),
  };
}

export async function startExport(
  options: StartOptions,
  onProgress?: (task: ExportTask) => void,
): Promise<ExportTask> {
  const { startExportTask, runExportTask } = await import('../functions/snapshot-export/handler.ts');
  return withTarget(options, async (target) => {
    const deps = {
      s3: target.s3,
      bucket: target.bucket,
      region: target.region,
      ...(onProgress ? { onProgress } : {}),
    };
    const request = exportRequestOf(options);
    const task = await startExportTask(deps, request);
    if (!options.wait) {
      const { makeEvent, putLocalEvent } = await import('../embedded/local-events.ts');
      const { borealisEventSource, eventDetailTypes } = await import('../core/functions.ts');
      if (!target.system) {
        throw new CliError('--no-wait hands the export to a running system: none runs from the state dir');
      }
      putLocalEvent(
        options.stateDir,
        'inbox',
        makeEvent(borealisEventSource, eventDetailTypes.exportRequested, request, target.region),
      );
      return task;
    }
    return runExportTask(deps, task);
  });
}

export function registerExport(program: Command, ctx: CommandContext): void {
  const command = program
    .command('export')
    .description("export a snapshot's tables to Parquet in S3, in Aurora's layout (StartExportTask)");
  addOptions(
    command
      .command('start')
      .description('export a snapshot now (reads only S3: the running cluster is never touched)')
      .requiredOption('--snapshot <id>', 'the snapshot to export (see `borealis snapshot list`)')
      .requiredOption(
        '--export-id <id>',
        'the export task identifier: 1-60 letters, digits, hyphens; starts with a letter; never reused',
      )
      .option(
        '--s3-prefix <prefix>',
        "where in the bucket: <prefix>/<export-id>/… (default 'exports'; no ':')",
      )
      .option('--s3-bucket <name>', "the destination bucket (default: the cluster's backup bucket)")
      .option('--only <tables>', 'comma-separated tables (`table` or `<database>.<table>`) instead of all')
      .option('--no-wait', "hand the export to the running system's function runner and return at once"),
  ).action(async (options: StartOptions) => {
    const bar = !options.json && options.wait && process.stderr.isTTY === true;
    const task = await startExport(
      options,
      bar ? (t) => process.stderr.write(`\r${formatProgress(t)}`) : undefined,
    );
    if (bar) process.stderr.write('\n');
    if (options.json) printJson(ctx.io, task);
    else ctx.io.out(formatTask(task));
    if (task.Status === 'FAILED')
      throw new CliError(`export ${task.ExportTaskIdentifier} failed: ${task.FailureCause}`);
    if (task.Status === 'CANCELED') throw new CliError(`export ${task.ExportTaskIdentifier} was cancelled`);
  });
  addOptions(
    command
      .command('status')
      .description("an export task's fields under Aurora's names (Status, PercentProgress, …)")
      .argument('<export-id>', 'the export task identifier'),
  ).action(async (exportId: string, options: ExportOptions) => {
    const { describeTask } = await import('../functions/snapshot-export/task.ts');
    const task = await withTarget(options, (target) => describeTask(target.s3, target.bucket, exportId));
    if (options.json) printJson(ctx.io, task);
    else ctx.io.out(formatTask(task));
  });
  addOptions(command.command('list').description("every export task in the cluster's backup bucket")).action(
    async (options: ExportOptions) => {
      const { listTasks } = await import('../functions/snapshot-export/task.ts');
      const tasks = await withTarget(options, (target) => listTasks(target.s3, target.bucket));
      if (options.json) printJson(ctx.io, { exportTasks: tasks });
      else ctx.io.out(formatTaskList(tasks));
    },
  );
  addOptions(
    command
      .command('cancel')
      .description('stop a running export (CANCELING, then CANCELED); a finished one cannot be cancelled')
      .argument('<export-id>', 'the export task identifier'),
  ).action(async (exportId: string, options: ExportOptions) => {
    const { requestCancel } = await import('../functions/snapshot-export/task.ts');
    const task = await withTarget(options, (target) => requestCancel(target.s3, target.bucket, exportId));
    if (options.json) printJson(ctx.io, task);
    else ctx.io.out(formatTask(task));
  });
}
