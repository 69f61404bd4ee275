// The commit horizon: taken only from a /health answer of the writer the topology names, dated a clock
// allowance before the check; it holds once the watermark passes its LSN under the same fence; what
// is stored keeps one that held; the stored document parses back and a damaged one is an error.
import { describe, expect, it } from 'vitest';
import {
  applyingHorizon,
  type CommitHorizon,
  commitHorizonFromHealth,
  commitHorizonKey,
  fenceMark,
  formatCommitHorizons,
  horizonApplies,
  nextHorizons,
  parseCommitHorizons,
  storedHorizonsMax,
  writerClockSkewMsMax,
} from './commit-horizon.ts';

const health = {
  healthy: true,
  role: 'writer',
  id: 'instance-1',
  epoch: '3',
  latestCommit: '120',
  vdl: '125',
  redoStream: { mode: 'live' },
};
const check = (over: Record<string, unknown> = {}, writer = { id: 'instance-1', epoch: '3' }) =>
  commitHorizonFromHealth({
    health: { ...health, ...over },
    askedAtMs: 1_000_000,
    writer,
    fence: '',
    nowMs: 1_000_050,
  });

const horizon = (lsn: number, throughMs: number, fence = ''): CommitHorizon => ({
  lsn: String(lsn),
  throughMs,
  epoch: '3',
  fence,
  checkedAt: '',
});
const watermark = (lsn: number, commitTimeMs = 500) => ({
  lsn: String(lsn),
  commitLsn: String(lsn),
  commitTimeMs,
  updatedAt: '',
});

describe('commitHorizonFromHealth', () => {
  it("is the writer's latest commit LSN, through the check's start less the clock allowance", () => {
    expect(check()).toEqual({
      horizon: {
        lsn: '120',
        throughMs: 1_000_000 - writerClockSkewMsMax - 1,
        epoch: '3',
        fence: '',
        checkedAt: new Date(1_000_050).toISOString(),
      },
    });
    // A commit in flight (latestCommit above VDL) does not matter: its LSN is still <= latestCommit.
    expect(check({ latestCommit: '130', vdl: '125' })).toMatchObject({ horizon: { lsn: '130' } });
  });

  it.each([
    [{ role: 'reader' }, /role reader/],
    [{ healthy: false }, /not healthy/],
    [{ id: 'instance-2' }, /came from instance-2, the topology names instance-1/],
    [{ epoch: '2' }, /epoch 2 is not the topology's 3/],
    [{ latestCommit: undefined }, /no latestCommit/],
    [{ latestCommit: '-1' }, /no latestCommit/],
    // Its markers may not be archived yet (a writer just opened after a backtrack), or it heals a gap.
    [{ redoStream: { mode: 'watermark' } }, /redo publisher is not live/],
    [{ redoStream: { mode: 'republish' } }, /redo publisher is not live/],
    [{ redoStream: undefined }, /redo publisher is not live/],
  ])('refuses %j', (over, why) => {
    const result = check(over);
    expect(result).toHaveProperty('refused');
    expect((result as { refused: string }).refused).toMatch(why);
  });

  it('refuses what is not a /health document', () => {
    expect(
      commitHorizonFromHealth({ health: null, askedAtMs: 1, writer: health, fence: '', nowMs: 1 }),
    ).toHaveProperty('refused');
    expect(
      commitHorizonFromHealth({ health: 'x', askedAtMs: 1, writer: health, fence: '', nowMs: 1 }),
    ).toHaveProperty('refused');
  });
});

describe('horizonApplies', () => {
  it('once the watermark reaches its LSN, under the fence it was checked with', () => {
    expect(horizonApplies(horizon(120, 9000), watermark(119), '')).toBe(false);
    expect(horizonApplies(horizon(120, 9000), watermark(120), '')).toBe(true);
    expect(horizonApplies(horizon(120, 9000), watermark(500), '')).toBe(true);
    expect(horizonApplies(horizon(120, 9000), undefined, '')).toBe(false);
    expect(horizonApplies(undefined, watermark(500), '')).toBe(false);
    // A cut of the archive (a Global Database failover) voids what was checked before it.
    expect(horizonApplies(horizon(120, 9000), watermark(500), '100-1099511627876')).toBe(false);
  });

  it('after a backtrack, only once a commit above the newest marker’s fromLsn is archived', () => {
    const w = (lsn: number, commitLsn: number) => ({ ...watermark(lsn), commitLsn: String(commitLsn) });
    // Archived past the horizon, but the newest commit is of the old timeline (at or below fromLsn).
    expect(horizonApplies(horizon(120, 9000), w(300, 100), '', 200n)).toBe(false);
    expect(horizonApplies(horizon(120, 9000), w(300, 200), '', 200n)).toBe(false);
    expect(horizonApplies(horizon(120, 9000), w(300, 201), '', 200n)).toBe(true);
    expect(applyingHorizon([horizon(120, 9000)], w(300, 100), '', 200n)).toBeUndefined();
  });

  it('the fence mark is its newest void, so any cut changes it', () => {
    expect(fenceMark([])).toBe('');
    expect(
      fenceMark([
        { aboveLsn: 10n, belowLsn: 20n },
        { aboveLsn: 30n, belowLsn: 40n },
      ]),
    ).toBe('30-40');
  });

  it('applyingHorizon is the newest one that holds', () => {
    const hs = [horizon(200, 9000), horizon(120, 8000), horizon(100, 7000)];
    expect(applyingHorizon(hs, watermark(150), '')?.throughMs).toBe(8000);
    expect(applyingHorizon(hs, watermark(99), '')).toBeUndefined();
  });
});

describe('nextHorizons', () => {
  it('stores a fresh horizon that holds alone', () => {
    expect(nextHorizons([horizon(100, 7000)], horizon(120, 8000), watermark(120), '')).toEqual([
      horizon(120, 8000),
    ]);
  });

  it('keeps the one that holds beside a fresh one the archive has not reached yet', () => {
    const kept = nextHorizons([horizon(100, 7000)], horizon(130, 8000), watermark(120), '');
    expect(kept).toEqual([horizon(130, 8000), horizon(100, 7000)]);
    // Then a newer fresh one: the one that still holds stays, the other goes.
    expect(nextHorizons(kept!, horizon(140, 9000), watermark(125), '')).toEqual([
      horizon(140, 9000),
      horizon(100, 7000),
    ]);
    // None holds: the newest stays (it will hold sooner than the fresh one).
    expect(nextHorizons([horizon(130, 8000)], horizon(140, 9000), watermark(110), '')).toEqual([
      horizon(140, 9000),
      horizon(130, 8000),
    ]);
    expect(kept!.length).toBeLessThanOrEqual(storedHorizonsMax);
  });

  it('writes nothing for a fresh one that is not newer; a cut drops the old ones', () => {
    expect(nextHorizons([horizon(100, 8000)], horizon(120, 8000), watermark(120), '')).toBeUndefined();
    expect(nextHorizons([horizon(100, 8000)], horizon(120, 7000), watermark(120), '')).toBeUndefined();
    expect(nextHorizons([horizon(100, 8000)], horizon(90, 7000, '5-99'), watermark(80), '5-99')).toEqual([
      horizon(90, 7000, '5-99'),
    ]);
  });
});

describe('the stored document', () => {
  it('lives beside the watermark and parses back', () => {
    expect(commitHorizonKey('borealis')).toBe('clusters/borealis/commit-horizon.json');
    const hs = [horizon(130, 8000, '1-2'), horizon(100, 7000, '1-2')];
    expect(parseCommitHorizons(formatCommitHorizons(hs), 'k')).toEqual(hs);
  });

  it.each([
    ['{', /not JSON/],
    ['{"horizons": 1}', /horizons must be a list/],
    ['{"horizons": [{"lsn": "x", "throughMs": 1, "epoch": "1", "fence": ""}]}', /lsn/],
    ['{"horizons": [{"lsn": "1", "throughMs": -1, "epoch": "1", "fence": ""}]}', /throughMs/],
    ['{"horizons": [{"lsn": "1", "throughMs": 1, "epoch": "1", "fence": "x"}]}', /fence/],
    ['{"horizons": [{}, {}, {}]}', /more than 2/],
  ])('refuses %s naming the key', (text, why) => {
    expect(() => parseCommitHorizons(text, 'clusters/c/commit-horizon.json')).toThrow(
      /^commit horizon clusters\/c\/commit-horizon\.json is malformed: /,
    );
    expect(() => parseCommitHorizons(text, 'k')).toThrow(why);
  });
});
