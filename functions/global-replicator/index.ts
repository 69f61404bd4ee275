// Lambda entry of the global replicator: middy around the pure handler, dependencies from the
// environment: GLOBAL_SECONDARY_REGION and CLUSTER_NAME say which cluster's topology names the
// secondary's replica applier (SSM in that region; in embedded mode GLOBAL_SECONDARY_TOPOLOGY_DIR,
// the secondary region's clusters folder). Without GLOBAL_SECONDARY_REGION there is no secondary and
// every batch is done at once. Built on the first invocation, so importing this module never fails.
import middy from '@middy/core';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { ssmClient } from '../../core/aws/clients.ts';
import {
  fileTopologyReader,
  type ReadPublishedTopology,
  ssmTopologyReader,
} from '../../core/cluster/topology-store.ts';
import { functionEnv } from '../../core/functions.ts';
import { createLogger } from '../../core/log.ts';
import { type ReplicatorDeps, replicateRedoBatches } from './handler.ts';

/** The applier answers once the batch is durable: a quorum write in the other region. */
const applyTimeoutMs = 30_000;

export function replicatorDepsFromEnv(env: NodeJS.ProcessEnv): ReplicatorDeps {
  const logger = createLogger('global-replicator');
  const secondary = env[functionEnv.globalSecondaryRegion];
  const cluster = env[functionEnv.globalSecondaryCluster] || env[functionEnv.clusterName];
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION;
  if (secondary === undefined || secondary === '') {
    return {
      applierUrl: async () => undefined,
      post: async () => ({ ok: true, status: 200, body: '' }),
      logger,
    };
  }
  if (cluster === undefined || cluster === '') throw new Error('global-replicator: CLUSTER_NAME is not set');
  if (secondary === region) {
    throw new Error(`global-replicator: the secondary region ${secondary} is this function's own region`);
  }
  const dir = env[functionEnv.globalSecondaryTopologyDir];
  const read: ReadPublishedTopology =
    dir !== undefined && dir !== ''
      ? fileTopologyReader(dir)
      : ssmTopologyReader(ssmClient({ region: secondary, env }));
  return {
    applierUrl: async () => {
      const topology = await read(cluster);
      if (topology.region !== secondary) {
        throw new Error(
          `the topology of ${cluster} is in ${topology.region}, not the secondary region ${secondary}`,
        );
      }
      if (topology.writer === null)
        throw new Error(`the secondary cluster ${cluster} has no replica applier running`);
      return new URL('/apply', topology.writer.endpoint).toString();
    },
    post: async (url, body) => {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/octet-stream' },
        body,
        signal: AbortSignal.timeout(applyTimeoutMs),
      });
      return { ok: response.ok, status: response.status, body: await response.text() };
    },
    logger,
  };
}

/** The middy handler over the given environment (the local runner passes its own). */
export function createHandler(env: NodeJS.ProcessEnv = process.env) {
  let deps: ReplicatorDeps | undefined;
  return middy<KinesisStreamEvent, KinesisStreamBatchResponse>(async (event: KinesisStreamEvent) => {
    deps ??= replicatorDepsFromEnv(env);
    const { batchItemFailures } = await replicateRedoBatches(event, deps);
    return { batchItemFailures };
  });
}

export const handler = createHandler();
