// Backtrack as a user sees it (issue 17, ADR 015): the real `borealis backtrack` program (in-process,
// runCli) against a whole cluster, and the Data API client through the proxy. Insert 10 rows, T1;
// delete them, T2; back to T1 → 10 rows; forward to T2 → empty; back to T1, 5 new rows, T3; to T3 →
// 15 rows. Then bad input (binlog without --force, the future, before the earliest backtrack time, a
// non-ISO time, a second backtrack while one runs): a clear error each, nothing changed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../cli/program.ts';
import { memoryIo } from '../../cli/testing.ts';
import type { DbClusterBacktrack } from '../../core/backtrack/request.ts';
import type { LocalCluster } from '../../embedded/cluster.ts';
import { writeSystemState } from '../../embedded/state.ts';
import { endpointClients, startTestCluster, waitUntil } from '../harness/cluster.ts';
import type { Sql } from '../harness/sql.ts';
import { makeTempDir } from '../harness/temp.ts';
import { settled } from './settle.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('backtrack through the CLI and the proxy', () => {
  const dir = makeTempDir('backtrack');
  const stateDir = makeTempDir('backtrack-state');
  let cluster: LocalCluster;
  let writer: Sql;
  let reader: Sql;

  beforeAll(async () => {
    cluster = await startTestCluster({
      dir: dir.path,
      readers: 1,
      controlPlaneArgs: ['--backtrack-window-s', '3600'],
    });
    writeSystemState(stateDir.path, {
      launcherPid: process.pid,
      startedAt: new Date().toISOString(),
      emulators: { regions: [], pids: [] },
      cluster: {
        name: 'borealis',
        region: 'us-east-1',
        controlPlaneUrl: cluster.controlPlaneUrl,
        ready: true,
      },
    });
    ({ writer, reader } = endpointClients(await cluster.status()));
  }, 180_000);

  afterAll(async () => {
    await settled(cluster);
    await cluster?.stop();
    dir.remove();
    stateDir.remove();
  }, 60_000);

  async function cli(...args: string[]) {
    const io = memoryIo();
    const code = await runCli([...args, '--state-dir', stateDir.path], io);
    return { code, stdout: io.stdout(), stderr: io.stderr() };
  }

  /** A backtrack through the CLI; returns its DBClusterBacktrack and the time to the first write. */
  async function backtrack(to: string, ...flags: string[]) {
    const started = performance.now();
    const run = await cli('backtrack', '--to', to, '--force', '--json', ...flags);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as DbClusterBacktrack;
    expect(result.Status).toBe('completed');
    // The first write accepted after the switch (the proxy held it meanwhile).
    await retrying(() => writer.exec('CREATE TABLE IF NOT EXISTS probe (x INTEGER)'));
    return { result, ms: Math.round(performance.now() - started) };
  }

  /** The proxy holds requests through the switch; a request that meets it anyway is retried. */
  async function retrying<T>(work: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await work();
      } catch (error) {
        if (attempt >= 100) throw error;
        await sleep(100);
      }
    }
  }

  const count = (sql: Sql = writer) =>
    retrying(async () => Number((await sql.rows('SELECT count(*) FROM t'))[0]![0]));

  async function stamp(): Promise<string> {
    await sleep(30); // commit times are in ms: keep T strictly between the commits around it
    const t = new Date().toISOString();
    await sleep(30);
    return t;
  }

  it('10 rows, T1, delete, T2: back to T1 and forward to T2, then new rows after a backtrack are kept', async () => {
    await writer.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    for (let i = 1; i <= 10; i++)
      await writer.exec('INSERT INTO t VALUES (:id, :v)', { id: i, v: `row ${i}` });
    const t1 = await stamp();
    await writer.exec('DELETE FROM t');
    const t2 = await stamp();
    expect(await count()).toBe(0);

    const durations: number[] = [];
    durations.push((await backtrack(t1)).ms);
    expect(await count()).toBe(10);
    durations.push((await backtrack(t2)).ms);
    expect(await count()).toBe(0);
    durations.push((await backtrack(t1)).ms);
    expect(await count()).toBe(10);
    for (let i = 11; i <= 15; i++)
      await writer.exec('INSERT INTO t VALUES (:id, :v)', { id: i, v: `new ${i}` });
    const t3 = await stamp();
    durations.push((await backtrack(t3)).ms);
    expect(await count()).toBe(15);
    expect((await writer.rows('SELECT min(id), max(id) FROM t'))[0]).toEqual([1, 15]);
    // Readers restarted on the new timeline: the reader endpoint shows the same.
    await waitUntil(
      async () => (await count(reader).catch(() => -1)) === 15,
      30_000,
      'the reader shows 15 rows',
    );
    console.log(`backtrack request → first write accepted, ms: ${durations.join(', ')}`);

    const list = await cli('backtrack', 'list', '--json');
    expect(list.code).toBe(0);
    const history = JSON.parse(list.stdout) as {
      backtrackWindowSeconds: number;
      backtracks: DbClusterBacktrack[];
    };
    expect(history.backtrackWindowSeconds).toBe(3600);
    expect(history.backtracks.map((b) => [b.BacktrackTo, b.Status])).toEqual([
      [t1, 'completed'],
      [t2, 'completed'],
      [t1, 'completed'],
      [t3, 'completed'],
    ]);
    const status = await cli('status', '--json');
    expect(JSON.parse(status.stdout).backtrack).toMatchObject({
      backtrackWindowSeconds: 3600,
      backtracks: 4,
    });
  }, 240_000);

  it('bad input gets a clear error and changes nothing', async () => {
    const before = await count();
    const listed = async () =>
      (JSON.parse((await cli('backtrack', 'list', '--json')).stdout) as { backtracks: unknown[] }).backtracks
        .length;
    const entries = await listed();
    const refused = async (args: string[], message: RegExp) => {
      const run = await cli('backtrack', ...args);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(message);
      expect(run.stderr.trim().split('\n')).toHaveLength(1);
    };
    const now = new Date().toISOString();
    await refused(['--to', now], /InvalidParameterCombination: binary logging is on .* needs --force/);
    await refused(['--to', new Date(Date.now() + 60_000).toISOString(), '--force'], /in the future/);
    await refused(['--to', '2001-01-01T00:00:00Z', '--force'], /before the earliest backtrack time/);
    await refused(['--to', 'ten minutes ago', '--force'], /not an ISO 8601 time/);
    // A second backtrack while one runs.
    const first = cli('backtrack', '--to', now, '--force', '--json');
    await sleep(150);
    await refused(['--to', now, '--force'], /InvalidDBClusterStateFault: .* in progress/);
    expect((await first).code).toBe(0);
    expect(await count()).toBe(before);
    expect(await listed()).toBe(entries + 1); // only the one that ran
  }, 120_000);
});
