// What the snapshot and snapshot-export tests run against: six storage nodes, a writer on them and
// an S3 emulator holding the backup bucket — no control plane, no proxy — started together and
// stopped together (by PID, whatever started).
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../../core/aws/clients.ts';
import { type ManagedProcess, spawnProcess } from '../../core/process/spawn.ts';
import { emulatorCredentials } from '../../embedded/emulators.ts';
import { type InstanceInfo, startWriter } from './instances.ts';
import { StorageCluster } from './storage-cluster.ts';

const s3Entry = fileURLToPath(new URL('../../embedded/s3-emulator.ts', import.meta.url));

export interface SnapshotRig {
  storage: StorageCluster;
  writer: InstanceInfo;
  s3server: ManagedProcess;
  s3: S3Client;
  s3Endpoint: string;
  /** Stops whatever started (safe after a failed start). */
  stop(): Promise<void>;
}

export async function startSnapshotRig(options: {
  dir: string;
  pgCount: number;
  pagesPerPg: number;
  bucket: string;
}): Promise<SnapshotRig> {
  const [storage, s3server] = await Promise.all([
    StorageCluster.start({ dir: options.dir, pgCount: options.pgCount, pagesPerPg: options.pagesPerPg }),
    spawnProcess({
      name: 's3',
      entry: s3Entry,
      args: ['--data-dir', join(options.dir, 's3')],
      nodeFlags: ['--openssl-legacy-provider'],
      logFile: join(options.dir, 'logs', 's3.log'),
    }),
  ]);
  let writer: InstanceInfo | undefined;
  let s3: S3Client | undefined;
  const stop = async () => {
    s3?.destroy();
    await writer?.process.stop();
    await storage.stopAll();
    await s3server.stop();
  };
  try {
    writer = await startWriter(storage);
    const s3Endpoint = `http://127.0.0.1:${s3server.ready.port}`;
    s3 = s3Client({
      region: 'us-east-1',
      endpoint: s3Endpoint,
      env: {
        AWS_ACCESS_KEY_ID: emulatorCredentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: emulatorCredentials.secretAccessKey,
      },
    });
    await s3.send(new CreateBucketCommand({ Bucket: options.bucket }));
    return { storage, writer, s3server, s3, s3Endpoint, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
