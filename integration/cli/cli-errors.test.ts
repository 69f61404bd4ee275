// The real `borealis` command without a running cluster and with bad command lines: every failure is
// one `borealis: …` line on stderr and a non-zero exit (1: failed, 2: bad command line), never a stack.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSystemState } from '../../embedded/state.ts';
import { makeTempDir } from '../harness/temp.ts';
import { borealis, oneErrorLine } from './run.ts';

let dir: { path: string; remove: () => void };
let running: { path: string; remove: () => void };

beforeAll(() => {
  dir = makeTempDir('cli-none');
  // A state dir whose launcher counts as alive (this test's pid) but has no control plane yet.
  running = makeTempDir('cli-starting');
  writeSystemState(running.path, {
    launcherPid: process.pid,
    startedAt: new Date().toISOString(),
    emulators: { regions: [], pids: [] },
  });
});

afterAll(() => {
  dir.remove();
  running.remove();
});

describe.concurrent('no cluster running', () => {
  it.each([
    [['status', '--json']],
    [['kill', '--writer']],
    [['start', '--node', 'sn-1']],
    [['failover']],
    [['sql', 'SELECT 1']],
  ])('%j: one line, exit 1', async (args) => {
    const run = await borealis([...args, '--state-dir', dir.path]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(oneErrorLine(run)).toBe(
      `borealis: no cluster is running from ${dir.path} (start one with \`npm start\` or \`borealis up\`)`,
    );
  });

  it('down: says nothing runs and exits 0, so scripts can always call it', async () => {
    const run = await borealis(['down', '--state-dir', dir.path]);
    expect(run).toEqual({ code: 0, stdout: `borealis: nothing runs from ${dir.path}\n`, stderr: '' });
  });

  it('a system without a control plane yet: one line, exit 1', async () => {
    const run = await borealis(['status', '--state-dir', running.path]);
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toMatch(/^borealis: the system running from .* has no control plane yet;/);
  });

  it('up while a system runs from the state dir: one line, exit 1', async () => {
    const run = await borealis(['up', '--detach', '--state-dir', running.path]);
    expect(run.code).toBe(1);
    expect(oneErrorLine(run)).toBe(
      `borealis: a system already runs from ${running.path} (launcher pid ${process.pid}); stop it with \`borealis down\` first`,
    );
  });
});

// More bad command lines are checked in-process by cli/program.test.ts; these check the real process.
describe.concurrent('bad command lines: one line, exit 2', () => {
  it.each([
    [
      ['kill', '--node', 'sn-1', '--az', 'us-east-1a'],
      'give only one of --node, --az, --writer, --instance (got --node and --az); see `borealis kill --help`',
    ],
    [['status', '--jsn'], "unknown option '--jsn' (Did you mean --json?); see `borealis status --help`"],
    [['sql'], "missing required argument 'sql'; see `borealis sql --help`"],
  ])('%j', async (args, message) => {
    const run = await borealis([...args, '--state-dir', dir.path]);
    expect(run.code).toBe(2);
    expect(oneErrorLine(run)).toBe(`borealis: ${message}`);
  });
});

it('--help prints usage and exits 0', async () => {
  const run = await borealis(['kill', '--help']);
  expect(run.code).toBe(0);
  expect(run.stdout).toContain('Usage: borealis kill [options]');
  expect(run.stderr).toBe('');
});
