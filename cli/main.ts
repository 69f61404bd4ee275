// The `borealis` command line: operate the system that `npm start` runs (or one on LocalStack/AWS).
// Errors are one line on stderr and a non-zero exit, never a stack trace.
import { Command, CommanderError } from 'commander';
import { listResources } from './resources.ts';

const program = new Command()
  .name('borealis')
  .description('Operate a Borealis cluster: the Aurora architecture on your machine.')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

program
  .command('resources')
  .description("list each region's S3 buckets and Kinesis streams through the AWS SDK")
  .option('--state-dir <dir>', 'state dir of the running system', '.borealis')
  .option('--json', 'print JSON')
  .action(async (options: { stateDir: string; json?: boolean }) => {
    await listResources(options);
  });

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exit(error.exitCode);
  }
  console.error(`borealis: ${(error as Error).message}`);
  process.exit(1);
}
