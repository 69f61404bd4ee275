// `borealis restore (--to-time ISO | --snapshot ID) --as NAME`: emits `Borealis Restore Requested`
// (the embedded EventBridge: the event inbox of the region whose backups it restores, delivered to
// that region's restore function by its local function runner), follows the new cluster's restore
// progress on its control plane, and prints the new cluster's endpoints — or the reason it failed,
// in one line.

import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { listLocalEvents, makeEvent, putLocalEvent } from '../embedded/local-events.ts';
import { clusterDirPath, controlPlaneUrlFile, stateDirPath } from '../embedded/state.ts';
import type { RestoreCompletedDetail, RestoreFailedDetail } from '../functions/restore/handler.ts';
import {
  eventSource,
  restoreCompleted,
  restoreFailed,
  restoreRequested,
} from '../functions/restore/handler.ts';
import { backupRegion } from './backup-region.ts';
import { CliError, UsageError } from './errors.ts';
import { type CommandContext, printJson } from './io.ts';
import {
  addClusterOption,
  addRegionOption,
  addStateDirOption,
  clusterNameFlag,
  type StateDirOptions,
} from './options.ts';

const waitMsDefault = 30 * 60_000;

interface RestoreOptions extends StateDirOptions {
  toTime?: string;
  snapshot?: string;
  as: string;
  cluster: string;
  region?: string;
  json?: boolean;
  timeoutMs?: string;
}

export function registerRestore(program: Command, ctx: CommandContext): void {
  const command = program
    .command('restore')
    .description('restore a cluster to a point in time (or a snapshot) as a NEW cluster, and start it')
    .option('--to-time <iso>', 'every commit with commit time <= this time (e.g. 2026-12-01T18:30:00.000Z)')
    .option('--snapshot <id>', 'exactly this snapshot (see `borealis snapshot list`)')
    .requiredOption('--as <name>', 'name of the new cluster (a-z, 0-9, -)', clusterNameFlag)
    .option('--timeout-ms <n>', 'give up waiting after this long', String(waitMsDefault))
    .option('--json', 'print the Borealis Restore Completed event detail')
    .addHelpText(
      'after',
      '\nThe new cluster runs beside the system; stop it with `borealis down --cluster NAME` and run it again\nwith `borealis up --cluster NAME`.',
    );
  addStateDirOption(addRegionOption(addClusterOption(command, 'the cluster to restore from'))).action(
    async (options: RestoreOptions) => {
      if ((options.toTime === undefined) === (options.snapshot === undefined)) {
        throw new UsageError('name exactly one of --to-time and --snapshot');
      }
      if (options.toTime !== undefined && !Number.isFinite(Date.parse(options.toTime))) {
        throw new UsageError(`--to-time '${options.toTime}' is not an ISO time`);
      }
      const timeoutMs = Number(options.timeoutMs);
      if (!Number.isInteger(timeoutMs) || timeoutMs <= 0)
        throw new UsageError('--timeout-ms must be a positive integer');
      const { region, system } = backupRegion(options);
      if (!system) {
        throw new CliError(
          `no system is running from ${stateDirPath(options.stateDir)} (start one with \`npm start\`)`,
        );
      }
      const requestId = randomUUID();
      putLocalEvent(
        options.stateDir,
        'inbox',
        makeEvent(
          eventSource,
          restoreRequested,
          {
            requestId,
            sourceCluster: options.cluster,
            targetCluster: options.as,
            ...(options.toTime !== undefined
              ? { restoreTime: new Date(Date.parse(options.toTime)).toISOString() }
              : {}),
            ...(options.snapshot !== undefined ? { snapshotId: options.snapshot } : {}),
          },
          region,
        ),
      );
      // A progress bar only on a terminal: scripts get the result (or one error line) and nothing else.
      const progress = new ProgressLine(ctx, !options.json && process.stderr.isTTY === true);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const answer = listLocalEvents(options.stateDir, 'emitted', region).find(
          (e) => (e.event.detail as { requestId?: string }).requestId === requestId,
        );
        if (answer?.event['detail-type'] === restoreCompleted) {
          progress.end();
          const detail = answer.event.detail as RestoreCompletedDetail;
          if (options.json) printJson(ctx.io, detail);
          else
            ctx.io.out(
              `restored ${detail.sourceCluster} as of ${detail.restoreTime} into cluster ${detail.targetCluster} in ${(
                detail.durationMs / 1000
              ).toFixed(1)} s\n` +
                `  cluster endpoint (writer)  ${detail.endpoints.writer}\n` +
                `  reader endpoint            ${detail.endpoints.reader}\n` +
                `  resourceArn                ${detail.resourceArn}\n` +
                `  secretArn                  ${detail.secretArn}\n` +
                `  sql:                       borealis sql "…" --cluster ${detail.targetCluster}\n`,
            );
          return;
        }
        if (answer?.event['detail-type'] === restoreFailed) {
          progress.end();
          throw new CliError(`restore failed: ${(answer.event.detail as RestoreFailedDetail).reason}`);
        }
        if (Date.now() > deadline) {
          progress.end();
          throw new CliError(
            `restore ${requestId} did not finish within ${timeoutMs} ms (is the function runner up? see ${stateDirPath(options.stateDir)}/logs)`,
          );
        }
        await progress.update(options.stateDir, options.as);
        await new Promise((r) => setTimeout(r, 250));
      }
    },
  );
}

/** One line on stderr, redrawn in place on a terminal: phase, a bar and counts. */
class ProgressLine {
  #last = '';
  constructor(
    private readonly ctx: CommandContext,
    private readonly enabled: boolean,
  ) {}

  async update(stateDir: string, cluster: string): Promise<void> {
    if (!this.enabled) return;
    const file = controlPlaneUrlFile(clusterDirPath(stateDir, cluster));
    if (!existsSync(file)) return this.#draw('restore: planning');
    try {
      const url = readFileSync(file, 'utf8').trim();
      const status = (await (
        await fetch(`${url}/status`, { signal: AbortSignal.timeout(2_000) })
      ).json()) as ClusterStatus;
      const r = status.restore;
      if (!r) return this.#draw('restore: starting storage');
      const width = 30;
      const filled = r.total > 0 ? Math.round((r.done / r.total) * width) : 0;
      this.#draw(
        `restore: ${r.phase.padEnd(11)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${r.done}/${r.total}`,
      );
    } catch {
      // the control plane is starting: the next tick tells
    }
  }

  #draw(line: string): void {
    if (line === this.#last) return;
    this.#last = line;
    this.ctx.io.err(`\r${line.padEnd(72)}`);
  }

  end(): void {
    if (this.enabled && this.#last !== '') this.ctx.io.err('\n');
  }
}
