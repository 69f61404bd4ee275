// Lambda entry of the snapshot function: middy over runSnapshot. Takes a scheduled EventBridge event
// (`detail-type: 'Scheduled Event'`: the cluster is CLUSTER_NAME) or an on-demand one (`source:
// 'borealis'`, `detail-type: 'Borealis Snapshot Requested'`, detail {cluster, snapshotId?}).
// Environment: BACKUP_BUCKET (of CLUSTER_NAME; another cluster's bucket is derived from its name),
// AWS_REGION, endpoints as core/aws/endpoints.ts resolves them. The cluster is found through its
// published topology (core/cluster/topology-store.ts): the SSM parameter, or in embedded mode the
// control plane's topology.json under BOREALIS_TOPOLOGY_DIR (set by the function runner). Clients
// are built per invocation, so importing never fails.
import middy from '@middy/core';
import type { EventBridgeEvent } from 'aws-lambda';
import { s3Client } from '../../core/aws/clients.ts';
import { topologyReaderFromEnv } from '../../core/cluster/topology-store.ts';
import { BorealisError, ErrorCode } from '../../core/errors.ts';
import { borealisEventSource, eventDetailTypes, functionEnv } from '../../core/functions.ts';
import { createLogger } from '../../core/log.ts';
import { defaultClusterName, primaryRegion, regionalResources } from '../../core/resources.ts';
import { snapshotIdPattern } from './catalog.ts';
import type { SnapshotRequest } from './handler.ts';
import { runSnapshot } from './run.ts';
import { publishedTopologySource } from './source.ts';

export const scheduledDetailType = 'Scheduled Event';

export interface SnapshotRequestedDetail {
  cluster: string;
  snapshotId?: string;
}

export type SnapshotEvent =
  | EventBridgeEvent<'Scheduled Event', unknown>
  | EventBridgeEvent<'Borealis Snapshot Requested', SnapshotRequestedDetail>;

export interface SnapshotResponse {
  snapshotId: string;
  lsn: string;
  created: boolean;
  pageCount: number;
  /** Pages read from storage: only those the archived log names as changed when it could. */
  pagesRead: number;
  changedPagesFrom: 'log' | 'full' | null;
  bytesUploaded: number;
  bytesTotal: number;
}

/**
 * A scheduled event for a Global Database secondary (its published topology says so): its writer slot
 * runs the replica applier, and the region's backups are its own writer's — they start again when a
 * switchover or failover makes it the primary (docs/global.md).
 */
export interface SnapshotSkipped {
  skipped: 'global-secondary';
  cluster: string;
}

/** The cluster and request an event names; a bad event is a non-retryable error. */
export function parseSnapshotEvent(
  event: unknown,
  env: NodeJS.ProcessEnv = process.env,
): { cluster: string; request: SnapshotRequest } {
  const bad = (why: string) =>
    new BorealisError(ErrorCode.INVALID_ARGUMENT, `snapshot event: ${why}`, { retryable: false });
  if (typeof event !== 'object' || event === null) throw bad('not an object');
  const e = event as Partial<EventBridgeEvent<string, unknown>>;
  if (e['detail-type'] === scheduledDetailType) {
    return { cluster: env[functionEnv.clusterName] || defaultClusterName, request: { scheduled: true } };
  }
  if (e['detail-type'] !== eventDetailTypes.snapshotRequested || e.source !== borealisEventSource) {
    throw bad(
      `expected a '${scheduledDetailType}' or a ${borealisEventSource} '${eventDetailTypes.snapshotRequested}' event`,
    );
  }
  const detail = e.detail as Partial<SnapshotRequestedDetail> | undefined;
  if (typeof detail?.cluster !== 'string' || detail.cluster === '') throw bad('detail.cluster is required');
  const id = detail.snapshotId;
  if (id !== undefined && (typeof id !== 'string' || !snapshotIdPattern.test(id))) {
    throw bad(`detail.snapshotId must match ${snapshotIdPattern.source}`);
  }
  return { cluster: detail.cluster, request: id === undefined ? {} : { snapshotId: id } };
}

/** The middy handler over the given environment (the local runner passes its own). */
export function createHandler(env: NodeJS.ProcessEnv = process.env) {
  const logger = createLogger('snapshot');
  return middy<SnapshotEvent, SnapshotResponse | SnapshotSkipped>(
    async (event: SnapshotEvent): Promise<SnapshotResponse | SnapshotSkipped> => {
      const { cluster, request } = parseSnapshotEvent(event, env);
      const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || primaryRegion;
      const bucket =
        cluster === env[functionEnv.clusterName] && env[functionEnv.backupBucket]
          ? env[functionEnv.backupBucket]!
          : regionalResources(region, cluster).backupBucket;
      const topology = topologyReaderFromEnv(region, env);
      try {
        // Only the schedule is skipped on a secondary: an on-demand request fails there with the
        // reason (no serving writer), which its caller sees.
        if (request.scheduled && (await topology.read(cluster)).globalRole === 'secondary') {
          logger.info({ cluster, region }, 'scheduled snapshot skipped: a Global Database secondary');
          const skipped: SnapshotSkipped = { skipped: 'global-secondary', cluster };
          return skipped;
        }
        const s3 = s3Client({ region, env });
        try {
          const { manifest, created, pagesRead } = await runSnapshot({
            s3,
            bucket,
            cluster,
            source: publishedTopologySource(cluster, topology.read),
            request,
            log: (message, fields) => logger.info(fields ?? {}, message),
          });
          return {
            snapshotId: manifest.snapshotId,
            lsn: manifest.lsn,
            created,
            pageCount: manifest.pageCount,
            pagesRead,
            changedPagesFrom: manifest.changedPagesFrom ?? null,
            bytesUploaded: manifest.bytesUploaded,
            bytesTotal: manifest.bytesTotal,
          } satisfies SnapshotResponse;
        } finally {
          s3.destroy();
        }
      } finally {
        topology.close();
      }
    },
  );
}

export const handler = createHandler();
