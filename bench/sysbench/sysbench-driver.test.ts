import { describe, expect, it } from 'vitest';
import { parseSysbenchRun, sysbenchArgs, sysbenchTable } from './sysbench-driver.ts';

// The tail of a `sysbench oltp_write_only … run` report, as sysbench 1.0.20 prints it.
const report = `
SQL statistics:
    queries performed:
        read:                            0
        write:                           1304
        other:                           652
        total:                           1956
    transactions:                        326    (32.49 per sec.)
    queries:                             1956   (194.95 per sec.)
    ignored errors:                      2      (0.20 per sec.)
    reconnects:                          1      (0.10 per sec.)

General statistics:
    total time:                          10.0316s
    total number of events:              326

Latency (ms):
         min:                                   12.04
         avg:                                  245.55
         max:                                  600.34
         95th percentile:                      580.02
         sum:                                80048.87
`;

describe('the sysbench driver of npm run bench', () => {
  it("parses sysbench's run report", () => {
    expect(parseSysbenchRun(report)).toEqual({
      transactions: 326,
      transactionsPerSecond: 32.49,
      queriesPerSecond: 194.95,
      errors: 2,
      reconnects: 1,
      latencyAvgMs: 245.55,
      latencyP95Ms: 580.02,
    });
  });

  it('refuses a report without its figures (sysbench failed)', () => {
    expect(() => parseSysbenchRun('FATAL: error 2013')).toThrow(/no transactions/);
  });

  it('points sysbench at the endpoint, one table of the given rows, TLS off', () => {
    expect(
      sysbenchArgs(
        'oltp_write_only',
        { host: '127.0.0.1', port: 3306, user: 'u', password: 'p', database: 'd' },
        100,
        ['run'],
      ),
    ).toEqual([
      'oltp_write_only',
      '--db-driver=mysql',
      '--mysql-host=127.0.0.1',
      '--mysql-port=3306',
      '--mysql-user=u',
      '--mysql-password=p',
      '--mysql-db=d',
      '--mysql-ssl=off',
      '--tables=1',
      '--table-size=100',
      'run',
    ]);
  });

  it('tabulates each system and the ratio', () => {
    const run = parseSysbenchRun(report);
    const table = sysbenchTable(
      [
        {
          id: 'borealis',
          label: 'b',
          ok: true,
          phases: [{ workload: 'write_only', clients: 8, ok: true, run }],
        },
        {
          id: 'mariadb',
          label: 'm',
          ok: true,
          phases: [
            {
              workload: 'write_only',
              clients: 8,
              ok: true,
              run: { ...run, transactionsPerSecond: 64.98, errors: 0 },
            },
          ],
        },
      ],
      ['write_only'],
      [8],
    );
    expect(table.split('\n')[1]).toMatch(
      /^write_only\s+8\s+32 \(195\), 580.02, 2 err\s+65 \(195\), 580.02\s+0.50$/,
    );
  });
});
