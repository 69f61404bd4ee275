import { describe, expect, it } from 'vitest';
import { writeSystemState } from '../embedded/state.ts';
import { makeTempDir } from '../integration/harness/temp.ts';
import {
  controlPlaneFailure,
  findControlPlane,
  isClusterStatus,
  noClusterMessage,
  parseControlPlaneError,
} from './control-plane.ts';
import { CliError } from './errors.ts';
import { sampleStatus } from './testing.ts';

describe('controlPlaneFailure', () => {
  it('prints a ControlPlaneError message as it is', () => {
    const body = JSON.stringify({ error: 'NotFound', message: 'no storage node n9' });
    expect(controlPlaneFailure(404, body, 'POST /kill').message).toBe('no storage node n9');
  });

  it('keeps a multi-line message on one line', () => {
    const body = JSON.stringify({ error: 'Conflict', message: 'failover in progress\nretry later' });
    expect(controlPlaneFailure(409, body, 'POST /failover').message).toBe('failover in progress retry later');
  });

  it('quotes the start of any other answer with the status', () => {
    const failure = controlPlaneFailure(
      502,
      `<html>\n<body>Bad Gateway${' '.repeat(10)}${'x'.repeat(500)}`,
      'GET /status',
    );
    expect(failure.message).toMatch(
      /^the control plane answered GET \/status with HTTP 502: <html> <body>Bad Gateway x+…$/,
    );
    expect(failure.message.length).toBeLessThan(300);
    expect(controlPlaneFailure(500, '', 'GET /status').message).toBe(
      'the control plane answered GET /status with HTTP 500',
    );
  });

  it('parseControlPlaneError accepts only {error, message} with text', () => {
    expect(parseControlPlaneError('{"error":"BadRequest","message":"bad"}')).toEqual({
      error: 'BadRequest',
      message: 'bad',
    });
    expect(parseControlPlaneError('{"error":"BadRequest"}')).toBeUndefined();
    expect(parseControlPlaneError('{"error":"BadRequest","message":" "}')).toBeUndefined();
    expect(parseControlPlaneError('null')).toBeUndefined();
    expect(parseControlPlaneError('not json')).toBeUndefined();
  });
});

describe('findControlPlane', () => {
  it('says that no cluster runs, with the absolute state dir and how to start one', () => {
    const dir = makeTempDir('cli-cp');
    try {
      expect(() => findControlPlane(dir.path)).toThrow(new CliError(noClusterMessage(dir.path)));
      expect(noClusterMessage(dir.path)).toBe(
        `no cluster is running from ${dir.path} (start one with \`npm start\` or \`borealis up\`)`,
      );
    } finally {
      dir.remove();
    }
  });

  it('ignores a system.json whose launcher is gone', () => {
    const dir = makeTempDir('cli-cp');
    try {
      writeSystemState(dir.path, {
        launcherPid: 2 ** 22 + 12345, // above Linux's pid_max: never alive
        startedAt: new Date().toISOString(),
        emulators: { regions: [], pids: [] },
      });
      expect(() => findControlPlane(dir.path)).toThrow(/^no cluster is running/);
    } finally {
      dir.remove();
    }
  });

  it('says a running system has no control plane yet', () => {
    const dir = makeTempDir('cli-cp');
    try {
      writeSystemState(dir.path, {
        launcherPid: process.pid,
        startedAt: new Date().toISOString(),
        emulators: { regions: [], pids: [] },
      });
      expect(() => findControlPlane(dir.path)).toThrow(/has no control plane yet/);
      writeSystemState(dir.path, {
        launcherPid: process.pid,
        startedAt: new Date().toISOString(),
        emulators: { regions: [], pids: [] },
        cluster: {
          name: 'borealis',
          region: 'us-east-1',
          controlPlaneUrl: 'http://127.0.0.1:1',
          ready: false,
        },
      });
      expect(findControlPlane(dir.path)).toMatchObject({
        url: 'http://127.0.0.1:1',
        launcherPid: process.pid,
      });
    } finally {
      dir.remove();
    }
  });
});

it('isClusterStatus checks the fields the CLI prints from', () => {
  expect(isClusterStatus(sampleStatus())).toBe(true);
  expect(isClusterStatus({ ...sampleStatus(), instances: undefined })).toBe(false);
  expect(isClusterStatus({ error: 'NotFound', message: 'x' })).toBe(false);
  expect(isClusterStatus(null)).toBe(false);
});
