// Which LocalStack the LocalStack suite runs against, and what happens without one: the endpoint
// in LOCALSTACK_ENDPOINT, else the one `npm run localstack -- start` left running. Outside CI a
// missing LocalStack skips the suite with the reason printed; in CI (CI=true) it is a failure —
// the suite is never silently skipped there (.ci/run starts LocalStack before `npm test`).
import { readState } from '../../tools/localstack/localstack.ts';

export interface LocalStackTarget {
  endpoint: string | undefined;
  /** Why the suite does not run (undefined when it runs, or must fail). */
  skipReason: string | undefined;
}

export function localStackTarget(env: NodeJS.ProcessEnv = process.env): LocalStackTarget {
  const endpoint = env.LOCALSTACK_ENDPOINT || readState()?.endpoint;
  if (endpoint) return { endpoint, skipReason: undefined };
  const reason =
    'no LocalStack: run `npm run localstack -- start` (or set LOCALSTACK_ENDPOINT) to run the LocalStack suite';
  if (env.CI === 'true' || env.CI === '1') return { endpoint: undefined, skipReason: undefined };
  return { endpoint: undefined, skipReason: reason };
}

/** For a suite's first test: in CI without LocalStack, fail with the reason instead of skipping. */
export function requireLocalStack(target: LocalStackTarget): string {
  if (!target.endpoint) {
    throw new Error(
      'CI=true but no LocalStack is running: .ci/run must start it (npm run localstack -- start) before the tests',
    );
  }
  return target.endpoint;
}

/** LocalStack's test credentials, for the SDK clients a test builds itself. */
export const localStackCredentials = { accessKeyId: 'test', secretAccessKey: 'test' } as const;

/** The environment of a test's SDK clients and child processes: this LocalStack, for every service. */
export function localStackEnv(endpoint: string, region: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: localStackCredentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: localStackCredentials.secretAccessKey,
    AWS_REGION: region,
  };
}

/**
 * The probe's first defined result, probed every 500 ms (a throw counts as not yet); after
 * timeoutMs, an error naming what was awaited and the last error seen.
 */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(last ?? 'no result')}`);
}
