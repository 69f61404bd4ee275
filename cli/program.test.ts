import { describe, expect, it } from 'vitest';
import { makeTempDir } from '../integration/harness/temp.ts';
import { runCli, usageLine } from './program.ts';
import { memoryIo } from './testing.ts';

async function run(...argv: string[]) {
  const io = memoryIo();
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout(), stderr: io.stderr() };
}

describe('runCli', () => {
  it('--help on every command prints usage to stdout and exits 0', async () => {
    for (const command of ['up', 'down', 'status', 'kill', 'start', 'failover', 'sql', 'resources']) {
      const { code, stdout, stderr } = await run(command, '--help');
      expect(code, command).toBe(0);
      expect(stdout, command).toContain(`Usage: borealis ${command}`);
      expect(stdout, command).toContain('--state-dir <dir>');
      expect(stderr, command).toBe('');
    }
  });

  it('a bad flag is one usage line with a --help hint and exit status 2', async () => {
    expect(await run('kill', '--nod', 'sn-1')).toEqual({
      code: 2,
      stdout: '',
      stderr: "borealis: unknown option '--nod' (Did you mean --node?); see `borealis kill --help`\n",
    });
  });

  it('two kill targets, or none, are a usage error before anything is contacted', async () => {
    const dir = makeTempDir('cli-program');
    try {
      const two = await run('kill', '--node', 'sn-1', '--writer', '--state-dir', dir.path);
      expect(two.code).toBe(2);
      expect(two.stderr).toBe(
        'borealis: give only one of --node, --az, --writer, --instance (got --node and --writer); see `borealis kill --help`\n',
      );
      expect((await run('start', '--state-dir', dir.path)).stderr).toBe(
        'borealis: give one of --node, --instance; see `borealis start --help`\n',
      );
    } finally {
      dir.remove();
    }
  });

  it('a bad number is a usage error', async () => {
    const { code, stderr } = await run('sql', 'SELECT 1', '--timeout-ms', 'soon');
    expect(code).toBe(2);
    expect(stderr).toMatch(/^borealis: option '--timeout-ms <ms>' argument 'soon' is invalid/);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it.each([
    [
      ['up', '--readers', '16'],
      "option '--readers <n>' argument '16' is invalid. must be an integer from 0 to 15; see `borealis up --help`",
    ],
    [['kill', '--bogus'], "unknown option '--bogus'; see `borealis kill --help`"],
    [
      ['start', '--node', 'sn-1', '--instance', 'i-1'],
      'give only one of --node, --instance (got --node and --instance); see `borealis start --help`',
    ],
    [
      ['status', 'extra'],
      "too many arguments for 'status'. Expected 0 arguments but got 1; see `borealis status --help`",
    ],
  ])('%j is a usage error', async (args, message) => {
    expect(await run(...args)).toEqual({ code: 2, stdout: '', stderr: `borealis: ${message}\n` });
  });

  it('an unknown command names the top-level help', async () => {
    expect((await run('obliterate')).stderr).toBe(
      "borealis: unknown command 'obliterate'; see `borealis --help`\n",
    );
  });

  it('no cluster running: one line and exit status 1', async () => {
    const dir = makeTempDir('cli-program');
    try {
      const { code, stderr } = await run('status', '--state-dir', dir.path);
      expect(code).toBe(1);
      expect(stderr).toBe(
        `borealis: no cluster is running from ${dir.path} (start one with \`npm start\` or \`borealis up\`)\n`,
      );
    } finally {
      dir.remove();
    }
  });

  it('down with nothing running says so and succeeds', async () => {
    const dir = makeTempDir('cli-program');
    try {
      expect(await run('down', '--state-dir', dir.path)).toEqual({
        code: 0,
        stdout: `borealis: nothing runs from ${dir.path}\n`,
        stderr: '',
      });
    } finally {
      dir.remove();
    }
  });
});

it("usageLine drops commander's prefix and final period", () => {
  expect(usageLine("error: too many arguments for 'status'. Expected 0 arguments but got 1.", 'status')).toBe(
    "too many arguments for 'status'. Expected 0 arguments but got 1; see `borealis status --help`",
  );
});
