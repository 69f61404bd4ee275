// `borealis binlog read|retention`: the cluster's binlog (row change events) from any point inside the
// retention — `mysqlbinlog --read-from-remote-server [--stop-never]` for Borealis — and Aurora's
// `binlog retention hours` setting. Registration only: the work is in binlog-run.ts (loaded on use,
// since the S3 and Kinesis clients slow every other command's start).
import type { Command } from 'commander';
import { binlogRetentionHoursMax, binlogRetentionHoursMin } from '../core/binlog/retention.ts';
import type { ClusterOption } from './backup-target.ts';
import { type ReadFlags, readStartOf } from './binlog-view.ts';
import type { CommandContext } from './io.ts';
import { addClusterOption, addStateDirOption, integerFlag, type StateDirOptions } from './options.ts';

export type BinlogReadOptions = StateDirOptions &
  ClusterOption &
  ReadFlags & { follow?: boolean; json?: boolean };
export type BinlogRetentionOptions = StateDirOptions & ClusterOption & { hours?: number; json?: boolean };

export function registerBinlog(program: Command, ctx: CommandContext): void {
  const binlog = program
    .command('binlog')
    .description('the binlog: row change events (CDC) as the binlog Kinesis stream carries them');
  addStateDirOption(
    addClusterOption(
      binlog
        .command('read')
        .description(
          'print the binlog from a position or a time inside the retention: older events rebuilt from the backup archive in S3, then the binlog stream',
        )
        .option(
          '--from-position <position>',
          'from this event on (inclusive): mysql-bin-changelog.NNNNNN:POS[:ROW], as printed',
        )
        .option(
          '--from-time <iso>',
          'from the first event whose commit time is >= this (e.g. 2026-12-01T18:30:00.000Z)',
        )
        .option('--follow', 'keep printing new events until Ctrl-C (mysqlbinlog --stop-never)')
        .option('--json', 'one Debezium-style envelope per line, as on the stream'),
      'the cluster whose binlog to read',
    ),
  ).action(async (options: BinlogReadOptions) => {
    const start = readStartOf(options);
    const { runBinlogRead } = await import('./binlog-run.ts');
    await runBinlogRead(ctx, options, start);
  });
  addStateDirOption(
    addClusterOption(
      binlog
        .command('retention')
        .description("print the binlog retention (Aurora's `binlog retention hours`), or set it with --hours")
        .option(
          '--hours <n>',
          `hours of binlog a read may start in, ${binlogRetentionHoursMin} to ${binlogRetentionHoursMax} (default 24)`,
          integerFlag(binlogRetentionHoursMin, binlogRetentionHoursMax),
        )
        .option('--json', 'print JSON (for scripts)'),
      'the cluster whose setting to print or set',
    ),
  ).action(async (options: BinlogRetentionOptions) => {
    const { runBinlogRetention } = await import('./binlog-run.ts');
    await runBinlogRetention(ctx, options);
  });
}
