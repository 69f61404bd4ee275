// Process entry: an S3-compatible server (s3rver) for one region on 127.0.0.1. Must run with
// node --openssl-legacy-provider, or ListObjectsV2 continuation tokens fail with HTTP 500.
import { mkdirSync } from 'node:fs';
import S3rver from 's3rver';
import { parseFlags } from '../core/process/flags.ts';
import { exitWithParent } from '../core/process/parent-watch.ts';
import { announceReady } from '../core/process/spawn.ts';
import { type FilesystemStoreLike, makeObjectWritesAtomic } from './s3-atomic-store.ts';

const usage = `usage: s3-emulator --data-dir DIR [--port N]

Runs s3rver on 127.0.0.1 (credentials S3RVER/S3RVER). --port 0 (the default) picks a free
port; the chosen port is printed as {"ready":true,"port":N}.`;

const { values } = parseFlags('s3-emulator', {
  'data-dir': { type: 'string' },
  port: { type: 'string', default: '0' },
  help: { type: 'boolean', default: false },
});
if (values.help || values['data-dir'] === undefined) {
  console.log(usage);
  process.exit(values.help ? 0 : 2);
}
mkdirSync(values['data-dir'], { recursive: true });
const server = new S3rver({
  address: '127.0.0.1',
  port: Number(values.port),
  directory: values['data-dir'],
  silent: true,
  allowMismatchedSignatures: true,
});
// S3 replaces an object whole and a GET sees one version: s3rver alone does neither.
makeObjectWritesAtomic((server as unknown as { store: FilesystemStoreLike }).store);
const { port } = await server.run();
announceReady({ service: 's3', port });
const shutdown = () => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
exitWithParent(shutdown);
