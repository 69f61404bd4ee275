// A Global Database member's HTTP routes as the role changes and `borealis global status` use them:
// its control plane's /status and /global/* and, in a secondary's writer slot, the replica applier's
// /health. No AWS SDK here: the CLI loads this at every start.
import type { ClusterStatus } from '../cluster/topology.ts';
import type { ApplierHealth } from './status.ts';

const requestTimeoutMs = 5_000;

export async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(requestTimeoutMs) });
    return (await response.json()) as T;
  } catch {
    return undefined;
  }
}

export async function postJson(
  url: string,
  timeoutMs: number,
  body?: unknown,
): Promise<{ ok: boolean; status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: 'POST',
    signal: AbortSignal.timeout(timeoutMs),
    ...(body !== undefined && {
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
  });
  return {
    ok: response.ok,
    status: response.status,
    body: (await response.json()) as Record<string, unknown>,
  };
}

/** The replica applier in a secondary's writer slot, asked for its /health. */
export async function applierHealth(status: ClusterStatus | undefined): Promise<ApplierHealth | undefined> {
  const slot = status?.instances.find((i) => i.role === 'writer' && i.state === 'running');
  if (!slot?.endpoint || !slot.httpPort) return undefined;
  const url = new URL(slot.endpoint);
  return getJson<ApplierHealth>(`http://${url.hostname}:${slot.httpPort}/health`);
}
