// The control plane's Global Database route (a cluster started with --global-secondary):
// POST /global/promote makes this secondary the primary — the replica applier stops and a writer
// opens the volume in its slot (ADR 007: failover by restart). The writer's recovery bumps the epoch,
// which fences the applier, and truncates the incomplete suffix above the secondary's VDL, so the
// new primary starts from a prefix of the old primary's commits. Answers with that point.
// GET /global/role (every cluster): primary or secondary, the promotion record and the cluster
// endpoint, which the global writer endpoint polls to follow the primary (ADR 018).
import type { MemberRole } from '../../core/global/writer-target.ts';
import type { ServiceRequest, ServiceResponse } from '../../core/http/service-http.ts';
import type { Logger } from '../../core/log.ts';
import { httpUrl } from '../../core/process/address-flags.ts';
import type { Controller } from './controller.ts';

export const globalPromoteRoute = '/global/promote';
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
  durationMs: number;
}

export function globalRoutes(options: {
  role: GlobalRole;
  controller: Controller;
  /** Switches the fleet's writer slot from the applier to the writer. */
  promoteFleet: () => void;
  logger: Logger;
}) {
  const { role, controller, logger } = options;
  return async ({ method, url }: ServiceRequest): Promise<ServiceResponse | undefined> => {
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
    if (method !== 'POST' || url.pathname !== globalPromoteRoute) return undefined;
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
      options.promoteFleet();
      role.secondary = false;
      role.promotedAtMs = Date.now();
      logger.warn({ vdl: health.vdl }, 'global failover: promoting this secondary to primary');
      const event = await controller.failover({
        planned: true,
        reason: 'global database failover: this region is the primary now',
        target: applier.id,
      });
      const body: PromoteResult = {
        promotedVdl: health.vdl,
        promotedCommitTimeMs: health.vdlCommitTimeMs,
        epoch: event?.epoch ?? '0',
        writer: event?.to ?? applier.id,
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
}

type Routes = (request: ServiceRequest) => Promise<ServiceResponse | undefined>;

/** The global route first, then the control plane's own API. */
export function withGlobalRoutes(global: Routes, api: Routes): Routes {
  return async (request) => (await global(request)) ?? api(request);
}
