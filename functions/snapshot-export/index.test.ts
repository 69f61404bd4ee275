// The snapshot-export Lambda entry: which events it takes, which bucket it reads, and that the files
// its bundle needs beside index.mjs exist where the CDK bundling copies them from.
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { functionDefinitions } from '../../core/functions.ts';
import { backupBucketOf, createHandler, parseExportEvent } from './index.ts';
import { waSqliteWasmFile } from './sqlite-reader.ts';

const event = (detailType: string, detail: unknown) => ({
  version: '0',
  id: 'e',
  'detail-type': detailType,
  source: 'borealis',
  account: '000000000000',
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail,
});

describe('snapshot-export entry', () => {
  it("takes only 'Borealis Export Requested' events from borealis", () => {
    expect(parseExportEvent(event('Borealis Export Requested', { a: 1 }))).toEqual({ a: 1 });
    expect(() => parseExportEvent(event('Borealis Snapshot Requested', {}))).toThrow(
      "snapshot-export event: expected a borealis 'Borealis Export Requested' event",
    );
    expect(() => parseExportEvent(undefined)).toThrow('snapshot-export event');
  });

  it('refuses a malformed request before touching S3', async () => {
    const handler = createHandler({ AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' });
    await expect(
      handler(
        event('Borealis Export Requested', { exportTaskIdentifier: 'x', cluster: 'c' }) as never,
        {} as never,
      ),
    ).rejects.toThrow(/^InvalidParameterValue: snapshot identifier 'undefined' is not a snapshot id$/);
  });

  it("reads the cluster's backup bucket: BACKUP_BUCKET for its own cluster, derived for another", () => {
    const env = { CLUSTER_NAME: 'blue', BACKUP_BUCKET: 'deployed-bucket' };
    expect(backupBucketOf('blue', 'eu-west-1', env)).toBe('deployed-bucket');
    expect(backupBucketOf('green', 'eu-west-1', env)).toBe('green-backup-eu-west-1');
  });

  it('bundles the wasm the reader loads from beside index.mjs', () => {
    const files = functionDefinitions['snapshot-export'].bundledFiles ?? [];
    expect(files.map((f) => f.split('/').at(-1))).toEqual([waSqliteWasmFile]);
    for (const file of files)
      expect(existsSync(new URL(`../../node_modules/${file}`, import.meta.url))).toBe(true);
  });
});
