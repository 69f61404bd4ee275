// `borealis binlog read|retention` at work: the cluster's backup bucket and binlog stream through the
// shared AWS clients, pointed at the running system's emulators (system.json) or at whatever the
// environment names (LocalStack, AWS) — as `borealis backup` finds them (backup-target.ts).
import { once } from 'node:events';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { kinesisClient } from '../core/aws/clients.ts';
import { readBinlog } from '../core/binlog/replay.ts';
import type { BinlogReadStart } from '../core/binlog/replay-plan.ts';
import { readBinlogRetention, writeBinlogRetention } from '../core/binlog/retention-store.ts';
import { regionalResources } from '../core/resources.ts';
import { emulatorEnv } from '../embedded/emulators.ts';
import { type BackupTarget, backupStoreError, backupTarget } from './backup-target.ts';
import type { BinlogReadOptions, BinlogRetentionOptions } from './binlog.ts';
import { eventJsonLine, formatEventLine, formatRetention, retentionView } from './binlog-view.ts';
import { CliError } from './errors.ts';
import { type CommandContext, printJson, processIo } from './io.ts';

/** Archive chunks a read must span before it shows its progress on a terminal. */
const progressChunksMin = 20;

function binlogKinesis(target: BackupTarget): KinesisClient {
  const env = target.system ? { ...process.env, ...emulatorEnv(target.system.emulators) } : process.env;
  return kinesisClient({ region: target.region, env });
}

export async function runBinlogRead(
  ctx: CommandContext,
  options: BinlogReadOptions,
  start: BinlogReadStart,
): Promise<void> {
  const target = backupTarget(options);
  const kinesis = binlogKinesis(target);
  const streamName = regionalResources(target.region, target.cluster).binlogStream.name;
  const abort = new AbortController();
  // --follow ends with Ctrl-C: stop reading, flush, exit 0 (as `mysqlbinlog --stop-never` is ended).
  const onSigint = () => abort.abort();
  if (options.follow) process.once('SIGINT', onSigint);
  const progress = !options.json && process.stderr.isTTY === true;
  let progressShown = false;
  try {
    await readBinlog({
      s3: target.s3,
      bucket: target.bucket,
      cluster: target.cluster,
      kinesis,
      streamName,
      start,
      follow: options.follow === true,
      signal: abort.signal,
      onEvent: async (event) => {
        if (progressShown) {
          process.stderr.write('\r\x1b[K');
          progressShown = false;
        }
        ctx.io.out(options.json ? eventJsonLine(event) : formatEventLine(event));
        // A slow reader of stdout slows the read down: nothing piles up in memory.
        if (ctx.io === processIo && process.stdout.writableNeedDrain) await once(process.stdout, 'drain');
      },
      ...(progress
        ? {
            onArchiveProgress: (p: { done: number; total: number }) => {
              if (p.total < progressChunksMin) return;
              process.stderr.write(`\rreading the backup archive: chunk ${p.done} of ${p.total}`);
              progressShown = p.done < p.total;
              if (!progressShown) process.stderr.write('\r\x1b[K');
            },
          }
        : {}),
    });
  } catch (error) {
    if ((error as Error).name === 'ResourceNotFoundException') {
      throw new CliError(`the binlog stream ${streamName} of cluster '${target.cluster}' does not exist`, {
        cause: error,
      });
    }
    throw backupStoreError(error, target);
  } finally {
    process.off('SIGINT', onSigint);
    target.s3.destroy();
    kinesis.destroy();
  }
}

export async function runBinlogRetention(
  ctx: CommandContext,
  options: BinlogRetentionOptions,
): Promise<void> {
  const target = backupTarget(options);
  try {
    const setting =
      options.hours === undefined
        ? await readBinlogRetention(target.s3, target.bucket, target.cluster)
        : await writeBinlogRetention(target.s3, target.bucket, target.cluster, options.hours);
    const view = retentionView(target.cluster, setting, Date.now());
    if (options.json) printJson(ctx.io, view);
    else ctx.io.out(formatRetention(view));
  } catch (error) {
    throw backupStoreError(error, target);
  } finally {
    target.s3.destroy();
  }
}
