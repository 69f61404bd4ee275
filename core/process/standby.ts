// A warm standby (ADR 019): an instance process started ahead of need. It loads its modules and the
// SQLite Wasm, says so with {"standby":true} on stdout, then waits for one activation line on stdin
// — {"activate":true,"args":[...]} — and runs as if started with those args. A failover or backtrack
// then pays recovery (~0.1 s), not Node's start (~1.3 s here). Its stdin closing before activation
// means the launcher is gone: it exits.
import { createInterface } from 'node:readline';

/** The flag that makes an instance entry a standby (it must be the only argument). */
export const standbyFlag = '--standby';

/** Activation lines longer than this are refused (the args of one instance are a few hundred bytes). */
const activationBytesMax = 64 * 1024;

export function isStandby(argv: readonly string[] = process.argv.slice(2)): boolean {
  return argv.length === 1 && argv[0] === standbyFlag;
}

/** The activation line the launcher writes. */
export function activationLine(args: readonly string[]): string {
  return `${JSON.stringify({ activate: true, args })}\n`;
}

/** The args in an activation line, or why it is not one. */
export function parseActivation(line: string): { args: string[] } | { error: string } {
  if (line.length > activationBytesMax) return { error: `activation line over ${activationBytesMax} bytes` };
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { error: 'activation line is not JSON' };
  }
  const p = parsed as { activate?: unknown; args?: unknown };
  if (typeof p !== 'object' || p === null || p.activate !== true) {
    return { error: 'activation line lacks "activate": true' };
  }
  if (!Array.isArray(p.args) || !p.args.every((a) => typeof a === 'string')) {
    return { error: 'activation line "args" must be an array of strings' };
  }
  return { args: p.args as string[] };
}

/**
 * The args this process runs with: its own, or — started as a standby — those of the activation line,
 * after `warm` has run (what a standby loads ahead: the Wasm). A bad line is one line on stderr and
 * exit code 2, like a bad flag.
 */
export async function instanceArgs(program: string, warm: () => Promise<void>): Promise<string[]> {
  if (!isStandby()) return process.argv.slice(2);
  await warm();
  process.stdout.write(`${JSON.stringify({ standby: true, service: program, pid: process.pid })}\n`);
  const line = await new Promise<string | undefined>((resolve) => {
    const lines = createInterface({ input: process.stdin });
    lines.once('line', (l) => {
      resolve(l); // before close(): it emits 'close' at once
      lines.close();
      process.stdin.destroy(); // one line is all a standby reads
    });
    lines.once('close', () => resolve(undefined));
  });
  if (line === undefined) process.exit(0); // the launcher went away before it needed this standby
  const activation = parseActivation(line);
  if ('error' in activation) {
    console.error(`${program}: ${activation.error}`);
    process.exit(2);
  }
  return activation.args;
}
