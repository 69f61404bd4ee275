// The control plane's decisions without processes: who becomes the writer in a failover, and which
// silent processes are failed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { InstanceState } from '../../core/cluster/topology.ts';
import { failoverTarget, type InstanceView, type StorageView, silentProcesses } from './decisions.ts';

function instance(id: string, over: Partial<InstanceView> = {}): InstanceView {
  return {
    id,
    role: 'reader',
    state: 'running',
    tier: 1,
    health: { healthy: true, lagMs: 5 },
    process: { running: true },
    lastHealthyAt: 0,
    ...over,
  };
}

describe('failoverTarget', () => {
  const writer = instance('instance-1', { role: 'writer', state: 'down', process: { running: false } });

  it('takes the asked instance unless it is stopping or unknown', () => {
    const list = [writer, instance('instance-2', { tier: 0 }), instance('instance-3', { tier: 5 })];
    expect(failoverTarget(list, 'instance-3', 'instance-1')).toBe('instance-3');
    expect(failoverTarget(list, 'instance-9', 'instance-1')).toBe('instance-2');
    const stopping = [
      writer,
      instance('instance-2', { tier: 0 }),
      instance('instance-3', { state: 'stopping' }),
    ];
    expect(failoverTarget(stopping, 'instance-3', 'instance-1')).toBe('instance-2');
  });

  it('promotes the healthy running reader of the lowest tier, then the least lag, then by id', () => {
    const list = [
      writer,
      instance('instance-2', { tier: 1, health: { healthy: true, lagMs: 1 } }),
      instance('instance-3', { tier: 0, health: { healthy: true, lagMs: 90 } }),
      instance('instance-4', { tier: 0, health: { healthy: true, lagMs: 30 } }),
      instance('instance-5', { tier: 0, health: { healthy: false, lagMs: 0 } }),
      instance('instance-6', { tier: 0, state: 'starting', health: undefined }),
    ];
    expect(failoverTarget(list, undefined, 'instance-1')).toBe('instance-4');
    const tie = [writer, instance('instance-3', { tier: 0 }), instance('instance-2', { tier: 0 })];
    expect(failoverTarget(tie, undefined, 'instance-1')).toBe('instance-2');
  });

  it('with no reader to promote, starts a down instance as the writer — the failed one last', () => {
    const down = (id: string) =>
      instance(id, { state: 'down', process: { running: false }, health: undefined });
    expect(failoverTarget([writer, down('instance-2')], undefined, 'instance-1')).toBe('instance-2');
    expect(failoverTarget([writer], undefined, 'instance-1')).toBe('instance-1');
    const unhealthy = instance('instance-2', { health: { healthy: false } });
    expect(failoverTarget([writer, unhealthy], undefined, 'instance-1')).toBe('instance-1');
    expect(failoverTarget([instance('instance-2', { state: 'starting' })], undefined, null)).toBeUndefined();
  });

  it('property: the choice follows the rule, and is never a stopping or starting instance unasked', () => {
    const states: InstanceState[] = ['starting', 'running', 'stopping', 'down'];
    const instances = fc.uniqueArray(
      fc.record({
        n: fc.integer({ min: 1, max: 8 }),
        role: fc.constantFrom('writer' as const, 'reader' as const),
        state: fc.constantFrom(...states),
        tier: fc.integer({ min: 0, max: 15 }),
        healthy: fc.option(fc.boolean(), { nil: undefined }),
        lagMs: fc.option(fc.integer({ min: 0, max: 1000 }), { nil: null }),
      }),
      { selector: (x) => x.n, maxLength: 6 },
    );
    fc.assert(
      fc.property(
        instances,
        fc.option(fc.integer({ min: 0, max: 9 })),
        fc.option(fc.integer({ min: 1, max: 8 })),
        (raw, askedN, fromN) => {
          const list = raw.map((r) =>
            instance(`instance-${r.n}`, {
              role: r.role,
              state: r.state,
              tier: r.tier,
              health:
                r.healthy === undefined ? undefined : { healthy: r.healthy, lagMs: r.lagMs ?? undefined },
            }),
          );
          const asked = askedN === null ? undefined : `instance-${askedN}`;
          const from = fromN === null ? null : `instance-${fromN}`;
          const chosen = failoverTarget(list, asked, from);
          const askedSlot = list.find((s) => s.id === asked);
          if (askedSlot && askedSlot.state !== 'stopping') {
            expect(chosen).toBe(asked);
            return;
          }
          const lag = (s: InstanceView) => (typeof s.health?.lagMs === 'number' ? s.health.lagMs : Infinity);
          const candidates = list.filter(
            (s) => s.role === 'reader' && s.state === 'running' && s.health?.healthy,
          );
          if (candidates.length > 0) {
            const slot = list.find((s) => s.id === chosen)!;
            expect(candidates).toContain(slot);
            const tierMin = Math.min(...candidates.map((s) => s.tier));
            expect(slot.tier).toBe(tierMin);
            expect(lag(slot)).toBe(Math.min(...candidates.filter((s) => s.tier === tierMin).map(lag)));
            return;
          }
          const down = list.filter((s) => s.state === 'down');
          if (down.length === 0) expect(chosen).toBeUndefined();
          else if (down.some((s) => s.id !== from)) {
            expect(down.filter((s) => s.id !== from).map((s) => s.id)).toContain(chosen);
          } else expect(chosen).toBe(from);
        },
      ),
      { numRuns: 2_000 },
    );
  });
});

describe('silentProcesses', () => {
  const thresholdMs = 5_000;

  it('fails a running instance and reports a storage node silent for longer than the threshold', () => {
    const now = 100_000;
    const storage: StorageView[] = [
      { id: 'n1', health: { healthy: true }, process: { running: true }, lastHealthyAt: now - 5_001 },
      { id: 'n2', health: { healthy: true }, process: { running: true }, lastHealthyAt: now - 5_000 },
      { id: 'n3', health: { healthy: false }, process: { running: true }, lastHealthyAt: 0 }, // already reported
      { id: 'n4', health: undefined, process: { running: true }, lastHealthyAt: 0 }, // never answered yet
      { id: 'n5', health: { healthy: true }, process: { running: false }, lastHealthyAt: 0 }, // exited: seen at once
    ];
    const instances = [
      instance('instance-1', { lastHealthyAt: now - 5_001 }),
      instance('instance-2', { lastHealthyAt: now - 5_000 }),
      instance('instance-3', { lastHealthyAt: 0, state: 'starting' }), // recovering: no verdict yet
      instance('instance-4', { lastHealthyAt: 0, state: 'down', process: { running: false } }),
    ];
    expect(silentProcesses(storage, instances, now, thresholdMs)).toEqual({
      storageToReport: ['n1'],
      instancesToKill: ['instance-1'],
    });
  });

  it('property: exactly the running processes past the threshold, storage only once and once heard from', () => {
    const slot = fc.record({
      running: fc.boolean(),
      silentMs: fc.integer({ min: 0, max: 2 * thresholdMs }),
      healthy: fc.option(fc.boolean(), { nil: undefined }),
      state: fc.constantFrom<InstanceState>('starting', 'running', 'stopping', 'down'),
    });
    fc.assert(
      fc.property(fc.array(slot, { maxLength: 6 }), fc.array(slot, { maxLength: 6 }), (s, i) => {
        const now = 1_000_000;
        const storage = s.map((x, k) => ({
          id: `n${k}`,
          health: x.healthy === undefined ? undefined : { healthy: x.healthy },
          process: { running: x.running },
          lastHealthyAt: now - x.silentMs,
        }));
        const instances = i.map((x, k) =>
          instance(`instance-${k}`, {
            state: x.state,
            process: { running: x.running },
            lastHealthyAt: now - x.silentMs,
          }),
        );
        const verdict = silentProcesses(storage, instances, now, thresholdMs);
        expect(verdict.storageToReport).toEqual(
          s.flatMap((x, k) => (x.running && x.silentMs > thresholdMs && x.healthy === true ? [`n${k}`] : [])),
        );
        expect(verdict.instancesToKill).toEqual(
          i.flatMap((x, k) =>
            x.running && x.state === 'running' && x.silentMs > thresholdMs ? [`instance-${k}`] : [],
          ),
        );
      }),
      { numRuns: 1_000 },
    );
  });
});
