// One snapshot of a cluster end to end, for every caller (the Lambda entry, the local runner, the
// CLI): the volume and consistent point from a SnapshotSource, page reads from storage, the pages
// changed since the parent from the archived log, S3 from the shared client factory's client, then
// the handler.
import type { S3Client } from '@aws-sdk/client-s3';
import { archivedChanges } from './changed-pages.ts';
import { type SnapshotRequest, type SnapshotResult, takeSnapshot } from './handler.ts';
import { type SnapshotSource, storagePageReader } from './source.ts';

export interface RunSnapshotOptions {
  s3: S3Client;
  bucket: string;
  cluster: string;
  source: SnapshotSource;
  request?: SnapshotRequest;
  pageReadsInFlight?: number;
  pageReadsPerSecond?: number;
  /** Read every page even when the archived log names the changed ones (a full, checked copy). */
  readAllPages?: boolean;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export async function runSnapshot(options: RunSnapshotOptions): Promise<SnapshotResult> {
  const volume = await options.source.volume();
  const reader = storagePageReader(volume);
  try {
    return await takeSnapshot(
      {
        s3: options.s3,
        bucket: options.bucket,
        cluster: options.cluster,
        volume,
        readPoint: () => options.source.consistentPoint(),
        fetchPage: reader.fetchPage,
        ...(options.readAllPages
          ? {}
          : {
              changedPages: archivedChanges({
                s3: options.s3,
                bucket: options.bucket,
                cluster: options.cluster,
              }),
            }),
        ...(options.pageReadsInFlight === undefined ? {} : { pageReadsInFlight: options.pageReadsInFlight }),
        ...(options.pageReadsPerSecond === undefined
          ? {}
          : { pageReadsPerSecond: options.pageReadsPerSecond }),
        ...(options.log === undefined ? {} : { log: options.log }),
      },
      options.request ?? {},
    );
  } finally {
    reader.close();
  }
}
