// The proxy's MySQL endpoints: the cluster (writer) endpoint and the reader endpoint, each a MySQL
// protocol server (core/mysql/server.ts, the one the instances run) over a ProxyMysqlExecutor, plus
// their flags and Prometheus metrics.
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import type { Logger } from '../../../core/log.ts';
import { mysqlPasswordEnv } from '../../../core/mysql/instance.ts';
import { maxAllowedPacketDefault } from '../../../core/mysql/protocol.ts';
import {
  type MysqlServer,
  mysqlPasswordDefault,
  mysqlUserDefault,
  startMysqlServer,
  waitTimeoutMsDefault,
} from '../../../core/mysql/server.ts';
import { nonNegativeIntFlag } from '../../../core/process/flags.ts';
import type { Dispatcher } from '../dispatcher.ts';
import type { EndpointKind } from '../router.ts';
import { ProxyMysqlExecutor } from './executor.ts';
import type { CallerArns } from './wire.ts';

export const proxyMysqlFlagOptions = {
  'mysql-writer-port': { type: 'string', default: '0' },
  'mysql-reader-port': { type: 'string', default: '0' },
  'mysql-user': { type: 'string', default: mysqlUserDefault },
  'mysql-password': { type: 'string' },
  'mysql-database': { type: 'string', default: 'borealis' },
  'mysql-wait-timeout-ms': { type: 'string', default: String(waitTimeoutMsDefault) },
  'mysql-max-allowed-packet': { type: 'string', default: String(maxAllowedPacketDefault) },
} as const;

export const proxyMysqlFlagUsage = `  --mysql-writer-port N cluster (writer) endpoint, MySQL protocol (default 0: any)
  --mysql-reader-port N reader endpoint, MySQL protocol (default 0: any)
  --mysql-user NAME     the MySQL account (default ${mysqlUserDefault}; the instances' account)
  --mysql-password PW   its password (default $${mysqlPasswordEnv}, else ${mysqlPasswordDefault})
  --mysql-database NAME the cluster's database, as the instances name it (default borealis: the cluster name)
  --mysql-wait-timeout-ms N  close MySQL connections idle this long (default ${waitTimeoutMsDefault}, 8 h)
  --mysql-max-allowed-packet N  largest MySQL command in bytes (default ${maxAllowedPacketDefault})`;

export type ProxyMysqlFlagValues = { [K in keyof typeof proxyMysqlFlagOptions]?: string | undefined };

export interface ProxyMysqlOptions {
  values: ProxyMysqlFlagValues;
  host: string;
  dispatcher: Pick<Dispatcher, 'submit'>;
  arns: () => CallerArns | undefined;
  holdMs: number;
  registry: Registry;
  logger: Logger;
}

export interface ProxyMysql {
  writer: MysqlServer;
  reader: MysqlServer;
  account: { user: string; password: string; database: string };
  close(): Promise<void>;
}

export async function startProxyMysql(options: ProxyMysqlOptions): Promise<ProxyMysql> {
  const { values } = options;
  const int = (name: keyof typeof proxyMysqlFlagOptions) => nonNegativeIntFlag('proxy', name, values[name]);
  const account = {
    user: values['mysql-user'] ?? mysqlUserDefault,
    password: values['mysql-password'] ?? process.env[mysqlPasswordEnv] ?? mysqlPasswordDefault,
    database: values['mysql-database'] ?? 'borealis',
  };
  const registers = [options.registry];
  const calls = new Counter({
    name: 'borealis_proxy_mysql_calls_total',
    help: 'Executor calls of the MySQL endpoints (statements, begin/commit/rollback) by how they ended: ok, error (passed on), transaction_aborted (1213), connection_lost (closed: outcome unknown or never sent)',
    labelNames: ['endpoint', 'operation', 'outcome'],
    registers,
  });
  const servers = new Map<EndpointKind, MysqlServer>();
  new Gauge({
    name: 'borealis_proxy_mysql_connections',
    help: 'Open client connections on each MySQL endpoint',
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const [endpoint, server] of servers) this.set({ endpoint }, server.connections);
    },
  });
  const start = async (endpoint: EndpointKind, port: number): Promise<MysqlServer> => {
    const executor = new ProxyMysqlExecutor({
      endpoint,
      dispatcher: options.dispatcher,
      arns: options.arns,
      holdMs: options.holdMs,
      observe: (operation, outcome) => calls.inc({ endpoint, operation, outcome }),
    });
    const server = await startMysqlServer({
      port,
      host: options.host,
      executor,
      ...account,
      // The reader endpoint's instances refuse writes themselves (1290); a reader endpoint with no
      // reader falls back to the writer, as Aurora's does, and then writes succeed there too.
      readOnly: endpoint === 'reader',
      waitTimeoutMs: Math.max(1, int('mysql-wait-timeout-ms')),
      maxAllowedPacket: int('mysql-max-allowed-packet'),
      logger: options.logger.child({ mysqlEndpoint: endpoint }),
    });
    servers.set(endpoint, server);
    return server;
  };
  const writer = await start('writer', int('mysql-writer-port'));
  const reader = await start('reader', int('mysql-reader-port'));
  return {
    writer,
    reader,
    account,
    close: async () => {
      await Promise.all([writer.close(), reader.close()]);
    },
  };
}
