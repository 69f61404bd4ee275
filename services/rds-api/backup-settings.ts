// The backup fields of the RDS API's DBCluster (BackupRetentionPeriod, EarliestRestorableTime,
// LatestRestorableTime) and the one backup setting it changes (ModifyDBCluster's
// BackupRetentionPeriod), over the cluster's backup bucket — the objects the retention and restore
// functions read, so what is shown is what they do:
// - BackupRetentionPeriod: the cluster's stored setting (core/backup/retention-setting.ts), else this
//   process's BACKUP_RETENTION_DAYS (the functions' variable), else Aurora's default, 1 day.
// - EarliestRestorableTime / LatestRestorableTime: core/backup/restorable-window.ts over the
//   snapshots, the first page of the log and the restorable state (watermark, fence, horizons).
// - The commit horizon (core/backup/commit-horizon.ts, where it is argued true) is checked here, on
//   the way to answering: at most once per horizonCheckIntervalMs per cluster, and only while someone
//   asks, each check one topology read, one GET /health on the writer, three S3 GETs and at most one
//   PUT. So LatestRestorableTime trails now by the interval plus the clock allowance (~6 s) on an
//   idle cluster that is being watched, and costs nothing on one that is not; a cluster that has not
//   been described for a while shows its last horizon (or last archived commit) until it is again.
import type { S3Client } from '@aws-sdk/client-s3';
import { assert } from '../../core/assert.ts';
import { type ChunkInfo, logPrefix, parseLogChunkKey } from '../../core/backup/archive.ts';
import { readArchiveFence } from '../../core/backup/archive-fence.ts';
import { commitHorizonFromHealth, fenceMark, nextHorizons } from '../../core/backup/commit-horizon.ts';
import {
  readCommitHorizons,
  readRestorableState,
  writeCommitHorizons,
} from '../../core/backup/commit-horizon-store.ts';
import { pointInTimeWindow } from '../../core/backup/restorable-window.ts';
import { checkBackupRetentionDays } from '../../core/backup/retention-setting.ts';
import {
  readBackupRetentionSetting,
  writeBackupRetentionSetting,
} from '../../core/backup/retention-setting-store.ts';
import { listObjects, readWatermark } from '../../core/backup/s3-archive.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import type { ReadPublishedTopology } from '../../core/cluster/topology-store.ts';
import { BorealisError } from '../../core/errors.ts';
import { parseBackupRetentionDays } from '../../core/functions.ts';
import type { Logger } from '../../core/log.ts';
import type { ClusterExtras } from '../../core/rds/shapes.ts';
import { regionalResources } from '../../core/resources.ts';
import { listSnapshotSummaries } from '../../functions/snapshot/catalog.ts';

/** A cluster's commit horizon is checked at most this often (and only while it is described). */
export const horizonCheckIntervalMs = 5_000;
/**
 * The snapshot and log listings behind EarliestRestorableTime are reused this long (two LISTs each;
 * s3rver walks every chunk of the cluster for a log listing): an hourly expiry that removed the oldest
 * snapshot shows within it.
 */
export const earliestListingReuseMs = 10_000;
/** A cluster's retention setting read from S3 is reused this long (this API's own changes at once). */
export const retentionSettingReuseMs = 30_000;
/** Log chunk keys listed for EarliestRestorableTime: one ListObjectsV2 page, the oldest chunks. */
export const earliestLogKeysMax = 1_000;
/** Clusters remembered per map at most (the region's clusters, and restored ones come and go). */
export const clustersRememberedMax = 256;
const writerHealthTimeoutMs = 2_000;
/** A failing check is logged at warn at most this often per cluster (debug otherwise). */
const checkWarnIntervalMs = 60_000;

assert(
  earliestListingReuseMs <= 60_000 && horizonCheckIntervalMs <= 60_000,
  'listings and horizons are reused for seconds, not minutes (AWS lags about 5 minutes; this, seconds)',
);

/** Sets `key`, forgetting the longest-held entry first when the map is full. */
function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.delete(key);
  if (map.size >= clustersRememberedMax) map.delete(map.keys().next().value!);
  map.set(key, value);
}

interface Listing {
  snapshots: { lsn: string; commitTimeMs: number }[];
  chunks: ChunkInfo[];
}

export interface ClusterBackupSettingsOptions {
  region: string;
  s3: S3Client;
  readTopology: ReadPublishedTopology;
  logger: Logger;
  /** BACKUP_RETENTION_DAYS of this process (1–35; unset: 1): a cluster without a setting shows it. */
  retentionDaysDefault?: string | number | undefined;
  clock?: () => number;
}

export class ClusterBackupSettings {
  readonly #o: ClusterBackupSettingsOptions;
  readonly #clock: () => number;
  readonly #retentionDaysDefault: number;
  /** Per cluster: when the horizon was last checked, and the check in flight (one at a time). */
  readonly #checks = new Map<
    string,
    { atMs: number; running: Promise<void> | undefined; warnedAtMs: number }
  >();
  readonly #listings = new Map<string, { atMs: number; listing: Listing }>();
  readonly #retention = new Map<string, { atMs: number; days: number }>();

  constructor(options: ClusterBackupSettingsOptions) {
    this.#o = options;
    this.#clock = options.clock ?? Date.now;
    this.#retentionDaysDefault = parseBackupRetentionDays(options.retentionDaysDefault);
  }

  #bucket(cluster: string): string {
    return regionalResources(this.#o.region, cluster).backupBucket;
  }

  /** The backup fields of a DBCluster; a part that cannot be read is left out (and logged). */
  async extras(status: ClusterStatus): Promise<ClusterExtras> {
    const cluster = status.cluster;
    const bucket = this.#bucket(cluster);
    await this.#checkHorizon(cluster, bucket);
    const [days, state, listing] = await Promise.all([
      this.retentionDays(cluster).catch((error: Error) => this.#failed(cluster, 'retention setting', error)),
      readRestorableState(this.#o.s3, bucket, cluster).catch((error: Error) =>
        this.#failed(cluster, 'restorable state', error),
      ),
      this.#listing(cluster, bucket).catch((error: Error) => this.#failed(cluster, 'backup listing', error)),
    ]);
    const window = state && listing && pointInTimeWindow({ ...listing, ...state });
    return {
      ...(days === undefined ? {} : { backupRetentionPeriod: days }),
      ...(window === undefined
        ? {}
        : {
            earliestRestorableTime: new Date(window.earliestMs),
            latestRestorableTime: new Date(window.latestMs),
          }),
    };
  }

  /** The period in effect for the cluster (its setting, else this process's default). */
  async retentionDays(cluster: string): Promise<number> {
    const cached = this.#retention.get(cluster);
    if (cached && this.#clock() - cached.atMs < retentionSettingReuseMs) return cached.days;
    const setting = await readBackupRetentionSetting(this.#o.s3, this.#bucket(cluster), cluster);
    const days = setting?.days ?? this.#retentionDaysDefault;
    remember(this.#retention, cluster, { atMs: this.#clock(), days });
    return days;
  }

  /** Stores the cluster's setting: the retention function uses it from its next run. */
  async setRetentionDays(cluster: string, days: number): Promise<number> {
    checkBackupRetentionDays(days);
    const stored = await writeBackupRetentionSetting(this.#o.s3, this.#bucket(cluster), cluster, days);
    remember(this.#retention, cluster, { atMs: this.#clock(), days: stored.days });
    this.#o.logger.info({ cluster, days: stored.days }, 'backup retention period set');
    return stored.days;
  }

  #failed(cluster: string, what: string, error: Error): undefined {
    this.#o.logger.warn({ cluster, err: error.message }, `DescribeDBClusters: cannot read the ${what}`);
    return undefined;
  }

  async #listing(cluster: string, bucket: string): Promise<Listing> {
    const cached = this.#listings.get(cluster);
    if (cached && this.#clock() - cached.atMs < earliestListingReuseMs) return cached.listing;
    const [snapshots, logPage] = await Promise.all([
      listSnapshotSummaries(this.#o.s3, bucket, cluster),
      listObjects(this.#o.s3, bucket, logPrefix(cluster), { pageKeys: earliestLogKeysMax, pagesMax: 1 }),
    ]);
    const listing: Listing = {
      snapshots: snapshots.map((s) => ({ lsn: s.lsn, commitTimeMs: s.commitTimeMs })),
      chunks: logPage.flatMap((o) => {
        const c = parseLogChunkKey(o.key);
        return c ? [c] : [];
      }),
    };
    remember(this.#listings, cluster, { atMs: this.#clock(), listing });
    return listing;
  }

  /** Checks the horizon when it is due; callers meanwhile wait for the check in flight. */
  async #checkHorizon(cluster: string, bucket: string): Promise<void> {
    let check = this.#checks.get(cluster);
    if (check?.running) return check.running;
    const now = this.#clock();
    if (check && now - check.atMs < horizonCheckIntervalMs) return;
    if (check === undefined) {
      check = { atMs: now, running: undefined, warnedAtMs: 0 };
      remember(this.#checks, cluster, check);
    }
    check.atMs = now;
    const entry = check;
    entry.running = this.#checkHorizonNow(cluster, bucket)
      .then((refused) => {
        if (refused !== undefined)
          this.#o.logger.debug({ cluster, why: refused }, 'commit horizon not checked');
      })
      .catch((error: Error) => {
        const level = this.#clock() - entry.warnedAtMs >= checkWarnIntervalMs ? 'warn' : 'debug';
        if (level === 'warn') entry.warnedAtMs = this.#clock();
        this.#o.logger[level]({ cluster, err: error.message }, 'commit horizon check failed');
      })
      .finally(() => {
        entry.running = undefined;
      });
    return entry.running;
  }

  /**
   * One check (commit-horizon.ts): the fence, then the clock, then the topology naming the writer,
   * then its /health — in that order, which the argument there needs. Stores what nextHorizons keeps.
   * Resolves with why no horizon was taken, or undefined.
   */
  async #checkHorizonNow(cluster: string, bucket: string): Promise<string | undefined> {
    const fence = fenceMark(await readArchiveFence(this.#o.s3, bucket, cluster));
    const askedAtMs = this.#clock();
    const topology = await this.#o.readTopology(cluster);
    const writer = topology.writer;
    if (topology.globalRole === 'secondary') return 'a Global Database secondary (its writer slot applies)';
    if (topology.failoverInProgress || writer === null) return 'no writer (failing over)';
    if (writer.httpUrl === undefined) return 'the topology names no writer HTTP URL';
    const response = await fetch(new URL('/health', writer.httpUrl), {
      signal: AbortSignal.timeout(writerHealthTimeoutMs),
    });
    let health: unknown;
    try {
      health = JSON.parse(await response.text());
    } catch {
      return `/health answered HTTP ${response.status} without JSON`;
    }
    const checked = commitHorizonFromHealth({
      health,
      askedAtMs,
      writer: { id: writer.id, epoch: topology.epoch },
      fence,
      nowMs: this.#clock(),
    });
    if ('refused' in checked) return checked.refused;
    // The stored horizons first, then the watermark: what is kept is judged on the newest watermark.
    // A document that does not parse is replaced (readers count it as none meanwhile).
    const stored = await readCommitHorizons(this.#o.s3, bucket, cluster).catch((error: unknown) => {
      if (error instanceof BorealisError) return [];
      throw error;
    });
    const watermark = (await readWatermark(this.#o.s3, bucket, cluster))?.value;
    const next = nextHorizons(stored, checked.horizon, watermark, fence);
    if (next !== undefined) await writeCommitHorizons(this.#o.s3, bucket, cluster, next);
    return undefined;
  }
}
