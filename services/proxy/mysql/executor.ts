// The executor the proxy's MySQL endpoints run statements with: every call becomes a Data API request
// submitted to the proxy's own Dispatcher, so MySQL connections get exactly the Data API endpoints'
// promises — routing (writer / balanced readers), holding through a failover, the no-replay rule,
// transactions pinned to their instance incarnation — from the same modules (ADR 017).
import { assert } from '../../../core/assert.ts';
import { databaseUnavailable } from '../../../core/data-api/errors.ts';
import type {
  ResultColumn,
  SqlValue,
  StatementRequest,
  StatementResult,
} from '../../../core/data-api/types.ts';
import type { MysqlExecutor } from '../../../core/mysql/server.ts';
import { classifyRequest } from '../classify.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { EndpointKind } from '../router.ts';
import { mysqlFate } from './outcome.ts';
import {
  answerBody,
  batchCall,
  batchResult,
  beginCall,
  type CallerArns,
  type DataApiCall,
  endCall,
  executeCall,
  statementResult,
  transactionIdOf,
} from './wire.ts';

/** How a MySQL front-end call ended, as the `outcome` label. */
export type MysqlCallOutcome = 'ok' | 'error' | 'transaction_aborted' | 'connection_lost';

export interface ProxyMysqlExecutorOptions {
  endpoint: EndpointKind;
  dispatcher: Pick<Dispatcher, 'submit'>;
  /** The cluster's ARNs from the topology; undefined until the first one arrives. */
  arns: () => CallerArns | undefined;
  /** How long a call waits for the first topology (the proxy's --hold-ms). */
  holdMs: number;
  observe?: (operation: string, outcome: MysqlCallOutcome) => void;
}

const arnsPollMs = 50;

export class ProxyMysqlExecutor implements MysqlExecutor {
  readonly #options: ProxyMysqlExecutorOptions;

  constructor(options: ProxyMysqlExecutorOptions) {
    assert(options.holdMs >= 0, `holdMs must be >= 0, got ${options.holdMs}`);
    this.#options = options;
  }

  async executeStatement(request: StatementRequest): Promise<StatementResult> {
    const arns = await this.#arns();
    return statementResult(await this.#call(executeCall(arns, request)));
  }

  async batchExecuteStatement(
    sql: string,
    parameterSets: Map<string, SqlValue>[],
    transactionId?: string,
  ): Promise<{ generatedFields: SqlValue[][] }> {
    const arns = await this.#arns();
    return batchResult(await this.#call(batchCall(arns, sql, parameterSets, transactionId)));
  }

  async beginTransaction(): Promise<string> {
    return transactionIdOf(await this.#call(beginCall(await this.#arns())));
  }

  async commitTransaction(id: string): Promise<void> {
    await this.#call(endCall(await this.#arns(), 'commit', id));
  }

  async rollbackTransaction(id: string): Promise<void> {
    await this.#call(endCall(await this.#arns(), 'rollback', id));
  }

  /**
   * The result columns of a statement being prepared (COM_STMT_PREPARE must announce as many columns
   * as its executions return). The Data API has no "describe", so the statement is run with every
   * parameter NULL — only statements that can return rows get here — wrapped in `LIMIT 0` where it is
   * a plain query, so nothing is read but the column names.
   */
  async describeStatement(sql: string): Promise<ResultColumn[]> {
    const parameters = new Map<string, SqlValue>();
    for (const name of placeholderNames(sql)) parameters.set(name, null);
    const result = await this.executeStatement({
      sql: describeSql(sql),
      parameters,
      includeResultMetadata: true,
      formatRecordsAs: 'NONE',
      continueAfterTimeout: false,
    });
    return result.columns;
  }

  async #arns(): Promise<CallerArns> {
    const deadline = Date.now() + this.#options.holdMs;
    for (;;) {
      const arns = this.#options.arns();
      if (arns !== undefined) return arns;
      if (Date.now() >= deadline) {
        const error = databaseUnavailable(
          `The proxy has no cluster topology yet (waited ${this.#options.holdMs} ms); nothing was sent`,
        );
        this.#options.observe?.('topology', 'connection_lost');
        throw mysqlFate(error).error;
      }
      await new Promise((resolve) => setTimeout(resolve, arnsPollMs));
    }
  }

  #call(call: DataApiCall): Promise<Record<string, unknown>> {
    const { endpoint, dispatcher, observe } = this.#options;
    return new Promise<Record<string, unknown>>((resolve, reject) => {
      const fail = (error: unknown) => {
        const fate = mysqlFate(error);
        observe?.(
          call.operation,
          fate.kind === 'error' ? 'error' : (fate.kind.replace('-', '_') as MysqlCallOutcome),
        );
        reject(fate.error);
      };
      let request: ReturnType<typeof classifyRequest>;
      try {
        request = classifyRequest(call.operation, call.input);
      } catch (error) {
        fail(error);
        return;
      }
      dispatcher.submit({
        endpoint,
        path: call.path,
        request,
        input: call.input,
        body: call.body,
        reply: (reply) => {
          try {
            if (reply.kind === 'error') throw reply.error;
            const errorType = reply.headers['x-amzn-errortype'];
            const body = answerBody({
              status: reply.status,
              errorType: typeof errorType === 'string' ? errorType : undefined,
              body: reply.body,
            });
            observe?.(call.operation, 'ok');
            resolve(body);
          } catch (error) {
            fail(error);
          }
        },
      });
    });
  }
}

/** The `:name` placeholders of SQL (outside strings, quoted names and comments), in order, once each. */
export function placeholderNames(sql: string): string[] {
  const names = new Set<string>();
  const pattern =
    /'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*"|`(?:[^`]|``)*`|--[^\n]*|#[^\n]*|\/\*[\s\S]*?\*\/|::|:([A-Za-z0-9_]+)/g;
  for (const m of sql.matchAll(pattern)) if (m[1] !== undefined) names.add(m[1]);
  return [...names];
}

const lockingRead = /\bfor\s+(update|share)\b|\block\s+in\s+share\s+mode\b/i;

/** A query wrapped so that it returns its columns and no rows; other statements as they are. */
export function describeSql(sql: string): string {
  const trimmed = sql.replace(/[\s;]+$/, '');
  if (!/^\s*(select|with)\b/i.test(trimmed) || lockingRead.test(trimmed)) return sql;
  return `SELECT * FROM (${trimmed}\n) LIMIT 0`;
}
