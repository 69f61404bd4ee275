// `npm run bench:backtrack`: the backtrack duration measurement runs under vitest (it drives a whole
// cluster with the integration harness) but outside `npm test`, whose include does not match it.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['bench/backtrack/*.bench.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 30 * 60_000,
    hookTimeout: 5 * 60_000,
  },
});
