// The control plane's decisions as pure functions of what it knows (slots, health answers, the
// clock), so they can be tested without processes: which instance becomes the writer in a failover,
// and which silent processes are failed. controller.ts acts on them.
import { chooseFailoverTarget, type InstanceRole, type InstanceState } from '../../core/cluster/topology.ts';

/** What the decisions read of an instance slot (fleet.ts InstanceSlot has all of it). */
export interface InstanceView {
  id: string;
  role: InstanceRole;
  state: InstanceState;
  tier: number;
  health: { healthy: boolean; lagMs?: unknown } | undefined;
  process?: { running: boolean } | undefined;
  lastHealthyAt: number;
}

/** What the decisions read of a storage slot. */
export interface StorageView {
  id: string;
  health: { healthy: boolean } | undefined;
  process?: { running: boolean } | undefined;
  lastHealthyAt: number;
}

/**
 * The instance to promote: the asked target unless it is stopping (or unknown), else the healthy
 * running reader with the lowest tier (ties: least lag, then id), else — no reader can take over — a
 * down instance to start as the writer on the volume, another than the failed writer's if there is
 * one. Undefined: nothing can become the writer now.
 */
export function failoverTarget(
  instances: readonly InstanceView[],
  asked: string | undefined,
  from: string | null,
): string | undefined {
  if (asked) {
    const slot = instances.find((s) => s.id === asked);
    if (slot && slot.state !== 'stopping') return asked;
  }
  const best = chooseFailoverTarget(
    instances
      .filter((s) => s.role === 'reader' && s.state === 'running')
      .map((s) => ({
        id: s.id,
        tier: s.tier,
        healthy: s.health?.healthy === true,
        lagMs: typeof s.health?.lagMs === 'number' ? s.health.lagMs : null,
      })),
  );
  if (best) return best;
  const down = instances.filter((s) => s.state === 'down');
  return (down.find((s) => s.id !== from) ?? down[0])?.id;
}

/**
 * Processes that run but have not answered healthy for longer than `failureThresholdMs`: storage
 * nodes to report unhealthy (once: one already reported, or never heard from, is left alone — a
 * slow node is not killed, the quorum tolerates it) and running instances to kill (fail-stop).
 */
export function silentProcesses(
  storage: readonly StorageView[],
  instances: readonly InstanceView[],
  now: number,
  failureThresholdMs: number,
): { storageToReport: string[]; instancesToKill: string[] } {
  const silent = (slot: { process?: { running: boolean } | undefined; lastHealthyAt: number }) =>
    slot.process?.running === true && now - slot.lastHealthyAt > failureThresholdMs;
  return {
    storageToReport: storage
      .filter((s) => silent(s) && s.health !== undefined && s.health.healthy !== false)
      .map((s) => s.id),
    instancesToKill: instances.filter((s) => s.state === 'running' && silent(s)).map((s) => s.id),
  };
}
