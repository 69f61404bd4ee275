// The RDS API's ModifyDBCluster, for the two settings a Borealis cluster can change in place:
// BackupRetentionPeriod (1–35 days: the cluster's setting in its backup bucket, which the backup
// retention function expires by — backup-settings.ts) and BacktrackWindow (0–259200 seconds: the
// cluster's control plane, POST /backtrack/window). Every other ModifyDBCluster parameter is refused
// by name (InvalidParameterCombination), never ignored, unless it asks for what the cluster already
// is. Everything is checked before anything changes; both changes apply at once, ApplyImmediately or
// not (as Aurora applies these two). While a change is being made the cluster shows `modifying`.
import { backtrackWindowRoute, backtrackWindowSecondsMax } from '../../core/backtrack/request.ts';
import type { ClusterStatus } from '../../core/cluster/topology.ts';
import { backupRetentionDaysMax, backupRetentionDaysMin } from '../../core/functions.ts';
import type { Logger } from '../../core/log.ts';
import { type QueryParams, RdsApiError, type XmlStruct } from '../../core/rds/query-protocol.ts';
import {
  auroraEngineVersion,
  type ClusterExtras,
  clusterStatusName,
  dbClusterShape,
} from '../../core/rds/shapes.ts';
import type { RdsAction } from './api.ts';
import { type ClusterDirectory, clusterStatus } from './clusters.ts';

export const backupRetentionPeriodMin = backupRetentionDaysMin;
export const backupRetentionPeriodMax = backupRetentionDaysMax;
/** How long the control plane may take to change the window (it answers once it took effect). */
export const backtrackWindowTimeoutMs = 30_000;

/** What ModifyDBCluster asks, checked. */
export interface ModifyClusterRequest {
  cluster: string;
  backupRetentionPeriod?: number;
  backtrackWindowSeconds?: number;
  applyImmediately?: boolean;
}

/**
 * ModifyDBCluster's other parameters (the SDK's ModifyDBClusterMessage), as the Query protocol sends
 * them: plain values, structures (`Name.Member`) and lists (`Name.Member.N`).
 */
const unsupportedValues = [
  'NewDBClusterIdentifier',
  'DBClusterParameterGroupName',
  'Port',
  'MasterUserPassword',
  'OptionGroupName',
  'PreferredBackupWindow',
  'PreferredMaintenanceWindow',
  'EnableIAMDatabaseAuthentication',
  'EngineVersion',
  'AllowMajorVersionUpgrade',
  'DBInstanceParameterGroupName',
  'Domain',
  'DomainIAMRoleName',
  'DeletionProtection',
  'EnableHttpEndpoint',
  'CopyTagsToSnapshot',
  'EnableGlobalWriteForwarding',
  'DBClusterInstanceClass',
  'AllocatedStorage',
  'StorageType',
  'Iops',
  'AutoMinorVersionUpgrade',
  'NetworkType',
  'MonitoringInterval',
  'MonitoringRoleArn',
  'DatabaseInsightsMode',
  'EnablePerformanceInsights',
  'PerformanceInsightsKMSKeyId',
  'PerformanceInsightsRetentionPeriod',
  'ManageMasterUserPassword',
  'RotateMasterUserPassword',
  'EnableLocalWriteForwarding',
  'MasterUserSecretKmsKeyId',
  'EngineMode',
  'AllowEngineModeChange',
  'AwsBackupRecoveryPointArn',
  'EnableLimitlessDatabase',
  'CACertificateIdentifier',
  'MasterUserAuthenticationType',
  'EngineLifecycleSupport',
] as const;
const unsupportedStructures: Readonly<Record<string, readonly string[]>> = {
  ScalingConfiguration: [
    'MinCapacity',
    'MaxCapacity',
    'AutoPause',
    'SecondsUntilAutoPause',
    'TimeoutAction',
    'SecondsBeforeTimeout',
  ],
  ServerlessV2ScalingConfiguration: ['MinCapacity', 'MaxCapacity', 'SecondsUntilAutoPause'],
};
const unsupportedLists: readonly { name: string; prefixes: readonly [string, string][] }[] = [
  { name: 'VpcSecurityGroupIds', prefixes: [['VpcSecurityGroupIds', 'VpcSecurityGroupId']] },
  {
    name: 'CloudwatchLogsExportConfiguration',
    prefixes: [
      ['CloudwatchLogsExportConfiguration.EnableLogTypes', 'member'],
      ['CloudwatchLogsExportConfiguration.DisableLogTypes', 'member'],
    ],
  },
];
/** Values that are what every Borealis cluster already is (DescribeDBClusters): asking changes nothing. */
const alreadySo: Readonly<Record<string, string>> = {
  EngineVersion: auroraEngineVersion,
  DeletionProtection: 'false',
  EnableHttpEndpoint: 'true',
};

/** The unsupported parameters a request names, in the SDK's order (pure). */
export function unsupportedModifyParameters(params: QueryParams): string[] {
  const named: string[] = [];
  for (const name of unsupportedValues) {
    const value = params.string(name);
    if (value !== undefined && alreadySo[name] !== value) named.push(name);
  }
  for (const [name, members] of Object.entries(unsupportedStructures)) {
    if (params.string(name) !== undefined || members.some((m) => params.string(`${name}.${m}`) !== undefined))
      named.push(name);
  }
  for (const { name, prefixes } of unsupportedLists) {
    if (
      params.string(name) !== undefined ||
      prefixes.some(([prefix, member]) => params.list(prefix, member).length > 0)
    )
      named.push(name);
  }
  return named;
}

/** The request, checked: every refusal before anything changes (pure). */
export function parseModifyClusterRequest(params: QueryParams): ModifyClusterRequest {
  const cluster = params.required('DBClusterIdentifier');
  const unsupported = unsupportedModifyParameters(params);
  if (unsupported.length > 0) {
    throw new RdsApiError(
      'InvalidParameterCombination',
      `${unsupported.join(', ')} ${unsupported.length === 1 ? 'is' : 'are'} not supported here: ModifyDBCluster changes BackupRetentionPeriod and BacktrackWindow of a Borealis cluster, nothing else. Nothing was changed.`,
    );
  }
  const backupRetentionPeriod = params.integer(
    'BackupRetentionPeriod',
    backupRetentionPeriodMin,
    backupRetentionPeriodMax,
  );
  const backtrackWindowSeconds = params.integer('BacktrackWindow', 0, backtrackWindowSecondsMax);
  const applyImmediately = params.boolean('ApplyImmediately');
  return {
    cluster,
    ...(backupRetentionPeriod === undefined ? {} : { backupRetentionPeriod }),
    ...(backtrackWindowSeconds === undefined ? {} : { backtrackWindowSeconds }),
    ...(applyImmediately === undefined ? {} : { applyImmediately }),
  };
}

/**
 * POST /backtrack/window on a cluster's control plane. Its refusals as RDS names them: 409 (a
 * backtrack or failover under way) InvalidDBClusterStateFault, 400 InvalidParameterValue — with the
 * control plane's message, and its own code when the message starts with one; a control plane
 * without the route (404) InvalidParameterCombination. Resolves with the window the cluster has now.
 */
export async function setBacktrackWindow(
  controlPlaneUrl: string,
  seconds: number,
  timeoutMs: number = backtrackWindowTimeoutMs,
): Promise<number> {
  let response: Response;
  try {
    response = await fetch(new URL(backtrackWindowRoute, controlPlaneUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ backtrackWindowSeconds: seconds }),
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    throw new RdsApiError(
      'InternalFailure',
      `the cluster's control plane did not answer the BacktrackWindow change: ${(error as Error).message}`,
      500,
    );
  }
  const text = await response.text();
  let body: { backtrackWindowSeconds?: unknown; error?: unknown; message?: unknown } = {};
  try {
    body = (JSON.parse(text) ?? {}) as typeof body;
  } catch {
    // not JSON: quoted as it is below
  }
  if (response.ok) {
    const window = body.backtrackWindowSeconds;
    if (typeof window !== 'number' || !Number.isSafeInteger(window) || window < 0) {
      throw new RdsApiError(
        'InternalFailure',
        `the cluster's control plane answered the BacktrackWindow change without a window: ${text.slice(0, 200)}`,
        500,
      );
    }
    return window;
  }
  const said =
    typeof body.message === 'string' && body.message !== ''
      ? body.message
      : text.slice(0, 300) || `HTTP ${response.status}`;
  // The control plane may name the RDS error itself (`InvalidParameterCombination: backtracking was
  // not enabled…`), as its other routes do for api.ts: that code wins over the status's.
  const coded = /^([A-Z][A-Za-z]+): (.*)$/s.exec(said);
  const message = coded?.[2] ?? said;
  switch (response.status) {
    case 400:
      throw new RdsApiError(coded?.[1] ?? 'InvalidParameterValue', message);
    case 409:
    case 503:
      throw new RdsApiError(coded?.[1] ?? 'InvalidDBClusterStateFault', message);
    case 404:
      throw new RdsApiError(
        'InvalidParameterCombination',
        `BacktrackWindow cannot be changed on this cluster (its control plane has no ${backtrackWindowRoute}: ${message})`,
      );
    default:
      throw new RdsApiError(
        'InternalFailure',
        `the cluster's control plane failed the BacktrackWindow change (HTTP ${response.status}): ${message}`,
        500,
      );
  }
}

/** What ModifyDBCluster needs of the backup settings (backup-settings.ts ClusterBackupSettings). */
export interface BackupRetention {
  setRetentionDays(cluster: string, days: number): Promise<number>;
  extras(status: ClusterStatus): Promise<ClusterExtras>;
}

export class ClusterModifier {
  /** Clusters with a change being made through here: `modifying`; a second change waits its turn. */
  readonly #modifying = new Set<string>();

  constructor(
    private readonly options: {
      directory: ClusterDirectory;
      backup: BackupRetention;
      logger: Logger;
      backtrackWindowTimeoutMs?: number;
    },
  ) {}

  /** The RdsApi `actions` this module serves. */
  actions(): Record<string, RdsAction> {
    return { ModifyDBCluster: (params) => this.modify(params) };
  }

  /** The RdsApi `clusterExtras`: the backup fields, and `modifying` while a change is made here. */
  async clusterExtras(status: ClusterStatus): Promise<ClusterExtras> {
    const extras = await this.options.backup.extras(status);
    return this.#modifying.has(status.cluster) ? { ...extras, status: 'modifying' } : extras;
  }

  async modify(params: QueryParams): Promise<XmlStruct> {
    const request = parseModifyClusterRequest(params);
    const status = await clusterStatus(this.options.directory, request.cluster);
    if (status === undefined)
      throw new RdsApiError('DBClusterNotFoundFault', `DBCluster ${request.cluster} not found.`, 404);
    const state = clusterStatusName(status);
    if (state !== 'available' || this.#modifying.has(status.cluster)) {
      throw new RdsApiError(
        'InvalidDBClusterStateFault',
        `DBCluster ${status.cluster} is ${this.#modifying.has(status.cluster) ? 'modifying' : state}: modify it once it is available.`,
      );
    }
    // Taken before the next await: a second ModifyDBCluster meanwhile is refused.
    this.#modifying.add(status.cluster);
    let backtrackWindow: number | undefined;
    try {
      // The control plane first: it may refuse (a backtrack under way), and then nothing changed.
      if (request.backtrackWindowSeconds !== undefined) {
        const topology = await this.options.directory.read(status.cluster);
        if (topology.controlPlaneUrl === undefined) {
          throw new RdsApiError(
            'InvalidDBClusterStateFault',
            `DBCluster ${status.cluster} has no control plane serving yet.`,
          );
        }
        backtrackWindow = await setBacktrackWindow(
          topology.controlPlaneUrl,
          request.backtrackWindowSeconds,
          this.options.backtrackWindowTimeoutMs,
        );
      }
      if (request.backupRetentionPeriod !== undefined) {
        await this.options.backup.setRetentionDays(status.cluster, request.backupRetentionPeriod);
      }
    } finally {
      this.#modifying.delete(status.cluster);
    }
    this.options.logger.info(
      {
        cluster: status.cluster,
        backupRetentionPeriod: request.backupRetentionPeriod,
        backtrackWindow,
        applyImmediately: request.applyImmediately,
      },
      'ModifyDBCluster',
    );
    const extras = await this.clusterExtras(status);
    return {
      DBCluster: dbClusterShape(status, {
        ...extras,
        ...(backtrackWindow === undefined ? {} : { backtrackWindow }),
      }),
    };
  }
}
