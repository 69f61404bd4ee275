import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './program.ts';
import { memoryIo, sampleStatus } from './testing.ts';
import { deployedRegion, exitStatusOf, formatReady, launcherArgs, launcherLogPath, reasonIn } from './up.ts';

describe('up', () => {
  it('passes --binlog-format to the launcher, and refuses a value other than ROW or OFF (exit 2)', async () => {
    expect(launcherArgs({ stateDir: '/s', binlogFormat: 'OFF' }).slice(3)).toEqual([
      '--state-dir',
      '/s',
      '--binlog-format',
      'OFF',
    ]);
    const io = memoryIo();
    expect(
      await runCli(['up', '--binlog-format', 'MIXED', '--state-dir', '/nonexistent/borealis-state'], io),
    ).toBe(2);
    expect(io.stderr()).toContain('must be ROW or OFF');
  });

  it('runs embedded/start.ts through tsx with an absolute state dir, --readers only when given', () => {
    const args = launcherArgs({ stateDir: 'relative/dir' });
    expect(args[0]).toBe('--import');
    expect(args[1]).toMatch(/^file:\/\/.*\/node_modules\/tsx\//);
    expect(args[2]).toBe(resolve('embedded/start.ts'));
    expect(args.slice(3)).toEqual(['--state-dir', resolve('relative/dir')]);
    expect(launcherArgs({ stateDir: '/s', readers: 0 }).slice(3)).toEqual([
      '--state-dir',
      '/s',
      '--readers',
      '0',
    ]);
  });

  it('with --aws runs cli/aws-launcher/main.ts with the cluster, region, readers and geometry given', () => {
    const args = launcherArgs({
      stateDir: '/s',
      aws: true,
      cluster: 'helper-a',
      region: 'us-west-2',
      readers: 0,
      pgCount: 2,
      pagesPerPg: 1024,
    });
    expect(args[2]).toBe(resolve('cli/aws-launcher/main.ts'));
    expect(args.slice(3)).toEqual([
      '--state-dir',
      '/s',
      '--cluster',
      'helper-a',
      '--region',
      'us-west-2',
      '--readers',
      '0',
      '--pg-count',
      '2',
      '--pages-per-pg',
      '1024',
    ]);
    expect(deployedRegion({}, { AWS_REGION: 'eu-west-1' })).toBe('eu-west-1');
    expect(deployedRegion({}, {})).toBe('us-east-1');
    expect(deployedRegion({ region: 'us-west-2' }, { AWS_REGION: 'eu-west-1' })).toBe('us-west-2');
  });

  it('passes --global and --secondary-readers to the launcher; refuses them with --aws, --cluster or alone (exit 2)', async () => {
    expect(launcherArgs({ stateDir: '/s', global: true, secondaryReaders: 2 }).slice(3)).toEqual([
      '--state-dir',
      '/s',
      '--global',
      '--secondary-readers',
      '2',
    ]);
    for (const [args, message] of [
      [['--global', '--aws'], /--global runs with the whole embedded system/],
      [['--global', '--cluster', 'restored'], /--global runs with the whole embedded system/],
      [['--secondary-readers', '1'], /--secondary-readers goes with --global/],
    ] as const) {
      const io = memoryIo();
      expect(await runCli(['up', ...args, '--state-dir', '/nonexistent/borealis-state'], io)).toBe(2);
      expect(io.stderr()).toMatch(message);
    }
  });

  it('logs the detached launcher under <state-dir>/logs', () => {
    expect(launcherLogPath('/s')).toBe('/s/logs/launcher.log');
  });

  it('exits with the launcher status, or 128 + signal as a shell does', () => {
    expect(exitStatusOf(0, null)).toBe(0);
    expect(exitStatusOf(3, null)).toBe(3);
    expect(exitStatusOf(null, 'SIGINT')).toBe(130);
    expect(exitStatusOf(null, 'SIGKILL')).toBe(137);
  });

  it('picks the line of a launcher log that says why it stopped', () => {
    const log = [
      'borealis: starting the embedded system (state dir /s)',
      'borealis: the cluster did not start: proxy exited before it was ready (code 1)',
      '',
      'borealis: stopping every process this launcher started…',
      'borealis: stopped',
    ].join('\n');
    expect(reasonIn(log)).toBe(
      'borealis: the cluster did not start: proxy exited before it was ready (code 1)',
    );
    const crash =
      "Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'tsx'\n    at packageResolve (x)\n\nNode.js v20.20.2\n";
    expect(reasonIn(crash)).toBe("Error [ERR_MODULE_NOT_FOUND]: Cannot find package 'tsx'");
    expect(reasonIn('just a line\n')).toBe('just a line');
    expect(reasonIn('')).toBeUndefined();
  });

  it('prints the endpoints once ready', () => {
    const text = formatReady(
      { launcherPid: 7, stateDir: '/s', controlPlane: 'http://127.0.0.1:9000', log: '/s/logs/launcher.log' },
      sampleStatus(),
    );
    expect(text.split('\n')).toEqual([
      'borealis: cluster borealis (us-east-1) is ready (launcher pid 7)',
      '  writer endpoint  http://127.0.0.1:9001',
      '  reader endpoint  http://127.0.0.1:9002',
      '  resourceArn      arn:aws:rds:us-east-1:000000000000:cluster:borealis',
      '  secretArn        arn:aws:secretsmanager:us-east-1:000000000000:secret:borealis',
      '  control plane    http://127.0.0.1:9000',
      '  log              /s/logs/launcher.log',
      '  stop it with     borealis down --state-dir /s',
      '',
    ]);
  });
});
