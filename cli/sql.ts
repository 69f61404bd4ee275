// `borealis sql "SQL"`: one statement through the proxy's RDS Data API endpoint (writer, or reader with
// --reader) with the real @aws-sdk/client-rds-data, as any application would run it.
import type { Command } from 'commander';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { findControlPlane, getStatus } from './control-plane.ts';
import { CliError, describeError, isAwsServiceException, isTimeout, systemErrorCode } from './errors.ts';
import { type CommandContext, printJson } from './io.ts';
import {
  addClusterOption,
  addStateDirOption,
  type ClusterOptions,
  integerFlag,
  type StateDirOptions,
} from './options.ts';
import { formatOutcome, outcomeJson, outcomeOf } from './sql-format.ts';

/** How long one statement may take before the CLI gives up (the Data API's own limit is 45 s). */
export const sqlTimeoutMsDefault = 60_000;

/** The Data API signs requests; Borealis checks the ARNs, not the keys. */
const dummyCredentials = { accessKeyId: 'borealis', secretAccessKey: 'borealis' };

export interface SqlOptions extends StateDirOptions, Partial<ClusterOptions> {
  reader?: boolean;
  json?: boolean;
  wide?: boolean;
  timeoutMs: number;
}

/** The proxy endpoint the statement goes to, or a CliError when the cluster has none right now. */
export function sqlEndpoint(status: ClusterStatus, reader: boolean): string {
  const endpoint = reader ? status.endpoints.reader : status.endpoints.writer;
  if (!endpoint) {
    const which = reader ? 'reader' : 'writer';
    throw new CliError(
      `the cluster ${status.cluster} has no ${which} endpoint right now${status.failoverInProgress ? ' (failover in progress)' : ''}; see \`borealis status\``,
    );
  }
  return endpoint;
}

/** One line for a failed ExecuteStatement: the Data API's exception name and message, or the transport's. */
export function sqlFailure(error: unknown, endpoint: string, timeoutMs: number): CliError {
  // Our own deadline first: depending on where it cuts the request, the SDK's AbortError may carry
  // the $metadata of a service exception.
  if (isTimeout(error)) {
    return new CliError(`no answer from ${endpoint} within ${timeoutMs} ms (--timeout-ms to wait longer)`, {
      cause: error,
    });
  }
  if (isAwsServiceException(error)) return new CliError(describeError(error), { cause: error });
  const code = systemErrorCode(error);
  return new CliError(`cannot reach the Data API at ${endpoint} (${code ?? describeError(error)})`, {
    cause: error,
  });
}

export async function runSql(sql: string, options: SqlOptions, ctx: CommandContext): Promise<void> {
  const status = await getStatus(findControlPlane(options.stateDir, options.cluster));
  const endpoint = sqlEndpoint(status, options.reader === true);
  // The SDK warns on Node 20 at every client construction; the version is pinned on purpose.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  // Loaded here, not at the top: the other commands start faster without the SDK.
  const { RDSDataClient, ExecuteStatementCommand } = await import('@aws-sdk/client-rds-data');
  const client = new RDSDataClient({
    endpoint,
    region: status.region,
    credentials: dummyCredentials,
    maxAttempts: 1,
  });
  try {
    const answer = await client
      .send(
        new ExecuteStatementCommand({
          resourceArn: status.resourceArn,
          secretArn: status.secretArn,
          sql,
          includeResultMetadata: true,
          formatRecordsAs: 'NONE',
        }),
        { abortSignal: AbortSignal.timeout(options.timeoutMs) },
      )
      .catch((error: unknown) => {
        throw sqlFailure(error, endpoint, options.timeoutMs);
      });
    const outcome = outcomeOf(answer);
    if (options.json) printJson(ctx.io, outcomeJson(outcome));
    else ctx.io.out(formatOutcome(outcome, options.wide ? { cellWidthMax: Number.POSITIVE_INFINITY } : {}));
  } finally {
    client.destroy();
  }
}

export function registerSql(program: Command, ctx: CommandContext): void {
  const command = program
    .command('sql')
    .description('run one SQL statement through the proxy (RDS Data API) and print the result')
    .argument('<sql>', 'the statement, e.g. "SELECT * FROM t"')
    .option('--reader', 'use the reader endpoint (default: the writer endpoint)')
    .option(
      '--json',
      'print rows as an array of objects ({numberOfRecordsUpdated, generatedFields} for writes)',
    )
    .option('--wide', 'print long values whole (default: cut at 60 columns)')
    .option(
      '--timeout-ms <ms>',
      'give up after this many milliseconds',
      integerFlag(1, 3_600_000),
      sqlTimeoutMsDefault,
    )
    .addHelpText(
      'after',
      `
Data API errors print as their exception name and message, e.g.
  borealis: BadRequestException: Database error: no such table: t

Examples:
  borealis sql "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"
  borealis sql "INSERT INTO t (name) VALUES ('ada')"
  borealis sql --reader --json "SELECT * FROM t"
  borealis sql --cluster r1 "SELECT count(*) FROM t"   (a restored cluster)`,
    );
  addStateDirOption(addClusterOption(command)).action(async (sql: string, options: SqlOptions) => {
    await runSql(sql, options, ctx);
  });
}
