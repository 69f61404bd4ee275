// Unit tests sit beside the code they test; multi-process tests live in integration/.
// BOREALIS_TEST_REPORT (set by .ci/run) adds a JSON report that .ci/run turns into its summary line.
import { defineConfig } from 'vitest/config';

const reportFile = process.env.BOREALIS_TEST_REPORT;

export default defineConfig({
  test: {
    include: ['{core,services,functions,embedded,integration,cdk,bench,cli,tools}/**/*.test.ts'],
    exclude: ['**/node_modules/**', 'cdk.out/**', '.borealis/**'],
    pool: 'forks',
    // Two cores: integration files start many processes each, so run files two at a time at most.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: reportFile ? ['default', ['json', { outputFile: reportFile }]] : ['default'],
  },
});
