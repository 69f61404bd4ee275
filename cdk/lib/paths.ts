// Paths the CDK app resolves against the repository root: function entries, the lock file that
// NodejsFunction bundles against, and the Dockerfile of the ECS image. Independent of the cwd.
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
export const lockFile = fileURLToPath(new URL('../../package-lock.json', import.meta.url));

/** functions/<directory>/index.ts, the Lambda entry exporting `handler`. */
export function functionEntry(directory: string): string {
  return fileURLToPath(new URL(`../../functions/${directory}/index.ts`, import.meta.url));
}
