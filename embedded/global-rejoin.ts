// Global Database on one machine: getting a region ready to rejoin as a secondary after an unplanned
// failover (ADR 016), and the small request channel through which `borealis global rejoin` asks the
// launcher — the parent of every process — to bring a region that was down back.
//
// Before the old primary's volume voids the commits above the promoted point, its archive is cut back
// to that point (core/global/archive-cut.ts): first the fence (core/backup/archive-fence.ts) — from
// then on its archiver drops the old writer's records above the point, whatever backlog its stream
// still holds — then the archive is let settle (an invocation that read no fence may be in flight),
// then the lost chunks move aside and the watermark goes back. The applier gets the watermark that
// will remain as its archive floor.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { S3Client } from '@aws-sdk/client-s3';
import { s3Client } from '../core/aws/clients.ts';
import { addArchiveVoid } from '../core/backup/archive-fence.ts';
import { readWatermark } from '../core/backup/s3-archive.ts';
import { type ArchiveCutResult, cutArchive, readArchiveCutPlan } from '../core/global/archive-cut.ts';
import { globalPromotionLsnGap } from '../core/limits.ts';
import type { Lsn } from '../core/lsn.ts';
import { regionalResources } from '../core/resources.ts';
import { emulatorEnv } from './emulators.ts';
import { readSystemState, stateDirPath } from './state.ts';

/** The archive is settled once its watermark has not moved for this long… */
const archiveQuietMs = 2_000;
/** …or after this long in any case (an archiver that is down does not move it either). */
const archiveSettleMaxMs = 30_000;

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
  work: (s3: S3Client, bucket: string) => Promise<T>,
): Promise<T> {
  const { s3, bucket } = regionArchive(stateDir, region, cluster);
  try {
    return await work(s3, bucket);
  } finally {
    s3.destroy();
  }
}

/**
 * The watermark a cut back to `aboveLsn` leaves, planned on the archive as it is now: a cut made
 * later (after more chunks were archived) leaves this or higher, so storage keeping the log above it
 * is enough. '0' when nothing at or below the point is archived.
 */
export async function plannedArchiveFloor(
  stateDir: string,
  region: string,
  cluster: string,
  aboveLsn: Lsn,
): Promise<string> {
  return withRegionArchive(stateDir, region, cluster, async (s3, bucket) => {
    const { plan } = await readArchiveCutPlan(s3, bucket, cluster, aboveLsn);
    return plan.watermark?.lsn ?? '0';
  });
}

/**
 * Fences the region's archive above `aboveLsn` (a promoted point): the void reaches to the 2^40 gap
 * every promotion allocates above it, so it holds every LSN the old writer may have allocated and
 * none any region allocates later. Idempotent.
 */
export async function fenceRegionArchive(
  stateDir: string,
  region: string,
  cluster: string,
  aboveLsn: Lsn,
): Promise<void> {
  await withRegionArchive(stateDir, region, cluster, (s3, bucket) =>
    addArchiveVoid(s3, bucket, cluster, { aboveLsn, belowLsn: aboveLsn + globalPromotionLsnGap }),
  );
}

/**
 * Fences the region's archive, waits until it stops moving (or has archived `untilLsn`, the old VDL,
 * when that is not above the point), then cuts it back to `aboveLsn`. Returns the cut and the floor
 * the rejoining applier keeps the log above.
 */
export async function cutRegionArchive(
  stateDir: string,
  region: string,
  cluster: string,
  aboveLsn: Lsn,
  untilLsn?: Lsn,
): Promise<{ cut: ArchiveCutResult; archiveFloor: string }> {
  await fenceRegionArchive(stateDir, region, cluster, aboveLsn);
  const { s3, bucket } = regionArchive(stateDir, region, cluster);
  try {
    const started = Date.now();
    let last: string | undefined;
    let since = Date.now();
    for (;;) {
      const w = (await readWatermark(s3, bucket, cluster))?.value.lsn ?? '0';
      if (w !== last) {
        last = w;
        since = Date.now();
      }
      // The old VDL archived (only when nothing above the point was left to drop): settled.
      // Otherwise 2 s without the watermark moving — an invocation that read no fence may still run.
      const reached = untilLsn !== undefined && untilLsn <= aboveLsn && BigInt(w) >= untilLsn;
      if (reached || Date.now() - since >= archiveQuietMs || Date.now() - started >= archiveSettleMaxMs)
        break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const cut = await cutArchive(s3, bucket, cluster, aboveLsn);
    return { cut, archiveFloor: cut.watermarkAfter ?? '0' };
  } finally {
    s3.destroy();
  }
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
