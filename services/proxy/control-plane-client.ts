// The proxy's two conversations with the control plane: following the topology by long-poll (the
// last good topology stays in force while the control plane is unreachable) and registering the
// proxy's endpoints, which the control plane publishes as the cluster's endpoints.
import {
  type ControlPlaneError,
  controlPlaneRoutes,
  type ProxyEndpoints,
  type Topology,
} from '../../core/cluster/topology.ts';
import type { Logger } from '../../core/log.ts';
import {
  controlPlaneRetryMsMax,
  controlPlaneRetryMsMin,
  topologyPollIntervalMsMin,
  topologyPollTimeoutMs,
} from './limits.ts';
import { checkTopology } from './topology-shape.ts';

export interface TopologyFollowerOptions {
  controlPlane: URL;
  logger: Logger;
  onTopology: (topology: Topology) => void;
  /** The version to ask beyond at first. @default 0 */
  afterVersion?: number;
}

/** Long-polls until stopped. Never throws: failures are logged (once per streak) and retried. */
export class TopologyFollower {
  #stopped = false;
  #abort: AbortController | undefined;
  #version: number;
  /** The first answer is news even when its version is not above afterVersion. */
  #first = true;
  readonly #options: TopologyFollowerOptions;

  constructor(options: TopologyFollowerOptions) {
    this.#options = options;
    this.#version = options.afterVersion ?? 0;
  }

  start(): void {
    void this.#loop();
  }

  stop(): void {
    this.#stopped = true;
    this.#abort?.abort();
  }

  async #loop(): Promise<void> {
    const { logger } = this.#options;
    let backoffMs = controlPlaneRetryMsMin;
    let failing = false;
    while (!this.#stopped) {
      try {
        const startedMs = Date.now();
        const topology = await this.#poll();
        if (failing) logger.info({ version: topology.version }, 'control plane reachable again');
        failing = false;
        backoffMs = controlPlaneRetryMsMin;
        // The long-poll times out with the current topology: only a newer one is news.
        if (topology.version > this.#version || this.#first) {
          this.#first = false;
          this.#version = Math.max(this.#version, topology.version);
          this.#options.onTopology(topology);
        } else {
          await sleep(topologyPollIntervalMsMin - (Date.now() - startedMs));
        }
      } catch (error) {
        if (this.#stopped) return;
        if (!failing) logger.warn({ err: (error as Error).message }, 'topology poll failed; retrying');
        failing = true;
        await sleep(backoffMs);
        backoffMs = Math.min(backoffMs * 2, controlPlaneRetryMsMax);
      }
    }
  }

  async #poll(): Promise<Topology> {
    const url = new URL(controlPlaneRoutes.topology, this.#options.controlPlane);
    url.searchParams.set('after', String(this.#version));
    this.#abort = new AbortController();
    const timer = setTimeout(() => this.#abort?.abort(), topologyPollTimeoutMs);
    try {
      const response = await fetch(url, { signal: this.#abort.signal });
      const text = await response.text();
      if (!response.ok)
        throw new Error(`GET ${url.pathname} answered ${response.status}: ${errorText(text)}`);
      return checkTopology(JSON.parse(text));
    } finally {
      clearTimeout(timer);
    }
  }
}

/** POSTs the proxy's endpoints until the control plane accepts them (it may start after the proxy). */
export async function registerEndpoints(options: {
  controlPlane: URL;
  endpoints: ProxyEndpoints;
  logger: Logger;
  stopped: () => boolean;
}): Promise<boolean> {
  const url = new URL(controlPlaneRoutes.endpoints, options.controlPlane);
  let backoffMs = controlPlaneRetryMsMin;
  let warned = false;
  while (!options.stopped()) {
    try {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(options.endpoints),
        signal: AbortSignal.timeout(topologyPollTimeoutMs),
      });
      const text = await response.text();
      if (response.ok) {
        options.logger.info(options.endpoints, 'endpoints registered with the control plane');
        return true;
      }
      throw new Error(`POST ${url.pathname} answered ${response.status}: ${errorText(text)}`);
    } catch (error) {
      if (!warned)
        options.logger.warn({ err: (error as Error).message }, 'endpoint registration failed; retrying');
      warned = true;
      await sleep(backoffMs);
      backoffMs = Math.min(backoffMs * 2, controlPlaneRetryMsMax);
    }
  }
  return false;
}

function errorText(text: string): string {
  try {
    const parsed = JSON.parse(text) as Partial<ControlPlaneError>;
    if (typeof parsed.message === 'string') return `${parsed.error ?? 'Error'}: ${parsed.message}`;
  } catch {
    // Not the control plane's error shape: show the start of whatever it is.
  }
  return text.slice(0, 200);
}

function sleep(ms: number): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
