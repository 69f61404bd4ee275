// <state dir>/global.json: the members of a Global Database run on one machine (`npm start --
// --global`), read and changed by the launcher, the `borealis global` commands and each region's RDS
// API (SwitchoverGlobalCluster, FailoverGlobalCluster) — one file, changed only under its lock. Every
// function takes the state dir's resolved path. The role-change lock (one switchover or failover at
// a time, whoever asks) lives beside it.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { isPidAlive } from '../process/pid.ts';

export interface GlobalMember {
  region: string;
  cluster: string;
  controlPlaneUrl: string;
  /** The cluster's data dir (volume.json, nodes/, logs/, topology.json). */
  dir: string;
  /** Its control plane and proxy (the rest are the control plane's children): `kill --region`. */
  controlPlanePid: number;
  proxyPid: number;
  /**
   * How the launcher starts this region's cluster again as a secondary (`borealis global rejoin`):
   * its readers and control-plane flags (without the role flag; the port is the same one, so every
   * URL of its control plane stays valid).
   */
  restart?: { readers: number; controlPlaneArgs: string[] };
}

/**
 * A region left behind by an unplanned failover while it was down: when it rejoins, its volume
 * discards the commits above `aboveLsn` (the new primary's VDL at promotion) and names them.
 */
export interface PendingRejoin {
  region: string;
  aboveLsn: string;
  aboveCommitTimeMs: number;
  failoverAt: string;
}

/** The global writer endpoint (services/global-endpoint): it belongs to no region. */
export interface GlobalWriterState {
  /** Its Data API URL (`globalWriterEndpoint`). */
  dataApi: string;
  /** Its MySQL `host:port` (`globalWriterMysqlEndpoint`). */
  mysql: string;
  /** Its /health and /metrics. */
  httpUrl: string;
  globalClusterArn: string;
  pid: number;
}

/** <state dir>/global.json: the members of the running Global Database (primary first). */
export interface GlobalState {
  primary: GlobalMember;
  secondaries: GlobalMember[];
  globalWriter?: GlobalWriterState;
  pendingRejoins?: PendingRejoin[];
  /**
   * The first LSN of the last promotion, in whichever region: the next promotion allocates at least
   * 2^40 above it (ADR 016), so no region's writer ever allocates what an earlier one may have.
   */
  lastPromotionStart?: string;
  /** Per region, its emulators' and function runner's pids (`kill --region` takes them too). */
  regionProcesses?: Record<string, { emulatorPids: number[]; functionRunnerPid: number; rdsApiPid?: number }>;
}

export function writeGlobalState(dir: string, state: GlobalState): void {
  const file = globalStateFile(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(state, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

/** How long an update waits for another process's update of global.json (each takes microseconds). */
const globalStateLockWaitMs = 5_000;

/**
 * Read-modify-write of global.json under a lock file that every writer takes (the CLI's switchover,
 * failover and rejoin and the launcher's rejoin and restarts each change a different part of it:
 * without the lock one could write back what it read before the other's change). A lock left by a
 * process that died is taken over. `mutate` gets the current state and must not wait on anything.
 */
export function updateGlobalState(dir: string, mutate: (state: GlobalState) => GlobalState): GlobalState {
  const lock = `${globalStateFile(dir)}.lock`;
  const deadline = Date.now() + globalStateLockWaitMs;
  for (;;) {
    try {
      const fd = openSync(lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let holder: number;
      try {
        holder = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // released meanwhile
      }
      // A holder that died is taken over (one that has not written its pid yet is given the wait).
      if (Number.isInteger(holder) && holder > 0 && !isPidAlive(holder)) rmSync(lock, { force: true });
      else if (Date.now() > deadline) {
        throw new Error(
          `global.json is locked by pid ${holder || 'unknown'} for over ${globalStateLockWaitMs} ms (${lock})`,
        );
      } else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
    }
  }
  try {
    const current = readGlobalState(dir);
    if (!current) throw new Error(`no global database state in ${globalStateFile(dir)}`);
    const next = mutate(current);
    writeGlobalState(dir, next);
    return next;
  } finally {
    rmSync(lock, { force: true });
  }
}

export function readGlobalState(dir: string): GlobalState | undefined {
  const file = globalStateFile(dir);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as GlobalState;
}

export function removeGlobalState(dir: string): void {
  rmSync(globalStateFile(dir), { force: true });
}

function globalStateFile(dir: string): string {
  return join(dir, 'global.json');
}

/** What a role change's lock file holds: who runs which change (DescribeGlobalClusters' FailoverState). */
export interface RoleChangeLock {
  kind: 'switchover' | 'failover';
  from: string;
  to: string;
  allowDataLoss: boolean;
  startedAt: string;
  pid: number;
}

export function roleChangeLockFile(dir: string): string {
  return join(dir, 'global-failover.lock');
}

/** A lock file whose body cannot be read is one being written — or left empty by a crash: after this, stale. */
const unreadableLockStaleMs = 10_000;

/** The lock file's record as written, whoever holds it (undefined: no lock, or no readable body). */
function readLockRecord(file: string): RoleChangeLock | undefined {
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as RoleChangeLock;
    return Number.isInteger(record.pid) && record.pid > 0 ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Whether a lock (as read now) was left by a process that died, or is an unreadable one long left. */
function isStale(file: string, record: RoleChangeLock | undefined): boolean {
  if (record !== undefined) return !isPidAlive(record.pid);
  try {
    return Date.now() - statSync(file).mtimeMs > unreadableLockStaleMs;
  } catch {
    return false; // gone meanwhile: the next attempt creates it
  }
}

/**
 * Takes the role-change lock (created exclusively): undefined when another change holds it. A stale
 * lock (its holder died) is taken over by renaming it aside first — only one process's rename
 * succeeds — and checking that what it moved is the stale lock it read; a live lock moved by mistake
 * (taken over meanwhile by another process) is put back. The caller releases it with releaseRoleChange.
 */
export function takeRoleChange(
  dir: string,
  change: Omit<RoleChangeLock, 'pid' | 'startedAt'>,
): string | undefined {
  const file = roleChangeLockFile(dir);
  const body = JSON.stringify({ ...change, startedAt: new Date().toISOString(), pid: process.pid });
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(file, 'wx');
      writeSync(fd, body);
      closeSync(fd);
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const seen = readLockRecord(file);
    if (!isStale(file, seen)) return undefined;
    const aside = `${file}.stale-${process.pid}-${randomUUID()}`;
    try {
      renameSync(file, aside);
    } catch {
      continue; // another process moved it first: try to create again
    }
    const moved = readLockRecord(aside);
    if (
      seen !== undefined &&
      (moved === undefined || moved.pid !== seen.pid || moved.startedAt !== seen.startedAt)
    ) {
      // Not the lock this process judged stale: another took it over meanwhile. Put it back
      // (link fails if a third has created one since: then that one holds it) and give up.
      try {
        linkSync(aside, file);
      } catch {
        // a newer lock is in place
      }
      rmSync(aside, { force: true });
      return undefined;
    }
    rmSync(aside, { force: true });
  }
  return undefined;
}

export function releaseRoleChange(lockFile: string): void {
  rmSync(lockFile, { force: true });
}

/** The role change under way, if any: a lock whose holder died is none (DescribeGlobalClusters). */
export function readRoleChange(dir: string): RoleChangeLock | undefined {
  const record = readLockRecord(roleChangeLockFile(dir));
  return record !== undefined && isPidAlive(record.pid) ? record : undefined;
}
