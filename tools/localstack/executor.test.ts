// The borealis-host executor's own tests (tools/localstack/executor/tests, Python unittest) run
// inside LocalStack's virtual environment: they need LocalStack's modules. Skipped with the reason
// when that environment is not installed, except in CI, where .ci/run installs it first.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { localStackDir } from './localstack.ts';

const python = join(localStackDir(), 'venv', 'bin', 'python');
const installed = existsSync(python);
const ci = process.env.CI === 'true' || process.env.CI === '1';
if (!installed && !ci) {
  console.log(
    'tools/localstack/executor: skipped — run `npm run localstack -- install` to run its Python tests',
  );
}

describe.skipIf(!installed && !ci)('borealis-host LocalStack Lambda executor', () => {
  it('passes its Python tests (init, result, error, timeout, logs, a handler that cannot load)', async () => {
    expect(installed, `${python} is missing: npm run localstack -- install`).toBe(true);
    const testsDir = fileURLToPath(new URL('./executor/tests', import.meta.url));
    const { stderr } = await promisify(execFile)(
      python,
      ['-m', 'unittest', 'discover', '-v', '-s', testsDir],
      {
        timeout: 120_000,
      },
    ).catch((error: { stdout?: string; stderr?: string }) => {
      throw new Error(`executor tests failed:\n${error.stdout ?? ''}${error.stderr ?? ''}`);
    });
    // unittest reports on stderr: every test ran and passed.
    expect(stderr).toMatch(/Ran 6 tests/);
    expect(stderr).toMatch(/\nOK\s*$/);
  }, 150_000);
});
