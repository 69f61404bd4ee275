// How to connect to a cluster's MySQL endpoints, as `npm start`, `borealis up` and `borealis status`
// print it: the proxy's cluster and reader endpoints (ADR 017) with the cluster's MySQL account. Pure.
import type { ClusterStatus } from './topology.ts';

/** The mariadb/mysql command line for one endpoint (`host:port`); TLS is not offered (docs/mysql.md). */
export function mysqlCommandLine(
  endpoint: string,
  account: { user: string; password: string; database: string },
): string {
  const colon = endpoint.lastIndexOf(':');
  const host = endpoint.slice(0, colon);
  const port = endpoint.slice(colon + 1);
  return `mariadb -h ${host} -P ${port} -u ${account.user} -p${account.password} --skip-ssl ${account.database}`;
}

/** `[label, command]` for the cluster and reader MySQL endpoints; empty when the proxy has none. */
export function mysqlConnectLines(
  status: Pick<ClusterStatus, 'endpoints' | 'mysql'>,
): { writer: string; reader: string } | undefined {
  const endpoints = status.endpoints.mysql;
  if (endpoints === undefined || status.mysql === undefined) return undefined;
  return {
    writer: mysqlCommandLine(endpoints.writer, status.mysql),
    reader: mysqlCommandLine(endpoints.reader, status.mysql),
  };
}
