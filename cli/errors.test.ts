import { describe, expect, it } from 'vitest';
import {
  CliError,
  errorLine,
  errorLineCharsMax,
  exitCodes,
  isTimeout,
  oneLine,
  systemErrorCode,
  UsageError,
} from './errors.ts';

/** What the AWS SDK throws for a Data API error answer. */
function serviceException(name: string, message: string): Error {
  const error = new Error(message);
  error.name = name;
  return Object.assign(error, { $metadata: { httpStatusCode: 400 }, $fault: 'client' });
}

function connectionRefused(): Error {
  const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  return new TypeError('fetch failed', { cause });
}

describe('errorLine', () => {
  it('prints a CliError as it is, with its exit status', () => {
    expect(errorLine(new CliError('no storage node n9'))).toEqual({
      line: 'no storage node n9',
      exitCode: exitCodes.failure,
    });
    expect(errorLine(new UsageError('give one of --node, --az')).exitCode).toBe(exitCodes.usage);
  });

  it('prints a Data API exception as its name and message', () => {
    expect(errorLine(serviceException('DatabaseErrorException', 'no such table: t')).line).toBe(
      'DatabaseErrorException: no such table: t',
    );
  });

  it('says so when a service exception has no message of its own', () => {
    expect(errorLine(serviceException('ServiceUnavailableError', 'ServiceUnavailableError')).line).toBe(
      'ServiceUnavailableError: (no message)',
    );
  });

  it("prints fetch's network failure as its cause", () => {
    expect(errorLine(connectionRefused()).line).toBe('connect ECONNREFUSED 127.0.0.1:9');
  });

  it('keeps every message on one line and bounded', () => {
    const { line } = errorLine(new Error(`first\n  second\r\nthird ${'x'.repeat(5_000)}`));
    expect(line).not.toMatch(/\n/);
    expect(line.startsWith('first second third x')).toBe(true);
    expect(line.length).toBe(errorLineCharsMax);
    expect(line.endsWith('…')).toBe(true);
  });

  it('turns values that are not errors into text', () => {
    expect(errorLine('plain string')).toEqual({ line: 'plain string', exitCode: 1 });
    expect(errorLine(undefined).line).toBe('undefined');
  });
});

describe('error helpers', () => {
  it('oneLine collapses whitespace', () => {
    expect(oneLine('  a\n\tb  ')).toBe('a b');
    expect(oneLine('abcdef', 4)).toBe('abc…');
  });

  it('systemErrorCode looks through causes', () => {
    expect(systemErrorCode(connectionRefused())).toBe('ECONNREFUSED');
    expect(systemErrorCode(new Error('x'))).toBeUndefined();
  });

  it('isTimeout recognises AbortSignal.timeout and the SDK abort', async () => {
    const signal = AbortSignal.timeout(1);
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(isTimeout(signal.reason)).toBe(true);
    const sdkAbort = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    expect(isTimeout(sdkAbort)).toBe(true);
    expect(isTimeout(new Error('x'))).toBe(false);
  });
});
