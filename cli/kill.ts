// `borealis kill`: SIGKILL a storage node, every process of an AZ, the writer, or one instance through
// the control plane (POST /kill), as a crash happens: no cleanup in the victim.
import type { Command } from 'commander';
import { callControlPlane, findControlPlane, type KillResult } from './control-plane.ts';
import { UsageError } from './errors.ts';
import { killRegion } from './global.ts';
import { type CommandContext, printJson } from './io.ts';
import {
  addClusterOption,
  addStateDirOption,
  type ClusterOptions,
  exactlyOne,
  type StateDirOptions,
} from './options.ts';

export interface KillOptions {
  node?: string;
  az?: string;
  writer?: boolean;
  instance?: string;
}

/** POST /kill body: {node} | {az} | {writer: true} | {instance}. */
export type KillBody = { node: string } | { az: string } | { writer: true } | { instance: string };

const targets = ['node', 'az', 'writer', 'instance'] as const;

/** The /kill body for exactly one target flag, or a UsageError. */
export function killBody(options: KillOptions): KillBody {
  const target = exactlyOne(options, targets);
  if (target === 'writer') return { writer: true };
  return { [target]: options[target] as string } as KillBody;
}

export function formatKilled(result: KillResult): string {
  if (result.killed.length === 0) return 'killed nothing: no process was running there\n';
  return result.killed.map((k) => `killed ${k.id} (pid ${k.pid}) with SIGKILL\n`).join('');
}

export function registerKill(program: Command, ctx: CommandContext): void {
  const command = program
    .command('kill')
    .description('SIGKILL a storage node, an AZ, the writer or an instance (exactly one target)')
    .option('--node <id>', 'one storage node, e.g. sn-3')
    .option('--az <az>', 'every storage node and instance in an availability zone, e.g. us-east-1a')
    .option('--writer', 'the current writer instance')
    .option('--instance <id>', 'one instance (writer or reader)')
    .option(
      '--region <region>',
      "a Global Database region's cluster, emulators and functions, as an outage (docs/global.md)",
    )
    .option('--json', "print the control plane's answer ({killed: [{id, pid}]})")
    .addHelpText('after', '\nExample: borealis kill --writer   (then watch `borealis status`)');
  addStateDirOption(addClusterOption(command)).action(
    async (options: KillOptions & StateDirOptions & ClusterOptions & { json?: boolean; region?: string }) => {
      if (options.region !== undefined) {
        // The region's control plane goes too: nothing of the region may survive to clean up.
        const { region, json, stateDir } = options;
        if (targets.some((t) => options[t] !== undefined)) {
          throw new UsageError('--region takes the whole region: name no other target with it');
        }
        const killed = await killRegion(stateDir, region);
        if (json) printJson(ctx.io, { killed });
        else ctx.io.out(formatKilled({ killed }));
        return;
      }
      const body = killBody(options);
      const controlPlane = findControlPlane(options.stateDir, options.cluster);
      const result = await callControlPlane<KillResult>(controlPlane, 'kill', { method: 'POST', body });
      if (options.json) printJson(ctx.io, result);
      else ctx.io.out(formatKilled(result));
    },
  );
}
