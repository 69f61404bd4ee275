// Where the snapshot function finds what it reads: the volume (storage nodes and placement), the
// writer's consistent point, and page reads from full segments. Behind one small interface so the
// handler cannot tell embedded mode from AWS:
// - the Lambda (both modes): the cluster's published topology (core/cluster/topology-store.ts: SSM,
//   or the control plane's topology.json in embedded mode) names the volume's URL and the writer's
//   HTTP side port, which serves GET /consistent-point;
// - the CLI (`borealis snapshot create`): the cluster dir's volume.json, and the control plane's
//   GET /status → the writer's HTTP port → GET /consistent-point on the writer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  type ConsistentPoint,
  consistentPointRoute,
  decodeConsistentPoint,
} from '../../core/cluster/consistent-point.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { ReadPublishedTopology } from '../../core/cluster/topology-store.ts';
import { storageClients } from '../../core/engine/instance.ts';
import { PageFetcher } from '../../core/engine/page-fetcher.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import type { Lsn } from '../../core/lsn.ts';
import { type VolumeConfig, validateVolumeConfig } from '../../core/volume.ts';

const httpTimeoutMs = 5_000;

export interface SnapshotSource {
  volume(): Promise<VolumeConfig>;
  consistentPoint(): Promise<ConsistentPoint>;
}

async function getJson(url: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(httpTimeoutMs) });
  } catch (error) {
    throw new BorealisError(ErrorCode.UNAVAILABLE, `cannot reach ${url}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  const text = await response.text();
  if (!response.ok) {
    throw new BorealisError(
      ErrorCode.UNAVAILABLE,
      `${url} answered HTTP ${response.status}: ${text.slice(0, 200)}`,
    );
  }
  return JSON.parse(text);
}

/** The writer's consistent point read from its HTTP side port. */
export function writerConsistentPoint(writerHttpUrl: string): Promise<ConsistentPoint> {
  return getJson(new URL(consistentPointRoute, writerHttpUrl).toString()).then(decodeConsistentPoint);
}

/** Embedded mode: a cluster run by a local control plane, with its data in `clusterDir`. */
export function embeddedSource(options: { controlPlaneUrl: string; clusterDir: string }): SnapshotSource {
  return {
    volume: async () =>
      validateVolumeConfig(JSON.parse(readFileSync(join(options.clusterDir, 'volume.json'), 'utf8'))),
    consistentPoint: async () => {
      const status = (await getJson(new URL('/status', options.controlPlaneUrl).toString())) as ClusterStatus;
      const writer = status.instances?.find((i) => i.role === 'writer' && i.id === status.writer);
      if (!writer || writer.httpPort === null || status.failoverInProgress) {
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `cluster ${status.cluster} has no serving writer now`,
          {
            retryable: true,
          },
        );
      }
      return writerConsistentPoint(`http://127.0.0.1:${writer.httpPort}`);
    },
  };
}

/**
 * A cluster found through its published topology: the volume from `volumeUrl`, the consistent point
 * from the writer's `httpUrl`. The topology is read afresh for each consistent point, so a snapshot
 * asked during a failover finds the new writer (or a retryable UNAVAILABLE while none serves).
 */
export function publishedTopologySource(
  cluster: string,
  readTopology: ReadPublishedTopology,
): SnapshotSource {
  return {
    volume: async () => {
      const topology = await readTopology(cluster);
      if (topology.volumeUrl === undefined) {
        throw new BorealisError(
          ErrorCode.UNAVAILABLE,
          `cluster ${cluster} has not published its volume yet (no volumeUrl in its topology, version ${topology.version})`,
          { retryable: true },
        );
      }
      return validateVolumeConfig((await getJson(topology.volumeUrl)) as VolumeConfig);
    },
    consistentPoint: async () => {
      const topology = await readTopology(cluster);
      const httpUrl = topology.writer?.httpUrl;
      if (topology.failoverInProgress || httpUrl === undefined) {
        throw new BorealisError(ErrorCode.UNAVAILABLE, `cluster ${cluster} has no serving writer now`, {
          retryable: true,
        });
      }
      return writerConsistentPoint(httpUrl);
    },
  };
}

/** Page reads as of a read point from the PGs' full segments (hedged; retried while a segment lags). */
export function storagePageReader(volume: VolumeConfig): {
  fetchPage: (pageNo: number, readPoint: Lsn) => Promise<Uint8Array>;
  close: () => void;
} {
  const clients = storageClients(volume);
  const fetcher = new PageFetcher({ volume, clients });
  return {
    fetchPage: async (pageNo, readPoint) => (await fetcher.fetch(pageNo, readPoint)).bytes,
    close: () => {
      for (const c of clients.values()) c.close();
    },
  };
}
