// `borealis backup expire`: runs the backup retention function's handler now, in this process,
// against the cluster's backup bucket (as the hourly schedule would), and prints what it expired and
// the restorable window it leaves. The period comes from --retention-days, else BACKUP_RETENTION_DAYS
// (the functions' variable), else the default (1 day).
import type { RetentionReport } from '../functions/backup-retention/handler.ts';
import type { ClusterOption } from './backup-target.ts';
import type { StateDirOptions } from './options.ts';

export type ExpireOptions = StateDirOptions & ClusterOption & { json?: boolean; retentionDays?: number };

export async function expireBackup(
  options: ExpireOptions,
  nowMs: () => number = Date.now,
): Promise<RetentionReport> {
  const { backupTarget, backupStoreError } = await import('./backup-target.ts');
  const { expireBackups } = await import('../functions/backup-retention/handler.ts');
  const { functionEnv, parseBackupRetentionDays } = await import('../core/functions.ts');
  const { UsageError } = await import('./errors.ts');
  let retentionDays: number;
  try {
    retentionDays = parseBackupRetentionDays(
      options.retentionDays ?? process.env[functionEnv.backupRetentionDays],
    );
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const target = backupTarget(options);
  try {
    return await expireBackups({
      s3: target.s3,
      bucket: target.bucket,
      cluster: target.cluster,
      now: nowMs,
      retentionDays,
    });
  } catch (error) {
    throw backupStoreError(error, target);
  } finally {
    target.s3.destroy();
  }
}

export function formatExpiry(r: RetentionReport): string {
  const lines: string[] = [];
  const field = (name: string, value: string) => lines.push(`${name.padEnd(21)}${value}`);
  const counts = (c: RetentionReport['deleted']) =>
    `${c.manifests} snapshots, ${c.chunks} log chunks, ${c.packs} page packs, ${c.pages} pages`;
  field('cluster', r.cluster);
  field('retention', `${r.retentionDays} day${r.retentionDays === 1 ? '' : 's'} (from ${r.retainFrom})`);
  field('earliest restorable', r.earliestRestorableTime ?? '-');
  field('latest restorable', r.latestRestorableTime ?? '-');
  field('base snapshot', r.baseSnapshot ?? '-');
  field('deleted', counts(r.deleted));
  field('kept', counts(r.kept));
  for (const note of r.notes) field('note', note);
  return `${lines.join('\n')}\n`;
}
