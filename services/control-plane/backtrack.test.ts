// The control plane's backtrack service without a running cluster: a real Controller over a real
// local fleet that was never started (no process runs). What it can show here: the durable history
// file, the refusals that change nothing (bad input, the marker cap, no writer), the restart rule for
// entries left pending or applying, and the HTTP body checks. The run itself (pending → applying →
// completed/failed through a failover) needs processes: integration/backtrack/*.test.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { backtrackMarkersMax, markersToJson } from '../../core/backtrack/json.ts';
import type { DbClusterBacktrack } from '../../core/backtrack/request.ts';
import type { BacktrackMarker } from '../../core/backtrack/timeline.ts';
import { defaultPlacement, type VolumeConfig } from '../../core/volume.ts';
import { makeTempDir } from '../../integration/harness/temp.ts';
import { BacktrackService, backtrackApi } from './backtrack.ts';
import type { Controller } from './controller.ts';
import { refusal, unitController, unitNodes } from './testing.ts';

const nodes = unitNodes;
const volume: VolumeConfig = {
  volumeId: 'unit',
  pageSizeBytes: 4096,
  pagesPerPg: 16,
  nodes,
  placement: defaultPlacement(nodes, 2),
};
const logger = pino({ level: 'silent' });
const nowMs = Date.parse('2026-12-02T12:00:00.000Z');
const dirs: { remove: () => void }[] = [];

afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function controllerIn(dir: string): Controller {
  return unitController(dir, [{ id: 'instance-1', az: 'az-a', tier: 1 }]);
}

function service(
  options: {
    windowSeconds?: number;
    binlogOn?: boolean;
    isGlobalMember?: boolean;
    dir?: string;
    /** Start from a history file kept since an hour ago, with these markers. */
    history?: BacktrackMarker[];
  } = {},
) {
  let dir = options.dir;
  if (!dir) {
    const temp = makeTempDir('cp-backtrack');
    dirs.push(temp);
    dir = temp.path;
  }
  if (options.history) writeHistory(dir, options.history);
  const controller = controllerIn(dir);
  const svc = new BacktrackService({
    dir,
    volume,
    logger,
    controller,
    windowSeconds: options.windowSeconds ?? 3600,
    binlogOn: options.binlogOn ?? false,
    isGlobalMember: options.isGlobalMember ?? false,
    clock: () => nowMs,
  });
  const file = join(dir, 'backtracks.json');
  return { svc, controller, dir, file, read: () => readFileSync(file, 'utf8') };
}

/** A valid marker list of n completed backtracks. */
function markers(n: number): BacktrackMarker[] {
  return Array.from({ length: n }, (_, i) => ({
    seq: i + 1,
    epoch: BigInt(i + 2),
    appliedAtMs: nowMs - 1_000_000 + i,
    targetLsn: 0n,
    targetTimeMs: nowMs - 2_000_000,
    fromLsn: BigInt(i + 1),
  }));
}

/** A history file as a control plane leaves it (retained since an hour ago). */
function writeHistory(dir: string, list: BacktrackMarker[], backtracks: DbClusterBacktrack[] = []): void {
  writeFileSync(
    join(dir, 'backtracks.json'),
    JSON.stringify({
      version: 1,
      retainedSinceMs: nowMs - 3_600_000,
      windowSeconds: 3600,
      backtracks,
      markers: markersToJson(list),
    }),
  );
}

const oneMinuteAgo = new Date(nowMs - 60_000).toISOString();

describe('BacktrackService', () => {
  it('writes its durable record at start: no backtracks, no markers, history kept from now', () => {
    const { svc, read } = service();
    expect(JSON.parse(read())).toEqual({
      version: 1,
      retainedSinceMs: nowMs,
      windowSeconds: 3600,
      everEnabled: true,
      backtracks: [],
      markers: [],
    });
    expect(svc.list()).toEqual([]);
    expect(svc.summary()).toEqual({
      backtrackWindowSeconds: 3600,
      earliestBacktrackTime: new Date(nowMs).toISOString(),
      backtracks: 0,
    });
  });

  it('refuses at the marker cap before anything changes (no entry, no failover, the file as it was)', async () => {
    const temp = makeTempDir('cp-backtrack-cap');
    dirs.push(temp);
    writeHistory(temp.path, markers(backtrackMarkersMax));
    const { svc, controller, read } = service({ dir: temp.path });
    expect(svc.markers).toHaveLength(backtrackMarkersMax);
    const before = read();
    const error = await refusal(svc.backtrack({ to: oneMinuteAgo }));
    expect(error.code).toBe('Conflict');
    expect(error.message).toMatch(
      new RegExp(
        `^InvalidDBClusterStateFault: .*backtracked ${backtrackMarkersMax} times.*\\(${backtrackMarkersMax}\\)`,
      ),
    );
    expect(read()).toBe(before);
    expect(svc.list()).toEqual([]);
    expect(controller.failoverInProgress).toBe(false);
    expect(controller.fleet.instances.get('instance-1')!.process).toBeUndefined();
    // One below the cap passes that check (and stops at the next: no writer runs here).
    const below = makeTempDir('cp-backtrack-below');
    dirs.push(below);
    writeHistory(below.path, markers(backtrackMarkersMax - 1));
    const next = service({ dir: below.path });
    expect((await refusal(next.svc.backtrack({ to: oneMinuteAgo }))).message).toMatch(/no writer is running/);
  });

  it('refuses bad requests with their AWS error, recording nothing', async () => {
    const cases: [Parameters<typeof service>[0], string, RegExp, 'BadRequest' | 'Conflict'][] = [
      [{}, 'ten minutes ago', /^InvalidParameterValue: .*not an ISO 8601 time/, 'BadRequest'],
      [
        { windowSeconds: 0 },
        oneMinuteAgo,
        /^InvalidDBClusterStateFault: backtrack is not enabled/,
        'Conflict',
      ],
      [{}, new Date(nowMs + 60_000).toISOString(), /^InvalidParameterValue: .*in the future/, 'BadRequest'],
      [
        {},
        '2001-01-01T00:00:00Z',
        /^InvalidParameterValue: .*before the earliest backtrack time/,
        'BadRequest',
      ],
      [{ binlogOn: true }, oneMinuteAgo, /^InvalidParameterCombination: binary logging is on/, 'BadRequest'],
      [
        { isGlobalMember: true },
        oneMinuteAgo,
        /^InvalidDBClusterStateFault: a Global Database member/,
        'Conflict',
      ],
      // A valid request on a cluster with no writer running.
      [{ history: [] }, oneMinuteAgo, /^InvalidDBClusterStateFault: no writer is running/, 'Conflict'],
    ];
    for (const [options, to, message, code] of cases) {
      const { svc, read } = service(options);
      const before = read();
      const error = await refusal(svc.backtrack({ to }));
      expect(error.message).toMatch(message);
      expect(error.code).toBe(code);
      expect(read()).toBe(before);
      expect(svc.list()).toEqual([]);
    }
  });

  it('a restart marks entries left pending or applying failed, durably, and keeps the rest', () => {
    const temp = makeTempDir('cp-backtrack-restart');
    dirs.push(temp);
    const entry = (id: string, Status: DbClusterBacktrack['Status']): DbClusterBacktrack => ({
      BacktrackIdentifier: id,
      BacktrackTo: oneMinuteAgo,
      BacktrackedFrom: oneMinuteAgo,
      BacktrackRequestCreationTime: oneMinuteAgo,
      Status,
    });
    writeHistory(temp.path, markers(1), [
      entry('b-1', 'completed'),
      entry('b-2', 'pending'),
      entry('b-3', 'applying'),
    ]);
    const { svc, read } = service({ dir: temp.path });
    const reason = 'the control plane restarted during the backtrack';
    const expected = [
      entry('b-1', 'completed'),
      { ...entry('b-2', 'failed'), StatusReason: reason, EndTime: new Date(nowMs).toISOString() },
      { ...entry('b-3', 'failed'), StatusReason: reason, EndTime: new Date(nowMs).toISOString() },
    ];
    expect(svc.list()).toEqual(expected);
    expect(JSON.parse(read()).backtracks).toEqual(expected);
    expect(svc.markers).toEqual(markers(1));
    // Kept from the file: the window did not widen.
    expect(JSON.parse(read()).retainedSinceMs).toBe(nowMs - 3_600_000);
  });

  it('a widened window keeps history only from now', () => {
    const temp = makeTempDir('cp-backtrack-widen');
    dirs.push(temp);
    writeHistory(temp.path, []);
    const { svc, read } = service({ dir: temp.path, windowSeconds: 7200 });
    expect(JSON.parse(read())).toMatchObject({ retainedSinceMs: nowMs, windowSeconds: 7200 });
    expect(svc.earliestBacktrackTimeMs()).toBe(nowMs);
  });

  it('ModifyDBCluster BacktrackWindow: a new window, durable, kept over the flag; refused where Aurora refuses it', async () => {
    const temp = makeTempDir('cp-backtrack-window');
    dirs.push(temp);
    writeHistory(temp.path, []);
    const { svc, read, controller } = service({ dir: temp.path });
    // Narrower: the history kept so far stays (retained since an hour ago).
    expect((await svc.setWindow(600)).backtrackWindowSeconds).toBe(600);
    expect(JSON.parse(read())).toMatchObject({
      windowSeconds: 600,
      windowModified: true,
      retainedSinceMs: nowMs - 3_600_000,
    });
    // Wider: storage has the wider history only from now on.
    await svc.setWindow(7200);
    expect(JSON.parse(read())).toMatchObject({ windowSeconds: 7200, retainedSinceMs: nowMs });
    expect(svc.earliestBacktrackTimeMs()).toBe(nowMs);
    // Off, and on again: the cluster was created with backtracking. Turning it on restarts the
    // running writer in place (storage keeps an epoch's 'none' input for good); other changes do not.
    const failover = vi.spyOn(controller, 'failover').mockResolvedValue(undefined);
    Object.defineProperty(controller, 'writer', { get: () => ({ id: 'instance-1' }) });
    await svc.setWindow(0);
    expect(svc.summary().backtrackWindowSeconds).toBe(0);
    expect(failover).not.toHaveBeenCalled();
    await svc.setWindow(900);
    expect(failover).toHaveBeenCalledExactlyOnceWith(
      expect.objectContaining({ planned: true, target: 'instance-1' }),
    );
    // A restart with the creation flag keeps the window the API set.
    expect(service({ dir: temp.path, windowSeconds: 3600 }).svc.windowSeconds).toBe(900);
    // Refusals change nothing.
    for (const bad of [-1, 259_201, 1.5]) {
      expect((await refusal(svc.setWindow(bad))).message).toMatch(/^InvalidParameterValue: /);
    }
    expect(JSON.parse(read())).toMatchObject({ windowSeconds: 900 });
    const never = service({ windowSeconds: 0 });
    const off = await refusal(never.svc.setWindow(3600));
    expect(off.message).toMatch(/^InvalidParameterCombination: backtracking was not enabled/);
    expect(never.svc.windowSeconds).toBe(0);
    const global = service({ isGlobalMember: true });
    expect((await refusal(global.svc.setWindow(60))).message).toMatch(/Global Database/);
  });

  it('re-pushes nothing while no storage node runs', () => {
    const temp = makeTempDir('cp-backtrack-repush');
    dirs.push(temp);
    writeHistory(temp.path, markers(2));
    const { svc } = service({ dir: temp.path });
    expect(svc.repushMarkersRound()).toEqual([]);
  });
});

describe('backtrackApi', () => {
  it('GET /backtracks is the summary with the history; other routes are not its own', async () => {
    const { svc } = service();
    expect(await backtrackApi(svc, 'GET /backtracks', undefined)).toEqual({
      status: 200,
      body: { ...svc.summary(), backtracks: [] },
    });
    expect(await backtrackApi(svc, 'GET /status', undefined)).toBeUndefined();
  });

  it('POST /backtrack refuses a body that is not {to, flags} before the service sees it', async () => {
    const { svc, read } = service();
    const before = read();
    const bodies: [unknown, RegExp][] = [
      [undefined, /body must be a JSON object/],
      [[oneMinuteAgo], /body must be a JSON object/],
      [{ to: oneMinuteAgo, dryRun: true }, /unknown field dryRun/],
      [{}, /"to" must be an ISO 8601 time/],
      [{ to: 5 }, /"to" must be an ISO 8601 time/],
      [{ to: 'x'.repeat(65) }, /"to" must be an ISO 8601 time/],
      [{ to: oneMinuteAgo, force: 'yes' }, /force must be true or false/],
      [{ to: oneMinuteAgo, useEarliestTimeOnPointInTimeUnavailable: 1 }, /must be true or false/],
    ];
    for (const [body, message] of bodies) {
      const error = await refusal(backtrackApi(svc, 'POST /backtrack', body));
      expect(error.code).toBe('BadRequest');
      expect(error.message).toMatch(/^InvalidParameterValue: /);
      expect(error.message).toMatch(message);
    }
    expect(read()).toBe(before);
  });
});
