// How a command in a second terminal reaches the running cluster: system.json in the state dir names
// the control plane, and every route answers JSON or a ControlPlaneError body that becomes one line.
import { join } from 'node:path';
import { type ClusterStatus, type ControlPlaneError, controlPlaneRoutes } from '../core/cluster/topology.ts';
import { defaultClusterName } from '../core/resources.ts';
import {
  type ClusterEntry,
  clusterDirPath,
  type RunningCluster,
  readClusterEntry,
  readSystemState,
  type SystemState,
  stateDirPath,
} from '../embedded/state.ts';
import { CliError, describeError, isTimeout, oneLine, systemErrorCode } from './errors.ts';
import { isPrimaryCluster } from './options.ts';

/** POST /kill answer (core/cluster/topology.ts: controlPlaneRoutes.kill). */
export interface KillResult {
  killed: { id: string; pid: number }[];
}

/** POST /start answer (controlPlaneRoutes.start). */
export interface StartResult {
  started: string;
}

export type ControlPlaneRoute = keyof typeof controlPlaneRoutes;

/**
 * How long a command waits for each route. A kill is a signal; a start waits for the process to
 * serve; a planned failover waits for the new writer to open the volume.
 */
export const routeTimeoutMs: Readonly<Record<ControlPlaneRoute, number>> = Object.freeze({
  status: 10_000,
  topology: 15_000,
  endpoints: 10_000,
  rdsEndpoint: 10_000,
  kill: 30_000,
  start: 90_000,
  failover: 120_000,
  volume: 10_000,
  addInstance: 10_000,
  // Deleting or rebooting the writer fails it over first.
  removeInstance: 120_000,
  rebootInstance: 120_000,
});

/** The longest part of an unexpected (non-ControlPlaneError) answer quoted in an error line. */
const bodyQuoteCharsMax = 200;

export interface ControlPlane {
  /** Absolute state dir. */
  stateDir: string;
  launcherPid: number;
  cluster: ClusterEntry;
  url: string;
}

export function noClusterMessage(stateDir: string): string {
  return `no cluster is running from ${stateDirPath(stateDir)} (start one with \`npm start\` or \`borealis up\`)`;
}

/** The running system of a state dir, or undefined; an unreadable system.json is a one-line error. */
export function readRunningSystem(stateDir: string): SystemState | undefined {
  try {
    return readSystemState(stateDir);
  } catch (error) {
    throw new CliError(
      `cannot read ${join(stateDirPath(stateDir), 'system.json')}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/** Why a non-primary cluster cannot be reached: it is not running (or never was). */
export function clusterNotRunningMessage(stateDir: string, cluster: string): string {
  return `no cluster '${cluster}' is running from ${stateDirPath(stateDir)} (restore one with \`borealis restore … --as ${cluster}\`, or run it again with \`borealis up --cluster ${cluster}\`)`;
}

/**
 * A non-primary cluster's entry (<state-dir>/clusters/NAME/cluster.json) if its launcher runs, or
 * undefined; an unreadable file is a one-line error.
 */
export function readRunningCluster(stateDir: string, cluster: string): RunningCluster | undefined {
  try {
    return readClusterEntry(stateDir, cluster);
  } catch (error) {
    throw new CliError(
      `cannot read ${join(clusterDirPath(stateDir, cluster), 'cluster.json')}: ${describeError(error)}`,
      { cause: error },
    );
  }
}

/**
 * The control plane of a cluster running from `stateDir`, or a CliError saying why there is none:
 * the primary cluster from system.json, any other (a restored one) from its own cluster.json.
 */
export function findControlPlane(stateDir: string, cluster: string = defaultClusterName): ControlPlane {
  if (!isPrimaryCluster(cluster)) {
    const entry = readRunningCluster(stateDir, cluster);
    if (entry === undefined) throw new CliError(clusterNotRunningMessage(stateDir, cluster));
    if (typeof entry.controlPlaneUrl !== 'string' || entry.controlPlaneUrl === '' || !entry.ready) {
      throw new CliError(
        `cluster '${cluster}' (launcher pid ${entry.launcherPid}) has no control plane yet; wait until it is ready (\`borealis up --cluster ${cluster} --detach\` waits)`,
      );
    }
    const { launcherPid, ...clusterEntry } = entry;
    return {
      stateDir: stateDirPath(stateDir),
      launcherPid,
      cluster: clusterEntry,
      url: entry.controlPlaneUrl,
    };
  }
  const state = readRunningSystem(stateDir);
  if (state === undefined) throw new CliError(noClusterMessage(stateDir));
  const primary = state.cluster;
  if (primary === undefined || typeof primary.controlPlaneUrl !== 'string') {
    throw new CliError(
      `the system running from ${stateDirPath(stateDir)} (launcher pid ${state.launcherPid}) has no control plane yet; wait until it is ready (\`borealis up --detach\` waits)`,
    );
  }
  return {
    stateDir: stateDirPath(stateDir),
    launcherPid: state.launcherPid,
    cluster: primary,
    url: primary.controlPlaneUrl,
  };
}

export interface RouteRequest {
  method: 'GET' | 'POST';
  body?: unknown;
  /** @default routeTimeoutMs[route] */
  timeoutMs?: number;
}

/**
 * Calls one control-plane route and returns its JSON answer (undefined for 204). Every failure is a
 * CliError with one line: the ControlPlaneError message as the control plane wrote it, or what went
 * wrong on the way (unreachable, no answer in time, not JSON).
 */
export async function callControlPlane<T>(
  controlPlane: Pick<ControlPlane, 'url'>,
  route: ControlPlaneRoute,
  request: RouteRequest,
): Promise<T> {
  const path = controlPlaneRoutes[route];
  const what = `${request.method} ${path}`;
  const timeoutMs = request.timeoutMs ?? routeTimeoutMs[route];
  let response: Response;
  let text: string;
  try {
    response = await fetch(new URL(path, controlPlane.url), {
      method: request.method,
      signal: AbortSignal.timeout(timeoutMs),
      ...(request.body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(request.body) }),
    });
    text = await response.text();
  } catch (error) {
    throw unreachable(controlPlane.url, what, timeoutMs, error);
  }
  if (!response.ok) throw controlPlaneFailure(response.status, text, what);
  if (response.status === 204 || text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new CliError(
      `the control plane answered ${what} with something that is not JSON: ${oneLine(text, bodyQuoteCharsMax)}`,
    );
  }
}

function unreachable(url: string, what: string, timeoutMs: number, error: unknown): CliError {
  if (isTimeout(error)) {
    return new CliError(`the control plane at ${url} did not answer ${what} within ${timeoutMs} ms`, {
      cause: error,
    });
  }
  const code = systemErrorCode(error);
  return new CliError(
    `cannot reach the control plane at ${url} (${code ?? describeError(error)}); is the cluster still running?`,
    { cause: error },
  );
}

/**
 * The error for a non-2xx answer. A ControlPlaneError body is "one line a CLI can print as it is",
 * so its message is the whole line; anything else says the status and quotes the start of the body.
 */
export function controlPlaneFailure(status: number, body: string, what: string): CliError {
  const parsed = parseControlPlaneError(body);
  if (parsed !== undefined) return new CliError(oneLine(parsed.message));
  const quoted = oneLine(body, bodyQuoteCharsMax);
  return new CliError(`the control plane answered ${what} with HTTP ${status}${quoted ? `: ${quoted}` : ''}`);
}

export function parseControlPlaneError(body: string): ControlPlaneError | undefined {
  try {
    const value = JSON.parse(body) as Partial<ControlPlaneError> | null;
    if (
      typeof value === 'object' &&
      value !== null &&
      typeof value.error === 'string' &&
      typeof value.message === 'string' &&
      value.message.trim() !== ''
    ) {
      return { error: value.error, message: value.message };
    }
  } catch {
    // Not JSON: the caller quotes it.
  }
  return undefined;
}

/** GET /status, with a check that the answer is a ClusterStatus before anything prints from it. */
export async function getStatus(
  controlPlane: Pick<ControlPlane, 'url'>,
  timeoutMs?: number,
): Promise<ClusterStatus> {
  const status = await callControlPlane<ClusterStatus>(controlPlane, 'status', {
    method: 'GET',
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
  if (!isClusterStatus(status)) {
    throw new CliError(
      `the control plane at ${controlPlane.url} answered GET /status with an unexpected document`,
    );
  }
  return status;
}

export function isClusterStatus(value: unknown): value is ClusterStatus {
  if (typeof value !== 'object' || value === null) return false;
  const s = value as Partial<ClusterStatus>;
  return (
    typeof s.cluster === 'string' &&
    typeof s.region === 'string' &&
    typeof s.endpoints === 'object' &&
    s.endpoints !== null &&
    Array.isArray(s.instances) &&
    Array.isArray(s.storageNodes) &&
    Array.isArray(s.failovers)
  );
}
