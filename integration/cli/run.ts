// Runs the real `borealis` command (bin/borealis.js, as `npx borealis` does) as a child process and
// collects its exit status and output; async, so an in-test server keeps answering meanwhile.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/borealis.js', import.meta.url));

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export function borealis(
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { timeout: options.timeoutMs ?? 20_000, env: { ...(options.env ?? process.env), BOREALIS_DEBUG: '' } },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** stderr is exactly one `borealis: …` line: no stack, no second line. */
export function oneErrorLine(run: CliRun): string {
  const lines = run.stderr.split('\n');
  if (
    lines.length !== 2 ||
    lines[1] !== '' ||
    !lines[0]!.startsWith('borealis: ') ||
    /\n\s+at /.test(run.stderr)
  ) {
    throw new Error(`expected one 'borealis: ' line on stderr, got:\n${run.stderr}`);
  }
  return lines[0]!;
}
