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

export class Emulators {
  private constructor(
    readonly state: EmulatorState,
    private readonly processes: ManagedProcess[],
  ) {}

  static async start(options: EmulatorOptions): Promise<Emulators> {
    if (options.regions.length === 0) throw new Error('Emulators.start: at least one region is required');
    const processes: ManagedProcess[] = [];
    const track = (p: ManagedProcess): ManagedProcess => {
      processes.push(p);
      return p;
    };
    try {
      const started = await Promise.all(
        options.regions.map(async (region): Promise<RegionEndpoints> => {
          const [s3, kinesis] = await Promise.all([
            spawnProcess({
              name: `s3-${region}`,
              entry: join(here, 's3-emulator.ts'),
              args: ['--data-dir', join(options.dataDir, region, 's3')],
              nodeFlags: ['--openssl-legacy-provider'],
              logFile: join(options.dataDir, 'logs', `s3-${region}.log`),
              readyTimeoutMs: options.readyTimeoutMs,
            }).then(track),
            spawnProcess({
              name: `kinesis-${region}`,
              entry: join(here, 'kinesis-emulator.ts'),
              args: ['--data-dir', join(options.dataDir, region, 'kinesis')],
              logFile: join(options.dataDir, 'logs', `kinesis-${region}.log`),
              readyTimeoutMs: options.readyTimeoutMs,
            }).then(track),
          ]);
          return {
            region,
            s3: `http://127.0.0.1:${s3.ready.port}`,
            kinesis: `http://127.0.0.1:${kinesis.ready.port}`,
          };
        }),
      );
      return new Emulators({ regions: started, pids: processes.map((p) => p.pid) }, processes);
    } catch (error) {
      await Promise.all(processes.map((p) => p.stop()));
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

  get running(): boolean {
    return this.processes.every((p) => p.running);
  }

  async stop(): Promise<void> {
    await Promise.all(this.processes.map((p) => p.stop()));
  }
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
