// Point-in-time restores in tests: `borealis restore --to-time T --as NAME` against a TestSystem, one
// query on the restored cluster, and the restored cluster stopped and removed again (each is a fleet
// of its own: two at once on two cores slow everything else down).
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { primaryRegion } from '../../core/resources.ts';
import { regionTopologyDir } from '../../embedded/global.ts';
import { clusterDirPath, isPidAlive, readClusterEntry } from '../../embedded/state.ts';
import { waitUntil } from './cluster.ts';
import { Sql } from './sql.ts';
import type { TestSystem } from './system.ts';

/**
 * Restores the system's cluster to T as `name` (from `region`'s backups: default the CLI's), runs
 * `query` on it, then stops and removes it.
 */
export async function restoredRows(
  system: TestSystem,
  name: string,
  t: number,
  query: string,
  region?: string,
): Promise<unknown[][]> {
  const out = await system.cli(
    'restore',
    '--to-time',
    new Date(t).toISOString(),
    '--as',
    name,
    '--json',
    ...(region === undefined ? [] : ['--region', region]),
  );
  const detail = JSON.parse(out.stdout) as {
    endpoints: { writer: string };
    resourceArn: string;
    secretArn: string;
  };
  const restored = new Sql({
    endpoint: detail.endpoints.writer,
    resourceArn: detail.resourceArn,
    secretArn: detail.secretArn,
  });
  try {
    return await restored.rows(query);
  } finally {
    restored.close();
    await stopCluster(system.stateDir, name);
  }
}

/** Stops a cluster started beside the system (SIGTERM, then SIGKILL after 30 s) and removes its data. */
export async function stopCluster(stateDir: string, name: string): Promise<void> {
  const entry = readClusterEntry(stateDir, name);
  if (!entry || !isPidAlive(entry.launcherPid)) return;
  process.kill(entry.launcherPid, 'SIGTERM');
  await waitUntil(() => !isPidAlive(entry.launcherPid), 30_000, `cluster ${name} stopped`).catch(() =>
    process.kill(entry.launcherPid, 'SIGKILL'),
  );
  rmSync(clusterDirPath(stateDir, name), { recursive: true, force: true });
  // A cluster run in another region keeps its data there (embedded/start.ts --region).
  if (entry.region !== primaryRegion)
    rmSync(join(regionTopologyDir(stateDir, entry.region), name), { recursive: true, force: true });
}
