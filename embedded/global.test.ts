import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readGlobalState, updateGlobalState, writeGlobalState } from './global.ts';
import { stateDirPath } from './state.ts';
import { memberFixture } from './testing.ts';

const member = (region: string) => memberFixture(region);

describe('global.json updates', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('loses no update when processes update it at once (the CLI and the launcher)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'borealis-global-state-'));
    writeGlobalState(dir, { primary: member('us-east-1'), secondaries: [member('us-west-2')] });
    // Each process increments a counter 100 times: without the lock, two read the same value and
    // one increment is lost.
    const script = join(dir, 'bump.mts');
    writeFileSync(
      script,
      `import { updateGlobalState } from ${JSON.stringify(join(import.meta.dirname, 'global.ts'))};
for (let i = 0; i < 100; i++)
  updateGlobalState(process.argv[2], (s) => ({ ...s, lastPromotionStart: String(Number(s.lastPromotionStart ?? 0) + 1) }));
`,
    );
    const processes = 4;
    const exits = Array.from(
      { length: processes },
      () =>
        new Promise<number | null>((resolve, reject) => {
          const child = spawn(process.execPath, ['--import', 'tsx', script, dir!], { stdio: 'inherit' });
          child.on('error', reject);
          child.on('exit', resolve);
        }),
    );
    expect(await Promise.all(exits)).toEqual(Array(processes).fill(0));
    expect(readGlobalState(dir)!.lastPromotionStart).toBe(String(processes * 100));
  }, 60_000);

  it('takes over a lock whose holder died', () => {
    dir = mkdtempSync(join(tmpdir(), 'borealis-global-state-'));
    writeGlobalState(dir, { primary: member('us-east-1'), secondaries: [] });
    // A pid that is not running (pid_max on Linux is at most 2^22).
    writeFileSync(join(stateDirPath(dir), 'global.json.lock'), String(2 ** 22 + 1));
    const started = Date.now();
    updateGlobalState(dir, (s) => ({ ...s, lastPromotionStart: '7' }));
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(readGlobalState(dir)!.lastPromotionStart).toBe('7');
  });
});
