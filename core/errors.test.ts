import { describe, expect, it } from 'vitest';
import {
  BorealisError,
  ErrorCode,
  errorCodeRetryableDefault,
  errorCodeToWire,
  InvariantViolation,
  isBorealisError,
  isErrorCode,
  wireToErrorCode,
} from './errors.ts';

const codes = Object.values(ErrorCode);

describe('ErrorCode', () => {
  it('codes are their own names, so logs and the wire agree on the spelling', () => {
    for (const [name, code] of Object.entries(ErrorCode)) expect(code).toBe(name);
  });

  it('has every code the protocol needs', () => {
    expect(codes).toEqual(
      expect.arrayContaining([
        'STALE_EPOCH',
        'MALFORMED_FRAME',
        'BAD_CRC',
        'FRAME_TOO_LARGE',
        'UNSUPPORTED_VERSION',
        'UNKNOWN_MESSAGE_TYPE',
        'UNKNOWN_PG',
        'NOT_COMPLETE',
        'NOT_FULL_SEGMENT',
        'NOT_READY',
        'QUORUM_LOST',
        'TIMEOUT',
        'INTERNAL',
        'INVARIANT_VIOLATION',
        'INVALID_ARGUMENT',
        'UNAVAILABLE',
      ]),
    );
  });

  it('isErrorCode accepts codes only', () => {
    for (const code of codes) expect(isErrorCode(code)).toBe(true);
    expect(isErrorCode('NOPE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(1)).toBe(false);
  });
});

describe('wire ids', () => {
  it('every code has a distinct u16 id and the inverse table maps it back', () => {
    const ids = codes.map((code) => errorCodeToWire[code]);
    expect(new Set(ids).size).toBe(codes.length);
    for (const code of codes) {
      const id = errorCodeToWire[code];
      expect(Number.isInteger(id) && id > 0 && id <= 0xffff).toBe(true);
      expect(wireToErrorCode.get(id)).toBe(code);
    }
    expect(wireToErrorCode.size).toBe(codes.length);
  });

  it('ids are stable (peers of other versions depend on them)', () => {
    expect(errorCodeToWire.STALE_EPOCH).toBe(1);
    expect(errorCodeToWire.MALFORMED_FRAME).toBe(2);
    expect(errorCodeToWire.BAD_CRC).toBe(3);
    expect(errorCodeToWire.NOT_COMPLETE).toBe(8);
    expect(errorCodeToWire.INVALID_ARGUMENT).toBe(15);
    expect(errorCodeToWire.UNAVAILABLE).toBe(16);
  });

  it('the tables are frozen', () => {
    expect(Object.isFrozen(errorCodeToWire)).toBe(true);
    expect(Object.isFrozen(errorCodeRetryableDefault)).toBe(true);
  });
});

describe('BorealisError', () => {
  it('carries code, retryable default, context and cause', () => {
    const cause = new Error('socket reset');
    const error = new BorealisError(ErrorCode.QUORUM_LOST, 'only 2 of 6 answered', {
      context: { pg: 3 },
      cause,
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('BorealisError');
    expect(error.message).toBe('only 2 of 6 answered');
    expect(error.code).toBe('QUORUM_LOST');
    expect(error.retryable).toBe(true);
    expect(error.context).toEqual({ pg: 3 });
    expect(error.cause).toBe(cause);
  });

  it('retryable follows the code unless overridden', () => {
    expect(new BorealisError(ErrorCode.STALE_EPOCH, 'x').retryable).toBe(false);
    expect(new BorealisError(ErrorCode.NOT_COMPLETE, 'x').retryable).toBe(true);
    expect(new BorealisError(ErrorCode.TIMEOUT, 'x', { retryable: false }).retryable).toBe(false);
    for (const code of codes) expect(typeof errorCodeRetryableDefault[code]).toBe('boolean');
  });

  it('defaults context to empty and leaves cause unset', () => {
    const error = new BorealisError(ErrorCode.INTERNAL, 'x');
    expect(error.context).toEqual({});
    expect(error.cause).toBeUndefined();
  });

  it('isBorealisError narrows by class and optionally by code', () => {
    const error = new BorealisError(ErrorCode.BAD_CRC, 'x');
    expect(isBorealisError(error)).toBe(true);
    expect(isBorealisError(error, ErrorCode.BAD_CRC)).toBe(true);
    expect(isBorealisError(error, ErrorCode.TIMEOUT)).toBe(false);
    expect(isBorealisError(new Error('x'))).toBe(false);
  });
});

describe('InvariantViolation', () => {
  it('is a non-retryable BorealisError with code INVARIANT_VIOLATION', () => {
    const error = new InvariantViolation('scl went backwards', { scl: '0/10' });
    expect(error).toBeInstanceOf(BorealisError);
    expect(error).toBeInstanceOf(InvariantViolation);
    expect(error.name).toBe('InvariantViolation');
    expect(error.code).toBe('INVARIANT_VIOLATION');
    expect(error.retryable).toBe(false);
    expect(error.context).toEqual({ scl: '0/10' });
  });
});
