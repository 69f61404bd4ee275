// `borealis start`: start a stopped (killed) storage node or instance again through the control plane
// (POST /start); a former writer comes back as a reader.
import type { Command } from 'commander';
import { callControlPlane, findControlPlane, type StartResult } from './control-plane.ts';
import { type CommandContext, printJson } from './io.ts';
import {
  addClusterOption,
  addStateDirOption,
  type ClusterOptions,
  exactlyOne,
  type StateDirOptions,
} from './options.ts';

export interface StartOptions {
  node?: string;
  instance?: string;
}

export type StartBody = { node: string } | { instance: string };

/** The /start body for exactly one of --node, --instance, or a UsageError. */
export function startBody(options: StartOptions): StartBody {
  const target = exactlyOne(options, ['node', 'instance'] as const);
  return target === 'node' ? { node: options.node! } : { instance: options.instance! };
}

export function registerStart(program: Command, ctx: CommandContext): void {
  const command = program
    .command('start')
    .description('start a storage node or an instance again (exactly one target)')
    .option('--node <id>', 'one storage node, e.g. sn-3')
    .option('--instance <id>', 'one instance, e.g. instance-1')
    .option('--json', "print the control plane's answer ({started: id})");
  addStateDirOption(addClusterOption(command)).action(
    async (options: StartOptions & StateDirOptions & ClusterOptions & { json?: boolean }) => {
      const body = startBody(options);
      const controlPlane = findControlPlane(options.stateDir, options.cluster);
      const result = await callControlPlane<StartResult>(controlPlane, 'start', { method: 'POST', body });
      if (options.json) printJson(ctx.io, result);
      else ctx.io.out(`started ${result.started}\n`);
    },
  );
}
