// `borealis down` against stand-in launchers (plain node processes named in system.json): SIGTERM
// stops one that handles it; one that ignores SIGTERM is SIGKILLed after --grace-ms.
import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { isPidAlive, readSystemState, writeSystemState } from '../../embedded/state.ts';
import { makeTempDir } from '../harness/temp.ts';
import { borealis } from './run.ts';

const started: ChildProcess[] = [];
const dirs: { remove: () => void }[] = [];

afterAll(() => {
  for (const child of started.splice(0))
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) dir.remove();
});

/** A process standing in for the launcher; resolves once it runs its code (signal handlers set). */
async function fakeLauncher(ignoreSigterm: boolean): Promise<ChildProcess> {
  const code = `${ignoreSigterm ? "process.on('SIGTERM', () => {});" : ''} console.log('up'); setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
  started.push(child);
  await new Promise((resolve) => child.stdout!.once('data', resolve));
  return child;
}

function stateDirFor(child: ChildProcess): string {
  const dir = makeTempDir('cli-down');
  dirs.push(dir);
  writeSystemState(dir.path, {
    launcherPid: child.pid!,
    startedAt: new Date().toISOString(),
    emulators: { regions: [], pids: [] },
  });
  return dir.path;
}

describe.concurrent('borealis down', () => {
  it('SIGTERMs the launcher and waits until it is gone', async () => {
    const launcher = await fakeLauncher(false);
    const dir = stateDirFor(launcher);
    const run = await borealis(['down', '--state-dir', dir]);
    expect(run).toEqual({
      code: 0,
      stdout: `borealis: stopped the system in ${dir} (launcher pid ${launcher.pid})\n`,
      stderr: '',
    });
    expect(launcher.signalCode).toBe('SIGTERM');
  });

  it('SIGKILLs a launcher that does not stop within the grace period, and removes its system.json', async () => {
    const launcher = await fakeLauncher(true);
    const dir = stateDirFor(launcher);
    const run = await borealis(['down', '--grace-ms', '300', '--state-dir', dir]);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `borealis: stopped the system in ${dir} (launcher pid ${launcher.pid}; it did not stop within 300 ms and was SIGKILLed)\n`,
    );
    expect(launcher.signalCode).toBe('SIGKILL');
    expect(isPidAlive(launcher.pid!)).toBe(false);
    expect(readSystemState(dir)).toBeUndefined();
  });
});
