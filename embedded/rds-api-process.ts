// Starting a region's RDS API (services/rds-api, ADR 020) next to a launcher's clusters, and
// registering it with a control plane (`endpoints.rds`, shown by `status --json`): `npm start`
// (embedded emulators: the clusters' topology files, the region's file event bus) and
// `borealis up --aws` (deployed resources: topologies in SSM, EventBridge) both start one this way.
import { fileURLToPath } from 'node:url';
import { controlPlaneRoutes } from '../core/cluster/topology.ts';
import { topologyDirVariable } from '../core/cluster/topology-store.ts';
import { type ManagedProcess, spawnProcess } from '../core/process/spawn.ts';

export interface RdsApiProcessOptions {
  region: string;
  /** The control plane it is registered with (the others find it through DescribeDBClusters' calls). */
  controlPlaneUrl: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  /** Embedded mode: the region's file event bus (else EventBridge at the environment's endpoint). */
  eventBusDir?: string;
  /** Embedded mode: where the region's clusters publish their topologies (else SSM). */
  topologyDir?: string;
  /** Embedded mode: the state dir whose global.json holds the Global Database (global cluster actions). */
  globalStateDir?: string;
}

export async function startRdsApi(options: RdsApiProcessOptions): Promise<ManagedProcess> {
  const api = await spawnProcess({
    name: 'rds-api',
    entry: fileURLToPath(new URL('../services/rds-api/main.ts', import.meta.url)),
    args: [
      '--region',
      options.region,
      ...(options.eventBusDir === undefined ? [] : ['--event-bus-dir', options.eventBusDir]),
      ...(options.globalStateDir === undefined ? [] : ['--global-state-dir', options.globalStateDir]),
    ],
    env: {
      ...options.env,
      ...(options.topologyDir === undefined ? {} : { [topologyDirVariable]: options.topologyDir }),
    },
    logFile: options.logFile,
  });
  const response = await fetch(new URL(controlPlaneRoutes.rdsEndpoint, options.controlPlaneUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rds: (api.ready as unknown as { url: string }).url }),
    signal: AbortSignal.timeout(10_000),
  }).catch((error: Error) => ({ ok: false, status: 0, text: async () => error.message }));
  if (!response.ok) {
    await api.stop().catch(() => undefined);
    throw new Error(`its control plane answered ${response.status}: ${await response.text()}`);
  }
  return api;
}
