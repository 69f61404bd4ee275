// Small async helpers for the benchmark: sleeping, bounding a wait, one-line error messages.

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with the promise's value, or with `fallback` once `ms` have passed. */
export async function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Rejects with `message` once `ms` have passed. */
export async function deadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${message} (no answer in ${Math.round(ms / 1000)} s)`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** An error as one short line: its name or code and message, without a stack. */
export function errorLine(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const prefix = typeof code === 'string' ? code : error.name !== 'Error' ? error.name : '';
    const line = `${prefix ? `${prefix}: ` : ''}${error.message}`.split('\n')[0]!;
    return line.length > 160 ? `${line.slice(0, 157)}...` : line;
  }
  return String(error).slice(0, 160);
}

/** Wall-clock milliseconds with sub-millisecond precision, comparable across processes. */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Calls `check` every `intervalMs` until it returns a value other than undefined, or throws at the end. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
  intervalMs = 100,
): Promise<T> {
  const end = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (performance.now() > end)
      throw new Error(
        `${what}: not after ${Math.round(timeoutMs / 1000)} s${last ? ` (${errorLine(last)})` : ''}`,
      );
    await sleep(intervalMs);
  }
}
