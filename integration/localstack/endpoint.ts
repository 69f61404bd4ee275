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
