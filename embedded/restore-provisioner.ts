// Where a restore's new cluster comes from in embedded mode: a launcher of its own
// (`embedded/start.ts --cluster NAME --restore-job FILE`, the same as `borealis up --cluster NAME`),
// detached, next to the running system and using its emulators. Its control plane hydrates the
// volume from S3 before the writer opens; the provisioner waits until the cluster serves.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { RestoreJob } from '../core/backup/restore-plan.ts';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { embeddedRegions, primaryRegion } from '../core/resources.ts';
import type { ClusterProvisioner } from '../functions/restore/handler.ts';
import { regionTopologyDir } from './global.ts';
import { clusterDirPath, isPidAlive, readClusterEntry } from './state.ts';

const launcherEntry = fileURLToPath(new URL('./start.ts', import.meta.url));
/** A 200 MB restore takes tens of seconds here; a stuck one must still end. */
const createTimeoutMs = 30 * 60_000;

export class LocalProvisioner implements ClusterProvisioner {
  constructor(private readonly stateDir: string) {}

  async exists(cluster: string): Promise<boolean> {
    return (
      readClusterEntry(this.stateDir, cluster) !== undefined ||
      existsSync(clusterDirPath(this.stateDir, cluster))
    );
  }

  async create(job: RestoreJob) {
    const dir = clusterDirPath(this.stateDir, job.targetCluster);
    mkdirSync(join(dir, 'logs'), { recursive: true });
    const jobFile = join(dir, 'restore-job.json');
    writeFileSync(jobFile, `${JSON.stringify(job, null, 2)}\n`);
    const log = openSync(join(dir, 'logs', 'launcher.log'), 'a');
    // Resolved here, not at load: the module is bundled into the Lambda, where tsx does not exist.
    const tsxLoader = import.meta.resolve('tsx');
    const child = spawn(
      process.execPath,
      [
        '--import',
        tsxLoader,
        launcherEntry,
        '--state-dir',
        this.stateDir,
        '--cluster',
        job.targetCluster,
        '--restore-job',
        jobFile,
        '--readers',
        '1',
        // The region the restore was asked in (its restore function's): the cluster runs there.
        '--region',
        job.region,
      ],
      { detached: true, stdio: ['ignore', log, log], env: { ...process.env, BOREALIS_PARENT_PID: '' } },
    );
    child.unref();
    const deadline = Date.now() + createTimeoutMs;
    for (;;) {
      const entry = readClusterEntry(this.stateDir, job.targetCluster);
      if (entry?.ready) {
        const status = (await (await fetch(`${entry.controlPlaneUrl}/status`)).json()) as ClusterStatus;
        return { endpoints: status.endpoints, resourceArn: status.resourceArn, secretArn: status.secretArn };
      }
      if (child.pid === undefined || !isPidAlive(child.pid) || Date.now() > deadline) {
        throw new Error(
          `the restored cluster did not start: ${lastError([join(dir, 'logs'), join(regionDir(this.stateDir, job), 'logs')])}`,
        );
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  async destroy(cluster: string): Promise<void> {
    const entry = readClusterEntry(this.stateDir, cluster);
    if (entry && entry.name === cluster && isPidAlive(entry.launcherPid)) {
      process.kill(entry.launcherPid, 'SIGTERM');
      const deadline = Date.now() + 30_000;
      while (isPidAlive(entry.launcherPid) && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
    }
    rmSync(clusterDirPath(this.stateDir, cluster), { recursive: true, force: true });
    // A cluster run in another region keeps its data there (embedded/start.ts --region).
    for (const region of embeddedRegions) {
      if (region !== primaryRegion)
        rmSync(join(regionTopologyDir(this.stateDir, region), cluster), { recursive: true, force: true });
    }
  }
}

/** Where a restore's cluster keeps its data: its region's clusters dir (the primary's: clusters/). */
function regionDir(stateDir: string, job: RestoreJob): string {
  return job.region === primaryRegion
    ? clusterDirPath(stateDir, job.targetCluster)
    : join(regionTopologyDir(stateDir, job.region), job.targetCluster);
}

/** The reason a restore's launcher or control plane gave, from their logs. */
function lastError(logDirs: string[]): string {
  for (const [logs, file] of logDirs.flatMap((d) => [
    [d, 'control-plane.log'] as const,
    [d, 'launcher.log'] as const,
  ])) {
    try {
      const lines = readFileSync(join(logs, file), 'utf8').trim().split('\n').reverse();
      for (const line of lines) {
        if (line.startsWith('{')) {
          const doc = JSON.parse(line) as { level?: number; err?: string; msg?: string };
          if ((doc.level ?? 0) >= 50) return doc.err ? `${doc.msg}: ${doc.err}` : (doc.msg ?? line);
        } else if (/error|did not|cannot|missing/i.test(line)) return line.replace(/^borealis: /, '');
      }
    } catch {
      // no such log yet
    }
  }
  return 'see the logs under the cluster dir';
}
