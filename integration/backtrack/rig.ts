// The backtrack integration tests' shared setup: a whole test cluster with a backtrack window (and the
// binlog off, so no --force is needed), the writer endpoint's client, a retry through the switch, a
// time stamp strictly between commits, and a backtrack through the control plane.
import type { LocalCluster } from '../../embedded/cluster.ts';
import { controlPlanePost, endpointClients, startTestCluster } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function startBacktrackCluster(
  dir: string,
  options: { readers?: number; windowSeconds?: number } = {},
): Promise<{ cluster: LocalCluster; writer: Sql; reader: Sql }> {
  const cluster = await startTestCluster({
    dir,
    readers: options.readers ?? 1,
    controlPlaneArgs: [
      '--backtrack-window-s',
      String(options.windowSeconds ?? 3600),
      '--binlog-format',
      'OFF',
    ],
  });
  return { cluster, ...endpointClients(await cluster.status()) };
}

/** The proxy holds requests through a switch; a request that meets it anyway is retried (100 ms apart). */
export async function retrying<T>(work: () => Promise<T>, attempts = 300): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= attempts) throw error;
      await sleep(100);
    }
  }
}

/** Now as ISO 8601; commit times are in ms, so T is kept strictly between the commits around it. */
export async function stamp(): Promise<string> {
  await sleep(30);
  const t = new Date().toISOString();
  await sleep(30);
  return t;
}

/** A backtrack through the control plane (POST /backtrack), returned once completed or failed. */
export function backtrackTo(
  cluster: LocalCluster,
  to: string,
): Promise<{ Status: string; StatusReason?: string }> {
  return controlPlanePost<{ Status: string; StatusReason?: string }>(cluster, '/backtrack', { to });
}
