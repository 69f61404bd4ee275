import { describe, expect, it } from 'vitest';
import type { DbClusterBacktrack } from '../core/backtrack/request.ts';
import { type BacktrackList, backtrackLine, backtrackListText } from './backtrack-view.ts';
import { printJson } from './io.ts';
import { memoryIo } from './testing.ts';

const completed: DbClusterBacktrack = {
  BacktrackIdentifier: 'backtrack-1-mifx2k0a',
  BacktrackTo: '2026-12-02T10:15:00.000Z',
  BacktrackedFrom: '2026-12-02T10:20:00.000Z',
  BacktrackRequestCreationTime: '2026-12-02T10:20:00.000Z',
  Status: 'completed',
};
const failed: DbClusterBacktrack = {
  BacktrackIdentifier: 'backtrack-2-mifx9z11',
  BacktrackTo: '2026-12-02T10:16:30.500Z',
  BacktrackedFrom: '2026-12-02T10:21:00.000Z',
  BacktrackRequestCreationTime: '2026-12-02T10:21:00.000Z',
  Status: 'failed',
  StatusReason: 'pg 2: the backtrack marker reached no write quorum',
};
const list: BacktrackList = {
  backtrackWindowSeconds: 3600,
  earliestBacktrackTime: '2026-12-02T09:21:00.000Z',
  backtracks: [completed, failed],
};

describe('backtrack view', () => {
  it('prints one backtrack on one line, with the reason when it failed', () => {
    expect(backtrackLine(completed)).toBe(
      'backtrack-1-mifx2k0a  to 2026-12-02T10:15:00.000Z  from 2026-12-02T10:20:00.000Z  requested 2026-12-02T10:20:00.000Z  completed',
    );
    expect(backtrackLine(failed)).toMatch(/ failed \(pg 2: the backtrack marker reached no write quorum\)$/);
  });

  it('backtrack list: the window line over an aligned table, oldest first', () => {
    expect(backtrackListText(list)).toBe(
      [
        'backtrack window 3600 s, earliest backtrack time 2026-12-02T09:21:00.000Z',
        'IDENTIFIER            BACKTRACK TO              BACKTRACKED FROM          REQUESTED                 STATUS',
        'backtrack-1-mifx2k0a  2026-12-02T10:15:00.000Z  2026-12-02T10:20:00.000Z  2026-12-02T10:20:00.000Z  completed',
        'backtrack-2-mifx9z11  2026-12-02T10:16:30.500Z  2026-12-02T10:21:00.000Z  2026-12-02T10:21:00.000Z  failed (pg 2: the backtrack marker reached no write quorum)',
        '',
      ].join('\n'),
    );
  });

  it('backtrack list with no history, and with the window off', () => {
    expect(backtrackListText({ ...list, backtracks: [] })).toBe(
      'backtrack window 3600 s, earliest backtrack time 2026-12-02T09:21:00.000Z\nno backtracks yet\n',
    );
    expect(
      backtrackListText({ backtrackWindowSeconds: 0, earliestBacktrackTime: null, backtracks: [] }),
    ).toMatch(/^backtrack window 0 s, earliest backtrack time \(off\)\n/);
  });

  it('backtrack list --json prints the GET /backtracks document as it came, indented', () => {
    const io = memoryIo();
    printJson(io, list);
    expect(io.stdout().endsWith('}\n')).toBe(true);
    expect(io.stdout()).toContain('\n  "backtrackWindowSeconds": 3600,\n');
    expect(JSON.parse(io.stdout())).toEqual(list);
  });
});
