// `borealis snapshot create|list`: take an incremental snapshot of the running cluster now (the
// snapshot function's handler, run in this process against the cluster's storage nodes and the
// region's backup bucket), or list the snapshots in the bucket.
import type { Command } from 'commander';
import type { BackupTarget, ClusterOption } from './backup-target.ts';
import { type CommandContext, printJson } from './io.ts';
import {
  addClusterOption,
  addRegionOption,
  addStateDirOption,
  integerFlag,
  type StateDirOptions,
} from './options.ts';
import {
  formatSnapshotCreated,
  formatSnapshotList,
  listEntry,
  type SnapshotCreated,
  type SnapshotListEntry,
} from './snapshot-view.ts';

type SnapshotOptions = StateDirOptions & ClusterOption & { json?: boolean };

/** Adds --cluster, --region and --json, like every backup command. */
export function addClusterOptions(command: Command): Command {
  return addStateDirOption(
    addRegionOption(
      addClusterOption(command, 'the cluster whose backup to use').option(
        '--json',
        'print JSON (for scripts)',
      ),
    ),
  );
}

async function withTarget<T>(
  options: SnapshotOptions,
  work: (target: BackupTarget) => Promise<T>,
): Promise<T> {
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

type CreateOptions = SnapshotOptions & { id?: string; pagesPerSecond?: number; readAllPages?: boolean };

export async function createSnapshot(options: CreateOptions): Promise<SnapshotCreated> {
  const { runningCluster } = await import('./backup-target.ts');
  const { runSnapshot } = await import('../functions/snapshot/run.ts');
  const { embeddedSource } = await import('../functions/snapshot/source.ts');
  const { snapshotIdPattern } = await import('../functions/snapshot/catalog.ts');
  const { UsageError } = await import('./errors.ts');
  if (options.id !== undefined && !snapshotIdPattern.test(options.id)) {
    throw new UsageError(
      `--id must be letters, digits, '.', '_' or '-' (at most 128, not starting with '.', '_' or '-')`,
    );
  }
  return withTarget(options, async (target) => {
    const result = await runSnapshot({
      s3: target.s3,
      bucket: target.bucket,
      cluster: target.cluster,
      source: embeddedSource(runningCluster(target, options.stateDir)),
      ...(options.id === undefined ? {} : { request: { snapshotId: options.id } }),
      ...(options.pagesPerSecond === undefined ? {} : { pageReadsPerSecond: options.pagesPerSecond }),
      ...(options.readAllPages ? { readAllPages: true } : {}),
    });
    return {
      ...listEntry(result.manifest),
      created: result.created,
      pagesUploaded: result.pagesUploaded,
      pagesRead: result.pagesRead,
      durationMs: Math.round(result.durationMs),
    };
  });
}

export async function listSnapshots(options: SnapshotOptions): Promise<SnapshotListEntry[]> {
  const { listManifests } = await import('../functions/snapshot/catalog.ts');
  return withTarget(options, async (target) =>
    (await listManifests(target.s3, target.bucket, target.cluster)).map(listEntry),
  );
}

export function registerSnapshot(program: Command, ctx: CommandContext): void {
  const snapshot = program
    .command('snapshot')
    .description("incremental snapshots of a cluster's pages in its backup bucket");
  addClusterOptions(
    snapshot
      .command('create')
      .description(
        'take a snapshot now, at the newest durable commit (only pages changed since the last one are read and stored)',
      )
      .option(
        '--id <id>',
        'name the snapshot (default snap-<commit time>-<LSN>); the same id again is a no-op',
      )
      .option(
        '--pages-per-second <n>',
        'pace of page reads from storage (0: as fast as possible; default 500)',
        integerFlag(0, 100_000),
      )
      .option(
        '--read-all-pages',
        'read every page from storage, not only those the archived log says changed (a full, checked copy)',
      ),
  ).action(async (options: CreateOptions) => {
    const created = await createSnapshot(options);
    if (options.json) printJson(ctx.io, created);
    else ctx.io.out(formatSnapshotCreated(created));
  });
  addClusterOptions(
    snapshot
      .command('list')
      .description('list the snapshots, oldest first: id, LSN, time, pages, bytes new/total'),
  ).action(async (options: SnapshotOptions) => {
    const entries = await listSnapshots(options);
    if (options.json) printJson(ctx.io, { cluster: options.cluster, snapshots: entries });
    else ctx.io.out(formatSnapshotList(options.cluster, entries));
  });
}
