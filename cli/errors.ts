// How every failure of the `borealis` command becomes ONE line on stderr and an exit code: commands
// throw CliError (their own words) or UsageError (a bad command line); anything else is mapped here.

/** Exit statuses of every `borealis` command (documented in `borealis --help`). */
export const exitCodes = Object.freeze({ ok: 0, failure: 1, usage: 2 });

/** Longest error line printed; a longer message (a huge SQL echo, an HTML page) is cut. */
export const errorLineCharsMax = 1_000;

/** A failure the command explains itself: `message` is printed as it is after `borealis: `. */
export class CliError extends Error {
  readonly exitCode: number;

  constructor(message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CliError';
    this.exitCode = options.exitCode ?? exitCodes.failure;
  }
}

/** A command line that cannot be run (missing or conflicting flags): exit status 2 and a --help hint. */
export class UsageError extends CliError {
  constructor(message: string) {
    super(message, { exitCode: exitCodes.usage });
    this.name = 'UsageError';
  }
}

/** Collapses whitespace and line breaks to single spaces and caps the length. */
export function oneLine(text: string, charsMax: number = errorLineCharsMax): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= charsMax ? flat : `${flat.slice(0, charsMax - 1)}…`;
}

/**
 * The line (without the `borealis: ` prefix) and exit status for anything a command threw.
 * AWS SDK service exceptions (they carry `$metadata`) print as `Name: message`, as the Data API
 * names them; Node system errors and `fetch failed` print their cause; anything else its message.
 */
export function errorLine(error: unknown): { line: string; exitCode: number } {
  if (error instanceof CliError) return { line: oneLine(error.message), exitCode: error.exitCode };
  return { line: oneLine(describeError(error)), exitCode: exitCodes.failure };
}

/** A short description of a thrown value, for messages that add their own context. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (isAwsServiceException(error)) {
    const message = error.message && error.message !== error.name ? error.message : '(no message)';
    return `${error.name}: ${message}`;
  }
  // fetch() reports every network failure as TypeError('fetch failed') with the real error as cause.
  if (error.message === 'fetch failed' && error.cause instanceof Error) return describeError(error.cause);
  if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
  return error.message || error.name;
}

/** An exception the AWS SDK built from a service's error answer (every one carries `$metadata`). */
export function isAwsServiceException(error: unknown): error is Error & { $metadata: unknown } {
  return error instanceof Error && '$metadata' in error && typeof error.name === 'string';
}

/** A Node system error code such as ECONNREFUSED, looking through fetch's `cause`. */
export function systemErrorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
  }
  return undefined;
}

/** Whether a call was cut by its own deadline (AbortSignal.timeout, or the SDK's abortSignal). */
export function isTimeout(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    if (e.name === 'TimeoutError' || e.name === 'AbortError') return true;
  }
  return false;
}
