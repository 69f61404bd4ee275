import { describe, expect, it } from 'vitest';
import { mysqlCommandLine, mysqlConnectLines } from './mysql-connect.ts';

const account = { user: 'admin', password: 'borealis', database: 'borealis' };

describe('how to connect over MySQL', () => {
  it('builds the mariadb command line from host:port and the account', () => {
    expect(mysqlCommandLine('127.0.0.1:3306', account)).toBe(
      'mariadb -h 127.0.0.1 -P 3306 -u admin -pborealis --skip-ssl borealis',
    );
    expect(mysqlCommandLine('proxy.local:1', { ...account, database: 'orders' })).toBe(
      'mariadb -h proxy.local -P 1 -u admin -pborealis --skip-ssl orders',
    );
  });

  it('has lines for both endpoints, and none for a proxy without MySQL endpoints', () => {
    expect(
      mysqlConnectLines({
        endpoints: { writer: 'http://h:1', reader: 'http://h:2', mysql: { writer: 'h:3', reader: 'h:4' } },
        mysql: account,
      }),
    ).toEqual({
      writer: 'mariadb -h h -P 3 -u admin -pborealis --skip-ssl borealis',
      reader: 'mariadb -h h -P 4 -u admin -pborealis --skip-ssl borealis',
    });
    expect(mysqlConnectLines({ endpoints: { writer: null, reader: null }, mysql: account })).toBeUndefined();
  });
});
