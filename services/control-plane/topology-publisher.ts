// The topology, versioned and published: every change gets a new version, wakes the long-polls of
// the proxy (GET /topology?after=V), is persisted to the state dir (so a restarted control plane
// keeps the same writer) and, when an AWS endpoint is configured, written to SSM Parameter Store —
// where the deployed functions and a proxy running elsewhere read it.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { Topology } from '../../core/cluster/topology.ts';
import { topologyParameterName } from '../../core/cluster/topology-store.ts';
import type { Logger } from '../../core/log.ts';

export type TopologyContent = Omit<Topology, 'version' | 'updatedAt'>;

// The name lives with the readers of the parameter (functions, `up --aws`): one definition.
export { topologyParameterName };

/** The persisted topology of an earlier run, if any (who was writer, which epoch). */
export function readPersistedTopology(file: string): Topology | undefined {
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Topology;
  } catch {
    return undefined;
  }
}

export class TopologyPublisher {
  #current: Topology;
  #waiters: Array<() => void> = [];
  /** Versions recently published → how many long-polls each woke (taken() waits for them to return). */
  readonly #woken = new Map<number, number>();
  /** taken() calls waiting: a long-poll asking for a version after `version` counts towards each. */
  #takers: Array<{ version: number; left: number; done: (taken: boolean) => void }> = [];
  #ssmDirty = false;
  #ssmBusy = false;

  constructor(
    private readonly options: { file: string; logger: Logger; ssm?: SSMClient },
    initial: TopologyContent,
    startVersion = 0,
  ) {
    this.#current = { ...initial, version: startVersion + 1, updatedAt: new Date().toISOString() };
    this.#persist();
  }

  get current(): Topology {
    return this.#current;
  }

  /** Publishes `content` if it differs from the current topology; returns whether it did. */
  update(content: TopologyContent): boolean {
    const { version: _v, updatedAt: _u, ...now } = this.#current;
    if (JSON.stringify(now) === JSON.stringify(content)) return false;
    this.#current = { ...content, version: this.#current.version + 1, updatedAt: new Date().toISOString() };
    this.#persist();
    const waiters = this.#waiters;
    this.#waiters = [];
    this.#woken.set(this.#current.version, waiters.length);
    if (this.#woken.size > 16) this.#woken.delete(this.#woken.keys().next().value!);
    for (const wake of waiters) wake();
    return true;
  }

  /**
   * Resolves true once the followers that were long-polling when `version` was published have come
   * back asking for a later one — they have taken it (the proxy applies a topology before it polls
   * again) — false after timeoutMs. False at once when none was polling: a follower that reads the
   * file or SSM cannot say, so the caller waits its own bound. A planned failover waits for this
   * before it stops the old writer (the proxy holds new requests from then on). Polls are counted,
   * not followers: with several proxies and another publish meanwhile, a fast one may be counted
   * twice — best effort; the old writer's stop serves on until no request has been in flight for a
   * moment, which covers a proxy a little late.
   */
  taken(version: number, timeoutMs: number): Promise<boolean> {
    const left = this.#woken.get(version) ?? 0;
    if (left === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const taker = {
        version,
        left,
        done: (taken: boolean) => {
          clearTimeout(timer);
          this.#takers = this.#takers.filter((t) => t !== taker);
          resolve(taken);
        },
      };
      const timer = setTimeout(() => taker.done(false), timeoutMs);
      this.#takers.push(taker);
    });
  }

  /** The topology once its version is above `after`, or the current one after `timeoutMs`. */
  async next(after: number, timeoutMs: number): Promise<Topology> {
    for (const taker of [...this.#takers]) if (after >= taker.version && --taker.left === 0) taker.done(true);
    if (this.#current.version > after) return this.#current;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== wake);
        resolve();
      }, timeoutMs);
      const wake = () => {
        clearTimeout(timer);
        resolve();
      };
      this.#waiters.push(wake);
    });
    return this.#current;
  }

  /** Retries a failed SSM write (called from the control loop). */
  retryPending(): void {
    if (this.#ssmDirty) this.#publishSsm();
  }

  close(): void {
    for (const wake of this.#waiters) wake();
    this.#waiters = [];
    for (const taker of [...this.#takers]) taker.done(false);
  }

  #persist(): void {
    const file = this.options.file;
    writeFileSync(`${file}.tmp`, `${JSON.stringify(this.#current, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    this.#ssmDirty = true;
    this.#publishSsm();
  }

  #publishSsm(): void {
    const ssm = this.options.ssm;
    if (!ssm || this.#ssmBusy) return;
    this.#ssmBusy = true;
    this.#ssmDirty = false;
    const topology = this.#current;
    ssm
      .send(
        new PutParameterCommand({
          Name: topologyParameterName(topology.cluster),
          Type: 'String',
          Value: JSON.stringify(topology),
          Overwrite: true,
        }),
      )
      .catch((error: Error) => {
        // Not on the failover path: routing reads the in-process topology. Retried by the loop.
        this.#ssmDirty = true;
        this.options.logger.warn({ err: error.message }, 'could not publish the topology to SSM');
      })
      .finally(() => {
        this.#ssmBusy = false;
        if (this.#ssmDirty && this.#current !== topology) this.#publishSsm();
      });
  }
}
