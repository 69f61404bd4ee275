// Backtrack, the control plane's side (ADR 015): checks a request, keeps the DBClusterBacktrack
// history (backtracks.json in the cluster dir, durable), and runs a backtrack as a planned failover
// whose gap between the old writer stopping and the new one opening does the work: fence and recover
// the volume (epoch bump, cut above VDL), find the target commit on the timeline as it was at T (a
// read quorum of every PG answers), push the grown marker list to storage until a write quorum of
// every PG has it fsync'd, stop the readers (their caches hold the old timeline). The writer then
// opens on the new timeline like after any failover; readers come back and subscribe to it.
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  backtrackMarkersMax,
  markersFromJson,
  markersToJson,
  timelineToJson,
} from '../../core/backtrack/json.ts';
import {
  afterMarkerRepush,
  type MarkerRepushState,
  nodesNeedingMarkers,
} from '../../core/backtrack/repush.ts';
import {
  backtrackWindowRoute,
  backtrackWindowSecondsMax,
  checkBacktrackRequest,
  type DbClusterBacktrack,
  earliestBacktrackTimeMs,
  writerBacktrackWindowRoute,
} from '../../core/backtrack/request.ts';
import {
  type BacktrackMarker,
  currentTimeline,
  markerListProblem,
  nextMarker,
  onTimeline,
  timelineAt,
} from '../../core/backtrack/timeline.ts';
import { storageClients } from '../../core/engine/instance.ts';
import type { Logger } from '../../core/log.ts';
import { type Lsn, lsnToString } from '../../core/lsn.ts';
import { isReadQuorum, isWriteQuorum } from '../../core/quorum.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { recoverVolume } from '../writer/recovery.ts';
import { type Controller, ControlPlaneError } from './controller.ts';
import { type HealthDoc, storageRunning } from './fleet.ts';

/** Entries of the history kept (oldest go first): a bound, as for failovers. */
const historyKept = 1_000;
/** How long the marker push may take to reach a write quorum of every PG. */
const markerPushTimeoutMs = 15_000;
const adminRequestTimeoutMs = 3_000;
const readerStopGraceMs = 300;

export interface BacktrackServiceOptions {
  dir: string;
  volume: VolumeConfig;
  logger: Logger;
  controller: Controller;
  /** --backtrack-window-s: 0 = off. */
  windowSeconds: number;
  binlogOn: boolean;
  /** A Global Database member refuses backtrack (set by the global database's control plane). */
  isGlobalMember: boolean;
  clock?: () => number;
  /** Called once per background re-push of the marker list (the metric). */
  onMarkerRepush?: (result: 'ok' | 'failed') => void;
}

export interface BacktrackRequestBody {
  to: string;
  useEarliestTimeOnPointInTimeUnavailable?: boolean;
  force?: boolean;
}

interface HistoryFile {
  version: 1;
  /** When the cluster first kept backtrack history (the earliest time a backtrack can reach). */
  retainedSinceMs: number;
  windowSeconds: number;
  /** Set by ModifyDBCluster: the window is the API's from then on, not --backtrack-window-s. */
  windowModified?: boolean;
  /** Backtrack was on at some point (a window can only be set on a cluster created with one). */
  everEnabled?: boolean;
  backtracks: DbClusterBacktrack[];
  markers: ReturnType<typeof markersToJson>;
}

export class BacktrackService {
  readonly #options: BacktrackServiceOptions;
  readonly #clock: () => number;
  readonly #path: string;
  #state: {
    retainedSinceMs: number;
    windowSeconds: number;
    windowModified?: boolean;
    everEnabled?: boolean;
    backtracks: DbClusterBacktrack[];
    markers: BacktrackMarker[];
  };
  #inProgress: string | undefined;
  /** Background re-push bookkeeping per storage node (bounded by the node count). */
  readonly #repush = new Map<string, MarkerRepushState>();
  #repushTimer: NodeJS.Timeout | undefined;
  /** A window change the running writer has not confirmed taking (its /health may be older). */
  #windowUnsent = false;

  constructor(options: BacktrackServiceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#path = join(options.dir, 'backtracks.json');
    this.#state = existsSync(this.#path)
      ? readHistory(this.#path)
      : { retainedSinceMs: this.#clock(), windowSeconds: 0, backtracks: [], markers: [] };
    // A window ModifyDBCluster set stays the window: the flag is what the cluster was created with.
    if (this.#state.windowModified) {
      if (options.windowSeconds !== this.#state.windowSeconds)
        options.logger.info(
          { flag: options.windowSeconds, window: this.#state.windowSeconds },
          'backtrack window: keeping the one ModifyDBCluster set, not --backtrack-window-s',
        );
    } else {
      // Storage keeps the window's history only from when a window was first set (or widened).
      if (options.windowSeconds > this.#state.windowSeconds) this.#state.retainedSinceMs = this.#clock();
      this.#state.windowSeconds = options.windowSeconds;
    }
    if (this.#state.windowSeconds > 0) this.#state.everEnabled = true;
    // A control plane that stopped mid-backtrack: the failover it ran finished or not, the markers on
    // storage say which; the entry itself cannot finish any more.
    for (const b of this.#state.backtracks) {
      if (b.Status === 'pending' || b.Status === 'applying') {
        b.Status = 'failed';
        b.StatusReason = 'the control plane restarted during the backtrack';
        b.EndTime = new Date(this.#clock()).toISOString();
      }
    }
    this.#save();
  }

  get windowSeconds(): number {
    return this.#state.windowSeconds;
  }

  /**
   * ModifyDBCluster BacktrackWindow: the new window, durable, then the running writer told (later
   * writers start with it). As on Aurora, only a cluster created with backtracking can have a window
   * (0 turns it off, and it can be turned on again). Widening keeps history from now on only.
   */
  async setWindow(seconds: number): Promise<ReturnType<BacktrackService['summary']>> {
    if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > backtrackWindowSecondsMax) {
      throw new ControlPlaneError(
        'BadRequest',
        `InvalidParameterValue: BacktrackWindow must be 0-${backtrackWindowSecondsMax} seconds, got ${seconds}`,
      );
    }
    if (seconds > 0 && !this.#state.everEnabled) {
      throw new ControlPlaneError(
        'BadRequest',
        'InvalidParameterCombination: backtracking was not enabled when this cluster was created; a window can only be set on a cluster created with one',
      );
    }
    if (seconds > 0 && this.#options.isGlobalMember) {
      throw new ControlPlaneError(
        'BadRequest',
        'InvalidParameterCombination: backtracking is not supported for a Global Database member',
      );
    }
    if (this.#inProgress !== undefined || this.#options.controller.failoverInProgress) {
      throw new ControlPlaneError(
        'Conflict',
        `InvalidDBClusterStateFault: the cluster is ${this.#inProgress ? 'backtracking' : 'failing over'}`,
      );
    }
    const previous = { ...this.#state };
    const before = previous.windowSeconds;
    // Turned on from off: storage merges a writer's collection inputs upwards within an epoch and
    // 'none' (off) is above every LSN, so the running writer's epoch can never hold history again.
    // The writer restarts in place (a new epoch, opened with the window), started before the next
    // await so no backtrack is taken meanwhile (they are refused during a failover), and the history
    // counts from its open.
    const turningOn = before === 0 && seconds > 0;
    if (seconds > before) this.#state.retainedSinceMs = this.#clock();
    this.#state.windowSeconds = seconds;
    this.#state.windowModified = true;
    try {
      this.#save();
    } catch (error) {
      this.#state = previous;
      throw error;
    }
    this.#options.logger.info({ from: before, to: seconds }, 'backtrack window changed');
    if (turningOn) {
      const writer = this.#options.controller.writer;
      if (writer) {
        await this.#options.controller.failover({
          planned: true,
          reason: 'backtrack turned on: the writer reopens with a backtrack floor',
          target: writer.id,
        });
      }
      this.#state.retainedSinceMs = this.#clock();
      this.#save();
      return this.summary();
    }
    await this.syncWriterWindow().catch((error: Error) =>
      // The reconcile round tells it again (it reports its window in /health).
      this.#options.logger.warn({ err: error.message }, 'the writer did not take the new window yet'),
    );
    return this.summary();
  }

  /**
   * Tells the running writer the window if its /health reports another one (after a change, or a
   * writer started before it): run after a change and in every re-push round, so the two converge.
   */
  async syncWriterWindow(): Promise<void> {
    const writer = this.#options.controller.writer;
    if (!writer || writer.host === null || writer.httpPort === null) return;
    const reported = writer.health?.backtrackWindowSeconds;
    // A process that does not report a window has none to set (a Global Database secondary's applier).
    if (reported === undefined) return;
    if (reported === this.#state.windowSeconds && !this.#windowUnsent) return;
    this.#windowUnsent = true;
    await admin(
      { id: writer.id, host: writer.host, httpPort: writer.httpPort },
      'POST',
      writerBacktrackWindowRoute,
      {
        backtrackWindowSeconds: this.#state.windowSeconds,
      },
    );
    this.#windowUnsent = false;
  }

  /** The durable record's markers: every one reached a write quorum of every PG. */
  get markers(): readonly BacktrackMarker[] {
    return this.#state.markers;
  }

  /**
   * Starts the background re-push (ADR 015): every `intervalMs`, a storage node whose /health
   * reports fewer markers than the durable record (it missed a push while down or partitioned) is
   * sent the whole list — at most one push in flight per node, with a backoff after a failure.
   */
  startMarkerRepush(intervalMs: number): void {
    this.stopMarkerRepush();
    this.#repushTimer = setInterval(() => {
      this.repushMarkersRound();
      this.syncWriterWindow().catch(() => undefined);
    }, intervalMs);
    this.#repushTimer.unref();
  }

  stopMarkerRepush(): void {
    clearInterval(this.#repushTimer);
    this.#repushTimer = undefined;
  }

  /**
   * One re-push round on the nodes' last /health answers; returns the nodes a push went to (it runs
   * in the background). None while a backtrack runs: its own push goes to every node.
   */
  repushMarkersRound(): string[] {
    const recorded = this.#state.markers;
    if (this.#inProgress !== undefined || recorded.length === 0) return [];
    const slots = [...this.#options.controller.fleet.storage.values()];
    const due = nodesNeedingMarkers(
      slots.map((slot) => ({
        id: slot.node.id,
        healthy: storageRunning(slot) && slot.health?.healthy === true,
        markerCount: reportedMarkerCount(slot.health),
      })),
      recorded.length,
      this.#repush,
      this.#clock(),
    );
    const body = { markers: markersToJson(recorded), catchUp: true };
    for (const id of due) {
      const slot = this.#options.controller.fleet.storageSlot(id)!;
      const held = reportedMarkerCount(slot.health);
      const previous = this.#repush.get(id);
      this.#repush.set(id, { failures: previous?.failures ?? 0, notBeforeMs: 0, inFlight: true });
      admin(slot.node, 'POST', '/admin/backtrack', body).then(
        () => {
          this.#repush.set(id, afterMarkerRepush(this.#repush.get(id), true, this.#clock()));
          this.#options.onMarkerRepush?.('ok');
          this.#options.logger.info(
            { node: id, held, sent: recorded.length, lastSeq: recorded[recorded.length - 1]!.seq },
            'backtrack markers re-pushed to a storage node that missed them',
          );
        },
        (error: Error) => {
          const state = afterMarkerRepush(this.#repush.get(id), false, this.#clock());
          this.#repush.set(id, state);
          this.#options.onMarkerRepush?.('failed');
          this.#options.logger.warn(
            {
              node: id,
              held,
              sent: recorded.length,
              failures: state.failures,
              retryInMs: state.notBeforeMs - this.#clock(),
              err: error.message,
            },
            'backtrack marker re-push failed; retrying after a backoff',
          );
        },
      );
    }
    return due;
  }

  earliestBacktrackTimeMs(): number | undefined {
    return earliestBacktrackTimeMs(this.#clock(), this.#state.windowSeconds, this.#state.retainedSinceMs);
  }

  list(): DbClusterBacktrack[] {
    return this.#state.backtracks.map((b) => ({ ...b }));
  }

  /**
   * Aurora's BacktrackChangeRecordsStored: redo records storage holds (one copy: each segment's held
   * index entries, summed over the nodes' last health reports, divided by the six copies of a PG).
   */
  changeRecordsStored(): number {
    let records = 0;
    for (const slot of this.#options.controller.fleet.storage.values()) {
      const segments = slot.health?.segments;
      if (!Array.isArray(segments)) continue;
      for (const s of segments) records += typeof s?.records === 'number' ? s.records : 0;
    }
    return Math.round(records / 6);
  }

  /** Aurora's BacktrackWindowActual (minutes): how far back a backtrack can go now. */
  windowActualMinutes(): number {
    const earliest = this.earliestBacktrackTimeMs();
    return earliest === undefined ? 0 : (this.#clock() - earliest) / 60_000;
  }

  /** What `status --json` shows. */
  summary(): { backtrackWindowSeconds: number; earliestBacktrackTime: string | null; backtracks: number } {
    const earliest = this.earliestBacktrackTimeMs();
    return {
      backtrackWindowSeconds: this.#state.windowSeconds,
      earliestBacktrackTime: earliest === undefined ? null : new Date(earliest).toISOString(),
      backtracks: this.#state.backtracks.length,
    };
  }

  /** Runs one backtrack to its end; bad input throws BadRequest/Conflict and changes nothing. */
  async backtrack(body: BacktrackRequestBody): Promise<DbClusterBacktrack> {
    const nowMs = this.#clock();
    const check = checkBacktrackRequest({
      to: body.to,
      nowMs,
      windowSeconds: this.#state.windowSeconds,
      earliestBacktrackTimeMs: this.earliestBacktrackTimeMs(),
      useEarliestTimeOnPointInTimeUnavailable: body.useEarliestTimeOnPointInTimeUnavailable === true,
      force: body.force === true,
      binlogOn: this.#options.binlogOn,
      isGlobalMember: this.#options.isGlobalMember,
      inProgress:
        this.#inProgress ?? (this.#options.controller.failoverInProgress ? 'a failover' : undefined),
    });
    if (!check.ok) {
      const code = check.awsError === 'InvalidDBClusterStateFault' ? 'Conflict' : 'BadRequest';
      throw new ControlPlaneError(code, `${check.awsError}: ${check.message}`);
    }
    // Storage refuses a list longer than the cap: refuse before the failover, with nothing changed.
    if (this.#state.markers.length >= backtrackMarkersMax) {
      throw new ControlPlaneError(
        'Conflict',
        `InvalidDBClusterStateFault: the cluster has been backtracked ${this.#state.markers.length} times, the most storage keeps markers for (${backtrackMarkersMax})`,
      );
    }
    const writer = this.#options.controller.writer;
    if (!writer) throw new ControlPlaneError('Conflict', 'InvalidDBClusterStateFault: no writer is running');
    const entry: DbClusterBacktrack = {
      BacktrackIdentifier: `backtrack-${this.#state.backtracks.length + 1}-${nowMs.toString(36)}`,
      BacktrackTo: new Date(check.timeMs).toISOString(),
      BacktrackedFrom: new Date(nowMs).toISOString(),
      BacktrackRequestCreationTime: new Date(nowMs).toISOString(),
      Status: 'pending',
    };
    this.#inProgress = entry.BacktrackIdentifier;
    this.#state.backtracks.push(entry);
    if (this.#state.backtracks.length > historyKept) this.#state.backtracks.shift();
    this.#save();
    const log = this.#options.logger.child({ backtrack: entry.BacktrackIdentifier });
    let failure: Error | undefined;
    let applied = false;
    try {
      const event = await this.#options.controller.failover({
        planned: true,
        reason: `backtrack ${entry.BacktrackIdentifier} to ${entry.BacktrackTo}`,
        target: writer.id,
        beforeStart: async () => {
          entry.Status = 'applying';
          this.#save();
          try {
            await this.#apply(check.timeMs, log);
            applied = true;
          } catch (error) {
            // The writer opens on the old timeline: the cluster is as it was before the request.
            failure = error as Error;
            log.error({ err: failure.message }, 'backtrack failed; the cluster stays where it was');
          }
        },
      });
      if (!event) failure ??= new Error('the control plane is stopping');
    } catch (error) {
      failure ??= error as Error;
    } finally {
      this.#inProgress = undefined;
    }
    entry.Status = applied && !failure ? 'completed' : 'failed';
    if (entry.Status === 'failed') entry.StatusReason = failure?.message ?? 'unknown';
    entry.EndTime = new Date(this.#clock()).toISOString();
    this.#save();
    return { ...entry };
  }

  /** The storage half: runs while no writer is open (the failover's gap). */
  async #apply(timeMs: number, log: Logger): Promise<void> {
    const { volume } = this.#options;
    const clients = storageClients(volume);
    try {
      // Fence and cut: nothing above VDL survives, and every LSN up to `fromLsn` is spent.
      const started = performance.now();
      const recovered = await recoverVolume({ volume, clients, logger: log, timeoutMs: 20_000 });
      const fromLsn = recovered.nextLsn - 1n;
      const recoveredMs = performance.now();
      const markers = await this.#longestMarkers();
      const target = await this.#findTarget(markers, timeMs, recovered.vdl);
      const targetMs = performance.now();
      const marker = nextMarker(markers, target ? [target] : [], {
        timeMs,
        nowMs: this.#clock(),
        epoch: recovered.epoch + 1n,
        fromLsn,
      });
      const next = [...markers, marker];
      if (next.length > backtrackMarkersMax) {
        // Only a list adopted from storage can get here (the request was checked against ours).
        throw new Error(`the marker list would exceed ${backtrackMarkersMax} markers; nothing was pushed`);
      }
      await this.#pushMarkers(next);
      this.#state.markers = next;
      this.#save();
      log.warn(
        {
          seq: marker.seq,
          targetLsn: lsnToString(marker.targetLsn),
          fromLsn: lsnToString(fromLsn),
          vdl: lsnToString(recovered.vdl),
          // Where the switch's time goes: fence + cut, target search, marker on a write quorum.
          recoverMs: Math.round(recoveredMs - started),
          targetMs: Math.round(targetMs - recoveredMs),
          pushMs: Math.round(performance.now() - targetMs),
        },
        'backtrack marker on a write quorum of every PG',
      );
      // Readers cache pages of the old timeline: they restart and subscribe to the new writer (in
      // parallel, with a short grace: a reader has nothing to flush).
      const fleet = this.#options.controller.fleet;
      const readers = [...fleet.instances.values()].filter((s) => s.role === 'reader' && s.state !== 'down');
      await Promise.all(readers.map((slot) => fleet.stopInstance(slot.id, readerStopGraceMs)));
      for (const slot of readers) slot.restartAt = Date.now();
    } finally {
      for (const c of clients.values()) c.close();
    }
  }

  /** Ours, or a longer list some node holds that extends it (a backtrack this process did not finish). */
  async #longestMarkers(): Promise<BacktrackMarker[]> {
    let best = this.#state.markers;
    const lists = await Promise.all(
      this.#options.volume.nodes.map(async (n) => {
        try {
          const body = (await admin(n, 'GET', '/admin/backtrack')) as { markers: unknown };
          return markersFromJson(body.markers);
        } catch {
          return undefined;
        }
      }),
    );
    for (const list of lists) {
      if (!list || list.length <= best.length || markerListProblem(list)) continue;
      const prefix = JSON.stringify(markersToJson(list.slice(0, best.length)));
      if (prefix === JSON.stringify(markersToJson(best))) best = list;
    }
    return best;
  }

  /** The newest commit on the timeline as it was at T with commit time <= T, from a read quorum of every PG. */
  async #findTarget(
    markers: BacktrackMarker[],
    timeMs: number,
    vdl: Lsn,
  ): Promise<{ lsn: Lsn; commitTimeMs: number } | undefined> {
    const { volume } = this.#options;
    const timeline = timelineAt(markers, timeMs);
    const current = currentTimeline(markers);
    const answers = await Promise.all(
      volume.nodes.map(async (n) => {
        try {
          const body = (await admin(n, 'POST', '/admin/backtrack/target', {
            timeline: timelineToJson(timeline),
            timeMs,
          })) as { segments: { pg: number; lsn: string; commitTimeMs: number }[] };
          return { node: n.id, segments: body.segments };
        } catch {
          return undefined;
        }
      }),
    );
    let best: { lsn: Lsn; commitTimeMs: number } | undefined;
    for (const p of volume.placement) {
      const responded = p.segments.map((s) => answers.some((a) => a?.node === s.nodeId));
      if (
        !isReadQuorum(
          responded,
          p.segments.map((s) => s.kind),
        )
      ) {
        throw new Error(`pg ${p.pg}: no read quorum answered the backtrack target search`);
      }
    }
    for (const a of answers) {
      for (const s of a?.segments ?? []) {
        const lsn = BigInt(s.lsn);
        // On the current timeline nothing above VDL was durable (recovery just cut it).
        if (lsn === 0n || (onTimeline(current, lsn) && lsn > vdl)) continue;
        if (!best || lsn > best.lsn) best = { lsn, commitTimeMs: s.commitTimeMs };
      }
    }
    return best;
  }

  /** Sends the list to every node until a write quorum of every PG has made it durable. */
  async #pushMarkers(markers: BacktrackMarker[]): Promise<void> {
    const { volume } = this.#options;
    const acked = new Set<string>();
    const deadline = Date.now() + markerPushTimeoutMs;
    const body = { markers: markersToJson(markers) };
    for (;;) {
      await Promise.all(
        volume.nodes
          .filter((n) => !acked.has(n.id))
          .map(async (n) => {
            try {
              await admin(n, 'POST', '/admin/backtrack', body);
              acked.add(n.id);
            } catch {
              // down or fenced: not counted
            }
          }),
      );
      const short = volume.placement.find(
        (p) =>
          !isWriteQuorum(
            p.segments.map((s) => acked.has(s.nodeId)),
            p.segments.map((s) => s.kind),
          ),
      );
      if (!short) return;
      if (Date.now() > deadline)
        throw new Error(`pg ${short.pg}: the backtrack marker reached no write quorum`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  #save(): void {
    const file: HistoryFile = {
      version: 1,
      retainedSinceMs: this.#state.retainedSinceMs,
      windowSeconds: this.#state.windowSeconds,
      ...(this.#state.windowModified ? { windowModified: true } : {}),
      ...(this.#state.everEnabled ? { everEnabled: true } : {}),
      backtracks: this.#state.backtracks,
      markers: markersToJson(this.#state.markers),
    };
    writeDurably(this.#path, JSON.stringify(file));
  }
}

/** The marker count a storage node's /health answer reports (undefined: an older node, or none yet). */
function reportedMarkerCount(health: HealthDoc | undefined): number | undefined {
  const markers = (health?.backtrack as { markers?: unknown } | undefined)?.markers;
  return Number.isSafeInteger(markers) ? (markers as number) : undefined;
}

async function admin(
  node: { host: string; httpPort: number; id: string },
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<unknown> {
  const response = await fetch(`http://${node.host}:${node.httpPort}${path}`, {
    method,
    signal: AbortSignal.timeout(adminRequestTimeoutMs),
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${node.id} ${method} ${path}: ${response.status} ${text}`);
  return JSON.parse(text);
}

function readHistory(path: string): {
  retainedSinceMs: number;
  windowSeconds: number;
  windowModified?: boolean;
  everEnabled?: boolean;
  backtracks: DbClusterBacktrack[];
  markers: BacktrackMarker[];
} {
  const file = JSON.parse(readFileSync(path, 'utf8')) as HistoryFile;
  return {
    retainedSinceMs: file.retainedSinceMs,
    windowSeconds: file.windowSeconds ?? 0,
    ...(file.windowModified === true ? { windowModified: true } : {}),
    ...(file.everEnabled === true || (file.windowSeconds ?? 0) > 0 ? { everEnabled: true } : {}),
    backtracks: file.backtracks,
    markers: markersFromJson(file.markers),
  };
}

/** temp file, fsync, rename, fsync of the directory: whole or absent after a crash. */
function writeDurably(path: string, text: string): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w');
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  const dirFd = openSync(join(path, '..'), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}

/** `POST /backtrack` (runs one to its end) and `GET /backtracks` (the history); others: not ours. */
export async function backtrackApi(
  service: BacktrackService,
  route: string,
  body: unknown,
): Promise<{ status: number; body?: unknown } | undefined> {
  if (route === 'GET /backtracks') {
    return { status: 200, body: { ...service.summary(), backtracks: service.list() } };
  }
  if (route === `POST ${backtrackWindowRoute}`) {
    const seconds = (body as { backtrackWindowSeconds?: unknown } | undefined)?.backtrackWindowSeconds;
    if (typeof seconds !== 'number')
      throw new ControlPlaneError(
        'BadRequest',
        'InvalidParameterValue: backtrackWindowSeconds must be a number',
      );
    const summary = await service.setWindow(seconds);
    return { status: 200, body: { backtrackWindowSeconds: summary.backtrackWindowSeconds } };
  }
  if (route !== 'POST /backtrack') return undefined;
  const b = body as Partial<Record<string, unknown>> | undefined;
  const allowed = ['to', 'useEarliestTimeOnPointInTimeUnavailable', 'force'];
  if (typeof b !== 'object' || b === null || Array.isArray(b)) {
    throw new ControlPlaneError('BadRequest', 'InvalidParameterValue: body must be a JSON object with "to"');
  }
  const unknown = Object.keys(b).filter((k) => !allowed.includes(k));
  if (unknown.length > 0)
    throw new ControlPlaneError('BadRequest', `InvalidParameterValue: unknown field ${unknown.join(', ')}`);
  if (typeof b.to !== 'string' || b.to.length > 64) {
    throw new ControlPlaneError('BadRequest', 'InvalidParameterValue: "to" must be an ISO 8601 time');
  }
  for (const flag of ['useEarliestTimeOnPointInTimeUnavailable', 'force']) {
    if (b[flag] !== undefined && typeof b[flag] !== 'boolean') {
      throw new ControlPlaneError('BadRequest', `InvalidParameterValue: ${flag} must be true or false`);
    }
  }
  return { status: 200, body: await service.backtrack(b as unknown as BacktrackRequestBody) };
}
