// The restore function: takes a `Borealis Restore Requested` event (EventBridge shape), plans the
// restore from the archive (snapshot <= T, then the gap-free log chunks up to the last commit with
// time <= T), has a new cluster created whose control plane hydrates its volume from S3, and emits
// `Borealis Restore Completed` — or `Borealis Restore Failed` with the reason, after removing
// whatever it had started: nothing half-restored is left running. A restore never touches the
// source cluster. Idempotent per requestId: a redelivered request finds its cluster and reports it.
import type { S3Client } from '@aws-sdk/client-s3';
import type { EventBridgeEvent } from 'aws-lambda';
import {
  type ChunkInfo,
  logPrefix,
  parseLogChunkKey,
  snapshotManifestKey,
} from '../../core/backup/archive.ts';
import { inVoid, readArchiveFence } from '../../core/backup/archive-fence.ts';
import { fenceMark } from '../../core/backup/commit-horizon.ts';
import { readCommitHorizons } from '../../core/backup/commit-horizon-store.ts';
import {
  type ManifestSummary,
  planRestore,
  type RestoreJob,
  restoreJob,
} from '../../core/backup/restore-plan.ts';
import { listObjects, readArchivedMarkers, readWatermark } from '../../core/backup/s3-archive.ts';
import { listSnapshotSummaries } from '../snapshot/catalog.ts';

export const restoreRequested = 'Borealis Restore Requested';
export const restoreCompleted = 'Borealis Restore Completed';
export const restoreFailed = 'Borealis Restore Failed';
export const eventSource = 'borealis';

export interface RestoreRequestedDetail {
  requestId: string;
  sourceCluster: string;
  targetCluster: string;
  /** ISO time: restore every commit with commit time <= it. */
  restoreTime?: string;
  snapshotId?: string;
}

export interface RestoreCompletedDetail {
  requestId: string;
  sourceCluster: string;
  targetCluster: string;
  restoreTime: string;
  endpoints: { writer: string | null; reader: string | null };
  resourceArn: string;
  secretArn: string;
  durationMs: number;
}

export interface RestoreFailedDetail {
  requestId: string;
  sourceCluster: string;
  targetCluster: string;
  reason: string;
}

/** Creates and removes clusters: the control plane's job (embedded: a local launcher; AWS: ECS). */
export interface ClusterProvisioner {
  /** Starts the cluster with its restore job; resolves once it serves (its volume is hydrated). */
  create(
    job: RestoreJob,
  ): Promise<
    Omit<
      RestoreCompletedDetail,
      'requestId' | 'sourceCluster' | 'targetCluster' | 'restoreTime' | 'durationMs'
    >
  >;
  /** Stops it and removes its data. */
  destroy(cluster: string): Promise<void>;
  exists(cluster: string): Promise<boolean>;
}

export interface RestoreDeps {
  s3: S3Client;
  bucket: string;
  region: string;
  provisioner: ClusterProvisioner;
  emit: (detailType: string, detail: RestoreCompletedDetail | RestoreFailedDetail) => Promise<void>;
}

const clusterNamePattern = /^[a-z][a-z0-9-]{0,40}$/;

export class RestoreRequestError extends Error {}

export function parseRestoreRequest(detail: unknown): RestoreRequestedDetail {
  const d = (detail ?? {}) as Record<string, unknown>;
  const text = (name: string) =>
    typeof d[name] === 'string' && d[name] !== '' ? (d[name] as string) : undefined;
  const requestId = text('requestId');
  const sourceCluster = text('sourceCluster');
  const targetCluster = text('targetCluster');
  if (!requestId || !sourceCluster || !targetCluster) {
    throw new RestoreRequestError('requestId, sourceCluster and targetCluster are required');
  }
  if (!clusterNamePattern.test(targetCluster)) {
    throw new RestoreRequestError(
      `targetCluster '${targetCluster}': use a-z, 0-9 and '-', starting with a letter`,
    );
  }
  if (targetCluster === sourceCluster)
    throw new RestoreRequestError('a restore creates a new cluster: name another one');
  const restoreTime = text('restoreTime');
  const snapshotId = text('snapshotId');
  if ((restoreTime === undefined) === (snapshotId === undefined)) {
    throw new RestoreRequestError('name exactly one of restoreTime (ISO) and snapshotId');
  }
  if (restoreTime !== undefined && !Number.isFinite(Date.parse(restoreTime))) {
    throw new RestoreRequestError(`restoreTime '${restoreTime}' is not an ISO time`);
  }
  return { requestId, sourceCluster, targetCluster, restoreTime, snapshotId };
}

export async function handleRestoreRequested(
  event: EventBridgeEvent<string, unknown>,
  deps: RestoreDeps,
): Promise<RestoreCompletedDetail | RestoreFailedDetail> {
  const started = Date.now();
  const raw = (event.detail ?? {}) as Record<string, unknown>;
  const fail = async (reason: string): Promise<RestoreFailedDetail> => {
    const detail: RestoreFailedDetail = {
      requestId: String(raw.requestId ?? ''),
      sourceCluster: String(raw.sourceCluster ?? ''),
      targetCluster: String(raw.targetCluster ?? ''),
      reason,
    };
    await deps.emit(restoreFailed, detail);
    return detail;
  };
  if (event['detail-type'] !== restoreRequested) return fail(`unexpected event ${event['detail-type']}`);
  let request: RestoreRequestedDetail;
  try {
    request = parseRestoreRequest(event.detail);
  } catch (error) {
    return fail((error as Error).message);
  }
  // A provisioner that cannot answer (none configured, SSM unreachable) fails the request with why.
  let exists: boolean;
  try {
    exists = await deps.provisioner.exists(request.targetCluster);
  } catch (error) {
    return fail(`cannot check whether cluster ${request.targetCluster} exists: ${(error as Error).message}`);
  }
  if (exists) return fail(`cluster ${request.targetCluster} already exists: restore into a new name`);

  let job: RestoreJob;
  try {
    // The horizons first: a time after the last archived commit that the RDS API reported
    // restorable (it restores to that commit). Read before the markers (a marker archived before a
    // horizon was stored is then seen: commit-horizon.ts) and the watermark (a horizon stored
    // meanwhile may not hold for it yet, but one that held when reported is kept beside it:
    // nextHorizons). Unreadable ones count as none (the watermark's commit is then the latest).
    const horizons = await readCommitHorizons(deps.s3, deps.bucket, request.sourceCluster).catch(() => []);
    const [manifests, logObjects, watermark, markers, voids] = await Promise.all([
      // A copied snapshot restores by its id only (never the base of a point in time: catalog.ts).
      listSnapshotSummaries(deps.s3, deps.bucket, request.sourceCluster, {
        copies: request.snapshotId !== undefined,
      }),
      listObjects(deps.s3, deps.bucket, logPrefix(request.sourceCluster)),
      readWatermark(deps.s3, deps.bucket, request.sourceCluster),
      readArchivedMarkers(deps.s3, deps.bucket, request.sourceCluster),
      readArchiveFence(deps.s3, deps.bucket, request.sourceCluster),
    ]);
    const snapshots: ManifestSummary[] = manifests.map((m) => ({
      snapshotId: m.snapshotId,
      lsn: m.lsn,
      commitTimeMs: m.commitTimeMs,
      key: snapshotManifestKey(request.sourceCluster, m.snapshotId),
    }));
    // A chunk ending in a voided range (a Global Database failover's lost commits, stored by an
    // archiver run that read no fence yet) is never a link (core/backup/archive-fence.ts).
    const chunks = logObjects
      .map((o) => parseLogChunkKey(o.key))
      .filter((c): c is ChunkInfo => c !== undefined && !inVoid(c.lastLsn, voids));
    const plan = planRestore({
      sourceCluster: request.sourceCluster,
      request: {
        ...(request.restoreTime ? { restoreTimeMs: Date.parse(request.restoreTime) } : {}),
        ...(request.snapshotId ? { snapshotId: request.snapshotId } : {}),
      },
      snapshots,
      chunks,
      watermark: watermark?.value,
      markers,
      horizons,
      fence: fenceMark(voids),
    });
    job = restoreJob(plan, {
      requestId: request.requestId,
      targetCluster: request.targetCluster,
      region: deps.region,
      bucket: deps.bucket,
    });
  } catch (error) {
    return fail(`cannot plan the restore: ${(error as Error).message}`);
  }

  try {
    const created = await deps.provisioner.create(job);
    const detail: RestoreCompletedDetail = {
      requestId: request.requestId,
      sourceCluster: request.sourceCluster,
      targetCluster: request.targetCluster,
      restoreTime: new Date(job.restoreTimeMs).toISOString(),
      ...created,
      durationMs: Date.now() - started,
    };
    await deps.emit(restoreCompleted, detail);
    return detail;
  } catch (error) {
    // Nothing half-restored stays: the new cluster's processes and data go.
    await deps.provisioner.destroy(request.targetCluster).catch(() => undefined);
    return fail((error as Error).message);
  }
}
