// The control plane's HTTP API (core/cluster/topology.ts: controlPlaneRoutes): status and topology for
// the CLI and the proxy, and the operator's actions. Bad input is a ControlPlaneError body and a 4xx;
// it never reaches the fleet.
import { controlPlaneRoutes, type ControlPlaneError as ErrorBody } from '../../core/cluster/topology.ts';
import type { ServiceRequest, ServiceResponse } from '../../core/http/service-http.ts';
import type { VolumeConfig } from '../../core/volume.ts';
import { type BacktrackService, backtrackApi } from './backtrack.ts';
import { type Controller, ControlPlaneError } from './controller.ts';
import type { TopologyPublisher } from './topology-publisher.ts';

const statusOf: Record<ControlPlaneError['code'], number> = {
  BadRequest: 400,
  NotFound: 404,
  Conflict: 409,
  Unavailable: 503,
};
const longPollMs = 10_000;
const idPattern = /^[A-Za-z0-9._-]{1,64}$/;

/** A request body that must be a JSON object (a refusal otherwise). */
function jsonObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new ControlPlaneError('BadRequest', 'InvalidParameterValue: the body must be a JSON object');
  return body as Record<string, unknown>;
}

function fail(code: ErrorBody['error'], message: string): ServiceResponse {
  return {
    status: code === 'Internal' ? 500 : statusOf[code],
    body: { error: code, message } satisfies ErrorBody,
  };
}

/** The body as an object of string/boolean fields, exactly one of `allowed` present. */
function oneTarget(body: unknown, allowed: readonly string[]): Record<string, string | boolean> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new ControlPlaneError(
      'BadRequest',
      `body must be a JSON object with one of: ${allowed.join(', ')}`,
    );
  }
  const fields = Object.entries(body as Record<string, unknown>);
  const unknown = fields.filter(([k]) => !allowed.includes(k)).map(([k]) => k);
  if (unknown.length > 0) throw new ControlPlaneError('BadRequest', `unknown field ${unknown.join(', ')}`);
  if (fields.length !== 1) {
    throw new ControlPlaneError('BadRequest', `name exactly one target: ${allowed.join(', ')}`);
  }
  const [key, value] = fields[0]!;
  if (key === 'writer' ? value !== true : typeof value !== 'string' || !idPattern.test(value)) {
    throw new ControlPlaneError('BadRequest', `bad value for ${key}`);
  }
  return { [key]: value as string | boolean };
}

export function controlPlaneApi(
  controller: Controller,
  publisher: TopologyPublisher,
  volume?: VolumeConfig,
  backtrack?: BacktrackService,
) {
  return async ({ method, url, body }: ServiceRequest): Promise<ServiceResponse | undefined> => {
    try {
      const route = `${method} ${url.pathname}`;
      switch (route) {
        case `GET ${controlPlaneRoutes.status}`:
          return {
            status: 200,
            body: backtrack
              ? { ...controller.status(), backtrack: backtrack.summary() }
              : controller.status(),
          };
        case `GET ${controlPlaneRoutes.volume}`:
          // The volume config the storage nodes run with (topology.volumeUrl points here).
          return volume ? { status: 200, body: volume } : fail('NotFound', 'no volume config here');
        case `GET ${controlPlaneRoutes.topology}`: {
          const after = Number(url.searchParams.get('after') ?? '-1');
          if (!Number.isInteger(after)) return fail('BadRequest', 'after must be an integer version');
          return { status: 200, body: await publisher.next(after, longPollMs) };
        }
        case `POST ${controlPlaneRoutes.rdsEndpoint}`: {
          const { rds } = (body ?? {}) as { rds?: unknown };
          if (typeof rds !== 'string' || !/^http:\/\/[A-Za-z0-9.-]{1,253}:\d{1,5}$/.test(rds))
            return fail('BadRequest', 'endpoints/rds: rds must be http://HOST:PORT');
          controller.setRdsEndpoint(rds);
          return { status: 204 };
        }
        case `POST ${controlPlaneRoutes.endpoints}`: {
          const { writer, reader, mysql } = (body ?? {}) as {
            writer?: unknown;
            reader?: unknown;
            mysql?: { writer?: unknown; reader?: unknown };
          };
          // The proxy's advertised address: an IPv4 address or a DNS name (ECS, network namespaces).
          const url = /^http:\/\/[A-Za-z0-9.-]{1,253}:\d{1,5}$/;
          const hostPort = /^[A-Za-z0-9.-]{1,253}:\d{1,5}$/;
          if (
            typeof writer !== 'string' ||
            typeof reader !== 'string' ||
            !url.test(writer) ||
            !url.test(reader)
          ) {
            return fail('BadRequest', 'endpoints: writer and reader must be http://HOST:PORT');
          }
          // MySQL endpoints (ADR 017): optional, so a proxy without them still registers.
          if (
            mysql !== undefined &&
            (typeof mysql !== 'object' ||
              mysql === null ||
              typeof mysql.writer !== 'string' ||
              typeof mysql.reader !== 'string' ||
              !hostPort.test(mysql.writer) ||
              !hostPort.test(mysql.reader))
          ) {
            return fail('BadRequest', 'endpoints: mysql.writer and mysql.reader must be HOST:PORT');
          }
          controller.setEndpoints({
            writer,
            reader,
            ...(mysql !== undefined && {
              mysql: { writer: mysql.writer as string, reader: mysql.reader as string },
            }),
          });
          return { status: 204 };
        }
        case `POST ${controlPlaneRoutes.kill}`:
          return {
            status: 200,
            body: await controller.kill(oneTarget(body, ['node', 'az', 'writer', 'instance'])),
          };
        case `POST ${controlPlaneRoutes.start}`:
          return { status: 200, body: await controller.startProcess(oneTarget(body, ['node', 'instance'])) };
        case `POST ${controlPlaneRoutes.failover}`: {
          const target = (body ?? {}) as { target?: unknown };
          if (typeof body !== 'undefined' && (typeof body !== 'object' || body === null)) {
            return fail('BadRequest', 'body must be a JSON object');
          }
          if (
            target.target !== undefined &&
            (typeof target.target !== 'string' || !idPattern.test(target.target))
          ) {
            return fail('BadRequest', 'target must be an instance id');
          }
          return { status: 200, body: await controller.plannedFailover(target.target as string | undefined) };
        }
        case `POST ${controlPlaneRoutes.addInstance}`: {
          const b = jsonObject(body);
          if (typeof b.id !== 'string' || !idPattern.test(b.id))
            return fail('BadRequest', 'InvalidParameterValue: id must be an instance id');
          if (typeof b.tier !== 'number')
            return fail('BadRequest', 'InvalidParameterValue: tier must be 0-15');
          if (b.az !== undefined && typeof b.az !== 'string')
            return fail('BadRequest', 'InvalidParameterValue: az must be an AZ name');
          return {
            status: 200,
            body: await controller.addInstance({
              id: b.id,
              tier: b.tier,
              ...(b.az === undefined ? {} : { az: b.az as string }),
            }),
          };
        }
        case `POST ${controlPlaneRoutes.removeInstance}`: {
          const b = jsonObject(body);
          if (typeof b.id !== 'string' || !idPattern.test(b.id))
            return fail('BadRequest', 'InvalidParameterValue: id must be an instance id');
          return { status: 200, body: await controller.removeInstance(b.id) };
        }
        case `POST ${controlPlaneRoutes.rebootInstance}`: {
          const b = jsonObject(body);
          if (typeof b.id !== 'string' || !idPattern.test(b.id))
            return fail('BadRequest', 'InvalidParameterValue: id must be an instance id');
          if (b.forceFailover !== undefined && typeof b.forceFailover !== 'boolean')
            return fail('BadRequest', 'InvalidParameterValue: forceFailover must be true or false');
          return { status: 200, body: await controller.rebootInstance(b.id, b.forceFailover === true) };
        }
        default:
          return backtrack ? await backtrackApi(backtrack, route, body) : undefined;
      }
    } catch (error) {
      if (error instanceof ControlPlaneError) return fail(error.code, error.message);
      return fail('Internal', (error as Error).message);
    }
  };
}
