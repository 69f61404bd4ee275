// The whole embedded system as `npm start` runs it (emulators, the primary cluster, the function
// runner), started in a temp state dir for a test, with the CLI at hand. stop() is Ctrl-C; kill()
// is for cleanup after a failure.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { readClusterEntry, readSystemState } from '../../embedded/state.ts';

const run = promisify(execFile);

export class TestSystem {
  output = '';

  private constructor(
    readonly stateDir: string,
    readonly launcher: ChildProcess,
  ) {}

  static async start(stateDir: string, args: string[] = [], readyTimeoutMs = 170_000): Promise<TestSystem> {
    const launcher = spawn(
      process.execPath,
      ['--import', 'tsx', 'embedded/start.ts', '--state-dir', stateDir, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const system = new TestSystem(stateDir, launcher);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`not ready in time:\n${system.output}`)),
        readyTimeoutMs,
      );
      launcher.stdout!.on('data', (chunk: Buffer) => {
        system.output += chunk.toString();
        if (system.output.includes('borealis: ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      launcher.stderr!.on('data', (chunk: Buffer) => {
        system.output += chunk.toString();
      });
      launcher.once('exit', (code) => reject(new Error(`launcher exited with ${code}:\n${system.output}`)));
    });
    return system;
  }

  /** The `borealis` CLI against this system; rejects with {code, stderr} on a non-zero exit. */
  cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(process.execPath, ['bin/borealis.js', ...args, '--state-dir', this.stateDir], {
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  async status(cluster?: string): Promise<ClusterStatus> {
    const url = cluster
      ? readClusterEntry(this.stateDir, cluster)!.controlPlaneUrl
      : readSystemState(this.stateDir)!.cluster!.controlPlaneUrl;
    return (await (await fetch(`${url}/status`)).json()) as ClusterStatus;
  }

  /** Ctrl-C: resolves with the launcher's exit code once everything is stopped. */
  async stop(): Promise<number | null> {
    if (this.launcher.exitCode !== null) return this.launcher.exitCode;
    const exited = new Promise<number | null>((resolve) =>
      this.launcher.once('exit', (code) => resolve(code)),
    );
    this.launcher.kill('SIGINT');
    return exited;
  }

  kill(): void {
    if (this.launcher.exitCode === null) this.launcher.kill('SIGKILL');
  }
}
