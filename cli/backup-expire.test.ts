// `borealis backup expire` in-process against a real s3rver (AWS_ENDPOINT_URL, no running system):
// the flag and the environment variable, the report in --json and as text, usage errors, and
// `backup status` agreeing with the window expiry leaves.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { s3Client } from '../core/aws/clients.ts';
import { type ManagedProcess, spawnProcess } from '../core/process/spawn.ts';
import { defaultClusterName, regionalResources } from '../core/resources.ts';
import { emulatorCredentials } from '../embedded/emulators.ts';
import { dayMs } from '../functions/backup-retention/handler.ts';
import { archiveDays, writeSnapshot } from '../functions/backup-retention/testing.ts';
import { makeTempDir } from '../integration/harness/temp.ts';
import { runCli } from './program.ts';
import { memoryIo } from './testing.ts';

const here = fileURLToPath(new URL('.', import.meta.url));
const region = 'us-east-1';
const cluster = defaultClusterName;
const bucket = regionalResources(region, cluster).backupBucket;
const dir = makeTempDir('backup-expire');
const stateDir = join(dir.path, 'state');
let server: ManagedProcess;
let s3: S3Client;

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli([...argv, '--state-dir', stateDir], io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

beforeAll(async () => {
  server = await spawnProcess({
    name: 's3',
    entry: join(here, '../embedded/s3-emulator.ts'),
    args: ['--data-dir', join(dir.path, 's3')],
    nodeFlags: ['--openssl-legacy-provider'],
    logFile: join(dir.path, 'logs', 's3.log'),
  });
  const endpoint = `http://127.0.0.1:${server.ready.port}`;
  vi.stubEnv('AWS_ENDPOINT_URL', endpoint);
  vi.stubEnv('AWS_ACCESS_KEY_ID', emulatorCredentials.accessKeyId);
  vi.stubEnv('AWS_SECRET_ACCESS_KEY', emulatorCredentials.secretAccessKey);
  vi.stubEnv('BACKUP_RETENTION_DAYS', '');
  s3 = s3Client({ region, endpoint, env: process.env });
  await s3.send(new CreateBucketCommand({ Bucket: bucket }));
});
afterAll(async () => {
  vi.unstubAllEnvs();
  s3?.destroy();
  await server?.stop();
  dir.remove();
});

describe('borealis backup expire', () => {
  it('expires outside --retention-days and agrees with backup status', async () => {
    const target = { s3, bucket, cluster };
    // Days 0..5 at now − 6.5 d … now − 1.5 d; snapshots at days 1, 3 and 4.
    const days = await archiveDays(target, Date.now() - 6.5 * dayMs, 6);
    await writeSnapshot(target, 'snap-1', days[1]!.lastCommit, ['A', 'B'], null);
    await writeSnapshot(target, 'snap-3', days[3]!.lastCommit, ['A', 'C'], 'snap-1');
    await writeSnapshot(target, 'snap-4', days[4]!.lastCommit, ['A', 'D'], 'snap-3');

    // The environment's period (4 days: base snap-1, only snap-1's older log goes).
    vi.stubEnv('BACKUP_RETENTION_DAYS', '4');
    const byEnv = await run('backup', 'expire', '--json');
    expect(byEnv.stderr).toBe('');
    expect(byEnv.code).toBe(0);
    const first = JSON.parse(byEnv.stdout);
    expect(first).toMatchObject({
      retentionDays: 4,
      baseSnapshot: 'snap-1',
      deleted: { manifests: 0, chunks: 6, packs: 0, pages: 0 },
    });

    // The flag wins over the environment: 3 days makes snap-3 the base.
    const { code, stdout } = await run('backup', 'expire', '--retention-days', '3', '--json');
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report).toMatchObject({
      cluster,
      retentionDays: 3,
      baseSnapshot: 'snap-3',
      deleted: { manifests: 1, chunks: 6 },
      kept: { manifests: 2, chunks: 6 },
      earliestRestorableTime: new Date(days[3]!.lastCommit.commitTimeMs).toISOString(),
    });
    const status = JSON.parse((await run('backup', 'status', '--json')).stdout);
    expect(status.earliestRestorableTime).toBe(report.earliestRestorableTime);
    expect(status.latestRestorableTime).toBe(report.latestRestorableTime);

    const text = await run('backup', 'expire', '--retention-days', '3');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/retention {12}3 days \(from /);
    expect(text.stdout).toContain('deleted              0 snapshots, 0 log chunks, 0 page packs, 0 pages');
    expect(text.stdout).toContain(`earliest restorable  ${report.earliestRestorableTime}`);
  });

  it('refuses a retention outside 1 to 35 days', async () => {
    for (const bad of ['0', '36', 'x']) {
      const r = await run('backup', 'expire', '--retention-days', bad);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain('must be an integer from 1 to 35');
    }
    vi.stubEnv('BACKUP_RETENTION_DAYS', '90');
    const r = await run('backup', 'expire');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/from 1 to 35, got '90' \(BACKUP_RETENTION_DAYS\)/);
  });
});
