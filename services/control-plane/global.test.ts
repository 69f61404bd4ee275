import { describe, expect, it } from 'vitest';
import { parseDiscard } from './global.ts';

describe('POST /global/demote body (parseDiscard)', () => {
  it('no body or no aboveLsn: a switchover (no discard)', () => {
    expect(parseDiscard(undefined)).toBeUndefined();
    expect(parseDiscard({})).toBeUndefined();
  });

  it('takes the promoted point, its commit time and the archive floor', () => {
    expect(parseDiscard({ aboveLsn: '42', aboveCommitTimeMs: 7, archiveFloor: '40' })).toEqual({
      aboveLsn: '42',
      aboveCommitTimeMs: 7,
      archiveFloor: '40',
    });
    expect(parseDiscard({ aboveLsn: '42' })).toEqual({ aboveLsn: '42', aboveCommitTimeMs: 0 });
  });

  it.each([
    [{ aboveLsn: 42 }],
    [{ aboveLsn: '-1' }],
    [{ aboveLsn: '18446744073709551616' }],
    [{ aboveLsn: '42', aboveCommitTimeMs: -1 }],
    [{ aboveLsn: '42', aboveCommitTimeMs: 1.5 }],
    [{ aboveLsn: '42', archiveFloor: '43' }],
    [{ aboveLsn: '42', archiveFloor: 'x' }],
  ])('refuses %j', (body) => {
    expect(parseDiscard(body)).toBe('invalid');
  });
});
