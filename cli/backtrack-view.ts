// What `borealis backtrack` prints (pure, so the text is tested without a cluster): one line per
// backtrack result, and `backtrack list` as a header line (window, earliest backtrack time) over a
// table of Aurora's DBClusterBacktrack fields, oldest first.
import type { DbClusterBacktrack } from '../core/backtrack/request.ts';
import { formatColumns } from './table.ts';

/** GET /backtracks: the window, the earliest time a backtrack can reach, and the history. */
export interface BacktrackList {
  backtrackWindowSeconds: number;
  earliestBacktrackTime: string | null;
  backtracks: DbClusterBacktrack[];
}

/** One backtrack on one line (the result of `borealis backtrack --to T`). */
export function backtrackLine(b: DbClusterBacktrack): string {
  const reason = b.StatusReason ? ` (${b.StatusReason})` : '';
  return `${b.BacktrackIdentifier}  to ${b.BacktrackTo}  from ${b.BacktrackedFrom}  requested ${b.BacktrackRequestCreationTime}  ${b.Status}${reason}`;
}

/** `borealis backtrack list` without --json: every line ends with a newline. */
export function backtrackListText(list: BacktrackList): string {
  const header = `backtrack window ${list.backtrackWindowSeconds} s, earliest backtrack time ${list.earliestBacktrackTime ?? '(off)'}`;
  if (list.backtracks.length === 0) return `${header}\nno backtracks yet\n`;
  const table = formatColumns(
    [
      { header: 'IDENTIFIER' },
      { header: 'BACKTRACK TO' },
      { header: 'BACKTRACKED FROM' },
      { header: 'REQUESTED' },
      { header: 'STATUS' },
    ],
    list.backtracks.map((b) => [
      b.BacktrackIdentifier,
      b.BacktrackTo,
      b.BacktrackedFrom,
      b.BacktrackRequestCreationTime,
      b.StatusReason ? `${b.Status} (${b.StatusReason})` : b.Status,
    ]),
  );
  return `${[header, ...table].join('\n')}\n`;
}
