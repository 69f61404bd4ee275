// The role-change lock beside global.json: one switchover or failover at a time whoever asks (the
// CLI, either region's RDS API), its record readable by DescribeGlobalClusters, a lock left by a
// process that died taken over, one whose holder runs never.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readRoleChange, releaseRoleChange, takeRoleChange } from './state-file.ts';

describe('the role-change lock', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'borealis-role-change-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const change = { kind: 'switchover' as const, from: 'us-east-1', to: 'us-west-2', allowDataLoss: false };

  it('is taken once; its record says who runs which change; released, it can be taken again', () => {
    expect(readRoleChange(dir)).toBeUndefined();
    const lock = takeRoleChange(dir, change);
    expect(lock).toBeDefined();
    expect(readRoleChange(dir)).toMatchObject({ ...change, pid: process.pid });
    expect(Date.parse(readRoleChange(dir)!.startedAt)).not.toBeNaN();
    expect(takeRoleChange(dir, { ...change, kind: 'failover', allowDataLoss: true })).toBeUndefined();
    expect(readRoleChange(dir)).toMatchObject(change);
    releaseRoleChange(lock!);
    expect(readRoleChange(dir)).toBeUndefined();
    const again = takeRoleChange(dir, { ...change, kind: 'failover', allowDataLoss: true });
    expect(readRoleChange(dir)).toMatchObject({ kind: 'failover', allowDataLoss: true });
    releaseRoleChange(again!);
  });

  it('a lock whose holder died is taken over; an unreadable one (being written) is not', () => {
    // A pid that no longer runs: a child that has exited.
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    const deadPid = Number(dead.stdout.toString());
    writeFileSync(
      join(dir, 'global-failover.lock'),
      JSON.stringify({ ...change, startedAt: new Date().toISOString(), pid: deadPid }),
    );
    const lock = takeRoleChange(dir, { ...change, to: 'eu-west-1' });
    expect(lock).toBeDefined();
    expect(readRoleChange(dir)).toMatchObject({ to: 'eu-west-1', pid: process.pid });
    releaseRoleChange(lock!);
    writeFileSync(join(dir, 'global-failover.lock'), '');
    expect(takeRoleChange(dir, change)).toBeUndefined();
    // An unreadable lock left for long (a crash between create and write, or the old empty format).
    const past = new Date(Date.now() - 60_000);
    utimesSync(join(dir, 'global-failover.lock'), past, past);
    const taken = takeRoleChange(dir, change);
    expect(taken).toBeDefined();
    expect(readRoleChange(dir)).toMatchObject({ pid: process.pid });
    releaseRoleChange(taken!);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('a lock whose holder died is no change under way (DescribeGlobalClusters shows none)', () => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
    writeFileSync(
      join(dir, 'global-failover.lock'),
      JSON.stringify({ ...change, startedAt: new Date().toISOString(), pid: Number(dead.stdout.toString()) }),
    );
    expect(readRoleChange(dir)).toBeUndefined();
  });
});
