// The MySQL protocol endpoint of a writer or reader instance: its flags (--mysql-port, the account),
// and starting it over the instance's executor, the one the Data API uses.
import type { Logger } from '../log.ts';
import { nonNegativeIntFlag } from '../process/flags.ts';
import { maxAllowedPacketDefault } from './protocol.ts';
import {
  type MysqlExecutor,
  type MysqlServer,
  mysqlPasswordDefault,
  mysqlUserDefault,
  startMysqlServer,
} from './server.ts';

/** The environment variable that sets the MySQL password without putting it on a command line. */
export const mysqlPasswordEnv = 'BOREALIS_MYSQL_PASSWORD';

export const mysqlFlagOptions = {
  'mysql-port': { type: 'string', default: '0' },
  'mysql-user': { type: 'string', default: mysqlUserDefault },
  'mysql-password': { type: 'string' },
  'mysql-database': { type: 'string' },
  'mysql-wait-timeout-ms': { type: 'string', default: '28800000' },
  'mysql-max-allowed-packet': { type: 'string', default: String(maxAllowedPacketDefault) },
} as const;

export const mysqlFlagUsage = `  --mysql-port N          MySQL protocol port (default 0: any)
  --mysql-user NAME       the MySQL account (default ${mysqlUserDefault})
  --mysql-password PW     its password (default $${mysqlPasswordEnv}, else ${mysqlPasswordDefault})
  --mysql-database NAME   the cluster's database, as SHOW DATABASES and USE name it (default: the cluster name)
  --mysql-wait-timeout-ms N  close MySQL connections idle this long (default 28800000, MySQL's 8 h)
  --mysql-max-allowed-packet N  largest MySQL command in bytes (default ${maxAllowedPacketDefault}, 64 MiB)`;

export interface MysqlFlagValues {
  'mysql-port'?: string;
  'mysql-user'?: string;
  'mysql-password'?: string;
  'mysql-database'?: string;
  'mysql-wait-timeout-ms'?: string;
  'mysql-max-allowed-packet'?: string;
}

/** The account clients connect with: flags, then the environment, then the defaults. */
export function mysqlAccount(
  values: MysqlFlagValues,
  cluster: string,
): { user: string; password: string; database: string } {
  return {
    user: values['mysql-user'] ?? mysqlUserDefault,
    password: values['mysql-password'] ?? process.env[mysqlPasswordEnv] ?? mysqlPasswordDefault,
    database: values['mysql-database'] ?? cluster,
  };
}

export function startInstanceMysql(
  service: string,
  values: MysqlFlagValues,
  options: { executor: MysqlExecutor; host: string; readOnly: boolean; cluster: string; logger: Logger },
): Promise<MysqlServer> {
  return startMysqlServer({
    port: nonNegativeIntFlag(service, 'mysql-port', values['mysql-port']),
    host: options.host,
    executor: options.executor,
    ...mysqlAccount(values, options.cluster),
    readOnly: options.readOnly,
    waitTimeoutMs: Math.max(
      1,
      nonNegativeIntFlag(service, 'mysql-wait-timeout-ms', values['mysql-wait-timeout-ms']),
    ),
    maxAllowedPacket: nonNegativeIntFlag(
      service,
      'mysql-max-allowed-packet',
      values['mysql-max-allowed-packet'],
    ),
    logger: options.logger,
  });
}
