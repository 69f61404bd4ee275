// Flags shared by the `borealis` commands and their validation: the state dir, numeric flags, and
// "exactly one of these target flags". Pure, so that a bad command line is tested without a process.
import { type Command, InvalidArgumentError } from 'commander';
import { defaultClusterName } from '../core/resources.ts';
import { defaultStateDir } from '../embedded/state.ts';
import { UsageError } from './errors.ts';

export interface StateDirOptions {
  stateDir: string;
}

/** `--state-dir <dir>`: where the running system's system.json is (every command has it). */
export function addStateDirOption(command: Command): Command {
  return command.option(
    '--state-dir <dir>',
    'state dir of the system (its system.json says where the control plane is)',
    defaultStateDir,
  );
}

export interface ClusterOptions {
  cluster: string;
}

/** A cluster name as a restore names it (functions/restore: the new cluster's name rule). */
export const clusterNamePattern = /^[a-z][a-z0-9-]{0,40}$/;

/** Commander's parser for `--cluster <name>`: a name that is also a safe directory name. */
export function clusterNameFlag(raw: string): string {
  if (!clusterNamePattern.test(raw)) {
    throw new InvalidArgumentError("must be a lower-case letter, then up to 40 of a-z, 0-9 and '-'");
  }
  return raw;
}

/** The primary cluster is the one that comes with the system (emulators, system.json). */
export function isPrimaryCluster(name: string): boolean {
  return name === defaultClusterName;
}

/**
 * `--cluster <name>`: which cluster of the state dir a command acts on — the primary cluster
 * (default) or another one running beside it, such as a restored cluster.
 */
export function addClusterOption(
  command: Command,
  description = 'the cluster to act on: the primary one, or one running beside it (e.g. restored)',
): Command {
  return command.option('--cluster <name>', description, clusterNameFlag, defaultClusterName);
}

/**
 * --region of the backup commands: which region's backups (a Global Database keeps them per region,
 * each its own writer's; default the current primary's, else the cluster's).
 */
export function addRegionOption(command: Command): Command {
  return command.option(
    '--region <region>',
    "the region whose backups to use, e.g. us-west-2 (default: the cluster's; a Global Database's current primary)",
  );
}

/** A commander argument parser for an integer flag in [min, max]. */
export function integerFlag(min: number, max: number = Number.MAX_SAFE_INTEGER): (raw: string) => number {
  return (raw: string) => {
    const value = Number(raw);
    if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidArgumentError(
        max === Number.MAX_SAFE_INTEGER
          ? `must be an integer >= ${min}`
          : `must be an integer from ${min} to ${max}`,
      );
    }
    return value;
  };
}

/** A flag name as the user typed it: `writer` → `--writer`, `stateDir` → `--state-dir`. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * The one target flag among `keys` that is set (a non-empty string or `true`); a UsageError naming the
 * flags when none or several are given. `kill --node n1 --az a` must not pick one silently.
 */
export function exactlyOne<K extends string>(options: Partial<Record<K, unknown>>, keys: readonly K[]): K {
  const given = keys.filter((key) => {
    const value = options[key];
    return value === true || (typeof value === 'string' && value !== '');
  });
  const names = keys.map(flagName);
  if (given.length === 0) {
    throw new UsageError(`give one of ${names.join(', ')}`);
  }
  if (given.length > 1) {
    throw new UsageError(`give only one of ${names.join(', ')} (got ${given.map(flagName).join(' and ')})`);
  }
  return given[0]!;
}
