// Where each request goes, from the last topology the control plane published and what the proxy saw
// itself since (an instance refusing connections is acted on before the control plane notices). Pure:
// time comes in as arguments, and sending is someone else's job.
import type { InstanceRole, Topology } from '../../core/cluster/topology.ts';
import type { ClassifiedRequest } from './classify.ts';
import { decodedIdsMax, readerSuspectMs } from './limits.ts';
import { chooseReader } from './reader-choice.ts';
import { decodeTransactionId, type PinnedTransaction } from './transaction-id.ts';

/** The proxy's two Data API endpoints, as in Aurora. */
export type EndpointKind = 'writer' | 'reader';

/** One instance incarnation: a restarted instance is a different backend (its transactions are gone). */
export interface Backend {
  key: string;
  id: string;
  role: InstanceRole;
  incarnation: number;
  endpoint: string;
  url: URL;
}

export type Route =
  | { kind: 'instance'; backend: Backend; pinned: PinnedTransaction | undefined }
  /** No instance can take it now: hold it until one can. */
  | { kind: 'hold'; why: string }
  /** Its transaction lived on an instance incarnation that is gone. */
  | { kind: 'transaction-gone'; pinned: PinnedTransaction; writerId: string | undefined }
  /** Its transaction id is not one this proxy issued. */
  | { kind: 'unknown-transaction' };

export interface TopologyChange {
  /** Backends no longer in the topology: requests in flight to them must be cut. */
  removed: Backend[];
  /** The writer incarnation changed from one instance to another (or to none, or from none). */
  writerChanged: boolean;
  previousWriter: Backend | undefined;
}

interface ReaderState {
  backend: Backend;
  healthy: boolean;
  lagMs: number | null;
}

export class Router {
  #topology: Topology | undefined;
  #writer: Backend | undefined;
  #readers: ReaderState[] = [];
  /** The named writer refused a connection: writer-bound requests are held until it accepts again. */
  #writerRefusing = false;
  readonly #readerSuspectUntilMs = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  #turn = 0;
  /** Client transaction id → where it lives: a transaction's every statement decodes the same id. */
  readonly #decoded = new Map<string, PinnedTransaction | undefined>();

  get topology(): Topology | undefined {
    return this.#topology;
  }

  get version(): number {
    return this.#topology?.version ?? -1;
  }

  get writer(): Backend | undefined {
    return this.#writer;
  }

  /** A writer is named and not known to refuse connections. */
  get writerAvailable(): boolean {
    return this.#writer !== undefined && !this.#writerRefusing;
  }

  get writerRefusing(): boolean {
    return this.#writer !== undefined && this.#writerRefusing;
  }

  /** Takes a newer topology; an older or equal version is ignored (undefined). */
  apply(topology: Topology): TopologyChange | undefined {
    if (this.#topology !== undefined && topology.version <= this.#topology.version) return undefined;
    const before = new Map(this.backends().map((b) => [b.key, b]));
    const previousWriter = this.#writer;
    this.#topology = topology;
    this.#writer =
      topology.writer === null
        ? undefined
        : backendOf('writer', topology.writer.id, topology.writer.incarnation, topology.writer.endpoint);
    this.#readers = topology.readers.map((r) => ({
      backend: backendOf('reader', r.id, r.incarnation, r.endpoint),
      healthy: r.healthy,
      lagMs: r.lagMs,
    }));
    const writerChanged = previousWriter?.key !== this.#writer?.key;
    // New facts from the control plane supersede what the proxy inferred from refused connections.
    this.#writerRefusing = false;
    this.#readerSuspectUntilMs.clear();
    const after = new Set(this.backends().map((b) => b.key));
    const removed = [...before.values()].filter((b) => !after.has(b.key));
    return { removed, writerChanged, previousWriter };
  }

  backends(): Backend[] {
    return [...(this.#writer ? [this.#writer] : []), ...this.#readers.map((r) => r.backend)];
  }

  route(
    endpoint: EndpointKind,
    request: ClassifiedRequest,
    excluded: ReadonlySet<string>,
    nowMs: number,
  ): Route {
    if (request.transactionId !== undefined && request.kind !== 'begin') {
      return this.#routePinned(request.transactionId);
    }
    if (endpoint === 'reader') {
      const reader = this.#chooseReader(excluded, nowMs);
      if (reader !== undefined) return { kind: 'instance', backend: reader, pinned: undefined };
      // With no reader to take it, Aurora's reader endpoint falls back to the writer; so does this one.
    }
    if (this.#writer === undefined) {
      return { kind: 'hold', why: this.#topology === undefined ? 'no topology yet' : 'failover in progress' };
    }
    if (this.#writerRefusing) {
      return { kind: 'hold', why: `writer ${this.#writer.id} refuses connections` };
    }
    return { kind: 'instance', backend: this.#writer, pinned: undefined };
  }

  #routePinned(transactionId: string): Route {
    const pinned = this.#decode(transactionId);
    if (pinned === undefined) return { kind: 'unknown-transaction' };
    const backend = this.backends().find(
      (b) => b.id === pinned.instanceId && b.incarnation === pinned.incarnation,
    );
    if (backend === undefined) return { kind: 'transaction-gone', pinned, writerId: this.#writer?.id };
    return { kind: 'instance', backend, pinned };
  }

  /** decodeTransactionId, remembered for the last decodedIdsMax ids (oldest forgotten first). */
  #decode(transactionId: string): PinnedTransaction | undefined {
    if (this.#decoded.has(transactionId)) return this.#decoded.get(transactionId);
    const pinned = decodeTransactionId(transactionId);
    if (this.#decoded.size >= decodedIdsMax) this.#decoded.delete(this.#decoded.keys().next().value!);
    this.#decoded.set(transactionId, pinned);
    return pinned;
  }

  #chooseReader(excluded: ReadonlySet<string>, nowMs: number): Backend | undefined {
    const usable = this.#readers.filter(
      (r) =>
        r.healthy &&
        !excluded.has(r.backend.key) &&
        (this.#readerSuspectUntilMs.get(r.backend.key) ?? Number.NEGATIVE_INFINITY) <= nowMs,
    );
    const index = chooseReader(
      usable.map((r) => ({ inFlight: this.#inFlight.get(r.backend.key) ?? 0, lagMs: r.lagMs })),
      this.#turn++,
    );
    return index === undefined ? undefined : usable[index]?.backend;
  }

  /** The backend refused a connection: hold writer-bound requests, or skip the reader for a while. */
  refused(backend: Backend, nowMs: number): void {
    if (backend.key === this.#writer?.key) this.#writerRefusing = true;
    else this.#readerSuspectUntilMs.set(backend.key, nowMs + readerSuspectMs);
  }

  /** A probe connected to the writer that had refused: it takes requests again. */
  writerAccepts(key: string): void {
    if (key === this.#writer?.key) this.#writerRefusing = false;
  }

  started(key: string): void {
    this.#inFlight.set(key, (this.#inFlight.get(key) ?? 0) + 1);
  }

  finished(key: string): void {
    const count = (this.#inFlight.get(key) ?? 0) - 1;
    if (count <= 0) this.#inFlight.delete(key);
    else this.#inFlight.set(key, count);
  }

  inFlight(key: string): number {
    return this.#inFlight.get(key) ?? 0;
  }
}

function backendOf(role: InstanceRole, id: string, incarnation: number, endpoint: string): Backend {
  return { key: `${id}#${incarnation}@${endpoint}`, id, role, incarnation, endpoint, url: new URL(endpoint) };
}
