// Temporary directories for multi-process tests, removed after the test file (kept, with their
// logs, when BOREALIS_KEEP_TEST_DIRS is set: for reading why a run failed).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `borealis-${prefix}-`));
  const keep =
    process.env.BOREALIS_KEEP_TEST_DIRS !== undefined && process.env.BOREALIS_KEEP_TEST_DIRS !== '';
  return { path, remove: () => (keep ? undefined : rmSync(path, { recursive: true, force: true })) };
}
