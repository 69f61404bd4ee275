// Checking a backtrack request before anything changes (`borealis backtrack --to T`): the time, the
// window, the earliest backtrack time and the cluster's state. Pure: the control plane passes what it
// knows; a refusal names the AWS error Aurora gives for the same case and changes nothing.

/** Aurora's BacktrackWindow bound: 72 hours. 0 turns backtrack off. */
export const backtrackWindowSecondsMax = 259_200;

/** The control plane's route for ModifyDBCluster BacktrackWindow: POST {backtrackWindowSeconds}. */
export const backtrackWindowRoute = '/backtrack/window';

/** The writer's route that changes its window while it runs: POST {backtrackWindowSeconds}. */
export const writerBacktrackWindowRoute = '/admin/backtrack-window';

/** The backtrack states of Aurora's DBClusterBacktrack. */
export type BacktrackStatus = 'pending' | 'applying' | 'completed' | 'failed';

/** One entry of `borealis backtrack list`, with Aurora's DBClusterBacktrack field names. */
export interface DbClusterBacktrack {
  BacktrackIdentifier: string;
  /** ISO time asked for (after --use-earliest-time…: the earliest backtrack time). */
  BacktrackTo: string;
  /** ISO time the cluster was at when the backtrack started (its latest commit time then). */
  BacktrackedFrom: string;
  BacktrackRequestCreationTime: string;
  Status: BacktrackStatus;
  /** Why it failed (Borealis addition; absent unless Status is failed). */
  StatusReason?: string;
  /**
   * When it completed or failed (Borealis addition: the RDS API's backtrack events are dated by it;
   * absent while it runs, and in entries recorded before it was kept).
   */
  EndTime?: string;
}

/** Statuses that may follow each status: a backtrack ends completed or failed, never goes back. */
const nextStatuses: Readonly<Record<BacktrackStatus, readonly BacktrackStatus[]>> = {
  pending: ['applying', 'failed'],
  applying: ['completed', 'failed'],
  completed: [],
  failed: [],
};

export function canMoveTo(from: BacktrackStatus, to: BacktrackStatus): boolean {
  return nextStatuses[from].includes(to);
}

export function isWindowSeconds(value: number): boolean {
  return Number.isInteger(value) && value >= 0 && value <= backtrackWindowSecondsMax;
}

/** ISO 8601 with a date, a time to at least the minute and an explicit zone (Z or ±hh:mm). */
const isoTime = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})$/;

/** Parses an ISO 8601 time with a zone to epoch ms; undefined for anything else (no local guessing). */
export function parseIsoTime(text: string): number | undefined {
  const m = isoTime.exec(text);
  if (!m) return undefined;
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) return undefined;
  // Date.parse rolls over impossible dates (Feb 30 → Mar 2): the fields must survive the round trip.
  const zone = m[8]!;
  const offsetMin =
    zone === 'Z'
      ? 0
      : (zone.startsWith('-') ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(4, 6)));
  const local = new Date(ms + offsetMin * 60_000);
  if (
    local.getUTCFullYear() !== Number(m[1]) ||
    local.getUTCMonth() + 1 !== Number(m[2]) ||
    local.getUTCDate() !== Number(m[3]) ||
    local.getUTCHours() !== Number(m[4]) ||
    local.getUTCMinutes() !== Number(m[5])
  ) {
    return undefined;
  }
  return ms;
}

export interface BacktrackRequestFacts {
  /** --to as typed. */
  to: string;
  nowMs: number;
  windowSeconds: number;
  /** The earliest time storage can still go back to (undefined: no history kept yet). */
  earliestBacktrackTimeMs: number | undefined;
  useEarliestTimeOnPointInTimeUnavailable: boolean;
  force: boolean;
  /** binlog_format is ROW (the default): consumers must be told, so Aurora asks for --force. */
  binlogOn: boolean;
  /** A Global Database member refuses backtrack (as in Aurora). */
  isGlobalMember: boolean;
  /** Identifier of a backtrack still pending or applying, if any. */
  inProgress: string | undefined;
}

export type BacktrackRequestCheck =
  | { ok: true; timeMs: number; clampedToEarliest: boolean }
  | { ok: false; awsError: string; message: string };

/** Decides whether a backtrack may go ahead, and to which time. The first problem found is reported. */
export function checkBacktrackRequest(f: BacktrackRequestFacts): BacktrackRequestCheck {
  const refuse = (awsError: string, message: string): BacktrackRequestCheck => ({
    ok: false,
    awsError,
    message,
  });
  const timeMs = parseIsoTime(f.to);
  if (timeMs === undefined) {
    return refuse(
      'InvalidParameterValue',
      `--to ${JSON.stringify(f.to)} is not an ISO 8601 time with a zone, e.g. 2026-12-02T10:15:00Z`,
    );
  }
  // Before the window: a Global Database member cannot backtrack whatever its window (Aurora).
  if (f.isGlobalMember) {
    return refuse('InvalidDBClusterStateFault', 'a Global Database member cannot be backtracked');
  }
  if (f.windowSeconds === 0) {
    return refuse(
      'InvalidDBClusterStateFault',
      'backtrack is not enabled on this cluster: its backtrack window is 0 (set --backtrack-window-s)',
    );
  }
  if (f.inProgress !== undefined) {
    return refuse('InvalidDBClusterStateFault', `backtrack ${f.inProgress} is still in progress`);
  }
  if (timeMs > f.nowMs) {
    return refuse(
      'InvalidParameterValue',
      `--to ${f.to} is in the future (now is ${new Date(f.nowMs).toISOString()})`,
    );
  }
  if (f.binlogOn && !f.force) {
    return refuse(
      'InvalidParameterCombination',
      'binary logging is on (binlog_format ROW): a backtrack emits a control event and needs --force',
    );
  }
  const earliest = f.earliestBacktrackTimeMs;
  if (earliest === undefined || timeMs < earliest) {
    const at = earliest === undefined ? 'none yet' : new Date(earliest).toISOString();
    if (!f.useEarliestTimeOnPointInTimeUnavailable || earliest === undefined) {
      return refuse(
        'InvalidParameterValue',
        `--to ${f.to} is before the earliest backtrack time (${at}); pass --use-earliest-time-on-point-in-time-unavailable to go there instead`,
      );
    }
    return { ok: true, timeMs: earliest, clampedToEarliest: true };
  }
  return { ok: true, timeMs, clampedToEarliest: false };
}

/**
 * The earliest backtrack time: the window's start, but never before the oldest history storage
 * still holds (the cluster's creation, or when the window was last widened).
 */
export function earliestBacktrackTimeMs(
  nowMs: number,
  windowSeconds: number,
  retainedSinceMs: number,
): number | undefined {
  if (windowSeconds === 0) return undefined;
  return Math.max(nowMs - windowSeconds * 1000, retainedSinceMs);
}
