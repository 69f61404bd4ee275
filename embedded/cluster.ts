// One cluster on this machine: its control plane (which starts and owns the storage nodes, writer and
// readers) and its proxy (the cluster and reader endpoints). Used by `npm start` / `borealis up`,
// tests and benchmarks, so they all run the cluster the same way.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveEndpoint } from '../core/aws/endpoints.ts';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { type ManagedProcess, spawnProcess } from '../core/process/spawn.ts';
import { regionalResources } from '../core/resources.ts';

const controlPlaneEntry = fileURLToPath(new URL('../services/control-plane/main.ts', import.meta.url));
const proxyEntry = fileURLToPath(new URL('../services/proxy/main.ts', import.meta.url));

export interface ClusterOptions {
  /** The cluster's data dir (volume, nodes, logs, topology). */
  dir: string;
  name: string;
  region: string;
  readers: number;
  env?: NodeJS.ProcessEnv;
  /** Extra control-plane flags (geometry, intervals), e.g. ['--pg-count', '4']. */
  controlPlaneArgs?: string[];
  proxyArgs?: string[];
  /** Publish redo to the region's stream when an endpoint is configured (default true). */
  publishRedo?: boolean;
}

export class LocalCluster {
  private constructor(
    readonly options: ClusterOptions,
    readonly controlPlane: ManagedProcess,
    readonly proxy: ManagedProcess,
    readonly controlPlaneUrl: string,
  ) {}

  static async start(options: ClusterOptions): Promise<LocalCluster> {
    const logs = join(options.dir, 'logs');
    // With the embedded AWS (or LocalStack) configured, writers publish to the region's redo stream.
    // The stream and bucket are the cluster's own (core/resources.ts): only a cluster whose
    // resources were provisioned publishes (a restored cluster's are not, yet).
    const aws: string[] = [];
    if (
      options.publishRedo !== false &&
      options.env !== undefined &&
      resolveEndpoint('kinesis', options.region, options.env) !== undefined
    ) {
      const resources = regionalResources(options.region, options.name);
      aws.push('--redo-stream', resources.redoStream.name, '--backup-bucket', resources.backupBucket);
    }
    const controlPlane = await spawnProcess({
      name: 'control-plane',
      entry: controlPlaneEntry,
      args: [
        '--dir',
        options.dir,
        '--cluster',
        options.name,
        '--region',
        options.region,
        '--readers',
        String(options.readers),
        ...aws,
        ...(options.controlPlaneArgs ?? []),
      ],
      env: options.env,
      logFile: join(logs, 'control-plane.log'),
      // Six storage nodes, a volume recovery and the readers: slow only on a loaded machine.
      readyTimeoutMs: 180_000,
    });
    const controlPlaneUrl = controlPlane.ready.url as string;
    let proxy: ManagedProcess;
    try {
      proxy = await spawnProcess({
        name: 'proxy',
        entry: proxyEntry,
        // The MySQL endpoints name the cluster's database as its instances do (the cluster name).
        args: [
          '--control-plane',
          controlPlaneUrl,
          '--mysql-database',
          options.name,
          ...(options.proxyArgs ?? []),
        ],
        env: options.env,
        logFile: join(logs, 'proxy.log'),
      });
      const cluster = new LocalCluster(options, controlPlane, proxy, controlPlaneUrl);
      // The proxy registers its endpoints with the control plane as it starts.
      await cluster.statusWhen((s) => s.endpoints.writer !== null, 'the proxy registered its endpoints');
      return cluster;
    } catch (error) {
      await controlPlane.stop(10_000);
      throw error;
    }
  }

  async status(): Promise<ClusterStatus> {
    const response = await fetch(`${this.controlPlaneUrl}/status`, { signal: AbortSignal.timeout(5_000) });
    if (!response.ok) throw new Error(`control plane: ${response.status} ${await response.text()}`);
    return (await response.json()) as ClusterStatus;
  }

  /**
   * The control plane's status once `ready` holds of it. One slow or failed answer is not a failure:
   * on a loaded 2-core machine (CI) a control plane that had just opened took over 5 s to answer
   * /status; only the deadline ends the wait.
   */
  async statusWhen(
    ready: (status: ClusterStatus) => boolean,
    what: string,
    timeoutMs = 60_000,
  ): Promise<ClusterStatus> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    for (;;) {
      const status = await this.status().catch((error: Error) => {
        last = error.message;
        return undefined;
      });
      if (status && ready(status)) return status;
      if (status) last = 'it answers; not yet';
      if (Date.now() > deadline)
        throw new Error(`not ${what} within ${timeoutMs / 1000} s (control plane /status: ${last})`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  get running(): boolean {
    return this.controlPlane.running && this.proxy.running;
  }

  /** The proxy first (no new requests), then the control plane, which stops every process it owns. */
  async stop(): Promise<void> {
    await this.proxy.stop();
    await this.controlPlane.stop(15_000);
  }
}
