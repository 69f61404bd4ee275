// Where each segment's log starts, kept beside the log (log/collection.json): the durable record of
// log collection. Written (atomically: temp file, fsync, rename, fsync of the directory) before any
// log file is deleted, so that a restart never meets a log whose start it cannot explain. It also
// carries what deleted files held besides records: the volume epoch and the truncation ranges still
// in force, since their markers may have been in a deleted file.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { BorealisError, ErrorCode } from '../../../core/errors.ts';
import type { Lsn } from '../../../core/lsn.ts';

export interface SegmentManifest {
  pg: number;
  /** Records of the PG at or below this LSN are collected; it is a record of the PG's chain (0: none). */
  baseLsn: Lsn;
  /**
   * Reads below this LSN may need records that are gone: refused unless a stored version is exactly at
   * the read point (PGMRPL and the coalesced LSN when the base was chosen; every pruning used no more).
   */
  exactFromLsn: Lsn;
  truncations: { epoch: bigint; aboveLsn: Lsn; uptoLsn: Lsn }[];
}

export interface CollectionManifest {
  epoch: bigint;
  segments: SegmentManifest[];
}

const fileName = 'collection.json';
const formatVersion = 1;

export function readCollectionManifest(logDir: string): CollectionManifest | undefined {
  const path = join(logDir, fileName);
  if (!existsSync(path)) return undefined;
  try {
    const json = JSON.parse(readFileSync(path, 'utf8')) as {
      version: number;
      epoch: string;
      segments: {
        pg: number;
        baseLsn: string;
        exactFromLsn: string;
        truncations: { epoch: string; aboveLsn: string; uptoLsn: string }[];
      }[];
    };
    if (json.version !== formatVersion) throw new Error(`format version ${json.version}`);
    return {
      epoch: BigInt(json.epoch),
      segments: json.segments.map((s) => ({
        pg: s.pg,
        baseLsn: BigInt(s.baseLsn),
        exactFromLsn: BigInt(s.exactFromLsn),
        truncations: s.truncations.map((t) => ({
          epoch: BigInt(t.epoch),
          aboveLsn: BigInt(t.aboveLsn),
          uptoLsn: BigInt(t.uptoLsn),
        })),
      })),
    };
  } catch (error) {
    // Written by rename only, so it is whole or absent: a broken one is a broken disk, not a crash.
    throw new BorealisError(ErrorCode.INTERNAL, `log collection manifest ${path} is unreadable`, {
      cause: error,
      context: { path },
    });
  }
}

export function writeCollectionManifest(logDir: string, manifest: CollectionManifest): void {
  const body = JSON.stringify({
    version: formatVersion,
    epoch: manifest.epoch.toString(),
    segments: manifest.segments.map((s) => ({
      pg: s.pg,
      baseLsn: s.baseLsn.toString(),
      exactFromLsn: s.exactFromLsn.toString(),
      truncations: s.truncations.map((t) => ({
        epoch: t.epoch.toString(),
        aboveLsn: t.aboveLsn.toString(),
        uptoLsn: t.uptoLsn.toString(),
      })),
    })),
  });
  const path = join(logDir, fileName);
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, body);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dirFd = openSync(logDir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
