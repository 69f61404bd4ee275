// Temporary directories for multi-process tests, removed after the test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function makeTempDir(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), `borealis-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
