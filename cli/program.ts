// The `borealis` program: every command registered on one commander program, and the one place where
// whatever a command throws becomes a single `borealis: …` line on stderr and an exit status.
import { Command, CommanderError } from 'commander';
import { registerBacktrack } from './backtrack.ts';
import { registerBackup } from './backup.ts';
import { registerBinlog } from './binlog.ts';
import { registerDown } from './down.ts';
import { errorLine, exitCodes, oneLine, UsageError } from './errors.ts';
import { registerExport } from './export.ts';
import { registerFailover } from './failover.ts';
import { registerGlobal } from './global.ts';
import { type CliIo, type CommandContext, processIo } from './io.ts';
import { registerKill } from './kill.ts';
import { addStateDirOption } from './options.ts';
import { registerRestore } from './restore.ts';
import { registerSnapshot } from './snapshot.ts';
import { registerSql } from './sql.ts';
import { registerStart } from './start.ts';
import { registerStatus } from './status.ts';
import { registerUp } from './up.ts';

/** Commander's codes for help and version: printed on purpose, not errors. */
const helpCodes = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

export function buildProgram(ctx: CommandContext): Command {
  const program = new Command()
    .name('borealis')
    .description('Operate a Borealis cluster: the Aurora architecture on your machine.')
    // Settings first: commands copy them from the program when they are created.
    .exitOverride()
    .configureOutput({
      writeOut: (text) => ctx.io.out(text),
      writeErr: (text) => ctx.io.err(text),
      // Usage errors are printed by runCli as one line; commander's own text has two.
      outputError: () => {},
    })
    .addHelpText(
      'after',
      `
Every command finds the running system through <state-dir>/system.json (--state-dir, default .borealis);
--cluster NAME picks another cluster running beside it (e.g. a restored one) instead of the primary.
Exit status: 0 ok, 1 failed (one line on stderr: "borealis: …"), 2 bad command line.
BOREALIS_DEBUG=1 adds the stack of an unexpected error.`,
    );

  registerUp(program, ctx);
  registerDown(program, ctx);
  registerStatus(program, ctx);
  registerKill(program, ctx);
  registerStart(program, ctx);
  registerFailover(program, ctx);
  registerBacktrack(program, ctx);
  registerSql(program, ctx);
  registerSnapshot(program, ctx);
  registerBackup(program, ctx);
  registerRestore(program, ctx);
  registerExport(program, ctx);
  registerBinlog(program, ctx);
  registerGlobal(program, ctx);
  const resources = program
    .command('resources')
    .description("list each region's S3 buckets and Kinesis streams through the AWS SDK")
    .option('--json', 'print JSON');
  addStateDirOption(resources).action(async (options: { stateDir: string; json?: boolean }) => {
    // Loaded on use: the S3 and Kinesis clients slow every other command's start.
    const { listResources } = await import('./resources.ts');
    await listResources(options);
  });
  return program;
}

/** Runs one command line (without `node` and the script) and returns the exit status. */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const ctx: CommandContext = { io, exitCode: exitCodes.ok };
  const program = buildProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return ctx.exitCode;
  } catch (error) {
    if (error instanceof CommanderError || error instanceof UsageError) {
      if (error instanceof CommanderError && helpCodes.has(error.code)) return error.exitCode;
      io.err(`borealis: ${usageLine(error.message, commandNameIn(program, argv))}\n`);
      return exitCodes.usage;
    }
    const { line, exitCode } = errorLine(error);
    io.err(`borealis: ${line}\n`);
    if (process.env.BOREALIS_DEBUG && error instanceof Error && error.stack) io.err(`${error.stack}\n`);
    return exitCode;
  }
}

/** Commander's "error: unknown option '--nod'\n(Did you mean --node?)" as one line with a --help hint. */
export function usageLine(message: string, command: string | undefined): string {
  const text = oneLine(message.replace(/^error:\s*/, '')).replace(/\.$/, '');
  return `${text}; see \`borealis${command === undefined ? '' : ` ${command}`} --help\``;
}

function commandNameIn(program: Command, argv: readonly string[]): string | undefined {
  const names = new Set(program.commands.map((c) => c.name()));
  return argv.find((arg) => names.has(arg));
}
