import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { s3Client } from '../aws/clients.ts';
import { type ChunkInfo, snapshotManifestKey, snapshotPrefix } from '../backup/archive.ts';
import { listObjects } from '../backup/s3-archive.ts';
import { type ManagedProcess, spawnProcess } from '../process/spawn.ts';
import { cutArchive, planArchiveCut } from './archive-cut.ts';

const chunk = (
  prevLsn: bigint,
  lastLsn: bigint,
  lastCommitLsn: bigint,
  ms = Number(lastCommitLsn),
): ChunkInfo => ({
  key: `k${prevLsn}-${lastLsn}`,
  prevLsn,
  firstLsn: prevLsn + 1n,
  lastLsn,
  lastCommitLsn,
  firstCommitTimeMs: ms,
  lastCommitTimeMs: ms,
  timeline: 0,
});
const watermark = (lsn: bigint, commitLsn: bigint) => ({
  lsn: lsn.toString(),
  commitLsn: commitLsn.toString(),
  commitTimeMs: Number(commitLsn),
  updatedAt: 'before',
});

describe('planArchiveCut', () => {
  const chunks = [chunk(0n, 10n, 10n), chunk(10n, 20n, 18n), chunk(20n, 30n, 0n), chunk(30n, 40n, 40n)];

  it('moves every chunk with a record above the point, a straddling one too, and ends the chain at the last chunk end below it', () => {
    const plan = planArchiveCut(chunks, watermark(40n, 40n), 25n, 'now');
    expect(plan.move).toEqual(['k20-30', 'k30-40']);
    expect(plan.watermark).toEqual({ lsn: '20', commitLsn: '18', commitTimeMs: 18, updatedAt: 'now' });
  });

  it('a chunk without a commit at the end keeps the commit of the chain before it', () => {
    const plan = planArchiveCut(chunks, watermark(40n, 40n), 30n, 'now');
    expect(plan.move).toEqual(['k30-40']);
    expect(plan.watermark).toMatchObject({ lsn: '30', commitLsn: '18' });
  });

  it('a watermark already at or below the point stays; chunks above it (not yet chained) still move', () => {
    const plan = planArchiveCut(chunks, watermark(20n, 18n), 25n, 'now');
    expect(plan.watermark).toEqual(watermark(20n, 18n));
    expect(plan.move).toEqual(['k20-30', 'k30-40']);
  });

  it('nothing archived at or below the point: no watermark', () => {
    expect(planArchiveCut(chunks, watermark(40n, 40n), 5n, 'now')).toEqual({
      move: ['k0-10', 'k10-20', 'k20-30', 'k30-40'],
      watermark: undefined,
    });
    expect(planArchiveCut([], undefined, 5n, 'now')).toEqual({ move: [], watermark: undefined });
  });
});

describe('cutArchive on a bucket (the S3 emulator)', () => {
  const dir = makeTempDir('archive-cut');
  const bucket = 'c-backup-us-east-1';
  let server: ManagedProcess;
  let s3: S3Client;

  beforeAll(async () => {
    server = await spawnProcess({
      name: 's3',
      entry: fileURLToPath(new URL('../../embedded/s3-emulator.ts', import.meta.url)),
      args: ['--data-dir', join(dir.path, 's3')],
      nodeFlags: ['--openssl-legacy-provider'],
      logFile: join(dir.path, 'logs', 's3.log'),
    });
    s3 = s3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${server.ready.port}`,
      env: {
        AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
      },
    });
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  }, 60_000);
  afterAll(async () => {
    s3?.destroy();
    await server?.stop();
    dir.remove();
  });

  it("moves this region's snapshots above the point aside (a copy made within the region too), keeps those below and every copy of another region's snapshot", async () => {
    const manifests: Record<string, Record<string, string>> = {
      below: { lsn: '5' },
      above: { lsn: '50' },
      'dr-copy': { lsn: '50', copiedFrom: 'arn:aws:rds:us-west-2:000000000000:cluster-snapshot:s' },
      // A copy within the region of its own snapshot above the point: that timeline, moved aside.
      'local-copy': { lsn: '50', copiedFrom: 'arn:aws:rds:us-east-1:000000000000:cluster-snapshot:above' },
    };
    for (const [id, body] of Object.entries(manifests)) {
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: snapshotManifestKey('c', id),
          Body: JSON.stringify(body),
        }),
      );
    }
    const result = await cutArchive(s3, bucket, 'c', 10n);
    expect(result.movedSnapshots).toBe(2);
    const left = (await listObjects(s3, bucket, snapshotPrefix('c'))).map((o) => o.key).sort();
    expect(left).toEqual([snapshotManifestKey('c', 'below'), snapshotManifestKey('c', 'dr-copy')].sort());
    const moved = (await listObjects(s3, bucket, result.lostPrefix)).map((o) => o.key);
    expect(moved.map((k) => k.split('/').at(-1)).sort()).toEqual(['above.json', 'local-copy.json']);
  });
});
