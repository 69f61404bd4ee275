// The whole embedded system as `npm start` runs it (emulators, the primary cluster, the function
// runner), started in a temp state dir for a test, with the CLI at hand. stop() is Ctrl-C; kill()
// is for cleanup after a failure.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../../core/aws/clients.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { emulatorEnv } from '../../embedded/emulators.ts';
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

  /** A small volume (4 PGs of 4,096 pages) and `readers` readers: what most backup tests need. */
  static small(stateDir: string, readers = 0): Promise<TestSystem> {
    return TestSystem.start(stateDir, [
      '--pg-count',
      '4',
      '--pages-per-pg',
      '4096',
      '--readers',
      String(readers),
    ]);
  }

  /**
   * `npm start -- --global` on a small volume (2 PGs of 4,096 pages): us-east-1 with `readers`
   * readers, us-west-2 with one (the Global Database tests).
   */
  static startGlobal(stateDir: string, readers: number): Promise<TestSystem> {
    return TestSystem.start(stateDir, [
      '--readers',
      String(readers),
      '--global',
      '--secondary-readers',
      '1',
      '--pg-count',
      '2',
      '--pages-per-pg',
      '4096',
    ]);
  }

  /** The `borealis` CLI against this system; rejects with {code, stderr} on a non-zero exit. */
  cli(...args: string[]): Promise<{ stdout: string; stderr: string }> {
    return run(process.execPath, ['bin/borealis.js', ...args, '--state-dir', this.stateDir], {
      timeout: 600_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  /** The CLI run that must fail: its exit code and stderr (throws if it succeeded). */
  async cliFails(...args: string[]): Promise<{ code: number; stderr: string }> {
    try {
      await this.cli(...args);
    } catch (error) {
      const e = error as { code: number; stderr: string };
      return { code: e.code, stderr: e.stderr };
    }
    throw new Error(`borealis ${args.join(' ')} succeeded`);
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

  /** The environment the system's own processes get: the AWS endpoints of its emulators. */
  awsEnv(): NodeJS.ProcessEnv {
    return { ...process.env, ...emulatorEnv(readSystemState(this.stateDir)!.emulators) };
  }

  /** An S3 client of the system's emulated S3 in `region` (the caller destroys it). */
  s3(region = 'us-east-1'): S3Client {
    return s3Client({ region, env: this.awsEnv() });
  }
}
