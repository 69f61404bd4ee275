// The `borealis` command line: operate the system that `npm start` runs (or one on LocalStack/AWS).
// Process entry only: the commands are in program.ts; errors are one line on stderr, never a stack.
import { errorLine } from './errors.ts';
import { runCli } from './program.ts';

// `borealis status | head` closes stdout early: that is not an error worth a line.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
});
// A failure outside any command's await (a socket error event): still one line, never a stack.
const lastResort = (error: unknown) => {
  process.stderr.write(`borealis: ${errorLine(error).line}\n`);
  process.exit(1);
};
process.on('uncaughtException', lastResort);
process.on('unhandledRejection', lastResort);

const exitCode = await runCli(process.argv.slice(2));
// Exit now, once stdout and stderr are flushed: an idle keep-alive socket must not hold the command open.
process.stdout.write('', () => process.stderr.write('', () => process.exit(exitCode)));
