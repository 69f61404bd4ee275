import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chooseFailoverTarget, type FailoverCandidate } from './topology.ts';

const candidate = fc.record({
  id: fc.constantFrom('instance-1', 'instance-2', 'instance-3', 'instance-4', 'instance-5'),
  tier: fc.integer({ min: 0, max: 15 }),
  healthy: fc.boolean(),
  lagMs: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
});

describe('chooseFailoverTarget', () => {
  it('picks the lowest tier, then the least lag, among healthy readers only', () => {
    expect(
      chooseFailoverTarget([
        { id: 'instance-2', tier: 1, healthy: true, lagMs: 1 },
        { id: 'instance-3', tier: 0, healthy: false, lagMs: 0 },
        { id: 'instance-4', tier: 1, healthy: true, lagMs: 0 },
        { id: 'instance-5', tier: 1, healthy: true, lagMs: null },
      ]),
    ).toBe('instance-4');
    expect(chooseFailoverTarget([{ id: 'instance-2', tier: 0, healthy: false, lagMs: 0 }])).toBeUndefined();
    expect(chooseFailoverTarget([])).toBeUndefined();
  });

  it('agrees with the definition on any set of candidates', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(candidate, { selector: (c) => c.id, maxLength: 5 }),
        (list: FailoverCandidate[]) => {
          const chosen = chooseFailoverTarget(list);
          const healthy = list.filter((c) => c.healthy);
          if (healthy.length === 0) return chosen === undefined;
          const c = list.find((x) => x.id === chosen)!;
          const minTier = Math.min(...healthy.map((x) => x.tier));
          const lag = (x: FailoverCandidate) => x.lagMs ?? Number.POSITIVE_INFINITY;
          const sameTier = healthy.filter((x) => x.tier === minTier);
          return (
            c.healthy &&
            c.tier === minTier &&
            lag(c) === Math.min(...sameTier.map(lag)) &&
            // deterministic whatever the input order
            chooseFailoverTarget([...list].reverse()) === chosen
          );
        },
      ),
    );
  });
});
