import { describe, expect, it } from 'vitest';
import {
  type BacktrackRequestFacts,
  type BacktrackStatus,
  backtrackWindowSecondsMax,
  canMoveTo,
  checkBacktrackRequest,
  earliestBacktrackTimeMs,
  isWindowSeconds,
  parseIsoTime,
} from './request.ts';

const now = Date.parse('2026-12-02T12:00:00Z');
const facts = (over: Partial<BacktrackRequestFacts> = {}): BacktrackRequestFacts => ({
  to: '2026-12-02T11:30:00Z',
  nowMs: now,
  windowSeconds: 3600,
  earliestBacktrackTimeMs: now - 3_600_000,
  useEarliestTimeOnPointInTimeUnavailable: false,
  force: false,
  binlogOn: false,
  isGlobalMember: false,
  inProgress: undefined,
  ...over,
});

describe('backtrack request', () => {
  it('parseIsoTime takes ISO 8601 with a zone and nothing else', () => {
    expect(parseIsoTime('2026-12-02T11:30:00Z')).toBe(Date.parse('2026-12-02T11:30:00Z'));
    expect(parseIsoTime('2026-12-02T11:30Z')).toBe(Date.parse('2026-12-02T11:30:00Z'));
    expect(parseIsoTime('2026-12-02T11:30:00.123Z')).toBe(Date.parse('2026-12-02T11:30:00.123Z'));
    expect(parseIsoTime('2026-12-02T13:30:00+02:00')).toBe(Date.parse('2026-12-02T11:30:00Z'));
    for (const bad of [
      'yesterday',
      '',
      '2026-12-02',
      '2026-12-02 11:30:00Z',
      '2026-12-02T11:30:00', // no zone: refused rather than guessed
      '2026-02-30T10:00:00Z', // no such day
      '2026-12-02T25:00:00Z',
      '1733140000000',
    ]) {
      expect(parseIsoTime(bad), bad).toBeUndefined();
    }
  });

  it('accepts a time inside the window', () => {
    expect(checkBacktrackRequest(facts())).toEqual({
      ok: true,
      timeMs: Date.parse('2026-12-02T11:30:00Z'),
      clampedToEarliest: false,
    });
  });

  it.each([
    ['a non-ISO time', { to: 'an hour ago' }, 'InvalidParameterValue', /not an ISO 8601 time/],
    [
      'window 0',
      { windowSeconds: 0, earliestBacktrackTimeMs: undefined },
      'InvalidDBClusterStateFault',
      /not enabled/,
    ],
    ['a time in the future', { to: '2026-12-02T12:00:01Z' }, 'InvalidParameterValue', /in the future/],
    [
      'a time before the earliest backtrack time',
      { to: '2026-12-02T10:59:59Z' },
      'InvalidParameterValue',
      /before the earliest backtrack time/,
    ],
    [
      'a backtrack while one is applying',
      { inProgress: 'bt-3' },
      'InvalidDBClusterStateFault',
      /bt-3 is still in progress/,
    ],
    ['binlog on without --force', { binlogOn: true }, 'InvalidParameterCombination', /needs --force/],
    [
      'a Global Database member',
      { isGlobalMember: true },
      'InvalidDBClusterStateFault',
      /Global Database member/,
    ],
    [
      'a Global Database member whatever its window',
      { isGlobalMember: true, windowSeconds: 0 },
      'InvalidDBClusterStateFault',
      /Global Database member/,
    ],
  ] as const)('refuses %s with %s', (_what, over, awsError, message) => {
    const check = checkBacktrackRequest(facts(over));
    expect(check.ok).toBe(false);
    if (check.ok) return;
    expect(check.awsError).toBe(awsError);
    expect(check.message).toMatch(message);
  });

  it('binlog on with --force goes ahead', () => {
    expect(checkBacktrackRequest(facts({ binlogOn: true, force: true })).ok).toBe(true);
  });

  it('--use-earliest-time-on-point-in-time-unavailable goes to the earliest time instead', () => {
    expect(
      checkBacktrackRequest(
        facts({ to: '2026-12-01T00:00:00Z', useEarliestTimeOnPointInTimeUnavailable: true }),
      ),
    ).toEqual({ ok: true, timeMs: now - 3_600_000, clampedToEarliest: true });
  });

  it('the earliest backtrack time is the window start, not before history was kept', () => {
    expect(earliestBacktrackTimeMs(now, 3600, 0)).toBe(now - 3_600_000);
    expect(earliestBacktrackTimeMs(now, 3600, now - 60_000)).toBe(now - 60_000);
    expect(earliestBacktrackTimeMs(now, 0, 0)).toBeUndefined();
  });

  it('window bounds are 0 to 72 hours in whole seconds', () => {
    expect(isWindowSeconds(0)).toBe(true);
    expect(isWindowSeconds(backtrackWindowSecondsMax)).toBe(true);
    expect(isWindowSeconds(backtrackWindowSecondsMax + 1)).toBe(false);
    expect(isWindowSeconds(-1)).toBe(false);
    expect(isWindowSeconds(1.5)).toBe(false);
  });

  it('status moves pending → applying → completed | failed, never back', () => {
    const all: BacktrackStatus[] = ['pending', 'applying', 'completed', 'failed'];
    const allowed = new Set(['pending>applying', 'pending>failed', 'applying>completed', 'applying>failed']);
    for (const from of all)
      for (const to of all) expect(canMoveTo(from, to)).toBe(allowed.has(`${from}>${to}`));
  });
});
