// Typed errors shared by every process: a stable code that callers branch on and that crosses the
// wire (as a numeric id in the protocol's error frame), plus context for logs and a retry hint.

/** Stable error codes. The strings never change meaning; new codes are only ever added. */
export const ErrorCode = {
  /** The request carries an epoch older than the one the storage node has installed (fenced writer). */
  STALE_EPOCH: 'STALE_EPOCH',
  /** A frame, message body, record or payload does not parse. */
  MALFORMED_FRAME: 'MALFORMED_FRAME',
  /** A checksum does not match the bytes it covers. */
  BAD_CRC: 'BAD_CRC',
  /** A frame is larger than frameSizeBytesMax. */
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  /** A frame declares a protocol version this build does not speak. */
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  /** A frame's message type is not known to this build. */
  UNKNOWN_MESSAGE_TYPE: 'UNKNOWN_MESSAGE_TYPE',
  /** The storage node hosts no segment of the requested PG. */
  UNKNOWN_PG: 'UNKNOWN_PG',
  /** The segment's SCL is below the requested read point: ask another segment or retry later. */
  NOT_COMPLETE: 'NOT_COMPLETE',
  /** A page read reached a tail segment, which holds only log: pages come from full segments. */
  NOT_FULL_SEGMENT: 'NOT_FULL_SEGMENT',
  /** The component is starting, recovering or shutting down. */
  NOT_READY: 'NOT_READY',
  /** Fewer segments than a quorum answered. */
  QUORUM_LOST: 'QUORUM_LOST',
  /** A deadline passed before an answer arrived. */
  TIMEOUT: 'TIMEOUT',
  /** An unexpected failure that is not the caller's fault. */
  INTERNAL: 'INTERNAL',
  /** A programming error detected by an assertion: the process must stop rather than carry on. */
  INVARIANT_VIOLATION: 'INVARIANT_VIOLATION',
  /** The caller passed a value outside the accepted domain. */
  INVALID_ARGUMENT: 'INVALID_ARGUMENT',
  /** The peer cannot be reached or the connection closed before an answer: try again or elsewhere. */
  UNAVAILABLE: 'UNAVAILABLE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/**
 * Wire ids for the protocol's error frame (u16). Append-only: an id is never reused or renumbered,
 * because nodes of different versions talk to each other during a rolling upgrade.
 */
export const errorCodeToWire: Readonly<Record<ErrorCode, number>> = Object.freeze({
  STALE_EPOCH: 1,
  MALFORMED_FRAME: 2,
  BAD_CRC: 3,
  FRAME_TOO_LARGE: 4,
  UNSUPPORTED_VERSION: 5,
  UNKNOWN_MESSAGE_TYPE: 6,
  UNKNOWN_PG: 7,
  NOT_COMPLETE: 8,
  NOT_FULL_SEGMENT: 9,
  NOT_READY: 10,
  QUORUM_LOST: 11,
  TIMEOUT: 12,
  INTERNAL: 13,
  INVARIANT_VIOLATION: 14,
  INVALID_ARGUMENT: 15,
  UNAVAILABLE: 16,
});

/** Inverse of errorCodeToWire. A peer's unknown id is absent: decoders map it to INTERNAL. */
export const wireToErrorCode: ReadonlyMap<number, ErrorCode> = new Map(
  (Object.entries(errorCodeToWire) as Array<[ErrorCode, number]>).map(([code, wire]) => [wire, code]),
);

/**
 * Whether a caller may retry the same request (possibly elsewhere) and expect success. Fixed per
 * code so that every layer agrees; a thrower can still override it for one instance.
 */
export const errorCodeRetryableDefault: Readonly<Record<ErrorCode, boolean>> = Object.freeze({
  STALE_EPOCH: false,
  MALFORMED_FRAME: false,
  BAD_CRC: true, // corruption in transit or on one copy: another attempt or another segment may be clean
  FRAME_TOO_LARGE: false,
  UNSUPPORTED_VERSION: false,
  UNKNOWN_MESSAGE_TYPE: false,
  UNKNOWN_PG: false,
  NOT_COMPLETE: true,
  NOT_FULL_SEGMENT: true,
  NOT_READY: true,
  QUORUM_LOST: true,
  TIMEOUT: true,
  INTERNAL: false,
  INVARIANT_VIOLATION: false,
  INVALID_ARGUMENT: false,
  UNAVAILABLE: true,
});

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodeToWire, value);
}

export interface BorealisErrorOptions {
  /** Defaults to errorCodeRetryableDefault[code]. */
  retryable?: boolean;
  /** Structured facts for logs (offset, lsn, pg, epoch …). Values should be loggable as they are. */
  context?: Record<string, unknown>;
  cause?: unknown;
}

export class BorealisError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly context: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: BorealisErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BorealisError';
    this.code = code;
    this.retryable = options.retryable ?? errorCodeRetryableDefault[code];
    this.context = options.context ?? {};
  }
}

/** Thrown by assert(): the process holds state it must not act on, so it should crash and restart. */
export class InvariantViolation extends BorealisError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super(ErrorCode.INVARIANT_VIOLATION, message, { retryable: false, context });
    this.name = 'InvariantViolation';
  }
}

/** Narrowing helper for catch blocks that branch on one condition. */
export function isBorealisError(error: unknown, code?: ErrorCode): error is BorealisError {
  return error instanceof BorealisError && (code === undefined || error.code === code);
}
