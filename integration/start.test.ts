// `npm start` as a user runs it: it comes up, a second command lists the buckets and streams through
// the SDK, and Ctrl-C (SIGINT) leaves no process behind.
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isPidAlive, readSystemState } from '../embedded/state.ts';
import { makeTempDir } from './harness/temp.ts';

const run = promisify(execFile);

describe('npm start', () => {
  it('brings the emulators up, serves the CLI, and stops everything on Ctrl-C', async () => {
    const dir = makeTempDir('start');
    const launcher = spawn(
      process.execPath,
      ['--import', 'tsx', 'embedded/start.ts', '--state-dir', dir.path],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let output = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`not ready in time:\n${output}`)), 45_000);
        launcher.stdout!.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('borealis: ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        launcher.once('exit', (code) => reject(new Error(`launcher exited with ${code}:\n${output}`)));
      });
      const state = readSystemState(dir.path);
      expect(state?.launcherPid).toBe(launcher.pid);
      expect(state!.emulators.pids).toHaveLength(4);

      const { stdout } = await run(
        process.execPath,
        ['bin/borealis.js', 'resources', '--json', '--state-dir', dir.path],
        { timeout: 30_000 },
      );
      const listing = JSON.parse(stdout) as {
        regions: { region: string; buckets: string[]; streams: string[] }[];
      };
      expect(listing.regions.map((r) => r.region)).toEqual(['us-east-1', 'us-west-2']);
      for (const r of listing.regions) {
        expect(r.buckets).toEqual([`borealis-backup-${r.region}`]);
        expect(r.streams).toEqual(['borealis-binlog', 'borealis-redo']);
      }

      const exited = new Promise<number | null>((resolve) => launcher.once('exit', (code) => resolve(code)));
      launcher.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(state!.emulators.pids.filter(isPidAlive)).toEqual([]);
      expect(readSystemState(dir.path)).toBeUndefined();
    } finally {
      if (launcher.exitCode === null) launcher.kill('SIGKILL');
      dir.remove();
    }
  });

  it('CLI without a running system: one line on stderr, non-zero exit', async () => {
    const dir = makeTempDir('nostart');
    try {
      const env = { ...process.env, AWS_ENDPOINT_URL: '' };
      const failure = await run(process.execPath, ['bin/borealis.js', 'resources', '--state-dir', dir.path], {
        env,
      }).catch((e: { code: number; stderr: string }) => e);
      expect(failure).toMatchObject({ code: 1 });
      const stderr = (failure as { stderr: string }).stderr.trim();
      expect(stderr.split('\n')).toHaveLength(1);
      expect(stderr).toMatch(/^borealis: no system is running/);
    } finally {
      dir.remove();
    }
  });
});
