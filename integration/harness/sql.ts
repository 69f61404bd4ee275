// Small helpers over the real RDS Data API client for tests and benchmarks.
import {
  BatchExecuteStatementCommand,
  BeginTransactionCommand,
  CommitTransactionCommand,
  ExecuteStatementCommand,
  type ExecuteStatementCommandOutput,
  type RDSDataClient,
  RollbackTransactionCommand,
  type SqlParameter,
} from '@aws-sdk/client-rds-data';
import { type DataApiTarget, dataApiClient } from './instances.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

export type ParamValue = string | number | bigint | boolean | null | Uint8Array;

export function params(values: Record<string, ParamValue>): SqlParameter[] {
  return Object.entries(values).map(([name, v]) => {
    if (v === null) return { name, value: { isNull: true } };
    if (typeof v === 'string') return { name, value: { stringValue: v } };
    if (typeof v === 'boolean') return { name, value: { booleanValue: v } };
    if (typeof v === 'bigint') return { name, value: { longValue: Number(v) } };
    if (v instanceof Uint8Array) return { name, value: { blobValue: v } };
    return Number.isInteger(v) ? { name, value: { longValue: v } } : { name, value: { doubleValue: v } };
  });
}

export class Sql {
  readonly client: RDSDataClient;

  constructor(readonly instance: DataApiTarget) {
    this.client = dataApiClient(instance);
  }

  get arns() {
    return { resourceArn: this.instance.resourceArn, secretArn: this.instance.secretArn };
  }

  exec(
    sql: string,
    values: Record<string, ParamValue> = {},
    extra: { transactionId?: string; includeResultMetadata?: boolean } = {},
  ): Promise<ExecuteStatementCommandOutput> {
    return this.client.send(
      new ExecuteStatementCommand({ ...this.arns, sql, parameters: params(values), ...extra }),
    );
  }

  /** Rows as plain values (longValue/stringValue/… unwrapped). */
  async rows(
    sql: string,
    values: Record<string, ParamValue> = {},
    transactionId?: string,
  ): Promise<unknown[][]> {
    const out = await this.exec(sql, values, { transactionId });
    return (out.records ?? []).map((r) =>
      r.map((f) =>
        f.isNull ? null : (f.longValue ?? f.doubleValue ?? f.stringValue ?? f.booleanValue ?? f.blobValue),
      ),
    );
  }

  async begin(): Promise<string> {
    return (await this.client.send(new BeginTransactionCommand(this.arns))).transactionId!;
  }

  commit(transactionId: string) {
    return this.client.send(new CommitTransactionCommand({ ...this.arns, transactionId }));
  }

  rollback(transactionId: string) {
    return this.client.send(new RollbackTransactionCommand({ ...this.arns, transactionId }));
  }

  batch(sql: string, sets: Record<string, ParamValue>[], transactionId?: string) {
    return this.client.send(
      new BatchExecuteStatementCommand({ ...this.arns, sql, parameterSets: sets.map(params), transactionId }),
    );
  }

  close(): void {
    this.client.destroy();
  }
}
