// `borealis status`: GET /status from the control plane, as it is (--json: the stable contract for
// scripts, core/cluster/topology.ts ClusterStatus) or as the readable view of status-view.ts.
import type { Command } from 'commander';
import { findControlPlane, getStatus } from './control-plane.ts';
import { type CommandContext, printJson } from './io.ts';
import { addClusterOption, addStateDirOption, type ClusterOptions, type StateDirOptions } from './options.ts';
import { formatStatus } from './status-view.ts';

export function registerStatus(program: Command, ctx: CommandContext): void {
  const command = program
    .command('status')
    .description('show the cluster: writer, endpoints, instances, storage nodes, failovers')
    .option('--json', "print the control plane's ClusterStatus document unchanged (for scripts)");
  addStateDirOption(addClusterOption(command)).action(
    async (options: StateDirOptions & ClusterOptions & { json?: boolean }) => {
      const status = await getStatus(findControlPlane(options.stateDir, options.cluster));
      if (options.json) printJson(ctx.io, status);
      else ctx.io.out(formatStatus(status));
    },
  );
}
