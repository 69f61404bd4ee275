// The README's quick start, as a new user runs it: `npm start` in one terminal; in another
// `borealis sql` to create a table, insert and select, `borealis kill --writer`, and the select again.
// Then `borealis status --json` follows kills and starts within 2 s, bad input is one line, and Ctrl-C
// leaves no process behind (every pid the system reported is checked).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClusterStatus } from '../core/cluster/topology.ts';
import { isPidAlive, readSystemState } from '../embedded/state.ts';
import { TestSystem } from './harness/system.ts';
import { makeTempDir } from './harness/temp.ts';

describe('quick start: npm start, then the borealis CLI', () => {
  const dir = makeTempDir('quickstart');
  let system: TestSystem;
  const cli = (...args: string[]) => system.cli(...args);
  const statusNow = () => system.status();
  const pids = new Set<number>();

  beforeAll(async () => {
    system = await TestSystem.start(dir.path);
  }, 180_000);

  afterAll(async () => {
    system?.kill();
    for (const pid of pids) if (isPidAlive(pid)) process.kill(pid, 'SIGKILL');
    dir.remove();
  });

  it('prints the endpoints and a Data API snippet', async () => {
    const status = await statusNow();
    expect(system.output).toContain(status.endpoints.writer!);
    expect(system.output).toContain(status.endpoints.reader!);
    expect(system.output).toContain(status.resourceArn);
    expect(system.output).toContain("from '@aws-sdk/client-rds-data'");
    // Both regions' emulated S3 and Kinesis, with the Borealis buckets and streams, through the SDK.
    const listing = JSON.parse((await cli('resources', '--json')).stdout) as {
      regions: { region: string; buckets: string[]; streams: string[] }[];
    };
    expect(listing.regions.map((r) => r.region)).toEqual(['us-east-1', 'us-west-2']);
    for (const r of listing.regions) {
      expect(r.buckets).toEqual([`borealis-backup-${r.region}`]);
      expect(r.streams).toEqual(['borealis-binlog', 'borealis-redo']);
    }
  });

  it('sql: create, insert, select; kill --writer; select again', async () => {
    await cli('sql', 'create table t(id integer primary key, v text)');
    const insert = await cli('sql', "insert into t(v) values ('hello'), ('aurora')");
    expect(insert.stdout).toMatch(/2 rows affected/);
    const select = await cli('sql', 'select id, v from t order by id');
    expect(select.stdout).toMatch(/hello/);
    expect(select.stdout).toMatch(/aurora/);
    expect(select.stdout).toMatch(/\(2 rows\)/);

    const before = await statusNow();
    const kill = await cli('kill', '--writer');
    expect(kill.stdout).toContain(before.writer!);
    const again = await cli('sql', 'select id, v from t order by id', '--json');
    expect(JSON.parse(again.stdout)).toEqual([
      { id: 1, v: 'hello' },
      { id: 2, v: 'aurora' },
    ]);
    const after = await statusNow();
    expect(after.writer).not.toBe(before.writer);
    expect(BigInt(after.epoch)).toBeGreaterThan(BigInt(before.epoch));
    const reader = await cli('sql', 'select count(*) as n from t', '--reader', '--json');
    expect(JSON.parse(reader.stdout)).toEqual([{ n: 2 }]);
  }, 120_000);

  it('status --json reflects every kill and start within 2 s', async () => {
    const doc = JSON.parse((await cli('status', '--json')).stdout) as ClusterStatus;
    expect(doc.endpoints.writer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    for (const x of [...doc.instances, ...doc.storageNodes]) {
      expect(x).toEqual(
        expect.objectContaining({ id: expect.any(String), az: expect.stringMatching(/^us-east-1[abc]$/) }),
      );
      expect(['writer', 'reader', 'storage']).toContain(x.role);
      expect(typeof x.healthy).toBe('boolean');
    }
    const within2s = async (what: string, check: (s: ClusterStatus) => boolean) => {
      const started = Date.now();
      while (!check(await statusNow())) {
        if (Date.now() - started > 2_000) throw new Error(`status did not reflect ${what} within 2 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };
    await cli('kill', '--node', 'n2');
    await within2s('kill n2', (s) => s.storageNodes.find((n) => n.id === 'n2')!.healthy === false);
    await cli('start', '--node', 'n2');
    await within2s('start n2', (s) => s.storageNodes.find((n) => n.id === 'n2')!.healthy === true);
    const reader = (await statusNow()).instances.find((i) => i.role === 'reader' && i.healthy)!;
    await cli('kill', '--instance', reader.id);
    await within2s(
      `kill ${reader.id}`,
      (s) => s.instances.find((i) => i.id === reader.id)!.healthy === false,
    );
    // A killed instance comes back by itself after the control plane's restart delay (3 s by
    // default); `start` brings it back now. On a loaded machine the delay can run out before the
    // CLI process gets there: then `start` must refuse with the instance's state (never start a
    // second process) and the control plane's own restart must show within the same 2 s.
    const restarted = await cli('start', '--instance', reader.id).catch(
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    if ('code' in restarted) {
      expect(restarted.stderr).toMatch(
        new RegExp(`^borealis: instance ${reader.id} is (starting|running), not down\n$`),
      );
      // The start is the control plane's own, still under way: the 2 s count from when it has
      // started the process (what `borealis start` waits for), not from its spawn on a loaded machine.
      const deadline = Date.now() + 60_000;
      while ((await statusNow()).instances.find((i) => i.id === reader.id)!.state !== 'running') {
        if (Date.now() > deadline)
          throw new Error(`${reader.id} not started by the control plane within 60 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
    } else {
      expect(restarted.stdout).toBe(`started ${reader.id}\n`);
    }
    await within2s(
      `start ${reader.id}`,
      (s) => s.instances.find((i) => i.id === reader.id)!.healthy === true,
    );
  }, 120_000);

  it('bad input: one line on stderr, non-zero exit, no stack trace', async () => {
    for (const args of [
      ['kill', '--node', 'n9'],
      ['kill', '--instance', 'nope'],
      ['kill', '--az', 'mars-1a'],
      ['kill', '--bogus'],
      ['start', '--node', 'n1'],
      ['failover', '--target', 'instance-9'],
      ['sql', 'selec nothing'],
    ]) {
      const failure = (await cli(...args).catch((e: { code: number; stderr: string }) => e)) as {
        code: number;
        stderr: string;
      };
      expect(failure.code, args.join(' ')).not.toBe(0);
      const lines = failure.stderr.trim().split('\n');
      expect(lines, `${args.join(' ')}: ${failure.stderr}`).toHaveLength(1);
      expect(lines[0]).toMatch(/^(borealis|error): /);
      expect(failure.stderr).not.toMatch(/\n\s+at /);
    }
  }, 120_000);

  it('Ctrl-C stops every process it started', async () => {
    const state = readSystemState(dir.path)!;
    const status = await statusNow();
    for (const pid of [
      ...state.emulators.pids,
      state.cluster!.controlPlanePid!,
      state.cluster!.proxyPid!,
      ...status.instances.map((i) => i.pid),
      ...status.storageNodes.map((n) => n.pid),
    ]) {
      if (pid !== null) pids.add(pid);
    }
    expect(pids.size).toBeGreaterThanOrEqual(4 + 2 + 3 + 6);
    expect(await system.stop()).toBe(0);
    expect([...pids].filter(isPidAlive)).toEqual([]);
    expect(readSystemState(dir.path)).toBeUndefined();
  }, 60_000);
});
