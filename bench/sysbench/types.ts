// The contracts between the pieces of `npm run bench`: a client session (one connection), a
// workload (one sysbench-style transaction at a time on a session) and a system driver (starts,
// loads, connects to, crashes and stops one database system). Every system speaks the same SQL:
// named parameters (`:id`) and statements that SQLite, MariaDB and Borealis (SQLite behind the Data
// API) all accept.

export type ParamValue = string | number;
export type Params = Record<string, ParamValue>;
/** A result row, columns in select order (numbers as numbers, text as strings). */
export type Row = unknown[];

/** One client connection. A session runs one statement at a time. */
export interface Session {
  /** Runs one statement (inside the open transaction, if any); returns the rows read ([] for writes). */
  query(sql: string, params?: Params): Promise<Row[]>;
  begin(): Promise<void>;
  commit(): Promise<void>;
  /** Never throws: a failed rollback leaves the session to be closed by the caller. */
  rollback(): Promise<void>;
  close(): Promise<void>;
}

export type WorkloadName = 'write_only' | 'point_select' | 'read_write';

export interface WorkloadContext {
  /** Rows in sbtest: ids 1..rows. */
  rows: number;
  /** Uniform integer in [0, n). */
  random: (n: number) => number;
}

export interface Workload {
  name: WorkloadName;
  /** Does it write (so that replica lag is measured and bytes per transaction are meaningful)? */
  writes: boolean;
  /** One transaction (one sysbench event). Throws on any error; the caller rolls back. */
  transaction(session: Session, context: WorkloadContext): Promise<void>;
}

/** What N clients did in one timed phase. */
export interface ClientsResult {
  /** Latency of each transaction that completed before the deadline, ms. */
  latenciesMs: number[];
  /** Transactions that failed (and were rolled back). */
  errors: number;
  /** A few distinct error messages, for the report. */
  errorSamples: string[];
  /** The measured window, ms (start of the first transaction → deadline). */
  elapsedMs: number;
}

export interface RecoveryResult {
  /** SIGKILL of the primary → first successful commit of a transaction begun after the kill. */
  recoveryMs: number;
  /** SIGKILL → a row committed after recovery is visible on the replica/reader (when there is one). */
  replicaBackMs?: number;
  /** Borealis: the control plane's own figure for the failover (failure detected → new writer ready). */
  failoverMs?: number;
  notes?: string;
}

/** The processes of a system, for /proc accounting. */
export interface SystemProcesses {
  /** Every PID that belongs to the system now. */
  all: number[];
  /** A role per PID (primary, replica, writer, reader, storage, proxy, …) for breakdowns. */
  roles: Map<number, string>;
}

export interface SystemDriver {
  readonly id: SystemId;
  readonly label: string;
  /** Whether a replica/reader exists (replica lag is measured only then). */
  readonly hasReplica: boolean;
  /** Installs what is missing and starts every process; resolves when it accepts queries. */
  start(): Promise<void>;
  /** Creates sbtest and the heartbeat table and loads `rows` rows; waits until the replica has them. */
  load(rows: number): Promise<void>;
  connect(target: 'primary' | 'replica'): Promise<Session>;
  /** Runs `clients` clients of `workload` until `durationMs` is over (see phase.ts). */
  runClients(workload: Workload, clients: number, durationMs: number, rows: number): Promise<ClientsResult>;
  processes(): Promise<SystemProcesses>;
  /** Bytes the primary has sent to storage over the network so far (Borealis only). */
  networkBytesToStorage?(): Promise<{ bytes: number; incarnation: string } | undefined>;
  /** SIGKILL the primary under load and measure how long until commits succeed again. */
  measureRecovery(rows: number, loadClients: number, warmupMs: number): Promise<RecoveryResult>;
  /** Stops every process it started (by PID) and removes its files. Never throws. */
  stop(): Promise<void>;
}

/** A system's MySQL protocol endpoint (its primary; Borealis: the proxy's cluster endpoint). */
export interface MysqlEndpoint {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

export type SystemId = 'borealis' | 'mariadb' | 'sqlite';
export const systemIds: readonly SystemId[] = ['borealis', 'mariadb', 'sqlite'];
