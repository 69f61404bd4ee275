// The embedded AWS: per region one S3-compatible and one Kinesis-compatible server, on free loopback
// ports, each its own process with its own data dir. Regions are separate servers because
// kinesalite does not separate streams by region. Used by `npm start`, tests and benchmarks.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { embeddedEndpointVariable } from '../core/aws/endpoints.ts';
import { type ManagedProcess, spawnProcess } from '../core/process/spawn.ts';

const here = fileURLToPath(new URL('.', import.meta.url));

/** s3rver accepts only these credentials; kinesalite accepts any. */
export const emulatorCredentials = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

export interface RegionEndpoints {
  region: string;
  s3: string;
  kinesis: string;
}

export interface EmulatorState {
  regions: RegionEndpoints[];
  pids: number[];
}

export interface EmulatorOptions {
  regions: readonly string[];
  /** Holds <region>/s3, <region>/kinesis and logs/. */
  dataDir: string;
  readyTimeoutMs?: number;
}

/** One emulator process: what it serves, where, and how to start it again on the same port. */
interface EmulatorProcess {
  region: string;
  kind: 's3' | 'kinesis';
  process: ManagedProcess;
  port: number;
}

export class Emulators {
  private constructor(
    readonly state: EmulatorState,
    private readonly processes: EmulatorProcess[],
    private readonly options: EmulatorOptions,
  ) {}

  static async start(options: EmulatorOptions): Promise<Emulators> {
    if (options.regions.length === 0) throw new Error('Emulators.start: at least one region is required');
    const processes: EmulatorProcess[] = [];
    try {
      const started = await Promise.all(
        options.regions.map(async (region): Promise<RegionEndpoints> => {
          const [s3, kinesis] = await Promise.all([
            spawnEmulator(options, region, 's3', 0).then((p) => {
              processes.push(p);
              return p;
            }),
            spawnEmulator(options, region, 'kinesis', 0).then((p) => {
              processes.push(p);
              return p;
            }),
          ]);
          return {
            region,
            s3: `http://127.0.0.1:${s3.port}`,
            kinesis: `http://127.0.0.1:${kinesis.port}`,
          };
        }),
      );
      const state = { regions: started, pids: processes.map((p) => p.process.pid) };
      return new Emulators(state, processes, options);
    } catch (error) {
      await Promise.all(processes.map((p) => p.process.stop()));
      throw error;
    }
  }

  /** Environment that points the shared client factory at these emulators. */
  env(): Record<string, string> {
    return emulatorEnv(this.state);
  }

  endpoints(region: string): RegionEndpoints {
    const found = this.state.regions.find((r) => r.region === region);
    if (!found) throw new Error(`no emulators for region ${region} (have ${this.regionNames().join(', ')})`);
    return found;
  }

  regionNames(): string[] {
    return this.state.regions.map((r) => r.region);
  }

  /** The pids of one region's emulators (`borealis kill --region` takes them with the region). */
  regionPids(region: string): number[] {
    return this.processes.filter((p) => p.region === region).map((p) => p.process.pid);
  }

  get running(): boolean {
    return this.processes.every((p) => p.process.running);
  }

  /** Whether every emulator runs, except those of the regions named (an outage under way). */
  runningExcept(regionsDown: ReadonlySet<string>): boolean {
    return this.processes.every((p) => regionsDown.has(p.region) || p.process.running);
  }

  /**
   * Starts a region's emulators that are not running again, on the same ports and data dirs: every
   * endpoint handed out stays valid (a region coming back after an outage).
   */
  async restartRegion(region: string): Promise<void> {
    for (const [i, p] of this.processes.entries()) {
      if (p.region !== region || p.process.running) continue;
      this.processes[i] = await spawnEmulator(this.options, region, p.kind, p.port);
    }
    this.state.pids = this.processes.map((p) => p.process.pid);
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.process.stop()));
  }
}

async function spawnEmulator(
  options: EmulatorOptions,
  region: string,
  kind: 's3' | 'kinesis',
  port: number,
): Promise<EmulatorProcess> {
  const process = await spawnProcess({
    name: `${kind}-${region}`,
    entry: join(here, kind === 's3' ? 's3-emulator.ts' : 'kinesis-emulator.ts'),
    args: ['--data-dir', join(options.dataDir, region, kind), '--port', String(port)],
    ...(kind === 's3' && { nodeFlags: ['--openssl-legacy-provider'] }),
    logFile: join(options.dataDir, 'logs', `${kind}-${region}.log`),
    readyTimeoutMs: options.readyTimeoutMs,
  });
  return { region, kind, process, port: process.ready.port as number };
}

export function emulatorEnv(state: EmulatorState): Record<string, string> {
  const env: Record<string, string> = {
    AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  };
  for (const r of state.regions) {
    env[embeddedEndpointVariable('s3', r.region)] = r.s3;
    env[embeddedEndpointVariable('kinesis', r.region)] = r.kinesis;
  }
  return env;
}
