// The cluster's topology and status as the control plane publishes them: one definition that the
// control plane writes, the proxy follows, the CLI prints and scripts read (`borealis status --json`).
// Field names are a contract: add fields, never rename or remove one.

export type InstanceRole = 'writer' | 'reader';

/** What the control plane knows of an instance's process. */
export type InstanceState =
  /** Process spawned, not ready yet (a writer is recovering the volume). */
  | 'starting'
  /** Ready and answering health checks. */
  | 'running'
  /** Failed health checks or exited; waiting to be restarted (a failed instance returns as a reader). */
  | 'down'
  /** Being stopped on purpose (planned failover, promotion, `borealis down`). */
  | 'stopping';

/** The writer as the proxy needs it. `incarnation` changes with every process start. */
export interface TopologyWriter {
  id: string;
  /** RDS Data API base URL of the instance itself (not the proxy). */
  endpoint: string;
  /** host:port of its redo stream, for readers. */
  redo: string;
  incarnation: number;
  /**
   * Base URL of its HTTP side port (/health, /metrics, /consistent-point): what a snapshot asks for
   * the durable commit to pin. Absent in topologies published before it was added.
   */
  httpUrl?: string;
}

export interface TopologyReader {
  id: string;
  endpoint: string;
  incarnation: number;
  healthy: boolean;
  /** Replica lag in ms as the reader last reported it (null before its first commit). */
  lagMs: number | null;
}

/**
 * What routing needs, versioned: every change bumps `version`. `writer` is null while no writer
 * serves (failover in progress, or no instance can open the volume): the proxy holds writes then.
 */
export interface Topology {
  version: number;
  cluster: string;
  region: string;
  /** Volume epoch of the current writer (decimal string: epochs are 64-bit). */
  epoch: string;
  writer: TopologyWriter | null;
  readers: TopologyReader[];
  failoverInProgress: boolean;
  resourceArn: string;
  secretArn: string;
  /**
   * A Global Database member's role now (absent outside one): a secondary's writer slot runs the
   * replica applier, so what needs a writer (the scheduled snapshot) leaves it alone.
   */
  globalRole?: 'primary' | 'secondary';
  /**
   * The control plane's API base URL (controlPlaneRoutes): how a function or a process elsewhere
   * reaches the cluster's status and volume. Absent until its API serves, and in older topologies.
   */
  controlPlaneUrl?: string;
  /**
   * Where the volume config (storage node addresses and PG placement, as volume.json holds it) is
   * served: `<controlPlaneUrl>/volume`. A URL rather than the document: placement grows by ~200
   * bytes per PG and SSM's standard tier holds 4 KB per parameter (16 PGs would not fit), while
   * whoever reads the volume must reach the storage nodes — and so the control plane — anyway.
   */
  volumeUrl?: string;
  /** The proxy's endpoints (cluster = writer, reader), once the proxy has registered them. */
  endpoints?: ClusterEndpoints;
  updatedAt: string;
}

export interface InstanceStatus {
  id: string;
  az: string;
  role: InstanceRole;
  /** Failover priority 0 (first) to 15 (last), as in Aurora. */
  tier: number;
  /** The DBInstanceIdentifier it was created with through the RDS API (CreateDBInstance), if so. */
  rdsIdentifier?: string;
  state: InstanceState;
  healthy: boolean;
  pid: number | null;
  /** Data API URL of the instance itself (null while it has no process). */
  endpoint: string | null;
  /** MySQL protocol endpoint of the instance as host:port (null while it has no process or has not reported it). */
  mysql?: string | null;
  httpPort: number | null;
  /** Readers: replica lag in ms; writers: 0. */
  lagMs: number | null;
  incarnation: number;
  restarts: number;
}

export interface StorageNodeStatus {
  id: string;
  az: string;
  role: 'storage';
  healthy: boolean;
  pid: number | null;
  port: number;
  httpPort: number;
  /** SCL per PG (decimal LSN strings), as the node last reported it. */
  scl: Record<string, string>;
  epoch: string | null;
  /** Where the node's log stands (log collection, ADR 013), as it last reported; null when not running. */
  log?: StorageNodeLogStatus | null;
}

/** A storage node's log: bytes on disk, and per PG its base, oldest retained LSN and why it is retained. */
export interface StorageNodeLogStatus {
  bytes: number;
  files: number;
  pageStoreBytes: number;
  segments: {
    pg: number;
    baseLsn: string;
    oldestRetainedLsn: string;
    retainedBy: string;
    indexEntries: number;
  }[];
}

/** An instance created, deleted or rebooted through the RDS API (the control plane's last 20). */
export interface InstanceEvent {
  at: string;
  action: 'created' | 'deleted' | 'rebooted';
  instance: string;
  /** Its DBInstanceIdentifier then (a deleted one is no longer in the status). */
  rdsIdentifier: string;
}

export interface FailoverEvent {
  at: string;
  kind: 'unplanned' | 'planned' | 'restart';
  from: string | null;
  to: string;
  reason: string;
  /** Writer failure detected (or planned failover asked) → new writer ready. */
  durationMs: number;
  epoch: string;
}

/**
 * The proxy's endpoints: Data API URLs (`http://host:port`) and, once a proxy that speaks MySQL has
 * registered them, its MySQL endpoints as `host:port` (ADR 017).
 */
export interface ClusterEndpoints {
  writer: string | null;
  reader: string | null;
  mysql?: { writer: string; reader: string };
  /** The region's RDS API (`AWS_ENDPOINT_URL_RDS`), once its service has registered it. */
  rds?: string;
}

/** What the proxy registers with POST /endpoints. */
export interface ProxyEndpoints {
  writer: string;
  reader: string;
  mysql?: { writer: string; reader: string };
}

/** `borealis status --json`: documented in docs/cluster.md. */
export interface ClusterStatus {
  cluster: string;
  region: string;
  epoch: string;
  /** The writer's VDL (decimal string), null when no writer answers. */
  vdl: string | null;
  writer: string | null;
  failoverInProgress: boolean;
  endpoints: ClusterEndpoints;
  /** The MySQL account of the cluster's MySQL endpoints and instances (docs/mysql.md). */
  mysql?: { user: string; password: string; database: string };
  resourceArn: string;
  secretArn: string;
  instances: InstanceStatus[];
  storageNodes: StorageNodeStatus[];
  failovers: FailoverEvent[];
  /** Instances created, deleted and rebooted through the RDS API, oldest first (absent: none). */
  instanceEvents?: InstanceEvent[];
  /**
   * The warm standby writer a failover or backtrack activates (ADR 019): loaded and waiting, or null
   * (none yet, just used, off, or a fleet that keeps none).
   */
  standbyWriter?: { pid: number } | null;
  /** Every loaded standby writer, the next to be taken first: one, two once a writer start used one. */
  standbyWriters?: { pid: number }[];
  /** Present on a cluster created by a restore: how far it got. */
  restore?: RestoreProgress;
  /** The cluster's binlog_format as its writer reports it (absent while no writer answers). */
  binlogFormat?: 'ROW' | 'OFF';
  /** A Global Database member's role now (absent outside one), as its topology says. */
  globalRole?: 'primary' | 'secondary';
  updatedAt: string;
}

export interface RestoreProgress {
  requestId: string;
  sourceCluster: string;
  /** downloading: snapshot pages and log chunks; loading: writing pages to the new volume. */
  phase: 'downloading' | 'loading' | 'done' | 'failed';
  done: number;
  total: number;
  /** The restore time asked for and the last commit restored (ISO), once known. */
  restoreTime: string;
  restoredToCommitTime: string | null;
  bytes: number;
  error?: string;
  /** When the control plane began the restore and when the volume was loaded (ISO; absent in older markers). */
  startedAt?: string;
  finishedAt?: string;
  /** The cluster snapshot restored, when the restore was of a snapshot (not to a point in time). */
  snapshotId?: string;
}

/** The control plane's HTTP API (loopback), used by the proxy and the CLI. */
export const controlPlaneRoutes = {
  /** GET → ClusterStatus */
  status: '/status',
  /** GET ?after=VERSION → Topology; waits (up to ~10 s) until version > VERSION. */
  topology: '/topology',
  /** POST {writer, reader} (the proxy's Data API URLs) → 204 */
  endpoints: '/endpoints',
  /** POST {rds} (the region's RDS API URL) → 204 */
  rdsEndpoint: '/endpoints/rds',
  /** POST {node} | {az} | {writer: true} | {instance} → {killed: [{id, pid}]} (SIGKILL) */
  kill: '/kill',
  /** POST {node} | {instance} → {started: id} */
  start: '/start',
  /** POST {target?} → FailoverEvent */
  failover: '/failover',
  /** POST {id, tier, az?} → InstanceStatus: a new reader (CreateDBInstance). */
  addInstance: '/instances',
  /** POST {id} → {removed: id} (DeleteDBInstance; the writer is failed over first). */
  removeInstance: '/instances/remove',
  /** POST {id, forceFailover?} → InstanceStatus (RebootDBInstance). */
  rebootInstance: '/instances/reboot',
  /** GET → VolumeConfig (core/volume.ts): storage node addresses and PG placement. */
  volume: '/volume',
} as const;

/** Error body of every control-plane route that fails: one line a CLI can print as it is. */
export interface ControlPlaneError {
  error: 'NotFound' | 'BadRequest' | 'Conflict' | 'Unavailable' | 'Internal';
  message: string;
}

export interface FailoverCandidate {
  id: string;
  tier: number;
  healthy: boolean;
  lagMs: number | null;
}

/**
 * Aurora's promotion order: the healthy reader with the lowest tier; among equal tiers the one with
 * the least lag (an unknown lag sorts last), then the lowest id so the choice is deterministic.
 */
export function chooseFailoverTarget(candidates: readonly FailoverCandidate[]): string | undefined {
  const lag = (c: FailoverCandidate) => c.lagMs ?? Number.POSITIVE_INFINITY;
  return [...candidates]
    .filter((c) => c.healthy)
    .sort((a, b) => a.tier - b.tier || lag(a) - lag(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))[0]?.id;
}
