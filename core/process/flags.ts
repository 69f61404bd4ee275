// Flag parsing shared by every process entry: a bad value is one line on stderr and exit code 2.
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { readVolumeConfig, type VolumeConfig } from '../volume.ts';

export function nonNegativeIntFlag(program: string, name: string, raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || raw === '' || !Number.isInteger(n) || n < 0) {
    console.error(`${program}: --${name} must be a non-negative integer, got '${raw}'`);
    process.exit(2);
  }
  return n;
}

/** The volume config named by a flag, or one line on stderr and exit code 2. */
export function volumeConfigFlag(program: string, path: string): VolumeConfig {
  try {
    return readVolumeConfig(path);
  } catch (error) {
    const cause = (error as Error).cause as Error | undefined;
    console.error(`${program}: ${(error as Error).message}${cause ? `: ${cause.message}` : ''}`);
    process.exit(2);
  }
}

/**
 * node:util parseArgs, with a bad flag reported as one line (and the usage hint) instead of a stack.
 * `args`: what to parse, if not the process's own (a standby's activation line, core/process/standby.ts).
 */
export function parseFlags<T extends ParseArgsConfig['options']>(
  program: string,
  options: T,
  args?: string[],
) {
  try {
    return parseArgs({ options, strict: true, allowPositionals: false, ...(args && { args }) });
  } catch (error) {
    console.error(`${program}: ${(error as Error).message.split('\n')[0]} (see --help)`);
    process.exit(2);
  }
}
