// Before a backtrack test stops its cluster: every instance back up and healthy. A backtrack restarts
// the readers; stopping the cluster while one is starting can leave that reader behind (a start the
// stop did not see), so the tests wait for the restarts to finish first.
import type { LocalCluster } from '../../embedded/cluster.ts';

export async function settled(cluster: LocalCluster | undefined, timeoutMs = 30_000): Promise<void> {
  if (!cluster) return;
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const status = await cluster.status();
      if (status.writer !== null && status.instances.every((i) => i.state === 'running' && i.healthy)) return;
    } catch {
      // the control plane is busy or restarting: ask again
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
