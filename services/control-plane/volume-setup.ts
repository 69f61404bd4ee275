// The cluster volume on disk: created on first start (six nodes, two per AZ, default placement) and
// reused after that, so a restarted `npm start` finds its data. Only the ports change between runs —
// node ids, AZs and placement never do, so every segment stays where its data is.
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { segmentsPerAz as nodesPerAz } from '../../core/limits.ts';
import { freePorts } from '../../core/process/ports.ts';
import {
  defaultPlacement,
  readVolumeConfig,
  type StorageNodeAddress,
  type VolumeConfig,
} from '../../core/volume.ts';

export interface VolumeSetupOptions {
  dir: string;
  azs: readonly string[];
  volumeId: string;
  pgCount: number;
  pagesPerPg: number;
  pageSizeBytes: number;
  /** A node's address (placement.ts); default 127.0.0.1. Like ports, it may change between runs. */
  hostOf?: (nodeId: string) => string | undefined;
}

export function volumePath(dir: string): string {
  return join(dir, 'volume.json');
}

export async function setUpVolume(options: VolumeSetupOptions): Promise<VolumeConfig> {
  mkdirSync(options.dir, { recursive: true });
  const path = volumePath(options.dir);
  const existing = existsSync(path) ? readVolumeConfig(path) : undefined;
  const nodeCount = options.azs.length * nodesPerAz;
  const ports = await freePorts(nodeCount * 2);
  const nodes: StorageNodeAddress[] = Array.from({ length: nodeCount }, (_, i) => {
    const id = existing?.nodes[i]?.id ?? `n${i + 1}`;
    return {
      id,
      az: existing?.nodes[i]?.az ?? options.azs[Math.floor(i / nodesPerAz)]!,
      host: options.hostOf?.(id) ?? '127.0.0.1',
      port: ports[i]!,
      httpPort: ports[nodeCount + i]!,
    };
  });
  const volume: VolumeConfig = existing
    ? { ...existing, nodes }
    : {
        volumeId: options.volumeId,
        pageSizeBytes: options.pageSizeBytes,
        pagesPerPg: options.pagesPerPg,
        nodes,
        placement: defaultPlacement(nodes, options.pgCount),
      };
  writeFileSync(`${path}.tmp`, `${JSON.stringify(volume, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
  return volume;
}
