// The placement file: what the local fleet accepts, and a clear error for anything else.
import { describe, expect, it } from 'vitest';
import { parsePlacement } from './placement.ts';

describe('parsePlacement', () => {
  it('takes a launcher and an IP address per storage node and instance; both sections optional', () => {
    expect(
      parsePlacement({
        storage: { n1: { launcher: ['ip', 'netns', 'exec', 'ns1'], host: '10.213.5.10' } },
        instances: { 'instance-1': { launcher: ['ip', 'netns', 'exec', 'ns7'], host: '10.213.5.16' } },
      }),
    ).toEqual({
      storage: { n1: { launcher: ['ip', 'netns', 'exec', 'ns1'], host: '10.213.5.10' } },
      instances: { 'instance-1': { launcher: ['ip', 'netns', 'exec', 'ns7'], host: '10.213.5.16' } },
    });
    expect(parsePlacement({})).toEqual({ storage: {}, instances: {} });
  });

  it('names the entry that is wrong', () => {
    expect(() => parsePlacement(null)).toThrow('placement: not an object');
    expect(() => parsePlacement({ storage: [] })).toThrow('placement: storage must be an object by id');
    expect(() => parsePlacement({ storage: { n1: { launcher: [], host: '10.0.0.1' } } })).toThrow(
      'placement: storage.n1.launcher must be a non-empty list of strings',
    );
    expect(() =>
      parsePlacement({ instances: { 'instance-1': { launcher: ['ip'], host: 'db.local' } } }),
    ).toThrow('placement: instances.instance-1.host must be an IP address');
  });
});
