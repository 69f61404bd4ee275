import { afterEach, describe, expect, it } from 'vitest';
import { instancesPerClusterMax } from '../../core/limits.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { refusal, unitController } from './testing.ts';

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function controller(instances: number) {
  const dir = makeTempDir('cp-instances');
  dirs.push(dir);
  let changes = 0;
  const ctl = unitController(
    dir.path,
    Array.from({ length: instances }, (_, i) => ({ id: `instance-${i + 1}`, az: 'az-a', tier: 1 })),
    {
      onInstancesChanged: () => {
        changes++;
      },
    },
  );
  const fleet = ctl.fleet;
  return { ctl, fleet, changes: () => changes };
}

describe('instances added and deleted at run time', () => {
  it('adds a reader in the least used AZ (started once a writer serves); refusals add nothing', async () => {
    const { ctl, fleet, changes } = controller(2);
    const added = await ctl.addInstance({ id: 'chaos-reader', tier: 0 });
    expect(added).toMatchObject({ id: 'chaos-reader', tier: 0, az: 'az-b', rdsIdentifier: 'chaos-reader' });
    // No writer runs here: the control loop starts it once one does.
    expect(fleet.instance('chaos-reader')!.restartAt).toBeDefined();
    expect(changes()).toBe(1);
    expect((await refusal(ctl.addInstance({ id: 'chaos-reader', tier: 0 }))).message).toMatch(
      /^DBInstanceAlreadyExistsFault: /,
    );
    expect((await refusal(ctl.addInstance({ id: 'r2', tier: 16 }))).message).toMatch(
      /^InvalidParameterValue: /,
    );
    expect((await refusal(ctl.addInstance({ id: 'r2', tier: 1, az: 'az-z' }))).message).toMatch(
      /^InvalidParameterValue: AvailabilityZone/,
    );
    expect(fleet.instances.size).toBe(3);
    expect(changes()).toBe(1);
    const full = controller(instancesPerClusterMax);
    expect((await refusal(full.ctl.addInstance({ id: 'one-more', tier: 1 }))).message).toMatch(
      /^InstanceQuotaExceededFault: /,
    );
  });

  it('never deletes an instance whose process is starting or stopping; deletes a down one; the last one is refused', async () => {
    const { ctl, fleet, changes } = controller(2);
    for (const state of ['starting', 'stopping'] as const) {
      fleet.instance('instance-2')!.state = state;
      expect((await refusal(ctl.removeInstance('instance-2'))).message).toMatch(
        new RegExp(`^InvalidDBInstanceStateFault: instance instance-2 is ${state}`),
      );
      expect(fleet.instance('instance-2')).toBeDefined();
    }
    fleet.instance('instance-2')!.state = 'down';
    expect(await ctl.removeInstance('instance-2')).toEqual({ removed: 'instance-2' });
    expect(fleet.instance('instance-2')).toBeUndefined();
    expect(changes()).toBe(1);
    // An exit reported for it afterwards (a process that was on its way) changes nothing.
    expect(() => ctl.onExit('instance', 'instance-2', { code: 1, signal: null })).not.toThrow();
    expect((await refusal(ctl.removeInstance('instance-1'))).message).toMatch(/only instance/);
    expect((await refusal(ctl.removeInstance('nope'))).message).toMatch(/^DBInstanceNotFoundFault: /);
    expect(ctl.status().instanceEvents?.map((e) => [e.action, e.rdsIdentifier])).toEqual([
      ['deleted', 'unit-instance-2'],
    ]);
  });
});
