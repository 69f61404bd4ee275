// `borealis backup status`: how restorable the cluster is — latest and earliest restorable times,
// how far the archive lags behind now, snapshots and log chunks — read from the backup bucket.
import type { Command } from 'commander';
import type { ExpireOptions } from './backup-expire.ts';
import type { ClusterOption } from './backup-target.ts';
import { type BackupStatus, formatBackupStatus } from './backup-view.ts';
import { type CommandContext, printJson } from './io.ts';
import { integerFlag, type StateDirOptions } from './options.ts';
import { addClusterOptions } from './snapshot.ts';

export function registerBackup(program: Command, ctx: CommandContext): void {
  const backup = program.command('backup').description("the cluster's continuous backup in S3");
  addClusterOptions(
    backup
      .command('status')
      .description('latest and earliest restorable times, lag behind now, snapshots and log chunks'),
  ).action(async (options: StateDirOptions & ClusterOption & { json?: boolean }) => {
    const { backupTarget, backupStoreError } = await import('./backup-target.ts');
    const { readBackupStatus } = await import('./backup-status.ts');
    const target = backupTarget(options);
    let status: BackupStatus;
    try {
      status = await readBackupStatus(target);
    } catch (error) {
      throw backupStoreError(error, target);
    } finally {
      target.s3.destroy();
    }
    if (options.json) printJson(ctx.io, status);
    else ctx.io.out(formatBackupStatus(status));
  });
  addClusterOptions(
    backup
      .command('expire')
      .description(
        'expire snapshots, log chunks and pages outside the retention period now (the hourly function, run here)',
      )
      .option(
        '--retention-days <n>',
        'days of point-in-time restore to keep, 1 to 35 (default: BACKUP_RETENTION_DAYS, else 1)',
        integerFlag(1, 35),
      ),
  ).action(async (options: ExpireOptions) => {
    const { expireBackup, formatExpiry } = await import('./backup-expire.ts');
    const report = await expireBackup(options);
    if (options.json) printJson(ctx.io, report);
    else ctx.io.out(formatExpiry(report));
  });
}
