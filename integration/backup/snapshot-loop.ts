// Process entry for the snapshot integration tests and bench: takes snapshots back to back, in its
// own process as the Lambda (or `borealis snapshot create`) would, until SIGTERM. With --from-log the
// pages changed since the parent come from the archived log (the backup archiver must be running);
// otherwise every page is read. One JSON line per snapshot on stdout; the callers count them.
import { s3Client } from '../../core/aws/clients.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { readVolumeConfig } from '../../core/volume.ts';
import { archivedChanges } from '../../functions/snapshot/changed-pages.ts';
import { pageReadsPerSecondDefault, takeSnapshot } from '../../functions/snapshot/handler.ts';
import { storagePageReader, writerConsistentPoint } from '../../functions/snapshot/source.ts';

const args = process.argv.slice(2);
const fromLog = args.includes('--from-log');
const [volumePath, writerHttpUrl, s3Endpoint, bucket, cluster, pace] = args.filter((a) => a !== '--from-log');
if (!volumePath || !writerHttpUrl || !s3Endpoint || !bucket || !cluster) {
  console.error(
    'usage: snapshot-loop [--from-log] VOLUME_JSON WRITER_HTTP_URL S3_ENDPOINT BUCKET CLUSTER [PAGES_PER_SECOND]',
  );
  process.exit(2);
}
const volume = readVolumeConfig(volumePath);
const reader = storagePageReader(volume);
const s3 = s3Client({ region: 'us-east-1', endpoint: s3Endpoint });
let running = true;
/** Pages read from storage in all, finished snapshots or not: a snapshot may outlast the caller's window. */
let pagesReadTotal = 0;
const fetchPage = (pageNo: number, readPoint: bigint) => {
  pagesReadTotal++;
  return reader.fetchPage(pageNo, readPoint);
};
process.on('SIGTERM', () => {
  running = false;
  console.log(JSON.stringify({ stopping: true, pagesReadTotal }));
});
announceReady({ service: 'snapshot-loop', pace: pace ?? pageReadsPerSecondDefault });
while (running) {
  const result = await takeSnapshot(
    {
      s3,
      bucket,
      cluster,
      volume,
      readPoint: () => writerConsistentPoint(writerHttpUrl),
      fetchPage,
      ...(fromLog ? { changedPages: archivedChanges({ s3, bucket, cluster }) } : {}),
      pageReadsPerSecond: Number(pace ?? pageReadsPerSecondDefault),
    },
    { scheduled: true },
  );
  console.log(
    JSON.stringify({
      snapshot: result.manifest.snapshotId,
      pages: result.manifest.pageCount,
      pagesRead: result.pagesRead,
      changedPagesFrom: result.manifest.changedPagesFrom,
      pagesUploaded: result.pagesUploaded,
      durationMs: result.durationMs,
    }),
  );
}
reader.close();
s3.destroy();
process.exit(0);
