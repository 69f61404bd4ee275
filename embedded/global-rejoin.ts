// Global Database on one machine: getting a region ready to rejoin as a secondary after an unplanned
// failover (ADR 016), and the small request channel through which `borealis global rejoin` asks the
// launcher — the parent of every process — to bring a region that was down back.
// The archive cut itself is core/global/region-archive.ts; here it gets the embedded region's S3.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { s3Client } from '../core/aws/clients.ts';
import type { ArchiveCutResult } from '../core/global/archive-cut.ts';
import { cutArchiveSettled, fenceArchive, type RegionArchive } from '../core/global/region-archive.ts';
import type { Lsn } from '../core/lsn.ts';
import { regionalResources } from '../core/resources.ts';
import { emulatorEnv } from './emulators.ts';
import { readSystemState, stateDirPath } from './state.ts';

/** A region's archive (embedded emulators) of `cluster`: the client and bucket. */
export function regionArchive(stateDir: string, region: string, cluster: string) {
  const system = readSystemState(stateDir);
  if (!system) throw new Error(`no system is running from ${stateDirPath(stateDir)}`);
  const s3 = s3Client({ region, env: { ...process.env, ...emulatorEnv(system.emulators) } });
  return { s3, bucket: regionalResources(region, cluster).backupBucket };
}

async function withRegionArchive<T>(
  stateDir: string,
  region: string,
  cluster: string,
  work: (archive: RegionArchive) => Promise<T>,
): Promise<T> {
  const { s3, bucket } = regionArchive(stateDir, region, cluster);
  try {
    return await work({ s3, bucket, cluster });
  } finally {
    s3.destroy();
  }
}

/** core/global/region-archive.ts's fence, on the region's archive of the system run from `stateDir`. */
export function fenceRegionArchive(
  stateDir: string,
  region: string,
  cluster: string,
  aboveLsn: Lsn,
): Promise<void> {
  return withRegionArchive(stateDir, region, cluster, (archive) => fenceArchive(archive, aboveLsn));
}

/** core/global/region-archive.ts's cut, on the region's archive of the system run from `stateDir`. */
export function cutRegionArchive(
  stateDir: string,
  region: string,
  cluster: string,
  aboveLsn: Lsn,
  untilLsn?: Lsn,
): Promise<{ cut: ArchiveCutResult; archiveFloor: string }> {
  return withRegionArchive(stateDir, region, cluster, (archive) =>
    cutArchiveSettled(archive, aboveLsn, untilLsn),
  );
}

// --- Requests to the launcher ---------------------------------------------------------------------

export interface RejoinRegionRequest {
  id: string;
  action: 'rejoin-region';
  region: string;
}

export interface LauncherReply {
  ok: boolean;
  message: string;
  /** rejoin-region: what the region's applier reported (global-rejoin.json), if it discarded. */
  rejoin?: unknown;
}

function requestsDir(stateDir: string): string {
  return join(stateDirPath(stateDir), 'launcher', 'requests');
}

export function putLauncherRequest(stateDir: string, request: RejoinRegionRequest): void {
  const dir = requestsDir(stateDir);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${request.id}.request.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(request));
  renameSync(`${file}.tmp`, file);
}

/** Requests not taken yet; each is removed as it is taken (the launcher answers every one). */
export function takeLauncherRequests(stateDir: string): RejoinRegionRequest[] {
  const dir = requestsDir(stateDir);
  if (!existsSync(dir)) return [];
  const taken: RejoinRegionRequest[] = [];
  for (const name of readdirSync(dir)
    .filter((n) => n.endsWith('.request.json'))
    .sort()) {
    const file = join(dir, name);
    try {
      taken.push(JSON.parse(readFileSync(file, 'utf8')) as RejoinRegionRequest);
    } catch {
      // Half-written by a crashed CLI: nothing to answer.
    }
    rmSync(file, { force: true });
  }
  return taken;
}

export function putLauncherReply(stateDir: string, id: string, reply: LauncherReply): void {
  const file = join(requestsDir(stateDir), `${id}.reply.json`);
  writeFileSync(`${file}.tmp`, JSON.stringify(reply));
  renameSync(`${file}.tmp`, file);
}

/** The launcher's answer to request `id`, waited for (undefined after timeoutMs). */
export async function waitLauncherReply(
  stateDir: string,
  id: string,
  timeoutMs: number,
): Promise<LauncherReply | undefined> {
  const file = join(requestsDir(stateDir), `${id}.reply.json`);
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (existsSync(file)) {
      const reply = JSON.parse(readFileSync(file, 'utf8')) as LauncherReply;
      rmSync(file, { force: true });
      return reply;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return undefined;
}
