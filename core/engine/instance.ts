// What every database instance (writer or reader) sets up the same way: a storage client per node
// of the volume, and the SQLite runtime with the Borealis VFS registered over its engine.
import type { VolumeConfig } from '../volume.ts';
import { StorageClient } from '../wire/client.ts';
import { SqliteRuntime } from './runtime.ts';
import { type VolumeEngine, VolumeVfs } from './volume-vfs.ts';

export const vfsName = 'borealis';
export const databaseName = 'borealis.db';

export function storageClients(volume: VolumeConfig, requestTimeoutMs = 5_000): Map<string, StorageClient> {
  return new Map(
    volume.nodes.map((n) => [
      n.id,
      new StorageClient({ host: n.host, port: n.port, name: n.id, requestTimeoutMs }),
    ]),
  );
}

/** `preloaded`: a runtime loaded ahead (a warm standby, core/process/standby.ts), used once. */
export async function loadRuntimeOver(
  engine: VolumeEngine,
  preloaded?: Promise<SqliteRuntime>,
): Promise<SqliteRuntime> {
  const runtime = await (preloaded ?? SqliteRuntime.load());
  const vfs = new VolumeVfs(vfsName, runtime.module, databaseName, engine);
  runtime.sqlite3.vfs_register(vfs as never, false);
  return runtime;
}
