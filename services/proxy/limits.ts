// Every bound of the proxy, with its unit and why it has the value it has. Relationships are asserted at
// load, so a bad edit fails at startup rather than under a failover.
import { assert } from '../../core/assert.ts';
import { transactionIdCharsMax } from '../../core/data-api/server.ts';

const MiB = 1024 * 1024;

/** How long a request waits for a writer during a failover before DatabaseUnavailableException. */
export const holdMsDefault = 30_000;
/** Requests held at once; beyond it new ones get ServiceUnavailableError (never sent: SDK-retry safe). */
export const queueMaxDefault = 1000;

/**
 * Backend connections per instance for autocommit statements: many client connections share these.
 * Kept separate from the transaction pool so autocommit statements queued behind the writer's write
 * lock can never take the socket the lock holder's COMMIT needs (a pool deadlock until timeouts).
 */
export const autocommitSocketsPerInstanceMax = 64;
/** Backend connections per instance for requests inside a transaction (and Begin/Commit/Rollback). */
export const transactionSocketsPerInstanceMax = 256;
/**
 * An idle pooled connection is closed after this long. Below Node's server keepAliveTimeout (5 s) on
 * the instances, so the proxy, not the instance, closes idle connections: a statement is then never
 * written onto a connection the instance is closing at that moment (which would make its outcome unknown).
 */
export const backendIdleSocketMs = 4_000;
/**
 * Largest backend response buffered. Responses are buffered whole so that a backend dying mid-body
 * never leaves the client a truncated answer (which the SDK would retry). The Data API caps
 * formattedRecords at 10 MB; JSON escaping can grow it, so this leaves room.
 */
export const backendResponseBytesMax = 64 * MiB;

/** Times a replay-safe request (a read, a Begin) is re-sent after its connection broke in flight. */
export const resendsMax = 3;
/** Times a reader-endpoint request moves to another instance after one refused its connection. */
export const reroutesMax = 8;
/**
 * Requests in flight to an instance that left the topology get this long to finish before they are
 * cut: a planned failover unpublishes the writer first and then gives it the control plane's
 * --drain-ms (500 ms by default) to finish them; a hung instance is cut after it.
 */
export const retireGraceMs = 2_000;
/** A reader that refused a connection is skipped this long (or until the next topology version). */
export const readerSuspectMs = 1_000;
/** While the named writer refuses connections, a TCP connect to it is tried this often. */
export const writerProbeIntervalMs = 200;
/** Readers whose lags differ by less than this are equally good: spreading matters more. */
export const readerLagToleranceMs = 50;

/** The control plane answers a topology long-poll within ~10 s; past this the poll is abandoned. */
export const topologyPollTimeoutMs = 15_000;
/** A poll that brought nothing new is not repeated sooner than this (a control plane that does not wait). */
export const topologyPollIntervalMsMin = 250;
/** Backoff between failed control-plane calls (topology poll, endpoint registration). */
export const controlPlaneRetryMsMin = 100;
export const controlPlaneRetryMsMax = 2_000;
/** Instance ids go into transaction ids, whose length the Data API caps (UTF-8 bytes). */
export const instanceIdBytesMax = 63;
/**
 * Client transaction ids whose decoding the router remembers: one per open transaction is enough, and
 * a forgotten one is only decoded again (the Data API allows 1024 open transactions per instance).
 */
export const decodedIdsMax = 4096;
/** The writer and readers hand out 32-character ids; room for engines that hand out longer ones. */
export const backendTransactionIdBytesMax = 48;
/** Prefix, JSON punctuation, role and a 16-digit incarnation of a proxy transaction id, before base64url. */
const proxyTransactionIdOverheadBytes = 28;

assert(
  4 +
    Math.ceil(
      ((instanceIdBytesMax + backendTransactionIdBytesMax + proxyTransactionIdOverheadBytes) * 4) / 3,
    ) <=
    transactionIdCharsMax,
  'a proxy transaction id must fit the Data API transaction id limit',
);
assert(readerSuspectMs > writerProbeIntervalMs, 'reader suspicion must outlast a probe interval');
assert(controlPlaneRetryMsMin < controlPlaneRetryMsMax, 'control-plane backoff must grow');
