// Process entry for the export CPU test: exports one snapshot to Parquet back to back, in its own
// process as the snapshot-export Lambda would run, until SIGTERM — so that an export is in progress
// for the whole of a measured window, whatever the machine's speed. Its only inputs are S3 objects.
// One JSON line per finished export on stdout; the caller checks and counts them.
import { s3Client } from '../../core/aws/clients.ts';
import { announceReady } from '../../core/process/spawn.ts';
import { runExportTask, startExportTask } from '../../functions/snapshot-export/handler.ts';

const [s3Endpoint, bucket, cluster, snapshotId, tempDir] = process.argv.slice(2);
if (!s3Endpoint || !bucket || !cluster || !snapshotId || !tempDir) {
  console.error('usage: snapshot-export-loop S3_ENDPOINT BUCKET CLUSTER SNAPSHOT_ID TEMP_DIR');
  process.exit(2);
}
const s3 = s3Client({ region: 'us-east-1', endpoint: s3Endpoint });
const deps = { s3, bucket, region: 'us-east-1', tempDir };
let exports = 0;
// The export in flight is abandoned: the caller only needs the ones that finished.
process.on('SIGTERM', () => {
  console.log(JSON.stringify({ stopping: true, exports }));
  process.exit(0);
});
announceReady({ service: 'snapshot-export-loop', snapshotId });
for (let n = 0; ; n++) {
  const exportTaskIdentifier = `cpu-${process.pid}-${n}`;
  const startedAtMs = Date.now();
  const task = await runExportTask(
    deps,
    await startExportTask(deps, { exportTaskIdentifier, cluster, snapshotIdentifier: snapshotId }),
  );
  exports++;
  console.log(
    JSON.stringify({
      export: exportTaskIdentifier,
      status: task.Status,
      rows: task.ExportedRowCount,
      startedAtMs,
      endedAtMs: Date.now(),
      failureCause: task.FailureCause,
    }),
  );
  if (task.Status !== 'COMPLETE') process.exit(1);
}
