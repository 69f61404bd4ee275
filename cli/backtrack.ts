// `borealis backtrack --to T`: rewinds the cluster in place (ADR 015) through the control plane
// (POST /backtrack), returning once the backtrack has completed or failed — the exit status says
// which; `borealis backtrack list` prints the history (GET /backtracks, Aurora's DBClusterBacktrack).
import type { Command } from 'commander';
import type { DbClusterBacktrack } from '../core/backtrack/request.ts';
import { type BacktrackList, backtrackLine, backtrackListText } from './backtrack-view.ts';
import { findControlPlane } from './control-plane.ts';
import { CliError, exitCodes, oneLine, UsageError } from './errors.ts';
import { type CommandContext, printJson } from './io.ts';
import { addClusterOption, addStateDirOption, type ClusterOptions, type StateDirOptions } from './options.ts';

/** A backtrack stops a writer, fences, rewrites no data and starts a writer: well under this. */
const backtrackTimeoutMs = 120_000;

interface BacktrackOptions extends StateDirOptions, ClusterOptions {
  to?: string;
  useEarliestTimeOnPointInTimeUnavailable?: boolean;
  force?: boolean;
  json?: boolean;
}

async function call<T>(url: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(new URL(path, url), {
      method,
      signal: AbortSignal.timeout(backtrackTimeoutMs),
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    text = await response.text();
  } catch (error) {
    throw new CliError(
      `the control plane at ${url} did not answer ${method} ${path}: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  if (response.status === 404) {
    throw new CliError(
      `the control plane at ${url} does not serve ${path} (started before backtrack existed?)`,
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new CliError(
      `the control plane answered ${method} ${path} with something that is not JSON: ${oneLine(text, 200)}`,
    );
  }
  if (!response.ok) {
    const message = (parsed as { message?: unknown }).message;
    throw new CliError(`backtrack refused: ${typeof message === 'string' ? message : oneLine(text, 500)}`);
  }
  return parsed as T;
}

export function registerBacktrack(program: Command, ctx: CommandContext): void {
  const command = program
    .command('backtrack')
    .description('rewind the cluster in place to a time inside its backtrack window (or list backtracks)')
    .argument('[action]', '"list": print the backtrack history instead')
    .option('--to <time>', 'ISO 8601 time with a zone, e.g. 2026-12-02T10:15:00Z')
    .option(
      '--use-earliest-time-on-point-in-time-unavailable',
      'when --to is before the earliest backtrack time, go to the earliest time instead of failing',
    )
    .option(
      '--force',
      'backtrack even though binary logging is on (the binlog gets a backtrack control event)',
    )
    .option('--json', 'print the DBClusterBacktrack document (list: the whole history)')
    .addHelpText(
      'after',
      `
The cluster afterwards holds exactly the commits it showed at --to; a later backtrack to a time after
--to (and before this backtrack) brings undone commits back. Open transactions end with an error; new
writes wait for the switch (seconds). Exit status 0: completed, 1: failed or refused (nothing changed).
Needs a cluster started with --backtrack-window-s N (0 = off).`,
    );
  addStateDirOption(addClusterOption(command)).action(
    async (action: string | undefined, options: BacktrackOptions) => {
      const { url } = findControlPlane(options.stateDir, options.cluster);
      if (action !== undefined && action !== 'list')
        throw new UsageError(`unknown action '${action}' (only: list)`);
      if (action === 'list') {
        const list = await call<BacktrackList>(url, 'GET', '/backtracks');
        if (options.json) {
          printJson(ctx.io, list);
          return;
        }
        ctx.io.out(backtrackListText(list));
        return;
      }
      if (options.to === undefined) throw new UsageError('--to <time> is required (or: backtrack list)');
      const result = await call<DbClusterBacktrack>(url, 'POST', '/backtrack', {
        to: options.to,
        ...(options.useEarliestTimeOnPointInTimeUnavailable && {
          useEarliestTimeOnPointInTimeUnavailable: true,
        }),
        ...(options.force && { force: true }),
      });
      if (options.json) printJson(ctx.io, result);
      else ctx.io.out(`backtrack: ${backtrackLine(result)}\n`);
      if (result.Status !== 'completed') ctx.exitCode = exitCodes.failure;
    },
  );
}
