// Writer and reader processes for tests and benchmarks, on top of a StorageCluster, and an RDS Data
// API client (the real SDK) pointed at them.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { RDSDataClient } from '@aws-sdk/client-rds-data';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import type { StorageCluster } from './storage-cluster.ts';

const writerEntry = fileURLToPath(new URL('../../services/writer/main.ts', import.meta.url));
const readerEntry = fileURLToPath(new URL('../../services/reader/main.ts', import.meta.url));

export interface InstanceInfo {
  process: ManagedProcess;
  port: number;
  httpPort: number;
  redoPort?: number;
  resourceArn: string;
  secretArn: string;
  endpoint: string;
}

function info(process: ManagedProcess): InstanceInfo {
  const r = process.ready as Record<string, unknown>;
  return {
    process,
    port: r.port as number,
    httpPort: r.httpPort as number,
    redoPort: r.redoPort as number | undefined,
    resourceArn: r.resourceArn as string,
    secretArn: r.secretArn as string,
    endpoint: `http://127.0.0.1:${r.port}`,
  };
}

export async function startWriter(
  cluster: StorageCluster,
  options: {
    id?: string;
    ports?: { port: number; redoPort: number; httpPort: number };
    args?: string[];
  } = {},
): Promise<InstanceInfo> {
  const id = options.id ?? 'writer-1';
  const ports = options.ports ?? { port: 0, redoPort: 0, httpPort: 0 };
  const process = await spawnProcess({
    name: id,
    entry: writerEntry,
    args: [
      '--id',
      id,
      '--volume-config',
      cluster.volumePath,
      '--port',
      String(ports.port),
      '--redo-port',
      String(ports.redoPort),
      '--http-port',
      String(ports.httpPort),
      ...(options.args ?? []),
    ],
    logFile: join(cluster.dir, 'logs', `${id}.log`),
    readyTimeoutMs: 60_000,
  });
  return info(process);
}

export async function startReader(
  cluster: StorageCluster,
  writerRedo: string,
  options: { id?: string; args?: string[] } = {},
): Promise<InstanceInfo> {
  const id = options.id ?? 'reader-1';
  const process = await spawnProcess({
    name: id,
    entry: readerEntry,
    args: [
      '--id',
      id,
      '--volume-config',
      cluster.volumePath,
      '--writer-redo',
      writerRedo,
      ...(options.args ?? []),
    ],
    logFile: join(cluster.dir, 'logs', `${id}.log`),
    readyTimeoutMs: 60_000,
  });
  return info(process);
}

/** Whatever serves the Data API: an instance, or the proxy's cluster or reader endpoint. */
export type DataApiTarget = Pick<InstanceInfo, 'endpoint' | 'resourceArn' | 'secretArn'>;

export function dataApiClient(instance: DataApiTarget): RDSDataClient {
  return new RDSDataClient({
    endpoint: instance.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'borealis', secretAccessKey: 'borealis' },
    maxAttempts: 1,
  });
}
