// Process entry for integration/backup/snapshot.test.ts: takes snapshots back to back, in its own
// process as the Lambda (or `borealis snapshot create`) would, until SIGTERM. One JSON line per
// snapshot on stdout; the test counts them.
import { s3Client } from '../../core/aws/clients.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { readVolumeConfig } from '../../core/volume.ts';
import { pageReadsPerSecondDefault, takeSnapshot } from '../../functions/snapshot/handler.ts';
import { storagePageReader, writerConsistentPoint } from '../../functions/snapshot/source.ts';

const [volumePath, writerHttpUrl, s3Endpoint, bucket, cluster, pace] = process.argv.slice(2);
if (!volumePath || !writerHttpUrl || !s3Endpoint || !bucket || !cluster) {
  console.error(
    'usage: snapshot-loop VOLUME_JSON WRITER_HTTP_URL S3_ENDPOINT BUCKET CLUSTER [PAGES_PER_SECOND]',
  );
  process.exit(2);
}
const volume = readVolumeConfig(volumePath);
const reader = storagePageReader(volume);
const s3 = s3Client({ region: 'us-east-1', endpoint: s3Endpoint });
let running = true;
process.on('SIGTERM', () => {
  running = false;
});
announceReady({ service: 'snapshot-loop', pace: pace ?? pageReadsPerSecondDefault });
while (running) {
  const result = await takeSnapshot({
    s3,
    bucket,
    cluster,
    volume,
    readPoint: () => writerConsistentPoint(writerHttpUrl),
    fetchPage: reader.fetchPage,
    pageReadsPerSecond: Number(pace ?? pageReadsPerSecondDefault),
  });
  console.log(
    JSON.stringify({
      snapshot: result.manifest.snapshotId,
      pages: result.manifest.pageCount,
      pagesUploaded: result.pagesUploaded,
      durationMs: result.durationMs,
    }),
  );
}
reader.close();
s3.destroy();
process.exit(0);
