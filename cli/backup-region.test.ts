import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { writeGlobalState } from '../embedded/global.ts';
import { writeSystemState } from '../embedded/state.ts';
import { memberFixture } from '../embedded/testing.ts';
import { backupRegion } from './backup-region.ts';

const member = (region: string) =>
  memberFixture(region, {
    controlPlaneUrl: `http://127.0.0.1:${region === 'us-east-1' ? 7001 : 7002}`,
    dir: `/state/${region}/borealis`,
  });

describe('backupRegion: which region a backup command acts on', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function system(globalPrimary?: 'us-east-1' | 'us-west-2'): string {
    dir = mkdtempSync(join(tmpdir(), 'borealis-backup-region-'));
    writeSystemState(dir, {
      launcherPid: process.pid, // alive: the system counts as running
      startedAt: new Date().toISOString(),
      emulators: {
        regions: ['us-east-1', 'us-west-2'].map((region) => ({
          region,
          s3: 'http://s3',
          kinesis: 'http://k',
        })),
        pids: [],
      },
      cluster: {
        name: 'borealis',
        region: 'us-east-1',
        controlPlaneUrl: 'http://127.0.0.1:7001',
        ready: true,
      },
    } as never);
    if (globalPrimary) {
      const other = globalPrimary === 'us-east-1' ? 'us-west-2' : 'us-east-1';
      writeGlobalState(dir, { primary: member(globalPrimary), secondaries: [member(other)] });
    }
    return dir;
  }

  it("is the running cluster's region without a Global Database", () => {
    const stateDir = system();
    expect(backupRegion({ stateDir, cluster: 'borealis' })).toMatchObject({ region: 'us-east-1' });
    expect(backupRegion({ stateDir, cluster: 'borealis' }).member).toBeUndefined();
  });

  it("follows a Global Database's primary, and --region picks a member", () => {
    const stateDir = system('us-west-2');
    expect(backupRegion({ stateDir, cluster: 'borealis' })).toMatchObject({
      region: 'us-west-2',
      member: { controlPlaneUrl: 'http://127.0.0.1:7002', clusterDir: '/state/us-west-2/borealis' },
    });
    expect(backupRegion({ stateDir, cluster: 'borealis', region: 'us-east-1' })).toMatchObject({
      region: 'us-east-1',
      member: { controlPlaneUrl: 'http://127.0.0.1:7001', clusterDir: '/state/us-east-1/borealis' },
    });
    // Another cluster (a restored one) is not a member: the launcher's region.
    const restored = backupRegion({ stateDir, cluster: 'restored' });
    expect(restored.region).toBe('us-east-1');
    expect(restored.member).toBeUndefined();
  });

  it('refuses a region the system does not run', () => {
    const stateDir = system('us-east-1');
    expect(() => backupRegion({ stateDir, cluster: 'borealis', region: 'eu-west-1' })).toThrow(
      /region eu-west-1 does not run in the system .*its regions: us-east-1, us-west-2/,
    );
  });
});
