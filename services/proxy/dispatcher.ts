// The proxy's request lifecycle: route (router.ts), hold during a failover (hold-queue.ts), send
// (forwarder.ts), then act on the outcome (outcome-policy.ts) — answer, send again, or fail with an
// error that tells the application what happened. Every request ends in exactly one reply.
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { assert } from '../../core/assert.ts';
import type { Topology } from '../../core/cluster/topology.ts';
import { type DataApiError, internalServerError } from '../../core/data-api/errors.ts';
import { parseJsonLossless, stringifyJson } from '../../core/data-api/values.ts';
import type { Logger } from '../../core/log.ts';
import type { ClassifiedRequest } from './classify.ts';
import {
  holdExpired,
  holdQueueFull,
  readKeptFailing,
  transactionLost,
  unknownOutcome,
  unknownTransaction,
} from './errors.ts';
import type { BackendResponse, Forwarder, PoolKind } from './forwarder.ts';
import { HoldQueue } from './hold-queue.ts';
import { writerProbeIntervalMs } from './limits.ts';
import type { ProxyMetrics, RequestOutcome } from './metrics.ts';
import { nextStep } from './outcome-policy.ts';
import type { Backend, EndpointKind, Router } from './router.ts';
import { encodeTransactionId, type PinnedTransaction, withBackendTransactionId } from './transaction-id.ts';

/** What the client gets: an instance's answer (possibly rewritten) or an error raised here. */
export type Reply =
  | { kind: 'response'; status: number; headers: OutgoingHttpHeaders; body: Buffer }
  | { kind: 'error'; error: DataApiError };

/** What the dispatcher needs of a forwarder (a fake one in unit tests). */
export type Sender = Pick<Forwarder, 'send' | 'retire'>;

export interface DispatcherOptions {
  router: Router;
  forwarder: Sender;
  metrics: ProxyMetrics;
  logger: Logger;
  holdMs: number;
  queueMax: number;
  /** @default Date.now */
  nowMs?: () => number;
  /** Whether a writer that refused connections accepts one now. @default a TCP connect */
  probe?: (writer: Backend) => Promise<boolean>;
}

export interface Submission {
  endpoint: EndpointKind;
  path: string;
  request: ClassifiedRequest;
  input: Record<string, unknown>;
  body: Buffer;
  reply: (reply: Reply) => void;
}

interface Pending extends Submission {
  seq: number;
  /** The body sent to instances: the client's, or with the instance's own transaction id put back. */
  forwardBody: Buffer | undefined;
  resends: number;
  /** Readers this request failed on (reader endpoint): it tries the others, then the writer. */
  excluded: Set<string>;
  heldAtMs: number | undefined;
  deadlineMs: number | undefined;
  holdWhy: string;
  done: boolean;
}

/** Response headers that belong to one connection, not to the answer. */
const hopByHop = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);
const rollbackComplete = Buffer.from(stringifyJson({ transactionStatus: 'Rollback Complete' }));

export class Dispatcher {
  readonly #options: DispatcherOptions;
  readonly #queue: HoldQueue<Pending>;
  readonly #now: () => number;
  #seq = 0;
  #expiryTimer: NodeJS.Timeout | undefined;
  #expiryAtMs: number | undefined;
  #probing = false;
  #closed = false;

  constructor(options: DispatcherOptions) {
    this.#options = options;
    this.#queue = new HoldQueue(options.queueMax);
    this.#now = options.nowMs ?? Date.now;
  }

  get held(): number {
    return this.#queue.size;
  }

  /** Starts a request's lifecycle; returns a cancel for when the client goes away first. */
  submit(submission: Submission): () => void {
    const pending: Pending = {
      endpoint: submission.endpoint,
      path: submission.path,
      request: submission.request,
      input: submission.input,
      body: submission.body,
      reply: submission.reply,
      seq: this.#seq++,
      forwardBody: undefined,
      resends: 0,
      excluded: new Set(),
      heldAtMs: undefined,
      deadlineMs: undefined,
      holdWhy: '',
      done: false,
    };
    this.#dispatch(pending);
    return () => {
      // A held request whose client left is dropped: never sent, nobody to answer. One in flight runs on.
      if (!pending.done && this.#queue.remove(pending)) this.#finish(pending, undefined, 'client_gone');
    };
  }

  /** A newer topology: cut requests to instances that left it, then release what it lets through. */
  topologyChanged(topology: Topology): void {
    const change = this.#options.router.apply(topology);
    if (change === undefined) return;
    const { logger, metrics, forwarder } = this.#options;
    if (change.writerChanged) {
      // One failover is "the writer went away": A → B, or A → none → B, counts once.
      if (change.previousWriter !== undefined) metrics.failovers.inc();
      logger.info(
        {
          version: topology.version,
          from: change.previousWriter?.id ?? null,
          to: topology.writer?.id ?? null,
          incarnation: topology.writer?.incarnation ?? null,
          held: this.#queue.size,
        },
        topology.writer === null ? 'no writer: holding writes' : 'writer changed',
      );
    }
    for (const backend of change.removed) forwarder.retire(backend);
    this.#release();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#expiryTimer);
  }

  // --- Lifecycle ---------------------------------------------------------------------------------------

  #dispatch(pending: Pending): void {
    if (pending.done) return;
    const { router } = this.#options;
    const route = router.route(pending.endpoint, pending.request, pending.excluded, this.#now());
    switch (route.kind) {
      case 'unknown-transaction':
        this.#fail(pending, unknownTransaction(pending.request.transactionId ?? ''), 'unknown_transaction');
        return;
      case 'transaction-gone':
        this.#transactionGone(pending, route.pinned, route.writerId, false);
        return;
      case 'hold':
        this.#hold(pending, route.why);
        return;
      case 'instance':
        // Writer-bound requests queue behind those already held, so the new writer sees arrival order.
        if (route.pinned === undefined && route.backend.role === 'writer' && this.#queue.size > 0) {
          this.#hold(pending, 'earlier requests are held');
          this.#release();
          return;
        }
        this.#send(pending, route.backend, route.pinned).catch((error: unknown) => {
          // A bug, not an operating error: this request fails, the proxy and the others carry on.
          this.#options.logger.error({ err: error }, 'request lifecycle failed');
          this.#fail(pending, internalServerError(error), 'internal_error');
        });
        return;
    }
  }

  async #send(pending: Pending, backend: Backend, pinned: PinnedTransaction | undefined): Promise<void> {
    const { router, forwarder, metrics } = this.#options;
    if (pinned !== undefined && pending.forwardBody === undefined) {
      pending.forwardBody =
        withBackendTransactionId(
          pending.body,
          pending.request.transactionId ?? '',
          pinned.backendTransactionId,
        ) ?? Buffer.from(stringifyJson({ ...pending.input, transactionId: pinned.backendTransactionId }));
    }
    const pool: PoolKind =
      pinned === undefined && isAutocommit(pending.request) ? 'autocommit' : 'transaction';
    router.started(backend.key);
    metrics.sends.inc({ instance: backend.id, role: backend.role });
    let result: Awaited<ReturnType<Forwarder['send']>>;
    try {
      result = await forwarder.send(backend, pool, pending.path, pending.forwardBody ?? pending.body);
    } finally {
      router.finished(backend.key);
    }
    const step = nextStep(pending.request, backend.role, result.outcome, pending.resends);
    const request = pending.request;
    switch (step) {
      case 'pass':
        if ('response' in result) this.#pass(pending, backend, pinned, result.response);
        return;
      case 'reroute':
        // Never reached the instance: the writer refusing means a failover (hold until a writer takes it).
        router.refused(backend, this.#now());
        if (backend.role === 'reader') pending.excluded.add(backend.key);
        metrics.resends.inc({ reason: 'reroute' });
        this.#dispatch(pending);
        return;
      case 'resend':
        pending.resends++;
        if (backend.role === 'reader') pending.excluded.add(backend.key);
        metrics.resends.inc({ reason: 'resend' });
        this.#options.logger.info(
          { instance: backend.id, operation: request.operation, err: errorOf(result) },
          'connection broke in flight; sending again (harmless to run twice)',
        );
        this.#dispatch(pending);
        return;
      case 'unknown-outcome': {
        const answered = 'response' in result ? describeError(result.response) : undefined;
        this.#options.logger.warn(
          { instance: backend.id, operation: request.operation, answered, err: errorOf(result) },
          'outcome unknown: not retried',
        );
        const error = unknownOutcome(request.kind, backend, {
          transactionId: request.transactionId,
          answered,
        });
        this.#fail(pending, error, 'unknown_outcome');
        return;
      }
      case 'transaction-lost':
      case 'rollback-complete':
        assert(pinned !== undefined, 'a transaction outcome for a request routed without its transaction');
        this.#transactionGone(pending, pinned, router.writer?.id, true);
        return;
      case 'unavailable':
        this.#fail(pending, readKeptFailing(backend, pending.resends + 1), 'unavailable');
        return;
    }
  }

  #transactionGone(
    pending: Pending,
    pinned: PinnedTransaction,
    writerId: string | undefined,
    refused: boolean,
  ): void {
    if (pending.request.kind === 'rollback') {
      // Honest: an instance incarnation that is gone (or unreachable and fenced) can never commit it.
      this.#finish(
        pending,
        { kind: 'response', status: 200, headers: jsonHeaders(), body: rollbackComplete },
        'rollback_complete',
      );
      return;
    }
    const error = transactionLost(pending.request.transactionId ?? '', pinned, { writerId, refused });
    this.#fail(pending, error, 'transaction_lost');
  }

  /** The instance's answer, with transaction ids translated between the instance's and the client's. */
  #pass(
    pending: Pending,
    backend: Backend,
    pinned: PinnedTransaction | undefined,
    response: BackendResponse,
  ) {
    let body = response.body;
    if (pending.request.kind === 'begin' && response.status === 200) {
      const translated = this.#pinnedBegin(backend, response.body);
      if (translated === undefined) {
        this.#fail(
          pending,
          internalServerError(new Error('transaction id not translatable')),
          'internal_error',
        );
        return;
      }
      body = translated;
    } else if (pinned !== undefined && response.status >= 400) {
      // The instance's messages name its own id, which the client never saw.
      const text = body.toString('utf8');
      if (text.includes(pinned.backendTransactionId)) {
        body = Buffer.from(text.replaceAll(pinned.backendTransactionId, pending.request.transactionId ?? ''));
      }
    }
    const outcome: RequestOutcome = response.status < 300 ? 'ok' : 'instance_error';
    this.#finish(
      pending,
      { kind: 'response', status: response.status, headers: passHeaders(response.headers), body },
      outcome,
    );
  }

  /** The Begin answer with the client's id for the transaction, or undefined when none can be made. */
  #pinnedBegin(backend: Backend, body: Buffer): Buffer | undefined {
    let answer: unknown;
    try {
      answer = parseJsonLossless(body.toString('utf8'));
    } catch {
      answer = undefined;
    }
    const backendTransactionId =
      typeof answer === 'object' && answer !== null && 'transactionId' in answer
        ? answer.transactionId
        : undefined;
    const transactionId =
      typeof backendTransactionId === 'string'
        ? encodeTransactionId({
            instanceId: backend.id,
            incarnation: backend.incarnation,
            role: backend.role,
            backendTransactionId,
          })
        : undefined;
    if (transactionId === undefined) {
      this.#options.logger.error(
        { instance: backend.id, answer: body.toString('utf8').slice(0, 200) },
        'BeginTransaction answer has no transaction id the proxy can carry; rolling it back',
      );
      if (typeof backendTransactionId === 'string') this.#abandon(backend, backendTransactionId);
      return undefined;
    }
    return Buffer.from(stringifyJson({ ...(answer as object), transactionId }));
  }

  /** Best effort: a transaction the client never learned of must not hold locks until idle timeout. */
  #abandon(backend: Backend, backendTransactionId: string): void {
    const topology = this.#options.router.topology;
    if (topology === undefined) return;
    const body = Buffer.from(
      stringifyJson({
        resourceArn: topology.resourceArn,
        secretArn: topology.secretArn,
        transactionId: backendTransactionId,
      }),
    );
    void this.#options.forwarder.send(backend, 'transaction', '/RollbackTransaction', body);
  }

  // --- Holding -------------------------------------------------------------------------------------------

  #hold(pending: Pending, why: string): void {
    const now = this.#now();
    pending.heldAtMs ??= now;
    pending.deadlineMs ??= now + this.#options.holdMs;
    pending.holdWhy = why;
    if (pending.deadlineMs <= now) {
      this.#expire(pending);
      return;
    }
    if (!this.#queue.push(pending, pending.seq, pending.deadlineMs)) {
      this.#observeHold(pending);
      this.#fail(pending, holdQueueFull(this.#options.queueMax), 'queue_full');
      return;
    }
    this.#armExpiry();
    this.#probeWriter();
  }

  /**
   * Routes every held request again, in arrival order: with a writer taking requests they are all sent
   * to it; without one, reader-endpoint requests may have a reader now, and the rest are held again
   * (keeping their place and deadline).
   */
  #release(): void {
    if (this.#queue.size === 0) return;
    const { router, logger } = this.#options;
    if (router.writerAvailable) {
      logger.info({ count: this.#queue.size, writer: router.writer?.id }, 'releasing held requests');
    }
    for (const pending of this.#queue.takeAll()) {
      this.#observeHold(pending);
      this.#dispatch(pending);
    }
  }

  #expire(pending: Pending): void {
    this.#observeHold(pending);
    this.#fail(pending, holdExpired(this.#options.holdMs, pending.holdWhy), 'hold_expired');
  }

  /** One observation per stretch of holding; the deadline stays the first stretch's. */
  #observeHold(pending: Pending): void {
    if (pending.heldAtMs === undefined) return;
    this.#options.metrics.holdSeconds.observe((this.#now() - pending.heldAtMs) / 1000);
    pending.heldAtMs = undefined;
  }

  #armExpiry(): void {
    const next = this.#queue.nextDeadlineMs();
    if (next === undefined || this.#closed) return;
    if (this.#expiryAtMs !== undefined && this.#expiryAtMs <= next) return;
    clearTimeout(this.#expiryTimer);
    this.#expiryAtMs = next;
    this.#expiryTimer = setTimeout(
      () => {
        this.#expiryAtMs = undefined;
        for (const pending of this.#queue.takeExpired(this.#now())) this.#expire(pending);
        this.#armExpiry();
      },
      Math.max(0, next - this.#now()),
    );
  }

  /**
   * While the named writer refuses connections (it died; the control plane has not said so yet), try
   * a bare TCP connect now and then — cheaper than sending held requests to find out — and release
   * the held requests once it accepts. A new topology ends the probing either way.
   */
  #probeWriter(): void {
    const { router, logger } = this.#options;
    if (this.#probing || this.#closed || !router.writerRefusing) return;
    this.#probing = true;
    const probe = this.#options.probe ?? tcpProbe;
    const tick = async () => {
      const writer = router.writer;
      if (this.#closed || writer === undefined || !router.writerRefusing || this.#queue.size === 0) {
        this.#probing = false;
        return;
      }
      if (await probe(writer)) {
        this.#probing = false;
        logger.info({ writer: writer.id }, 'writer accepts connections again');
        router.writerAccepts(writer.key);
        this.#release();
        return;
      }
      setTimeout(() => void tick(), writerProbeIntervalMs).unref();
    };
    setTimeout(() => void tick(), writerProbeIntervalMs).unref();
  }

  // --- Replies ---------------------------------------------------------------------------------------------

  #fail(pending: Pending, error: DataApiError, outcome: RequestOutcome): void {
    this.#finish(pending, { kind: 'error', error }, outcome);
  }

  #finish(pending: Pending, reply: Reply | undefined, outcome: RequestOutcome): void {
    if (pending.done) return;
    pending.done = true;
    this.#options.metrics.requests.inc({
      endpoint: pending.endpoint,
      operation: pending.request.operation,
      outcome,
    });
    if (reply !== undefined) pending.reply(reply);
  }
}

function tcpProbe(writer: Backend): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: writer.url.hostname, port: Number(writer.url.port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    const refused = () => {
      socket.destroy();
      resolve(false);
    };
    socket.once('error', refused);
    socket.setTimeout(writerProbeIntervalMs * 5, refused);
  });
}

function isAutocommit(request: ClassifiedRequest): boolean {
  return (request.kind === 'execute' || request.kind === 'batch') && request.transactionId === undefined;
}

function passHeaders(headers: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in headers) {
    const value = headers[name];
    if (value !== undefined && !hopByHop.has(name)) out[name] = value;
  }
  return out;
}

function jsonHeaders(): OutgoingHttpHeaders {
  return { 'content-type': 'application/json' };
}

/** "Name: message" of an instance's error answer, for the unknown-outcome message and the log. */
function describeError(response: BackendResponse): string {
  const name = response.headers['x-amzn-errortype'];
  let message = '';
  try {
    const parsed = JSON.parse(response.body.toString('utf8')) as { message?: unknown };
    if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    message = `HTTP ${response.status}`;
  }
  return `${typeof name === 'string' ? name : `HTTP ${response.status}`}${message ? `: ${message}` : ''}`;
}

function errorOf(result: { error?: Error } | object): string | undefined {
  return 'error' in result && result.error instanceof Error ? result.error.message : undefined;
}
