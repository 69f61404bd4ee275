// The instances a cluster has beyond what its flags give (`--readers N`): readers created and
// instances deleted through the RDS API (CreateDBInstance, DeleteDBInstance). Kept in the cluster dir
// as the difference from the flags, so that both hold after a restart: a later `--readers` still
// counts, and what the API changed stays changed.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';

export interface InstanceSpec {
  id: string;
  az: string;
  tier: number;
  rdsIdentifier?: string;
}

export interface InstanceChanges {
  version: 1;
  added: InstanceSpec[];
  removed: string[];
}

const none: InstanceChanges = { version: 1, added: [], removed: [] };

/** The flags' instances with the changes applied: removed ones left out, added ones appended. */
export function applyInstanceChanges(
  fromFlags: readonly InstanceSpec[],
  changes: InstanceChanges,
): InstanceSpec[] {
  const removed = new Set(changes.removed);
  const kept = fromFlags.filter((i) => !removed.has(i.id));
  const ids = new Set(kept.map((i) => i.id));
  return [...kept, ...changes.added.filter((i) => !ids.has(i.id))];
}

/** What differs between the flags' instances and the ones the cluster has now. */
export function instanceChangesOf(
  fromFlags: readonly InstanceSpec[],
  now: readonly InstanceSpec[],
): InstanceChanges {
  const flagIds = new Set(fromFlags.map((i) => i.id));
  const nowIds = new Set(now.map((i) => i.id));
  return {
    version: 1,
    added: now
      .filter((i) => !flagIds.has(i.id))
      .map(({ id, az, tier, rdsIdentifier }) => ({
        id,
        az,
        tier,
        ...(rdsIdentifier === undefined ? {} : { rdsIdentifier }),
      })),
    removed: fromFlags.filter((i) => !nowIds.has(i.id)).map((i) => i.id),
  };
}

export function readInstanceChanges(path: string): InstanceChanges {
  if (!existsSync(path)) return none;
  let doc: Partial<InstanceChanges>;
  try {
    doc = JSON.parse(readFileSync(path, 'utf8')) as Partial<InstanceChanges>;
  } catch (error) {
    throw new Error(`${path} is not JSON (${(error as Error).message}): fix or remove it`);
  }
  if (doc.version !== 1 || !Array.isArray(doc.added) || !Array.isArray(doc.removed))
    throw new Error(`${path} is not an instance change list (version 1, added, removed)`);
  return doc as InstanceChanges;
}

/** Written whole and renamed into place: a crash leaves the old list or the new one. */
export function writeInstanceChanges(path: string, changes: InstanceChanges): void {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(changes, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}
