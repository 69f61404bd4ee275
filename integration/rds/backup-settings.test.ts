// The backup fields of DescribeDBClusters and ModifyDBCluster's BackupRetentionPeriod as a user sees
// them through @aws-sdk/client-rds at the endpoint `borealis status --json` names (`endpoints.rds`):
// a retention period and a restorable window; LatestRestorableTime passing a commit and then, with no
// writes at all, still advancing (a few seconds behind now, as Aurora's trails by minutes); a
// RestoreDBClusterToPointInTime to a time after the last commit accepted and holding that commit; the
// retention period changed to 7 days (and the backup retention function expiring by it), bad values
// refused and changing nothing. (BacktrackWindow through ModifyDBCluster needs the control plane's
// route: covered by services/rds-api/modify-cluster.test.ts against a fake one.)
import {
  DescribeDBClustersCommand,
  InvalidRestoreFault,
  ModifyDBClusterCommand,
  RestoreDBClusterToPointInTimeCommand,
  waitUntilDBClusterAvailable,
} from '@aws-sdk/client-rds';
import mysql from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { functionEnv, parseBackupRetentionDays } from '../../core/functions.ts';
import type { RetentionReport } from '../../functions/backup-retention/handler.ts';
import { useRdsSystem } from '../harness/rds.ts';
import { stopCluster } from '../harness/restore.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('RDS API backup settings: BackupRetentionPeriod and the restorable window', () => {
  const f = useRdsSystem('rds-backup-settings', 0);

  const describeCluster = async () =>
    (await f.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'borealis' }))).DBClusters![0]!;

  /** Describes every 500 ms until `check` holds (a user's poll, not a busy loop). */
  async function describeUntil(
    check: (c: Awaited<ReturnType<typeof describeCluster>>) => boolean,
    timeoutMs: number,
    what: string,
  ) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const c = await describeCluster();
      if (check(c)) return c;
      if (Date.now() > deadline)
        throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(c)})`);
      await sleep(500);
    }
  }

  it('LatestRestorableTime passes a commit, then advances with no writes; a restore between the last commit and it holds the commit', async () => {
    const first = await describeCluster();
    expect(first.BackupRetentionPeriod).toBe(
      parseBackupRetentionDays(process.env[functionEnv.backupRetentionDays]),
    );

    await f.writer.exec('create table s (id integer primary key)');
    await f.writer.exec('insert into s values (1)');
    const ackedAt = Date.now();
    const passed = await describeUntil(
      (c) => (c.LatestRestorableTime?.getTime() ?? 0) >= ackedAt,
      60_000,
      'LatestRestorableTime past the commit',
    );
    console.log(
      `LatestRestorableTime passed the commit ${Date.now() - ackedAt} ms after its acknowledgement`,
    );
    expect(passed.EarliestRestorableTime!.getTime()).toBeLessThanOrEqual(
      passed.LatestRestorableTime!.getTime(),
    );
    expect(passed.EarliestRestorableTime!.getTime()).toBeLessThanOrEqual(ackedAt);

    // No writes from here on: it keeps advancing, seconds behind now.
    const before = (await describeCluster()).LatestRestorableTime!.getTime();
    await sleep(7_000);
    const idle = await describeCluster();
    const after = idle.LatestRestorableTime!.getTime();
    const lagMs = Date.now() - after;
    console.log(`idle: LatestRestorableTime moved ${after - before} ms in 7 s; ${lagMs} ms behind now`);
    expect(after).toBeGreaterThan(before);
    expect(after).toBeGreaterThan(ackedAt + 3_000);
    expect(lagMs).toBeLessThan(15_000);
    expect(idle.EarliestRestorableTime!.getTime()).toBeLessThanOrEqual(after);

    // Past it: refused, as before.
    await expect(
      f.rds.send(
        new RestoreDBClusterToPointInTimeCommand({
          SourceDBClusterIdentifier: 'borealis',
          DBClusterIdentifier: 'too-late',
          RestoreToTime: new Date(Date.now() + 60_000),
        }),
      ),
    ).rejects.toBeInstanceOf(InvalidRestoreFault);
    // After the last commit, before LatestRestorableTime: accepted, restores to the last commit.
    const restoreTo = new Date(ackedAt + 2_000);
    expect(restoreTo.getTime()).toBeLessThan(after);
    const restore = await f.rds.send(
      new RestoreDBClusterToPointInTimeCommand({
        SourceDBClusterIdentifier: 'borealis',
        DBClusterIdentifier: 'idle-pitr',
        RestoreToTime: restoreTo,
      }),
    );
    expect(restore.DBCluster).toMatchObject({ DBClusterIdentifier: 'idle-pitr', Status: 'creating' });
    const started = Date.now();
    try {
      const waited = await waitUntilDBClusterAvailable(
        { client: f.rds, minDelay: 1, maxDelay: 2, maxWaitTime: 300 },
        { DBClusterIdentifier: 'idle-pitr' },
      );
      expect(waited.state).toBe('SUCCESS');
      console.log(`restore of idle-pitr: available ${Date.now() - started} ms after the call returned`);
      const restored = (await f.rds.send(new DescribeDBClustersCommand({ DBClusterIdentifier: 'idle-pitr' })))
        .DBClusters![0]!;
      const connection = await mysql.createConnection({
        host: restored.Endpoint!,
        port: restored.Port!,
        user: restored.MasterUsername!,
        password: 'borealis',
        database: restored.DatabaseName!,
      });
      try {
        const [rows] = await connection.query({ sql: 'select id from s order by id', rowsAsArray: true });
        expect(rows).toEqual([[1]]);
      } finally {
        await connection.end();
      }
    } finally {
      await stopCluster(f.system.stateDir, 'idle-pitr');
    }
  }, 420_000);

  it('ModifyDBCluster BackupRetentionPeriod=7: shown, and the retention function expires by it; 0 and 36 refused, changing nothing', async () => {
    const modified = await f.rds.send(
      new ModifyDBClusterCommand({
        DBClusterIdentifier: 'borealis',
        BackupRetentionPeriod: 7,
        ApplyImmediately: true,
      }),
    );
    expect(modified.DBCluster).toMatchObject({
      DBClusterIdentifier: 'borealis',
      BackupRetentionPeriod: 7,
      Status: 'available',
    });
    expect((await describeCluster()).BackupRetentionPeriod).toBe(7);
    for (const bad of [0, 36]) {
      await expect(
        f.rds.send(
          new ModifyDBClusterCommand({ DBClusterIdentifier: 'borealis', BackupRetentionPeriod: bad }),
        ),
      ).rejects.toMatchObject({ name: 'InvalidParameterValue', $metadata: { httpStatusCode: 400 } });
    }
    await expect(
      f.rds.send(
        new ModifyDBClusterCommand({
          DBClusterIdentifier: 'borealis',
          BackupRetentionPeriod: 3,
          NewDBClusterIdentifier: 'renamed',
        }),
      ),
    ).rejects.toMatchObject({
      name: 'InvalidParameterCombination',
      message: expect.stringMatching(/NewDBClusterIdentifier is not supported here/),
    });
    await expect(
      f.rds.send(new ModifyDBClusterCommand({ DBClusterIdentifier: 'nope', BackupRetentionPeriod: 7 })),
    ).rejects.toMatchObject({ name: 'DBClusterNotFoundFault' });
    const after = await describeCluster();
    expect(after.BackupRetentionPeriod).toBe(7);
    expect(after.Status).toBe('available');
    // The backup retention function's own code, run now: it reads the cluster's setting.
    const report = JSON.parse((await f.system.cli('backup', 'expire', '--json')).stdout) as RetentionReport;
    expect(report).toMatchObject({ retentionDays: 7, retentionSource: 'cluster setting' });
  }, 120_000);
});
