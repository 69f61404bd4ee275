// What a `borealis` command writes to and returns: injected, so tests run commands in-process.

export interface CliIo {
  /** stdout: results, views, JSON. */
  out(text: string): void;
  /** stderr: the one error line (written by the program, not by commands). */
  err(text: string): void;
}

export interface CommandContext {
  io: CliIo;
  /** The exit status a command asks for when it succeeds otherwise (`up` passes the launcher's on). */
  exitCode: number;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

/** Prints a value as the stable JSON every `--json` flag prints: two-space indented, one newline. */
export function printJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}
