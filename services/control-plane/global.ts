// The control plane's Global Database route (a cluster started with --global-secondary):
// POST /global/promote makes this secondary the primary — the replica applier stops and a writer
// opens the volume in its slot (ADR 007: failover by restart). The writer's recovery bumps the epoch,
// which fences the applier, and truncates the incomplete suffix above the secondary's VDL, so the
// new primary starts from a prefix of the old primary's commits. Answers with that point.
// GET /global/role (every cluster): primary or secondary, the promotion record and the cluster
// endpoint, which the global writer endpoint polls to follow the primary (ADR 018).

import type { LostSet } from '../../core/global/lost-set.ts';
import type { MemberRole } from '../../core/global/writer-target.ts';
import type { ServiceRequest, ServiceResponse } from '../../core/http/service-http.ts';
import type { Logger } from '../../core/log.ts';
import { httpUrl } from '../../core/process/address-flags.ts';
import type { RejoinReport } from '../replica-applier/applier.ts';
import type { Controller } from './controller.ts';

export const globalPromoteRoute = '/global/promote';
/**
 * POST: this primary becomes a secondary (switchover): the writer stops after the proxy holds new
 * requests (it drains its statements and its redo stream), and the replica applier opens the volume
 * in its slot with the writer's recovery — a new epoch fences the old writer for good — at the VDL the
 * writer left (rejoin.json, services/replica-applier). Answers with that VDL: the switchover promotes
 * the other region once it holds it.
 */
export const globalDemoteRoute = '/global/demote';
/** GET: this member's role, promotion record and cluster endpoint, for the global writer endpoint. */
export const globalRoleRoute = '/global/role';

/** Whether this cluster is still a secondary (mutable: a promotion ends it). */
export interface GlobalRole {
  secondary: boolean;
  promoting: boolean;
  /**
   * The promotion record (epoch ms of the promotion), null while this member has not been promoted:
   * the global writer endpoint prefers the member promoted last, so an old primary that comes back
   * unfenced is never routed to (ADR 018).
   */
  promotedAtMs: number | null;
}

export interface PromoteResult {
  /** The secondary's VDL when it was promoted: every primary commit at or below it is kept. */
  promotedVdl: string;
  /** Commit time of the newest commit kept (epoch ms; 0: none). */
  promotedCommitTimeMs: number;
  epoch: string;
  writer: string;
  /** The promoted writer's first LSN: the next promotion, in any region, allocates above it + 2^40. */
  firstLsn: string;
  durationMs: number;
}

/** POST /global/demote's body after an unplanned failover: the new primary's promoted point. */
export interface DiscardRequest {
  /** Decimal LSN: the commits above it are lost (the new primary never had them). */
  aboveLsn: string;
  /** Commit time (epoch ms) of the newest commit kept. */
  aboveCommitTimeMs: number;
  /**
   * Decimal LSN: this region's archive watermark, at or below aboveLsn, above which storage must keep
   * the log (the archive is cut back to the promoted point; core/global/archive-cut.ts).
   */
  archiveFloor?: string;
}

export interface DemoteResult {
  /** The old writer's VDL (switchover: the target must hold it), or the promoted point (discard). */
  vdl: string;
  /** Discard: the commits this region made durable above the promoted point (global-rejoin.json). */
  lost?: LostSet | undefined;
  vdlCommitTimeMs: number;
  epoch: string;
  durationMs: number;
}

export function globalRoutes(options: {
  role: GlobalRole;
  controller: Controller;
  /** Switches the fleet's writer slot from the applier to the writer. */
  promoteFleet: (lsnFloor: string) => void;
  /**
   * Switches the fleet's writer slot from the writer to the applier, which rejoins (rejoin.json):
   * after a switchover at its own VDL; after an unplanned failover (discard) at the new primary's
   * promoted point, discarding the commits above it.
   */
  demoteFleet: (discard: DiscardRequest | undefined) => void;
  /** Started as a member of a Global Database (--global-primary or --global-secondary). */
  globalMember: boolean;
  /** The last rejoin's report (global-rejoin.json beside volume.json), if any. */
  rejoinReport: () => RejoinReport | undefined;
  logger: Logger;
}) {
  const { role, controller, logger } = options;
  const routes = async ({ method, url, body }: ServiceRequest): Promise<ServiceResponse | undefined> => {
    if (method === 'GET' && url.pathname === globalRoleRoute) {
      const status = controller.status();
      const body: MemberRole = {
        region: status.region,
        cluster: status.cluster,
        role: role.secondary ? 'secondary' : 'primary',
        promotedAtMs: role.promotedAtMs,
        writerEndpoint: status.endpoints.writer,
        mysqlWriterEndpoint: status.endpoints.mysql?.writer ?? null,
        resourceArn: status.resourceArn,
        secretArn: status.secretArn,
      };
      return { status: 200, body };
    }
    if (method === 'POST' && url.pathname === globalDemoteRoute) return demote(body);
    if (method !== 'POST' || url.pathname !== globalPromoteRoute) return undefined;
    // The previous promotion's first LSN (any region's): this one allocates 2^40 above it at least.
    const lsnFloor = (body as { lsnFloor?: unknown } | undefined)?.lsnFloor ?? '0';
    if (!isDecimalLsn(lsnFloor)) {
      return {
        status: 400,
        body: { error: 'InvalidParameterValue', message: 'lsnFloor must be a decimal LSN' },
      };
    }
    if (controller.failoverInProgress) {
      return {
        status: 409,
        body: { error: 'Conflict', message: 'a failover of this cluster is in progress' },
      };
    }
    if (!role.secondary) {
      return { status: 409, body: { error: 'Conflict', message: 'this cluster is not a global secondary' } };
    }
    if (role.promoting) {
      return {
        status: 409,
        body: { error: 'Conflict', message: 'a promotion of this cluster is in progress' },
      };
    }
    const applier = controller.writer;
    if (!applier?.host || !applier.httpPort) {
      return { status: 503, body: { error: 'Unavailable', message: 'the replica applier is not running' } };
    }
    role.promoting = true;
    try {
      const health = (await (
        await fetch(`${httpUrl(applier.host, applier.httpPort)}/health`, {
          signal: AbortSignal.timeout(5_000),
        })
      ).json()) as { vdl: string; vdlCommitTimeMs: number };
      const started = performance.now();
      options.promoteFleet(lsnFloor);
      role.secondary = false;
      role.promotedAtMs = Date.now();
      logger.warn({ vdl: health.vdl }, 'global failover: promoting this secondary to primary');
      const event = await controller.failover({
        planned: true,
        reason: 'global database failover: this region is the primary now',
        target: applier.id,
      });
      // The promoted point is where the new writer opened: the applier may have applied more after
      // the health read above, until the failover stopped it (those commits are on this volume).
      const opened = controller.writer?.process?.ready as
        | { service?: string; vdl?: string; vdlCommitTimeMs?: number }
        | undefined;
      if (!event || opened?.service !== 'writer' || opened.vdl === undefined) {
        throw new Error('the promoted writer did not report where it opened (the failover did not complete)');
      }
      const body: PromoteResult = {
        promotedVdl: opened.vdl,
        promotedCommitTimeMs: opened.vdlCommitTimeMs ?? health.vdlCommitTimeMs,
        epoch: event?.epoch ?? '0',
        writer: event?.to ?? applier.id,
        firstLsn: String(
          (controller.writer?.process?.ready as { nextLsn?: string } | undefined)?.nextLsn ?? '0',
        ),
        durationMs: Math.round(performance.now() - started),
      };
      return { status: 200, body };
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'global failover: promotion failed');
      return { status: 503, body: { error: 'Unavailable', message: (error as Error).message } };
    } finally {
      role.promoting = false;
    }
  };

  async function demote(request: unknown): Promise<ServiceResponse> {
    const discard = parseDiscard(request);
    if (discard === 'invalid') {
      return {
        status: 400,
        body: {
          error: 'InvalidParameterValue',
          message:
            'aboveLsn must be a decimal LSN, aboveCommitTimeMs a non-negative integer and archiveFloor a decimal LSN at or below aboveLsn',
        },
      };
    }
    if (!options.globalMember) {
      return {
        status: 409,
        body: { error: 'Conflict', message: 'this cluster is not a member of a global database' },
      };
    }
    if (controller.failoverInProgress) {
      return {
        status: 409,
        body: { error: 'Conflict', message: 'a failover of this cluster is in progress' },
      };
    }
    if (role.secondary) {
      return {
        status: 409,
        body: { error: 'Conflict', message: 'this cluster is already a global secondary' },
      };
    }
    if (role.promoting) {
      return {
        status: 409,
        body: { error: 'Conflict', message: 'a role change of this cluster is in progress' },
      };
    }
    const writer = controller.writer;
    if (!writer) {
      return { status: 503, body: { error: 'Unavailable', message: 'this cluster has no writer to demote' } };
    }
    role.promoting = true;
    try {
      const started = performance.now();
      options.demoteFleet(discard);
      role.secondary = true;
      logger.warn({ writer: writer.id }, 'global switchover: demoting this primary to secondary');
      const event = await controller.failover({
        planned: true,
        reason: discard
          ? 'global database failover: this region rejoins as a secondary, its commits above the promoted point are lost'
          : 'global database switchover: this region is a secondary now',
        target: writer.id,
        // Discarding: the readers' caches and read points hold the lost suffix; they come back on the
        // applier's redo stream (as after a backtrack).
        ...(discard && { beforeStart: () => controller.stopReaders() }),
      });
      const applier = controller.writer;
      if (!event || !applier?.host || !applier.httpPort) throw new Error('the replica applier did not start');
      const health = (await (
        await fetch(`${httpUrl(applier.host, applier.httpPort)}/health`, {
          signal: AbortSignal.timeout(5_000),
        })
      ).json()) as { vdl: string; vdlCommitTimeMs: number };
      const body: DemoteResult = {
        vdl: health.vdl,
        vdlCommitTimeMs: health.vdlCommitTimeMs,
        ...(discard && { lost: options.rejoinReport()?.lost }),
        epoch: event.epoch,
        durationMs: Math.round(performance.now() - started),
      };
      return { status: 200, body };
    } catch (error) {
      logger.error({ err: (error as Error).message }, 'global switchover: demotion failed');
      return { status: 503, body: { error: 'Unavailable', message: (error as Error).message } };
    } finally {
      role.promoting = false;
    }
  }
  return routes;
}

function isDecimalLsn(x: unknown): x is string {
  return typeof x === 'string' && /^\d{1,20}$/.test(x) && BigInt(x) < 1n << 64n;
}

export function parseDiscard(body: unknown): DiscardRequest | undefined | 'invalid' {
  if (body === undefined || body === null) return undefined;
  const b = body as Partial<DiscardRequest>;
  if (b.aboveLsn === undefined) return undefined;
  if (!isDecimalLsn(b.aboveLsn)) return 'invalid';
  const ms = b.aboveCommitTimeMs ?? 0;
  if (!Number.isSafeInteger(ms) || ms < 0) return 'invalid';
  if (b.archiveFloor === undefined) return { aboveLsn: b.aboveLsn, aboveCommitTimeMs: ms };
  if (!isDecimalLsn(b.archiveFloor) || BigInt(b.archiveFloor) > BigInt(b.aboveLsn)) return 'invalid';
  return { aboveLsn: b.aboveLsn, aboveCommitTimeMs: ms, archiveFloor: b.archiveFloor };
}

type Routes = (request: ServiceRequest) => Promise<ServiceResponse | undefined>;

/** The global route first, then the control plane's own API. */
export function withGlobalRoutes(global: Routes, api: Routes): Routes {
  return async (request) => (await global(request)) ?? api(request);
}
