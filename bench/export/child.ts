// The export in a process of its own, so that its peak RSS is the export's alone: runs one
// StartExportTask + run against the S3 endpoint it is given and prints one JSON line with the task,
// the wall time and the process's peak RSS. Used by bench/export/main.ts and the 1M-row test.
import { s3Client } from '../../core/aws/clients.ts';
import { runExportTask, startExportTask } from '../../functions/snapshot-export/handler.ts';

const input = JSON.parse(process.argv[2] ?? '{}') as {
  endpoint: string;
  bucket: string;
  region: string;
  tempDir: string;
  request: Record<string, unknown>;
};
const s3 = s3Client({
  region: input.region,
  endpoint: input.endpoint,
  env: { AWS_ACCESS_KEY_ID: 'S3RVER', AWS_SECRET_ACCESS_KEY: 'S3RVER' },
});
const t0 = performance.now();
const deps = {
  s3,
  bucket: input.bucket,
  region: input.region,
  tempDir: input.tempDir,
  // Phases on stderr, with the seconds since the start.
  log: (message: string, fields?: Record<string, unknown>) =>
    console.error(
      JSON.stringify({ message, ...fields, atSeconds: ((performance.now() - t0) / 1000).toFixed(2) }),
    ),
};
const started = performance.now();
const task = await runExportTask(deps, await startExportTask(deps, input.request));
const seconds = (performance.now() - started) / 1000;
s3.destroy();
// maxRSS is in kilobytes.
console.log(JSON.stringify({ task, seconds, peakRssMb: process.resourceUsage().maxRSS / 1024 }));
