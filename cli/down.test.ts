import { describe, expect, it } from 'vitest';
import { formatStopped, systemPids } from './down.ts';
import { sampleStatus } from './testing.ts';

describe('down', () => {
  const state = {
    launcherPid: 10,
    startedAt: '2025-01-01T00:00:00.000Z',
    emulators: { regions: [], pids: [11, 12] },
    cluster: {
      name: 'borealis',
      region: 'us-east-1',
      controlPlaneUrl: 'http://127.0.0.1:9000',
      ready: true,
      controlPlanePid: 13,
    },
  };

  it('knows every process of the system, without the launcher and without duplicates', () => {
    const status = sampleStatus();
    status.instances[0]!.pid = 11;
    expect(systemPids(state, status)).toEqual([11, 12, 13, 4102, 4200, 4201, 4202, 4203, 4204]);
    expect(systemPids(state, undefined)).toEqual([11, 12, 13]);
  });

  it('says what was stopped and how', () => {
    expect(formatStopped('/s', state, sampleStatus(), false, 30_000)).toBe(
      [
        'borealis: stopped the system in /s (launcher pid 10)',
        '  cluster borealis: 3 instances, 6 storage nodes',
        '  emulators: 2 processes',
        '',
      ].join('\n'),
    );
    expect(formatStopped('/s', state, undefined, true, 500).split('\n').slice(0, 2)).toEqual([
      'borealis: stopped the system in /s (launcher pid 10; it did not stop within 500 ms and was SIGKILLed)',
      '  cluster borealis',
    ]);
  });
});
