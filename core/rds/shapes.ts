// A Borealis cluster as the RDS API describes it (DBCluster, DBInstance), pure: from the control
// plane's ClusterStatus to the fields Aurora users and their tools read — identifiers, ARNs, Aurora's
// statuses, members with their promotion tiers, endpoints. Instance identifiers are unique per region
// on RDS, so an instance is `<cluster>-<instance id>` (borealis-instance-1).
import type { ClusterStatus, InstanceState, InstanceStatus } from '../cluster/topology.ts';
import type { XmlStruct } from './query-protocol.ts';

export const auroraEngine = 'aurora-mysql';
/** What `SELECT @@aurora_version`-minded tools expect to see; the MySQL protocol reports 8.0. */
export const auroraEngineVersion = '8.0.mysql_aurora.3.08.0';
export const instanceClass = 'db.r6g.large';

/** Aurora's DBCluster Status for what the control plane reports. */
export function clusterStatusName(status: ClusterStatus): string {
  if (status.restore !== undefined && status.restore.phase !== 'done') {
    return status.restore.phase === 'failed' ? 'incompatible-restore' : 'creating';
  }
  if (status.failoverInProgress) return 'failing-over';
  // Available means a client can connect and write: the proxy serves and the writer runs.
  if (status.endpoints.writer === null) return 'creating';
  const writer = status.instances.find((i) => i.id === status.writer);
  if (writer?.state !== 'running') return 'failing-over';
  return 'available';
}

/**
 * Aurora's DBInstanceStatus for an instance's process state. `firstStart`: the instance has never
 * served yet (a new one: `creating`, as RDS shows until it is available).
 */
export function instanceStatusName(state: InstanceState, failingOver: boolean, firstStart = false): string {
  switch (state) {
    case 'running':
      return 'available';
    case 'starting':
      return failingOver ? 'available' : firstStart ? 'creating' : 'starting';
    case 'stopping':
      return 'rebooting';
    case 'down':
      return 'failed';
  }
}

/**
 * An instance's DBInstanceIdentifier: the one it was created with through CreateDBInstance, else
 * `<cluster>-<instance id>` (the instances `--readers` gives, and ones no longer in the status).
 */
export function dbInstanceIdentifier(status: ClusterStatus, instanceId: string): string {
  const created = status.instances.find((i) => i.id === instanceId)?.rdsIdentifier;
  return created ?? `${status.cluster}-${instanceId}`;
}

/** The instance of `status` an identifier names, if any. */
export function instanceOf(status: ClusterStatus, identifier: string): InstanceStatus | undefined {
  // RDS identifiers are not case-sensitive (RDS keeps them lowercase).
  const wanted = identifier.toLowerCase();
  return status.instances.find((i) => dbInstanceIdentifier(status, i.id) === wanted);
}

function hostPort(hp: string | undefined): { host: string; port: number } | undefined {
  if (hp === undefined) return undefined;
  const at = hp.lastIndexOf(':');
  return { host: hp.slice(0, at), port: Number(hp.slice(at + 1)) };
}

function accountOf(arn: string): string {
  return arn.split(':')[4] ?? '000000000000';
}

export function dbInstanceArn(status: ClusterStatus, instanceId: string): string {
  return `arn:aws:rds:${status.region}:${accountOf(status.resourceArn)}:db:${dbInstanceIdentifier(status, instanceId)}`;
}

/** Optional DBCluster fields only the caller knows (backups), merged in as given. */
export interface ClusterExtras {
  /** A status the caller knows better (`backtracking` while a backtrack it runs goes on). */
  status?: string;
  earliestRestorableTime?: Date;
  latestRestorableTime?: Date;
  backupRetentionPeriod?: number;
  backtrackWindow?: number;
}

export function dbClusterShape(status: ClusterStatus, extras: ClusterExtras = {}): XmlStruct {
  const writer = hostPort(status.endpoints.mysql?.writer);
  const reader = hostPort(status.endpoints.mysql?.reader);
  const azs = [...new Set([...status.instances, ...status.storageNodes].map((x) => x.az))].sort();
  return {
    DBClusterIdentifier: status.cluster,
    DBClusterArn: status.resourceArn,
    DbClusterResourceId: `cluster-${status.cluster}`,
    Status: extras.status ?? clusterStatusName(status),
    Engine: auroraEngine,
    EngineVersion: auroraEngineVersion,
    EngineMode: 'provisioned',
    // One Port on RDS: the writer endpoint's. The reader endpoint's port is its instance's
    // (DescribeDBInstances), or `borealis status` shows it.
    Endpoint: writer?.host,
    ReaderEndpoint: reader?.host,
    Port: writer?.port,
    MasterUsername: status.mysql?.user,
    DatabaseName: status.mysql?.database,
    MultiAZ: azs.length > 1,
    AvailabilityZones: { AvailabilityZone: azs },
    DBClusterMembers: {
      DBClusterMember: status.instances.map((i) => ({
        DBInstanceIdentifier: dbInstanceIdentifier(status, i.id),
        IsClusterWriter: i.id === status.writer,
        DBClusterParameterGroupStatus: 'in-sync',
        PromotionTier: i.tier,
      })),
    },
    BackupRetentionPeriod: extras.backupRetentionPeriod,
    EarliestRestorableTime: extras.earliestRestorableTime,
    LatestRestorableTime: extras.latestRestorableTime,
    BacktrackWindow:
      extras.backtrackWindow ??
      (status as { backtrack?: { backtrackWindowSeconds?: number } }).backtrack?.backtrackWindowSeconds,
    HttpEndpointEnabled: true,
    StorageEncrypted: false,
    DeletionProtection: false,
    // A Global Database member: the launcher names the global cluster after its clusters
    // (services/rds-api/global-clusters.ts, DescribeGlobalClusters).
    ...(status.globalRole === undefined
      ? {}
      : { GlobalClusterIdentifier: status.cluster, GlobalWriteForwardingStatus: 'disabled' }),
  };
}

export function dbInstanceShape(status: ClusterStatus, instance: InstanceStatus): XmlStruct {
  const endpoint = hostPort(instance.mysql ?? undefined);
  return {
    DBInstanceIdentifier: dbInstanceIdentifier(status, instance.id),
    DBInstanceArn: dbInstanceArn(status, instance.id),
    DBInstanceClass: instanceClass,
    Engine: auroraEngine,
    EngineVersion: auroraEngineVersion,
    DBInstanceStatus: instanceStatusName(
      instance.state,
      status.failoverInProgress,
      instance.restarts === 0 && instance.incarnation > 0,
    ),
    DBClusterIdentifier: status.cluster,
    Endpoint: endpoint && { Address: endpoint.host, Port: endpoint.port },
    AvailabilityZone: instance.az,
    PromotionTier: instance.tier,
    MultiAZ: false,
    PubliclyAccessible: false,
    StorageType: 'aurora',
    DbiResourceId: `db-${status.cluster}-${instance.id}`,
  };
}
