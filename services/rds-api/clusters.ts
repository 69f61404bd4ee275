// The clusters of one region, as the RDS API sees them: every cluster that published a topology
// (core/cluster/topology-store.ts — the state dir's clusters/ folder in embedded mode, the
// /borealis/<cluster>/topology SSM parameters on LocalStack/AWS), each described by its control
// plane's GET /status. A cluster whose control plane does not answer is not listed (it is stopped).
import { readdirSync } from 'node:fs';
import { GetParametersByPathCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import {
  fileTopologyReader,
  parsePublishedTopology,
  type ReadPublishedTopology,
} from '../../core/cluster/topology-store.ts';

/** Clusters listed at most (RDS: 40 clusters per account and region by default). */
export const clustersMax = 100;
const statusTimeoutMs = 2_000;

export interface ClusterDirectory {
  /** Every cluster's name that published a topology. */
  names(): Promise<string[]>;
  read: ReadPublishedTopology;
}

export function fileClusterDirectory(topologyDir: string): ClusterDirectory {
  return {
    names: async () => {
      try {
        return readdirSync(topologyDir, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name)
          .slice(0, clustersMax);
      } catch {
        return [];
      }
    },
    read: fileTopologyReader(topologyDir),
  };
}

export function ssmClusterDirectory(ssm: SSMClient): ClusterDirectory {
  const byName = async (): Promise<Map<string, string>> => {
    const out = new Map<string, string>();
    let token: string | undefined;
    do {
      const page = await ssm.send(
        new GetParametersByPathCommand({ Path: '/borealis/', Recursive: true, NextToken: token }),
      );
      for (const p of page.Parameters ?? []) {
        const m = /^\/borealis\/([^/]+)\/topology$/.exec(p.Name ?? '');
        if (m && p.Value !== undefined) out.set(m[1]!, p.Value);
      }
      token = page.NextToken;
    } while (token !== undefined && out.size < clustersMax);
    return out;
  };
  return {
    names: async () => [...(await byName()).keys()],
    read: async (cluster) => {
      const value = (await byName()).get(cluster);
      if (value === undefined) throw Object.assign(new Error(`no cluster '${cluster}'`), { notFound: true });
      return parsePublishedTopology(value, `/borealis/${cluster}/topology`);
    },
  };
}

/** GET /status of a cluster's control plane, or undefined when it does not answer (stopped). */
export async function clusterStatus(
  directory: ClusterDirectory,
  cluster: string,
): Promise<ClusterStatus | undefined> {
  let url: string | undefined;
  try {
    url = (await directory.read(cluster)).controlPlaneUrl;
  } catch {
    return undefined;
  }
  if (url === undefined) return undefined;
  try {
    const response = await fetch(new URL('/status', url), { signal: AbortSignal.timeout(statusTimeoutMs) });
    if (!response.ok) return undefined;
    const status = (await response.json()) as ClusterStatus;
    // A stopped cluster's topology file stays; its old port may be another cluster's now.
    return status.cluster === cluster ? status : undefined;
  } catch {
    return undefined;
  }
}

export async function allClusterStatuses(directory: ClusterDirectory): Promise<ClusterStatus[]> {
  const names = await directory.names();
  const statuses = await Promise.all(names.map((n) => clusterStatus(directory, n)));
  return statuses.filter((s): s is ClusterStatus => s !== undefined);
}
