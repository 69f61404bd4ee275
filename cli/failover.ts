// `borealis failover`: a planned failover through the control plane (POST /failover): the writer steps
// down and the target (or Aurora's choice: lowest tier, then least lag) becomes the writer.
import type { Command } from 'commander';
import type { FailoverEvent } from '../core/cluster/topology.ts';
import { callControlPlane, findControlPlane } from './control-plane.ts';
import { type CommandContext, printJson } from './io.ts';
import { addClusterOption, addStateDirOption, type ClusterOptions, type StateDirOptions } from './options.ts';
import { failoverSummary } from './status-view.ts';

export function registerFailover(program: Command, ctx: CommandContext): void {
  const command = program
    .command('failover')
    .description('planned failover: promote a reader to writer and wait until it serves')
    .option('--target <id>', 'the instance to promote (default: lowest tier, then least replica lag)')
    .option('--json', 'print the FailoverEvent document')
    .addHelpText('after', '\nPrints e.g.: failover: instance-1 → instance-2 in 812 ms (epoch 4)');
  addStateDirOption(addClusterOption(command)).action(
    async (options: StateDirOptions & ClusterOptions & { target?: string; json?: boolean }) => {
      const controlPlane = findControlPlane(options.stateDir, options.cluster);
      const event = await callControlPlane<FailoverEvent>(controlPlane, 'failover', {
        method: 'POST',
        body: options.target === undefined ? {} : { target: options.target },
      });
      if (options.json) printJson(ctx.io, event);
      else ctx.io.out(`failover: ${failoverSummary(event)}\n`);
    },
  );
}
